"""Parquet and JSON-lines readers: conventions, bad records, and the same batches from both."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import decoded
from hypothesis import assume, given
from hypothesis import strategies as st

from vbatch.datasets import generate
from vbatch.errors import InputError
from vbatch.io import jsonl, open_events
from vbatch.io.jsonl import JsonlReader, LineBlock, LongLine, line_blocks
from vbatch.io.parquet import ParquetReader
from vbatch.io.source import MAX_LINE_BYTES, ErrorPolicy, InputChunk, ReadOptions

EVENTS = [
    {"timestamp": 0, "event_type": "Temp", "sensor_id": "T1", "temperature": 85.0},
    {"timestamp": 50, "event_type": "Press", "sensor_id": "P1", "pressure": 110.0},
    {"timestamp": 100, "event_type": "Temp", "sensor_id": "T2", "temperature": 72.0},
    {"timestamp": 150, "event_type": "Press", "sensor_id": "P2", "pressure": 95.0},
    {"timestamp": 200, "event_type": "Temp", "sensor_id": "T1", "temperature": 91.5},
]


# --- helpers ----------------------------------------------------------------------------------


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    """Rows as one Parquet table whose columns are all the keys the rows use."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    table = pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in rows], schema=schema)
    pq.write_table(table, path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def chunks(reader) -> list[InputChunk]:
    return list(reader)


def by_type(chunk_list: list[InputChunk]) -> dict[str, pa.Table]:
    """All batches of each event type, concatenated in arrival order."""
    parts: dict[str, list[pa.RecordBatch]] = {}
    for chunk in chunk_list:
        for event in chunk.batches:
            parts.setdefault(event.event_type, []).append(decoded(event.batch))
    return {name: pa.Table.from_batches(batches) for name, batches in parts.items()}


def as_rows(chunk_list: list[InputChunk]) -> list[dict]:
    """Every event as a dict with its type, ordered by `_seq`."""
    rows = [
        {"type": event.event_type, **row}
        for chunk in chunk_list
        for event in chunk.batches
        for row in event.batch.to_pylist()
    ]
    return sorted(rows, key=lambda r: r["_seq"])


READERS = {"parquet": (ParquetReader, write_parquet), "jsonl": (JsonlReader, write_jsonl)}


@pytest.fixture(params=sorted(READERS))
def fmt(request):
    return request.param


def read_rows(fmt: str, tmp_path: Path, rows: list[dict], **options) -> list[InputChunk]:
    reader, write = READERS[fmt]
    path = write(tmp_path / f"events.{fmt}", rows)
    return chunks(reader(path, ReadOptions(**options)))


# --- conventions shared by both readers -------------------------------------------------------


def test_event_type_column_splits_by_type_in_order_of_first_appearance(fmt, tmp_path):
    got = read_rows(fmt, tmp_path, EVENTS)
    assert [e.event_type for e in got[0].batches] == ["Temp", "Press"]
    temp = decoded(got[0].batches[0].batch)
    assert temp.schema.names == ["_ts", "_seq", "sensor_id", "temperature"]
    assert temp.column("_seq").to_pylist() == [0, 2, 4]
    assert temp.schema.field("sensor_id").type == pa.string()
    assert temp.schema.field("temperature").type == pa.float64()


def test_options_event_type_makes_a_single_type_file(fmt, tmp_path):
    rows = [{"timestamp": i, "value": i * 1.5, "n": i} for i in range(5)]
    got = read_rows(fmt, tmp_path, rows, event_type="Reading")
    (event,) = got[0].batches
    assert event.event_type == "Reading"
    assert event.batch.schema.names == ["_ts", "_seq", "value", "n"]
    assert event.batch.column("n").type == pa.int64()


def test_missing_event_type_column_is_an_error_with_a_hint(fmt, tmp_path):
    rows = [{"timestamp": 1, "value": 2.0}]
    with pytest.raises(InputError) as err:
        read_rows(fmt, tmp_path, rows)
    assert "event_type" in err.value.message
    assert "--event-type" in err.value.hint


def test_missing_time_column_is_an_error_with_a_hint(fmt, tmp_path):
    rows = [{"when": 1, "event_type": "A", "value": 2.0}]
    with pytest.raises(InputError) as err:
        read_rows(fmt, tmp_path, rows)
    assert "timestamp" in err.value.message
    assert "--time-column" in err.value.hint


def test_time_column_option_and_ts_precedence(fmt, tmp_path):
    rows = [{"when": 7, "_ts": 5, "timestamp": 3, "event_type": "A"}]
    named = read_rows(fmt, tmp_path, rows, time_column="when")
    assert named[0].batches[0].batch.column("_ts").to_pylist() == [7]
    default = read_rows(fmt, tmp_path, rows)
    assert default[0].batches[0].batch.column("_ts").to_pylist() == [5]
    assert default[0].batches[0].batch.schema.names == ["_ts", "_seq", "when", "timestamp"]


def test_seq_is_continuous_across_chunks(fmt, tmp_path):
    rows = [dict(EVENTS[i % 5], timestamp=i * 10) for i in range(23)]
    got = read_rows(fmt, tmp_path, rows, batch_size=4)
    assert [c.first_seq for c in got] == list(range(0, 23, 4))
    assert [c.count for c in got] == [4, 4, 4, 4, 4, 3]
    assert [r["_seq"] for r in as_rows(got)] == list(range(23))


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_results_do_not_depend_on_batch_size(fmt, tmp_path, batch_size):
    rows = [dict(EVENTS[i % 5], timestamp=i * 10) for i in range(17)]
    expected = by_type(read_rows(fmt, tmp_path, rows, batch_size=1000))
    assert by_type(read_rows(fmt, tmp_path, rows, batch_size=batch_size)) == expected


def test_declared_schemas_cast_and_select_fields(fmt, tmp_path):
    schemas = {"Temp": pa.schema([("temperature", pa.float32()), ("missing", pa.string())])}
    got = read_rows(fmt, tmp_path, EVENTS, schemas=schemas)
    temp = by_type(got)["Temp"]
    assert temp.schema.names == ["_ts", "_seq", "temperature", "missing"]
    assert temp.schema.field("temperature").type == pa.float32()
    assert temp.column("missing").null_count == 3


def test_schema_is_fixed_by_the_first_chunk_and_ints_widen_to_floats(fmt, tmp_path):
    rows = [
        {"timestamp": 0, "event_type": "A", "x": 1.5},
        {"timestamp": 1, "event_type": "A", "x": 2},
    ]
    if fmt == "parquet":  # a Parquet column has one type: give the second row its own file
        folder = tmp_path / "in"
        folder.mkdir()
        write_parquet(folder / "0.parquet", rows[:1])
        write_parquet(folder / "1.parquet", rows[1:])
        got = chunks(ParquetReader(folder, ReadOptions()))
    else:
        got = read_rows(fmt, tmp_path, rows, batch_size=1)
    x = by_type(got)["A"].column("x")
    assert x.type == pa.float64()
    assert x.to_pylist() == [1.5, 2.0]


def test_a_type_clash_across_chunks_names_the_field(fmt, tmp_path):
    rows = [
        {"timestamp": 0, "event_type": "A", "x": 1.5},
        {"timestamp": 1, "event_type": "A", "x": "high"},
    ]
    with pytest.raises(InputError, match="field 'x' of A"):
        if fmt == "parquet":
            folder = tmp_path / "in"
            folder.mkdir()
            write_parquet(folder / "0.parquet", rows[:1])
            write_parquet(folder / "1.parquet", rows[1:])
            chunks(ParquetReader(folder, ReadOptions()))
        else:
            read_rows(fmt, tmp_path, rows, batch_size=1)


def test_fields_of_other_types_are_not_in_a_types_schema(fmt, tmp_path):
    got = by_type(read_rows(fmt, tmp_path, EVENTS))
    assert got["Press"].schema.names == ["_ts", "_seq", "sensor_id", "pressure"]


def test_null_time_is_a_bad_record_that_stops_the_run(fmt, tmp_path):
    rows = [*EVENTS[:3], {"timestamp": None, "event_type": "Temp", "sensor_id": "T9"}]
    with pytest.raises(InputError) as err:
        read_rows(fmt, tmp_path, rows)
    assert err.value.record_line == 4
    assert err.value.render().startswith(str(tmp_path / f"events.{fmt}") + ":4")
    assert "missing event time 'timestamp'" in err.value.message


def test_skipped_bad_records_go_to_the_dead_letter_file(fmt, tmp_path):
    rows = [
        EVENTS[0],
        {"timestamp": None, "event_type": "Temp", "sensor_id": "T9"},
        EVENTS[1],
        {"timestamp": 5, "event_type": None, "sensor_id": "T8"},
        EVENTS[2],
    ]
    dead = tmp_path / "dead.jsonl"
    reader_type, write = READERS[fmt]
    reader = reader_type(
        write(tmp_path / f"events.{fmt}", rows),
        ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead, batch_size=2),
    )
    got = chunks(reader)
    assert [r["sensor_id"] for r in as_rows(got)] == ["T1", "P1", "T2"]
    assert [r["_seq"] for r in as_rows(got)] == [0, 1, 2]
    assert reader.stats.bad_records == 2
    assert reader.stats.events == 3
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == [
        (2, "missing event time 'timestamp'"),
        (4, "missing event type 'event_type'"),
    ]
    assert json.loads(letters[0]["record"])["sensor_id"] == "T9"
    assert letters[0]["file"] == str(tmp_path / f"events.{fmt}")


# --- Parquet ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_parquet_timestamps_of_any_unit_and_zone_become_ms(tmp_path, unit, tz):
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    seconds = np.array([0, 1, 1_700_000_000])
    table = pa.table(
        {
            "timestamp": pa.array(seconds * scale, pa.timestamp(unit, tz)),
            "event_type": ["A", "A", "A"],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    (chunk,) = chunks(ParquetReader(tmp_path / "t.parquet"))
    assert chunk.batches[0].batch.column("_ts").to_pylist() == (seconds * 1000).tolist()


@pytest.mark.parametrize("dtype", [pa.int32(), pa.int64(), pa.uint32()])
def test_parquet_integer_milliseconds(tmp_path, dtype):
    table = pa.table({"timestamp": pa.array([5, 6], dtype), "event_type": ["A", "A"]})
    pq.write_table(table, tmp_path / "t.parquet")
    (chunk,) = chunks(ParquetReader(tmp_path / "t.parquet"))
    assert chunk.batches[0].batch.column("_ts").type == pa.int64()


def test_parquet_folder_is_read_in_name_order(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_parquet(folder / "b.parquet", EVENTS[2:])
    write_parquet(folder / "a.parquet", EVENTS[:2])
    (folder / "_SUCCESS").write_text("")
    write_parquet(folder / "sub" / ".hidden.parquet", EVENTS)
    got = chunks(ParquetReader(folder, ReadOptions(batch_size=10)))
    assert [c.first_seq for c in got] == [0, 2]
    assert [r["_ts"] for r in as_rows(got)] == [0, 50, 100, 150, 200]


@pytest.mark.parametrize("name", ["a.parq", "a.pq", "A.PARQUET"])
def test_every_parquet_suffix_is_read_as_parquet_alone_or_in_a_folder(tmp_path, name):
    (tmp_path / "in").mkdir()
    write_parquet(tmp_path / "in" / name, EVENTS)
    for source in (tmp_path / "in" / name, tmp_path / "in"):
        got = chunks(open_events(source, ReadOptions()))
        assert [r["_ts"] for r in as_rows(got)] == [0, 50, 100, 150, 200]


def test_parquet_dictionary_columns_are_decoded(tmp_path):
    table = pa.table(
        {
            "timestamp": [1, 2, 3],
            "event_type": pa.array(["A", "B", "A"]).dictionary_encode(),
            "s": pa.array(["x", "y", "x"]).dictionary_encode(),
            "i": pa.array([1, 2, 3], pa.int16()),
            "f": pa.array([1, 2, 3], pa.float32()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    batch = chunks(ParquetReader(tmp_path / "t.parquet"))[0].batches[0].batch
    assert batch.schema.field("s").type == pa.dictionary(pa.int32(), pa.string())
    got = by_type(chunks(ParquetReader(tmp_path / "t.parquet")))
    assert got["A"].schema.field("s").type == pa.string()
    assert got["A"].schema.field("i").type == pa.int64()
    assert got["A"].schema.field("f").type == pa.float64()
    assert got["A"].column("s").to_pylist() == ["x", "x"]


def test_parquet_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        chunks(ParquetReader(tmp_path / "nope.parquet"))


# --- JSON lines -------------------------------------------------------------------------------


JSONL_WITH_FLAWS = "\n".join(
    [
        '{"event_type": "A", "timestamp": 1, "x": 1}',
        "",
        '{"event_type": "A", "timestamp": 2, "x": 2,, "y": 1}',
        "   ",
        "[1, 2]",
        '{"event_type": "A", "timestamp": 3, "x": "three"}',
        '{"event_type": "A", "timestamp": 4, "x": 4}',
    ]
)


def test_jsonl_bad_line_stops_the_run_with_file_line_and_column(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(JSONL_WITH_FLAWS)
    with pytest.raises(InputError) as err:
        chunks(JsonlReader(path))
    assert err.value.render() == f"{path}:3:44: Expecting property name enclosed in double quotes"


def test_jsonl_skipped_lines_keep_their_line_numbers(tmp_path):
    path, dead = tmp_path / "e.jsonl", tmp_path / "dead.jsonl"
    path.write_text(JSONL_WITH_FLAWS)
    reader = JsonlReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead))
    got = chunks(reader)
    assert [(r["_ts"], r["_seq"], r["x"]) for r in as_rows(got)] == [(1, 0, 1), (4, 1, 4)]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["line"], d["column"]) for d in letters] == [(3, 44), (5, None), (6, None)]
    assert letters[1]["reason"] == "line is not a JSON object"
    assert letters[2]["reason"] == "field 'x' changed from number to string"
    assert letters[2]["record"] == '{"event_type": "A", "timestamp": 3, "x": "three"}'
    assert reader.stats.bad_records == 3


def test_jsonl_over_long_line_is_refused(tmp_path):
    path = tmp_path / "e.jsonl"
    long = json.dumps({"event_type": "A", "timestamp": 2, "x": "y" * MAX_LINE_BYTES})
    path.write_text("\n".join([json.dumps(EVENTS[0]), long, json.dumps(EVENTS[2])]) + "\n")
    with pytest.raises(InputError, match="line longer than") as err:
        chunks(JsonlReader(path))
    assert err.value.record_line == 2
    dead = tmp_path / "dead.jsonl"
    got = chunks(JsonlReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead)))
    assert [r["_ts"] for r in as_rows(got)] == [0, 100]
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letter["line"] == 2
    assert len(letter["record"]) < 2000


def test_jsonl_long_lines_below_the_limit_parse_in_bulk(tmp_path, monkeypatch):
    notes = ["a", "b" * 300_000, "c" * 200_000, "d" * 300_000, "e"]
    rows = [dict(EVENTS[0], note=note) for note in notes]

    def no_slow_path(*args):
        raise AssertionError("the block went line by line")

    monkeypatch.setattr(jsonl._BlockReader, "_chunk_by_line", no_slow_path)
    got = read_rows("jsonl", tmp_path, rows)
    assert by_type(got)["Temp"].column("note").to_pylist() == notes


def test_jsonl_strings_that_look_like_dates_stay_strings(tmp_path):
    rows = [{"event_type": "A", "timestamp": 1, "day": "2024-01-01"}]
    got = read_rows("jsonl", tmp_path, rows)
    assert got[0].batches[0].batch.column("day").to_pylist() == ["2024-01-01"]


def test_jsonl_iso_time_strings_are_event_times(tmp_path):
    rows = [{"event_type": "A", "timestamp": "1970-01-01T00:00:02"}]
    got = read_rows("jsonl", tmp_path, rows)
    assert got[0].batches[0].batch.column("_ts").to_pylist() == [2000]


def test_jsonl_types_with_clashing_fields_are_parsed_apart(tmp_path):
    rows = [
        {"event_type": "A", "timestamp": 1, "x": 1},
        {"event_type": "B", "timestamp": 2, "x": "one"},
    ]
    got = by_type(read_rows("jsonl", tmp_path, rows))
    assert got["A"].column("x").to_pylist() == [1]
    assert got["B"].column("x").to_pylist() == ["one"]
    assert got["B"].column("_seq").to_pylist() == [1]


@given(
    lines=st.lists(st.text(alphabet="ab{} \r", max_size=12), max_size=12),
    read_bytes=st.integers(1, 9),
    max_lines=st.integers(1, 5),
    final_newline=st.booleans(),
)
def test_line_blocks_give_back_every_line_with_its_number(
    lines, read_bytes, max_lines, final_newline
):
    data = "\n".join(lines) + ("\n" if final_newline and lines else "")
    original = jsonl.READ_BYTES
    jsonl.READ_BYTES = read_bytes
    try:
        blocks = list(line_blocks(io.BytesIO(data.encode()), max_lines))
    finally:
        jsonl.READ_BYTES = original
    got = []
    for block in blocks:
        assert isinstance(block, LineBlock)
        assert block.ends.size <= max_lines
        got += [(block.first_line + i, block.text(i).decode()) for i in range(block.ends.size)]
    expected = data.split("\n")
    if data.endswith("\n") or not data:
        expected = expected[:-1]
    assert got == list(enumerate(expected, start=1))


def test_line_blocks_report_over_long_lines_without_holding_them():
    data = b"a\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\nb"
    items = list(line_blocks(io.BytesIO(data), 10))
    assert [type(i).__name__ for i in items] == ["LineBlock", "LongLine", "LineBlock"]
    assert isinstance(items[1], LongLine)
    assert items[1].line == 2
    assert items[2].first_line == 3


# --- Parquet and JSON lines agree -------------------------------------------------------------

FIELD_VALUES = {
    "i": st.integers(-(2**63), 2**63 - 1),
    "f": st.floats(allow_nan=False, allow_infinity=False),
    "s": st.text(max_size=8),
    "b": st.booleans(),
}
FIELD_TYPES = {"i": pa.int64(), "f": pa.float64(), "s": pa.string(), "b": pa.bool_()}
TYPE_FIELDS = {"A": ("i", "f"), "B": ("s", "f"), "C": ("b", "i", "s")}


@st.composite
def events(draw):
    """Events of random types; every record writes its keys in one column order, as an export
    of a table would (Parquet has one column order for all types)."""
    kinds = draw(st.lists(st.sampled_from(sorted(TYPE_FIELDS)), min_size=1, max_size=25))
    column_order = draw(st.permutations(sorted(FIELD_TYPES)))
    rows = []
    for n, kind in enumerate(kinds):
        row = {"timestamp": n * 10 + draw(st.integers(0, 9)), "event_type": kind}
        for name in (c for c in column_order if c in TYPE_FIELDS[kind]):
            row[name] = draw(st.none() | FIELD_VALUES[name]) if n % 3 else draw(FIELD_VALUES[name])
        rows.append(row)
    return rows, column_order


def outcome(reader) -> list | str:
    """What a reader gives: its chunks as plain data, or the message of the error it raised."""
    try:
        return [
            (
                c.first_seq,
                c.count,
                [(e.event_type, decoded(e.batch).schema, decoded(e.batch)) for e in c.batches],
            )
            for c in reader
        ]
    except InputError as err:
        return err.message


@given(data=events(), batch_size=st.integers(1, 12))
def test_parquet_and_jsonl_give_identical_batches(tmp_path_factory, data, batch_size):
    rows, column_order = data
    # In a single-type Parquet file, a typed column stays a field even where it is all null
    # (test_single_type_parquet_keeps_typed_null_columns); JSON cannot type such a field.
    assume(len({r["event_type"] for r in rows}) != 1)
    folder = tmp_path_factory.mktemp("same")
    schema = pa.schema(
        [("timestamp", pa.int64()), ("event_type", pa.string())]
        + [(name, FIELD_TYPES[name]) for name in column_order]
    )
    options = ReadOptions(batch_size=batch_size)
    from_parquet = outcome(
        ParquetReader(write_parquet(folder / "e.parquet", rows, schema), options)
    )
    from_jsonl = outcome(JsonlReader(write_jsonl(folder / "e.jsonl", rows), options))
    assert from_parquet == from_jsonl


def test_single_type_parquet_keeps_typed_null_columns(tmp_path):
    rows = [{"timestamp": 0, "event_type": "A", "f": None, "i": 1}]
    schema = pa.schema(
        [("timestamp", pa.int64()), ("event_type", pa.string()), ("f", pa.float64()),
         ("i", pa.int64())]
    )  # fmt: skip
    [chunk] = chunks(
        ParquetReader(write_parquet(tmp_path / "a.parquet", rows, schema), ReadOptions())
    )
    assert chunk.batches[0].batch.schema.field("f").type == pa.float64()


# --- Memory -----------------------------------------------------------------------------------

# VmHWM, not getrusage: a child started with vfork inherits its parent's ru_maxrss, which
# here would be pytest's size and hide the replay's.
REPLAY = """
import sys
from vbatch.io.parquet import ParquetReader
from vbatch.io.source import ReadOptions
events = sum(c.count for c in ParquetReader(sys.argv[1], ReadOptions(batch_size=65536)))
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(events, status["VmHWM"].split()[0])
"""


def peak_rss_kb(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", REPLAY, str(path)], capture_output=True, text=True, check=True
    )
    events, rss = out.stdout.split()
    return int(events), int(rss)


def test_replay_memory_stays_flat_as_the_input_grows(tmp_path):
    small = generate("sensors", 1_000_000, tmp_path / "small.parquet")
    large = generate("sensors", 3_000_000, tmp_path / "large.parquet")
    small_events, small_rss = peak_rss_kb(small)
    large_events, large_rss = peak_rss_kb(large)
    assert (small_events, large_events) == (1_000_000, 3_000_000)
    assert large_rss <= 1.3 * small_rss + 50_000, (small_rss, large_rss)


VARPULIS_LINES = [
    '{"event_type": "T", "data": {"v": 1.5, "s": "a"}, "timestamp": "2026-02-04T10:30:00Z"}',
    '{"type": "T", "v": 3, "s": "c", "timestamp": "2026-02-04T10:30:02Z"}',
    '{"event_type": "T", "data": {"v": 2.5, "s": "b"}, "timestamp": "2026-02-04T10:30:01Z"}',
    '{"event_type": "U", "type": "kept", "timestamp": 5}',
]


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_varpulis_json_events_read_as_flat_events_in_files_and_live(
    tmp_path: Path, batch_size: int
) -> None:
    """The `data` envelope, `type` for a missing `event_type`, and ISO-8601 times: the same
    events from a JSON-lines file as from live lines."""
    from vbatch.io.evt import EvtLineParser

    path = tmp_path / "varpulis.jsonl"
    path.write_text("\n".join(VARPULIS_LINES) + "\n")
    from_file: dict[str, list[dict]] = {}
    for chunk in JsonlReader(path, ReadOptions(batch_size=batch_size)):
        for event in chunk.batches:
            from_file.setdefault(event.event_type, []).extend(event.batch.to_pylist())
    live = EvtLineParser(ReadOptions()).parse(path.read_bytes(), first_line=1)
    from_live = {e.event_type: e.batch.to_pylist() for e in live.batches}
    at = 1770201000000
    assert from_file["T"] == [
        {"_ts": at, "_seq": 0, "v": 1.5, "s": "a"},
        {"_ts": at + 2000, "_seq": 1, "v": 3.0, "s": "c"},
        {"_ts": at + 1000, "_seq": 2, "v": 2.5, "s": "b"},
    ]
    assert from_file["U"] == [{"_ts": 5, "_seq": 3, "type": "kept"}]
    assert [{**r, "v": float(r["v"])} for r in from_live["T"]] == from_file["T"]
    assert from_live["U"] == from_file["U"]
