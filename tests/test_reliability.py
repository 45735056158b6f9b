"""Nothing crashes, nothing is lost, nothing is destroyed: hostile inputs, programs and paths.

Each bad input is an ordinary bad record (located, counted, dead-lettered under
`--on-error skip`, exit 2 under `--on-error fail`); each bad program or path is a located
error with a documented exit code; never a traceback.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_golden import run_vbatch

from vbatch.errors import InputError
from vbatch.io.evt import EvtLineParser, EvtReader
from vbatch.io.jsonl import JsonlReader
from vbatch.io.parquet import ParquetReader
from vbatch.io.source import ErrorPolicy, ReadOptions

PROGRAM = "stream S = A\n    .where(v > 0)\n"
GOOD_EVT = ("@1 A { v: 1 }", "@3 A { v: 3 }")
GOOD_JSON = ('{"event_type": "A", "_ts": 1, "v": 1}', '{"event_type": "A", "_ts": 3, "v": 3}')
DEEP_JSON = "[" * 900 + "]" * 900

# One bad line between two good ones: (suffix, the bad line, what its reason says).
BAD_LINES = {
    "evt_json_lone_surrogate": (".evt", '{"event_type": "X", "_ts": 2, "s": "\\ud800"}', "lone surrogate"),
    "evt_int_4400_digits": (".evt", "@2 A { v: " + "9" * 4400 + " }", "does not fit in 64 bits"),
    "evt_json_int_4400_digits": (".evt", '{"event_type": "A", "_ts": 2, "v": ' + "9" * 4400 + "}", "does not fit in 64 bits"),
    "evt_list_500_deep": (".evt", "@2 A { v: " + "[" * 500 + "]" * 500 + " }", "nested deeper than 64"),
    "evt_json_list_900_deep": (".evt", '{"event_type": "A", "_ts": 2, "v": ' + DEEP_JSON + "}", "nested deeper than 64"),
    "evt_time_near_int64_max": (".evt", "@106751991167d A { v: 2 }", "out of range"),
    "evt_ms_near_int64_max": (".evt", "@9223372036854775000 A { v: 2 }", "out of range"),
    "evt_float_too_big": (".evt", "@2 A { v: 1e999 }", "too large for a float"),
    "evt_json_nan": (".evt", '{"event_type": "A", "_ts": 2, "v": NaN}', "NaN is not a JSON number"),
    "evt_json_infinity": (".evt", '{"event_type": "A", "_ts": 2, "v": -Infinity}', "Infinity is not a JSON number"),
    "evt_json_duplicate_key": (".evt", '{"event_type": "A", "_ts": 2, "v": 1, "v": 2}', 'key "v" appears twice'),
    "evt_json_negative_ts": (".evt", '{"event_type": "A", "_ts": -5, "v": 2}', "negative"),
    "jsonl_lone_surrogate": (".jsonl", '{"event_type": "X", "_ts": 2, "s": "\\ud800"}', "surrogate"),
    "jsonl_int_5000_digits": (".jsonl", '{"event_type": "A", "_ts": 2, "v": ' + "9" * 5000 + "}", "does not fit in 64 bits"),
    "jsonl_int_beyond_64_bits": (".jsonl", '{"event_type": "A", "_ts": 2, "v": 99999999999999999999}', "does not fit in 64 bits"),
    "jsonl_list_900_deep": (".jsonl", '{"event_type": "A", "_ts": 2, "v": ' + DEEP_JSON + "}", "nested deeper than 64"),
    "jsonl_list_20000_deep": (".jsonl", '{"event_type": "A", "_ts": 2, "v": ' + "[" * 20000 + "]" * 20000 + "}", "nested deeper than 64"),
    "jsonl_time_near_int64_max": (".jsonl", '{"event_type": "A", "_ts": 9223372036854775000, "v": 2}', "out of range"),
    "jsonl_nan": (".jsonl", '{"event_type": "A", "_ts": 2, "v": NaN}', "NaN is not a JSON number"),
    "jsonl_infinity": (".jsonl", '{"event_type": "A", "_ts": 2, "v": Infinity}', "Infinity is not a JSON number"),
    "jsonl_duplicate_key": (".jsonl", '{"event_type": "A", "_ts": 2, "v": 1, "v": 2}', 'key "v" appears twice'),
    "jsonl_negative_ts": (".jsonl", '{"event_type": "A", "_ts": -5, "v": 2}', "negative"),
    "jsonl_fractional_ts": (".jsonl", '{"event_type": "A", "_ts": 2.5, "v": 2}', "whole milliseconds"),
    "jsonl_invalid_utf8": (".jsonl", '{"event_type": "A", "_ts": 2, "s": "\xff"}', "invalid UTF-8"),
}  # fmt: skip


def bad_file(tmp_path: Path, name: str) -> Path:
    """The case's file: a good line, the bad line, a good line."""
    suffix, line, _ = BAD_LINES[name]
    good = GOOD_JSON if suffix == ".jsonl" else GOOD_EVT
    path = tmp_path / f"in{suffix}"
    text = "\n".join([good[0], line, good[1]]) + "\n"
    path.write_bytes(text.encode().replace("\xff".encode(), b"\xff"))  # ÿ: a lone 0xff byte
    return path


def reader(path: Path, options: ReadOptions) -> EvtReader | JsonlReader:
    return JsonlReader(path, options) if path.suffix == ".jsonl" else EvtReader(path, options)


# ---- 1, 16, 17, 31: a bad line is a bad record -------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_hostile_line_is_dead_lettered_and_the_rest_is_read(tmp_path: Path, name: str) -> None:
    dead = tmp_path / "dead.jsonl"
    options = ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead)
    read = reader(bad_file(tmp_path, name), options)
    events = sum(chunk.count for chunk in read)
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (events, read.stats.bad_records, [d["line"] for d in letters]) == (2, 1, [2])
    assert BAD_LINES[name][2] in letters[0]["reason"]


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_hostile_line_stops_a_failing_run_at_its_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError) as caught:
        list(reader(bad_file(tmp_path, name), ReadOptions()))
    assert (caught.value.record_line, BAD_LINES[name][2] in caught.value.message) == (2, True)


@pytest.mark.parametrize("name", sorted(n for n in BAD_LINES if n.startswith("evt")))
def test_the_live_parser_treats_a_hostile_line_as_a_bad_record(tmp_path: Path, name: str) -> None:
    data = bad_file(tmp_path, name).read_bytes()
    parser = EvtLineParser(ReadOptions(on_error=ErrorPolicy.SKIP), source_name="live")
    chunk = parser.parse(data, first_line=1)
    assert (chunk.count, parser.stats.bad_records) == (2, 1)


@pytest.mark.parametrize(
    "name", ["evt_json_lone_surrogate", "evt_list_500_deep", "jsonl_int_5000_digits"]
)
@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_simulate_reports_a_hostile_line_without_a_traceback(
    tmp_path: Path, name: str, policy: str
) -> None:
    program, events = tmp_path / "p.vpl", bad_file(tmp_path, name)
    program.write_text(PROGRAM)
    dead = tmp_path / "dead.jsonl"
    result = run_vbatch("simulate", "-p", str(program), "-e", str(events), "--immediate",
                        "-q", "--on-error", policy, "--dead-letter", str(dead))  # fmt: skip
    assert "Traceback" not in result.stderr
    if policy == "fail":
        assert (result.returncode, result.stderr.startswith(f"{events}:2:")) == (2, True)
    else:
        assert (result.returncode, len(dead.read_text().splitlines())) == (0, 1)
        assert "Events processed: 2" in result.stdout


def test_parquet_times_beyond_the_range_are_bad_records(tmp_path: Path) -> None:
    path, dead = tmp_path / "big.parquet", tmp_path / "dead.jsonl"
    times = pa.array([1, 2**63 - 10, -(2**62), 5], pa.int64())
    pq.write_table(pa.table({"_ts": times, "event_type": ["A"] * 4, "v": [1, 2, 3, 4]}), path)
    read = ParquetReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead))
    kept = [row["_ts"] for chunk in read for b in chunk.batches for row in b.batch.to_pylist()]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (kept, [(d["line"], d["reason"]) for d in letters]) == (
        [1, 5],
        [(2, "event time '_ts' is out of range"), (3, "event time '_ts' is out of range")],
    )


def test_simulate_refuses_a_parquet_time_near_int64_max(tmp_path: Path) -> None:
    program, path = tmp_path / "p.vpl", tmp_path / "big.parquet"
    program.write_text("stream S = A\n    .window(1m)\n    .aggregate(n: count())\n")
    times = pa.array([1, 2**63 - 10], pa.int64())
    pq.write_table(pa.table({"_ts": times, "event_type": ["A"] * 2, "v": [1, 2]}), path)
    result = run_vbatch("simulate", "-p", str(program), "-e", str(path), "--immediate", "-q")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        f"{path}:2:1: event time '_ts' is out of range",
    )


# ---- 14, 30: over-long lines --------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [7, 100, 4096])
def test_a_10_mb_line_is_a_bad_record_read_in_bounded_memory(
    tmp_path: Path, batch_size: int
) -> None:
    path = tmp_path / "long.evt"
    path.write_text(f'@1 A {{ v: 1 }}\n@2 A {{ s: "{"x" * 10_000_000}" }}\n@3 A {{ v: 3 }}\n')
    read = EvtReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, batch_size=batch_size))
    tracemalloc.start()
    try:
        events = sum(chunk.count for chunk in read)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (events, read.stats.bad_records) == (2, 1)
    assert peak < 64 << 20


def test_an_endless_line_is_reported_at_the_limit_under_fail() -> None:
    started = time.monotonic()
    result = run_vbatch("simulate", "-p", "examples/pipeline.vpl", "-e", "/dev/zero", "--immediate")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        "/dev/zero:1:1048577: line is longer than 1048576 bytes",
    )
    assert time.monotonic() - started < 60


# ---- 32, 34: byte-order marks, wide lines -------------------------------------------------------


@pytest.mark.parametrize("suffix", [".evt", ".jsonl"])
def test_a_byte_order_mark_starting_the_input_is_skipped(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bom{suffix}"
    good = GOOD_JSON if suffix == ".jsonl" else GOOD_EVT
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([good[0], "{oops", good[1]]).encode() + b"\n")
    read = reader(path, ReadOptions(on_error=ErrorPolicy.SKIP))
    values = [row["v"] for c in read for b in c.batches for row in b.batch.to_pylist()]
    assert (values, read.stats.bad_records) == ([1, 3], 1)


def test_a_line_of_20000_fields_is_read_in_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "wide.evt"
    path.write_text("@1 A { " + ", ".join(f"f{i}: {i}" for i in range(20_000)) + " }\n")
    started = time.monotonic()
    chunks = list(EvtReader(path, ReadOptions()))
    seconds = time.monotonic() - started
    assert (chunks[0].batches[0].batch.num_columns, seconds < 5) == (20_002, True)
