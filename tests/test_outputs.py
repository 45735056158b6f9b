"""Machine outputs of `vbatch simulate`: JSON lines in the global order, folders of files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from test_golden import run_vbatch


def test_json_lines_interleave_streams_in_output_order(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    args = ["-p", "examples/pipeline.vpl", "-e", "examples/pipeline.evt", "--immediate", "-q"]
    assert run_vbatch("simulate", *args, "--output", str(out)).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stream"] for r in rows] == ["ValidReadings"] * 6 + [
        "ZoneStats", "OverheatAlerts", "ZoneStats", "OverheatAlerts",
    ]  # fmt: skip
    assert rows[6] == {
        "stream": "ZoneStats", "_ts": 60000, "zone": "north", "avg_value": 156.9,
        "max_value": 170.2, "_window_start": 0, "_window_end": 60000,
    }  # fmt: skip
    assert rows[8]["avg_value"] == 112.66666666666667  # full precision, not the console's


def test_parquet_and_csv_folders_hold_one_file_per_stream(tmp_path: Path) -> None:
    args = [
        "-p",
        "examples/parallel_windows.vpl",
        "-e",
        "examples/parallel_windows.evt",
        "--immediate",
        "-q",
    ]
    assert run_vbatch("simulate", *args, "--output", str(tmp_path / "pq")).returncode == 0
    assert (
        run_vbatch(
            "simulate", *args, "--output", str(tmp_path / "csv"), "--format", "csv"
        ).returncode
        == 0
    )
    table = pq.read_table(tmp_path / "pq" / "ZoneAStats.parquet")
    assert table.column_names == [
        "_ts", "sensor_id", "avg_value", "max_value", "stddev_value", "reading_count",
        "_window_start", "_window_end",
    ]  # fmt: skip
    assert table.column("sensor_id").to_pylist() == ["A1", "A2"]
    csv = pacsv.read_csv(tmp_path / "csv" / "ZoneBStats.csv")
    assert csv.column("reading_count").to_pylist() == [3, 2]


def test_a_bad_record_stops_the_run_and_writes_nothing(tmp_path: Path) -> None:
    events = tmp_path / "bad.evt"
    events.write_text(
        '@0 SensorReading { sensor_id: "S1", value: 72.5 }\n@1 SensorReading { value: }\n'
    )
    out = tmp_path / "out.jsonl"
    result = run_vbatch("simulate", "-p", "examples/first_context.vpl", "-e", str(events),
                        "--immediate", "-q", "--output", str(out))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"{events}:2:")
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_skipped_records_go_to_the_dead_letter_file(tmp_path: Path) -> None:
    events = tmp_path / "bad.evt"
    events.write_text(
        '@0 SensorReading { sensor_id: "S1", value: 72.5 }\n@1 SensorReading { value: }\n'
    )
    dead = tmp_path / "dead.jsonl"
    result = run_vbatch("simulate", "-p", "examples/first_context.vpl", "-e", str(events),
                        "--immediate", "--on-error", "skip", "--dead-letter", str(dead))  # fmt: skip
    assert result.returncode == 0
    assert "Bad records skipped: 1" in result.stdout
    [letter] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (letter["file"], letter["line"], letter["record"]) == (
        str(events), 2, "@1 SensorReading { value: }",
    )  # fmt: skip
