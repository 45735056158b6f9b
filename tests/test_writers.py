"""Output writers: JSON text built from columns, atomic files, one file per stream, widening."""

from __future__ import annotations

import io
import json
import math

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbatch.errors import EngineError
from vbatch.io.json_text import json_rows, json_values
from vbatch.io.writers import CsvWriter, JsonlWriter, OutputFormat, ParquetWriter, open_writer

AWKWARD = ['say "hi"', "back\\slash", "tab\there", "new\nline", "bell\x07", "é😀", "\u2028", ""]


def zone_stats(values: list[float], ts: int = 60_000) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "_ts": pa.array([ts] * len(values), pa.int64()),
            "_seq": pa.array(range(len(values)), pa.int64()),
            "zone": [f"z{i}" for i in range(len(values))],
            "avg_value": pa.array(values, pa.float64()),
            "__partition": pa.array(range(len(values)), pa.int64()),
        }
    )


def jsonl_of(*writes: tuple[str, pa.RecordBatch]) -> list[dict]:
    out = io.BytesIO()
    writer = JsonlWriter(out)
    for stream, batch in writes:
        writer.write(stream, batch)
    writer.close()
    return [json.loads(line) for line in out.getvalue().split(b"\n") if line]


# --- JSON lines -------------------------------------------------------------------------------


def test_jsonl_line_names_the_stream_then_ts_then_fields_in_column_order():
    out = io.BytesIO()
    writer = JsonlWriter(out)
    writer.write("ZoneStats", zone_stats([156.9]))
    writer.close()
    assert (
        out.getvalue()
        == b'{"stream": "ZoneStats", "_ts": 60000, "zone": "z0", "avg_value": 156.9}\n'
    )


def test_jsonl_streams_are_interleaved_in_write_order():
    lines = jsonl_of(
        ("A", zone_stats([1.0])), ("B", zone_stats([2.0, 3.0])), ("A", zone_stats([4.0]))
    )
    assert [(d["stream"], d["avg_value"]) for d in lines] == [
        ("A", 1.0),
        ("B", 2.0),
        ("B", 3.0),
        ("A", 4.0),
    ]


def test_jsonl_floats_read_back_as_floats_and_nan_is_null():
    values = [1.0, 0.1, 1e20, 1e-7, -0.0, 5e-324, 123456789012345680.0, math.nan, math.inf]
    lines = jsonl_of(("S", zone_stats(values)))
    got = [d["avg_value"] for d in lines]
    assert got[:7] == values[:7]
    assert all(isinstance(v, float) for v in got[:7])
    assert got[7:] == [None, None]


def test_jsonl_awkward_strings_are_escaped():
    batch = pa.record_batch({"_ts": pa.array([0] * len(AWKWARD), pa.int64()), "s": AWKWARD})
    assert [d["s"] for d in jsonl_of(("S", batch))] == AWKWARD


def test_jsonl_nested_and_other_values():
    batch = pa.record_batch(
        {
            "_ts": pa.array([1, 2], pa.int64()),
            "flag": [True, None],
            "ints": [[1, None, 3], None],
            "words": [['a"b'], []],
            "point": [{"x": 1.5, "y": "q"}, None],
            "nothing": pa.nulls(2),
            "code": pa.array(["a", "b"]).dictionary_encode(),
        }
    )
    first, second = (json_rows(batch)[i].as_py() for i in range(2))
    assert json.loads(first) == {
        "_ts": 1,
        "flag": True,
        "ints": [1, None, 3],
        "words": ['a"b'],
        "point": {"x": 1.5, "y": "q"},
        "nothing": None,
        "code": "a",
    }
    assert json.loads(second)["ints"] is None


def test_json_values_of_a_sliced_list_column():
    lists = pa.array([[1], [2, 3], None, [4]]).slice(1, 3)
    assert json_values(lists).to_pylist() == ["[2, 3]", "null", "[4]"]


ROW_VALUES = st.fixed_dictionaries(
    {
        "f": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "i": st.none() | st.integers(-(2**63), 2**63 - 1),
        "s": st.none() | st.text(),
        "b": st.none() | st.booleans(),
        "l": st.none() | st.lists(st.none() | st.floats(allow_nan=False, allow_infinity=False)),
    }
)
ROW_TYPES = {"f": pa.float64(), "i": pa.int64(), "s": pa.string(), "b": pa.bool_()}


@given(rows=st.lists(ROW_VALUES, min_size=1, max_size=20))
def test_jsonl_reads_back_to_the_same_values(rows):
    columns = {"_ts": pa.array(range(len(rows)), pa.int64())}
    for name, dtype in [*ROW_TYPES.items(), ("l", pa.list_(pa.float64()))]:
        columns[name] = pa.array([r[name] for r in rows], dtype)
    lines = jsonl_of(("S", pa.record_batch(columns)))
    assert lines == [{"stream": "S", "_ts": n, **row} for n, row in enumerate(rows)]
    for line, row in zip(lines, rows, strict=True):
        if row["f"] is not None:
            assert isinstance(line["f"], float)


def test_jsonl_write_lines_appends_rendered_rows_in_the_given_order():
    a, b = json_rows(zone_stats([1.0]), stream="A"), json_rows(zone_stats([2.0]), stream="B")
    out = io.BytesIO()
    writer = JsonlWriter(out)
    writer.write_lines(pa.concat_arrays([b, a]))
    writer.close()
    assert [json.loads(line)["stream"] for line in out.getvalue().splitlines()] == ["B", "A"]


# --- atomic files -----------------------------------------------------------------------------


def test_jsonl_file_appears_only_on_close(tmp_path):
    target = tmp_path / "out" / "run.jsonl"
    writer = JsonlWriter(target)
    writer.write("S", zone_stats([1.0]))
    writer.flush()
    assert not target.exists()
    writer.close()
    assert json.loads(target.read_text())["avg_value"] == 1.0
    assert [p.name for p in target.parent.iterdir()] == ["run.jsonl"]


def test_jsonl_abort_leaves_nothing(tmp_path):
    target = tmp_path / "run.jsonl"
    writer = JsonlWriter(target)
    writer.write("S", zone_stats([1.0]))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_jsonl_to_a_file_object_is_streamed_and_left_open():
    out = io.BytesIO()
    writer = JsonlWriter(out)
    writer.write("S", zone_stats([1.0]))
    writer.flush()
    assert out.getvalue().count(b"\n") == 1
    writer.close()
    assert not out.closed


@pytest.mark.parametrize("writer_type", [ParquetWriter, CsvWriter])
def test_folder_writers_commit_on_close_and_clean_up_on_abort(tmp_path, writer_type):
    folder = tmp_path / "out"
    writer = writer_type(folder)
    writer.write("A", zone_stats([1.0]))
    writer.write("B", zone_stats([2.0]))
    writer.flush()
    assert not any(p.name in {"A.parquet", "A.csv"} for p in folder.iterdir())
    writer.abort()
    assert not folder.exists()


# --- one file per stream ----------------------------------------------------------------------


def test_parquet_writes_one_file_per_stream_with_ts_and_without_internal_columns(tmp_path):
    writer = ParquetWriter(tmp_path)
    writer.write("ZoneStats", zone_stats([1.0, 2.0]))
    writer.write("Alerts", zone_stats([3.0]))
    writer.write("ZoneStats", zone_stats([4.0], ts=120_000))
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Alerts.parquet", "ZoneStats.parquet"]
    table = pq.read_table(tmp_path / "ZoneStats.parquet")
    assert table.schema.names == ["_ts", "zone", "avg_value"]
    assert table.column("avg_value").to_pylist() == [1.0, 2.0, 4.0]
    assert table.column("_ts").to_pylist() == [60_000, 60_000, 120_000]


def test_csv_writes_one_file_per_stream_with_a_header(tmp_path):
    writer = CsvWriter(tmp_path)
    writer.write("ZoneStats", zone_stats([1.5]))
    writer.write("ZoneStats", zone_stats([2.5]))
    writer.close()
    text = (tmp_path / "ZoneStats.csv").read_text().splitlines()
    assert text == ['"_ts","zone","avg_value"', '60000,"z0",1.5', '60000,"z0",2.5']


def test_csv_writes_lists_as_json(tmp_path):
    batch = pa.record_batch({"_ts": pa.array([1], pa.int64()), "ids": [["a", "b"]]})
    writer = CsvWriter(tmp_path)
    writer.write("S", batch)
    writer.close()
    table = pacsv.read_csv(tmp_path / "S.csv")
    assert json.loads(table.column("ids")[0].as_py()) == ["a", "b"]


def ints_then_floats() -> list[pa.RecordBatch]:
    ints = pa.record_batch({"_ts": pa.array([1], pa.int64()), "total": pa.array([3], pa.int64())})
    floats = pa.record_batch({"_ts": pa.array([2], pa.int64()), "total": [2.5]})
    return [ints, floats]


def test_parquet_widens_a_stream_whose_ints_became_floats(tmp_path):
    writer = ParquetWriter(tmp_path)
    for batch in ints_then_floats():
        writer.write("S", batch)
        writer.flush()
    writer.close()
    table = pq.read_table(tmp_path / "S.parquet")
    assert table.schema.field("total").type == pa.float64()
    assert table.column("total").to_pylist() == [3.0, 2.5]
    assert [p.name for p in tmp_path.iterdir()] == ["S.parquet"]


def test_csv_widens_a_stream_whose_ints_became_floats(tmp_path):
    writer = CsvWriter(tmp_path)
    for batch in ints_then_floats():
        writer.write("S", batch)
    writer.close()
    table = pacsv.read_csv(tmp_path / "S.csv")
    assert table.column("total").to_pylist() == [3.0, 2.5]


def test_a_null_column_widens_to_the_type_that_follows(tmp_path):
    writer = ParquetWriter(tmp_path)
    writer.write("S", pa.record_batch({"_ts": pa.array([1], pa.int64()), "x": pa.nulls(1)}))
    writer.write("S", pa.record_batch({"_ts": pa.array([2], pa.int64()), "x": ["a"]}))
    writer.close()
    assert pq.read_table(tmp_path / "S.parquet").column("x").to_pylist() == [None, "a"]


def test_a_stream_changing_type_beyond_widening_is_an_engine_error(tmp_path):
    writer = ParquetWriter(tmp_path)
    writer.write("S", pa.record_batch({"_ts": pa.array([1], pa.int64()), "x": [1]}))
    with pytest.raises(EngineError, match="stream S"):
        writer.write("S", pa.record_batch({"_ts": pa.array([2], pa.int64()), "x": ["a"]}))
    writer.abort()


@pytest.mark.parametrize(
    ("fmt", "writer_type"),
    [
        (OutputFormat.JSONL, JsonlWriter),
        (OutputFormat.PARQUET, ParquetWriter),
        (OutputFormat.CSV, CsvWriter),
    ],
)
def test_open_writer_picks_the_writer_for_the_format(tmp_path, fmt, writer_type):
    writer = open_writer(fmt, tmp_path / "out")
    assert isinstance(writer, writer_type)
    writer.abort()


def test_parquet_event_time_is_delta_encoded_and_reads_back_exactly(tmp_path):
    times = list(range(0, 3_000_000, 7))
    batch = pa.record_batch({"_ts": pa.array(times, pa.int64()), "v": [1.5] * len(times)})
    writer = ParquetWriter(tmp_path)
    writer.write("S", batch)
    writer.close()
    column = pq.ParquetFile(tmp_path / "S.parquet").metadata.row_group(0).column(0)
    assert "DELTA_BINARY_PACKED" in column.encodings
    assert pq.read_table(tmp_path / "S.parquet").column("_ts").to_pylist() == times
