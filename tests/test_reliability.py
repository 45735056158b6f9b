"""Nothing crashes, nothing is lost, nothing is destroyed: hostile inputs, programs and paths.

Each bad input is an ordinary bad record (located, counted, dead-lettered under
`--on-error skip`, exit 2 under `--on-error fail`); each bad program or path is a located
error with a documented exit code; never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import EXAMPLES, ROOT
from test_golden import run_vbatch

from vbatch.datasets import generate
from vbatch.errors import InputError
from vbatch.io.evt import EvtLineParser, EvtReader
from vbatch.io.jsonl import JsonlReader
from vbatch.io.parquet import ParquetReader
from vbatch.io.source import ErrorPolicy, ReadOptions
from vbatch.io.writers import ParquetWriter

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
    result = run_vbatch(
        "simulate", "-p", "examples/pipeline.vpl", "-e", "/dev/zero", "--immediate", "--no-contexts"
    )
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


# ---- outputs: 5, 7, 9, 20, 35, 36 ---------------------------------------------------------------

EVERY_EVENT = "stream S = SensorReading\n    .where(value > 0)\n"
SENSOR_EVT = '@1 SensorReading { sensor_id: "S1", value: 100.0, zone: "A" }\n'


def vbatch_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line run from `cwd`."""
    command = [sys.executable, "-m", "vbatch", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def run_files(tmp_path: Path) -> tuple[Path, Path]:
    """A program passing every sensor reading on, and a small input with one bad line."""
    program, events = tmp_path / "p.vpl", tmp_path / "in.evt"
    program.write_text(EVERY_EVENT)
    events.write_text(SENSOR_EVT + "not an event\n" + SENSOR_EVT.replace("@1", "@2"))
    return program, events


def simulate(program: Path, events: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_vbatch("simulate", "-p", str(program), "-e", str(events), "--immediate", "-q", *args)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (as root; skipped otherwise), unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_a_full_disk_is_exit_2_naming_the_file_and_leaves_nothing(
    tmp_path: Path, small_disk: Path, fmt: str
) -> None:
    program, events = tmp_path / "p.vpl", tmp_path / "sensors.parquet"
    program.write_text(EVERY_EVENT)
    generate("sensors", 100_000, events)
    out = small_disk / ("out.jsonl" if fmt == "jsonl" else "out")
    result = simulate(program, events, "-o", str(out), "-f", fmt)
    name = out if fmt == "jsonl" else out / f"S.{fmt}"
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        f"{name}: cannot write: " + result.stderr.split("cannot write: ", 1)[1].splitlines()[0],
    )
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert list(small_disk.rglob("*")) == []


def test_a_failed_parquet_write_is_removed_and_abort_after_it_is_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = ParquetWriter(tmp_path / "out")
    writer.write("S", pa.record_batch({"_ts": [1], "_seq": [0], "v": [1.5]}))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    with pytest.raises(InputError) as caught:
        writer.close()
    writer.abort()
    assert caught.value.render().startswith(f"{tmp_path / 'out' / 'S.parquet'}: cannot write")
    assert list(tmp_path.rglob("*")) == []


def test_aborting_a_half_written_parquet_writer_removes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = ParquetWriter(tmp_path / "out")
    writer.write("S", pa.record_batch({"_ts": [1], "_seq": [0], "v": [1.5], "w": [2]}))

    def broken(*args: object, **kwargs: object) -> None:
        raise pa.ArrowInvalid("Only 0 out of 4 columns are initialized")

    monkeypatch.setattr(pq.ParquetWriter, "close", broken)
    writer.abort()
    monkeypatch.undo()
    assert list(tmp_path.rglob("*")) == []


def test_output_writes_through_a_fifo(tmp_path: Path, run_files: tuple[Path, Path]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = simulate(*run_files, "-o", str(fifo), "-f", "jsonl", "--on-error", "skip",
                      "--dead-letter", str(tmp_path / "dead.jsonl"))  # fmt: skip
    reader.join(timeout=30)
    assert (result.returncode, stat.S_ISFIFO(fifo.lstat().st_mode)) == (0, True)
    assert [json.loads(line)["_ts"] for line in got[0].splitlines()] == [1, 2]


def test_output_through_a_symlink_replaces_its_target(
    tmp_path: Path, run_files: tuple[Path, Path]
) -> None:
    target, link = tmp_path / "target.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    result = simulate(*run_files, "-o", str(link), "--on-error", "skip")
    assert (result.returncode, link.is_symlink()) == (0, True)
    assert [json.loads(line)["_ts"] for line in target.read_text().splitlines()] == [1, 2]


def test_output_to_a_null_device_keeps_it_a_device(
    tmp_path: Path, run_files: tuple[Path, Path]
) -> None:
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("making a device node needs root")
    dead = tmp_path / "dead.jsonl"
    result = simulate(*run_files, "-o", str(null), "-f", "jsonl", "--on-error", "skip",
                      "--dead-letter", str(dead))  # fmt: skip
    assert (result.returncode, stat.S_ISCHR(null.lstat().st_mode)) == (0, True)


@pytest.mark.parametrize("option", ["--dead-letter", "--output"])
@pytest.mark.parametrize("victim", ["events", "program", "hard link to the events"])
def test_an_output_naming_an_input_is_refused_before_writing(
    tmp_path: Path, run_files: tuple[Path, Path], option: str, victim: str
) -> None:
    program, events = run_files
    path = {"events": events, "program": program}.get(victim, tmp_path / "alias.evt")
    if victim.startswith("hard link"):
        os.link(events, path)
    before = (program.read_bytes(), events.read_bytes())
    result = simulate(program, events, "--on-error", "skip", option, str(path),
                      *(["--dead-letter", str(tmp_path / "d.jsonl")] if option == "--output" else []))  # fmt: skip
    assert (result.returncode, "would overwrite the" in result.stderr) == (3, True)
    assert (program.read_bytes(), events.read_bytes()) == before


def test_a_live_output_naming_the_program_is_refused(run_files: tuple[Path, Path]) -> None:
    program, _ = run_files
    before = program.read_bytes()
    result = run_vbatch("run", "-p", str(program), "-o", str(program), "--no-stdin")
    assert (result.returncode, result.stderr.splitlines()[0], program.read_bytes()) == (
        3,
        f"error: --output {program} would overwrite the program",
        before,
    )


def test_an_output_under_a_file_is_exit_2(tmp_path: Path, run_files: tuple[Path, Path]) -> None:
    program, events = run_files
    result = simulate(program, events, "-o", str(events / "x.jsonl"))
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"{events / 'x.jsonl'}: cannot write the output: {events} is not a folder",
    )


def test_an_unwritable_dead_letter_file_is_exit_2_before_the_run(
    tmp_path: Path, run_files: tuple[Path, Path]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(locked)], check=True)
    else:
        locked.chmod(0o500)
    dead = locked / "d.jsonl"
    try:
        result = simulate(*run_files, "--on-error", "skip", "--dead-letter", str(dead))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(locked)], check=True)
    reason = "read-only file system" if os.geteuid() == 0 else "permission denied"
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"{locked / 'd.jsonl'}: cannot write the dead-letter file: {reason}",
    )
    assert "Events processed" not in result.stdout


def test_a_stream_name_too_long_for_a_file_is_exit_2(tmp_path: Path) -> None:
    name = "S" * 260
    program = tmp_path / "long.vpl"
    program.write_text(f"stream {name} = SensorReading\n    .where(value > 0)\n")
    result = simulate(program, EXAMPLES / "first_context.evt", "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "longer than 255 bytes" in result.stderr and "Traceback" not in result.stderr


def test_an_empty_output_path_is_refused(tmp_path: Path) -> None:
    program = EXAMPLES / "first_context.vpl"
    result = vbatch_in(tmp_path, "simulate", "-p", str(program),
                       "-e", str(EXAMPLES / "first_context.evt"), "--immediate", "-o", "")  # fmt: skip
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        3,
        "error: --output needs a path, not ''",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", ["out.jsonl", "out"])
def test_dead_letters_go_beside_the_output_and_the_summary_says_where(
    tmp_path: Path, run_files: tuple[Path, Path], output: str
) -> None:
    program, events = run_files
    result = vbatch_in(tmp_path, "simulate", "-p", str(program), "-e", str(events),
                       "--immediate", "-q", "--on-error", "skip", "-o", output)  # fmt: skip
    dead = tmp_path / "out.dead-letter.jsonl"
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "Dead letters:     out.dead-letter.jsonl",
    )
    assert json.loads(dead.read_text())["line"] == 2
    assert not (tmp_path / "vbatch-dead-letter.jsonl").exists()
    assert not (ROOT / "vbatch-dead-letter.jsonl").exists()


def test_skipping_without_an_output_needs_a_dead_letter_path(
    tmp_path: Path, run_files: tuple[Path, Path]
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    result = vbatch_in(here, "simulate", "-p", str(run_files[0]), "-e", str(run_files[1]),
                       "--immediate", "--on-error", "skip")  # fmt: skip
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        3,
        "error: --on-error skip needs --dead-letter PATH: there is no --output to put them beside",
    )
    assert list(here.iterdir()) == []


# ---- 24, 29, 32, 33: messages, data sets, program files -----------------------------------------


def test_control_characters_from_the_input_are_escaped_in_messages(tmp_path: Path) -> None:
    program, events = tmp_path / "p.vpl", tmp_path / "in.evt"
    program.write_text("stream S = A\n    .where(v > 0)\n")
    kind = "\\u001b[2J\\u0007X"
    events.write_text(f'{{"event_type": "{kind}", "_ts": 1, "v": 1}}\n'
                      f'{{"event_type": "{kind}", "_ts": 2, "v": "text"}}\n')  # fmt: skip
    result = simulate(program, events)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "of \\x1b[2J\\x07X holds a str value" in result.stderr


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("jitter_ms=-5", "error: jitter_ms cannot be negative, not -5"),
        ("spike_rate=2", "error: spike_rate is a fraction from 0 to 1, not 2"),
        ("sensors=many", "error: sensors must be a whole number, not 'many'"),
        ("nope=1", "error: data set 'sensors' has no parameter 'nope'"),
    ],
)
def test_a_bad_data_set_parameter_is_exit_3(tmp_path: Path, param: str, message: str) -> None:
    out = tmp_path / "s.parquet"
    result = run_vbatch("datasets", "generate", "sensors", "--out", str(out), "-P", param)
    assert (result.returncode, result.stderr.splitlines()[0], out.exists()) == (3, message, False)
    assert "_sensor_blocks" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "examples/merge.vpl", "--batch-size", "0"], "0 is not in the range x>=1"),
        (["simulate", "examples/merge.vpl", "--nope"], "No such option '--nope'"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_a_bad_option_is_exit_3(args: list[str], message: str) -> None:
    result = run_vbatch(*args)
    assert result.returncode == 3
    assert message in result.stderr


@pytest.mark.parametrize("command", ["check", "parse"])
def test_a_program_file_beyond_16_mib_is_refused_without_reading_it_all(command: str) -> None:
    result = run_vbatch(command, "/dev/zero")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "/dev/zero: is larger than 16 MiB, the most a program file may hold",
    )


@pytest.mark.parametrize("command", ["check", "parse"])
def test_a_byte_order_mark_starting_a_program_is_skipped(tmp_path: Path, command: str) -> None:
    program = tmp_path / "bom.vpl"
    program.write_bytes(b"\xef\xbb\xbf" + PROGRAM.encode())
    assert run_vbatch(command, str(program)).returncode == 0


def test_errors_after_a_byte_order_mark_point_at_the_text(tmp_path: Path) -> None:
    program = tmp_path / "bom.vpl"
    program.write_bytes(b"\xef\xbb\xbfstrem X = Y\n")
    result = run_vbatch("check", str(program))
    assert (result.returncode, result.stderr.splitlines()[:3]) == (
        1,
        [f"{program}:1:1: unknown statement `strem`", "    1 | strem X = Y", "      | ^^^^^"],
    )


# ---- 10, 11, 13: deep and out-of-range programs -------------------------------------------------

DEEP_500 = {
    "and": " and ".join(["v > 0"] * 500),
    "or": " or ".join(["v > 0"] * 500),
    "plus": " + ".join(["v"] * 500) + " > 0",
    "not": "not " * 500 + "(v > 0)",
    "negation": "-" * 500 + "v < 0",
    "calls": "abs(" * 500 + "v" + ")" * 500 + " > 0",
    "lists": "v in [" + ", ".join(str(i) for i in range(500)) + "]",
}


@pytest.mark.parametrize("shape", sorted(DEEP_500))
def test_500_levels_of_operators_check_parse_and_run(tmp_path: Path, shape: str) -> None:
    program, events = tmp_path / "deep.vpl", tmp_path / "in.evt"
    program.write_text(f"context c\nstream S = A\n    .context(c)\n    .where({DEEP_500[shape]})\n")
    events.write_text("\n".join(GOOD_EVT) + "\n")
    results = [run_vbatch(command, str(program)) for command in ("check", "parse")]
    results.append(simulate(program, events))
    assert [r.returncode for r in results] == [0, 0, 0]
    assert "Events processed: 2" in results[2].stdout


def test_a_nested_list_constant_500_deep_checks(tmp_path: Path) -> None:
    program = tmp_path / "lists.vpl"
    program.write_text("const L = " + "[" * 500 + "1" + "]" * 500 + "\n" + PROGRAM)
    assert run_vbatch("check", str(program)).returncode == 0


@pytest.mark.parametrize("command", ["check", "parse"])
def test_nesting_beyond_the_limit_is_a_located_error(tmp_path: Path, command: str) -> None:
    program = tmp_path / "deeper.vpl"
    program.write_text("stream S = A\n    .where(" + " + ".join(["v"] * 5000) + " > 0)\n")
    result = run_vbatch(command, str(program))
    assert (result.returncode, "Traceback" in result.stderr) == (1, False)
    assert result.stderr.startswith(f"{program}:2:") and "nests deeper than 1000" in result.stderr


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("value > 99999999999999999999", "integer 99999999999999999999 does not fit in 64 bits"),
        ("value > 1e309", "number too large for a float"),
    ],
)
def test_check_refuses_what_simulate_could_not_run(
    tmp_path: Path, condition: str, message: str
) -> None:
    program = tmp_path / "p.vpl"
    program.write_text(f"stream S = SensorReading\n    .where({condition})\n")
    result = run_vbatch("check", str(program))
    assert (result.returncode, result.stderr.splitlines()[0]) == (1, f"{program}:2:20: {message}")
