"""Bytewax: each workload as a streaming dataflow, run to completion with `run_main` (1 worker).

Rows come from the Parquet file (as for the Python loop) through a `TestingSource`; windows are
Bytewax's event-time windowing operators (`TumblingWindower` aligned to the epoch,
`SessionWindower` with a 5 s gap) over an `EventClock` on `timestamp`. The clock's system time
is frozen, so the watermark is exactly the largest event time seen (no event of the same
millisecond is ever late, as in vbatch); end of input closes the remaining windows.
"""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.peers.python_loop import rows
from benchmarks.peers.workloads import SESSION_GAP_MS, TUMBLE_MS, WORKLOADS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOURCE_BATCH = 1024


def missing() -> str | None:
    """Why Bytewax cannot run here, or None."""
    return None if importlib.util.find_spec("bytewax") else "bytewax is not installed"


def warm_up() -> None:
    """Import Bytewax before the clock starts."""
    import bytewax.operators.windowing  # noqa: F401
    import bytewax.testing  # noqa: F401


def _clock():  # noqa: ANN202 - a bytewax EventClock
    from bytewax.operators.windowing import EventClock

    return EventClock(
        lambda row: EPOCH + timedelta(milliseconds=row[0]),
        wait_for_system_duration=timedelta(0),
        now_getter=lambda: EPOCH,
        to_system_utc=lambda _: None,
    )


def _tumbling(size_ms: int):  # noqa: ANN202 - a bytewax windower
    from bytewax.operators.windowing import TumblingWindower

    return TumblingWindower(length=timedelta(milliseconds=size_ms), align_to=EPOCH)


def _stats_window(flow_stream, name: str, size_ms: int):  # noqa: ANN001, ANN202
    """Per-sensor tumbling avg/max/stddev/count over (ts, sensor, value, zone) rows."""
    import bytewax.operators as op
    from bytewax.operators.windowing import fold_window

    def fold(acc: list | None, row: tuple) -> list:
        ts, _, value, _ = row
        if not acc:
            return [1, value, 0.0, 0.0, value, ts // size_ms * size_ms]
        shifted = value - acc[1]
        acc[0] += 1
        acc[2] += shifted
        acc[3] += shifted * shifted
        acc[4] = max(acc[4], value)
        return acc

    keyed = op.key_on(f"{name}_key", flow_stream, lambda row: row[1])
    return fold_window(
        name, keyed, _clock(), _tumbling(size_ms), list, fold, lambda a, b: a + b
    ).down


def _in_zone(zone: str, row: tuple) -> bool:
    return row[3] == zone


def _stats_rows(found: list) -> list[tuple]:
    out = []
    for sensor, (_, (n, first, s, s2, high, start)) in found:
        mean = s / n
        out.append(
            (sensor, start, first + mean, high, math.sqrt(max(s2 / n - mean * mean, 0.0)), n)
        )
    return out


def compute(workload: str, path: Path, options: dict) -> dict[str, list]:
    """Build the dataflow, run it to the end of the input; the sinks' lists per stream."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import fold_window
    from bytewax.testing import TestingSink, TestingSource, run_main

    dataset = WORKLOADS[workload].dataset
    columns = (
        ["timestamp", "user_id", "action"]
        if dataset == "users"
        else ["timestamp", "sensor_id", "value", "zone"]
    )
    flow = Dataflow(f"vbatch_{workload}")
    source = op.input("in", flow, TestingSource(rows(path, columns), batch_size=SOURCE_BATCH))
    sinks: dict[str, list] = {}

    def sink(stream_name: str, stream) -> None:  # noqa: ANN001 - a bytewax stream
        sinks[stream_name] = []
        op.output(f"out_{stream_name}", stream, TestingSink(sinks[stream_name]))

    if workload == "W1":
        sink("Hot", op.filter("hot", source, lambda row: row[2] > 50))
    elif workload == "W2":
        sink("SensorStats", _stats_window(source, "stats", TUMBLE_MS["W2"]))
    elif workload == "W3":

        def fold(acc: list | None, row: tuple) -> list:
            ts, _, action = row
            if not acc:
                return [ts, ts, 1, action, action]
            acc[1] = ts
            acc[2] += 1
            acc[4] = action
            return acc

        def merge(a: list, b: list) -> list:
            early, late = (a, b) if a[0] <= b[0] else (b, a)
            return [early[0], max(a[1], b[1]), a[2] + b[2], early[3], late[4]]

        from bytewax.operators.windowing import SessionWindower

        keyed = op.key_on("user", source, lambda row: row[1])
        windower = SessionWindower(gap=timedelta(milliseconds=SESSION_GAP_MS))
        sink(
            "UserSessions",
            fold_window("sessions", keyed, _clock(), windower, list, fold, merge).down,
        )
    elif workload == "W4":
        size = TUMBLE_MS["W4"]

        def fold_zone(acc: list | None, row: tuple) -> list:
            ts, _, value, _ = row
            if not acc:
                return [1, value, value, ts // size * size]
            acc[0] += 1
            acc[1] += value
            acc[2] = max(acc[2], value)
            return acc

        valid = op.filter("valid", source, lambda row: row[2] > 0 and row[1] != "")
        keyed = op.key_on("zone", valid, lambda row: row[3])
        windows = fold_window(
            "zone_stats", keyed, _clock(), _tumbling(size), list, fold_zone, lambda a, b: a + b
        ).down
        stats = op.map(
            "zone_row",
            windows,
            lambda kv: (kv[0], kv[1][1][3], kv[1][1][1] / kv[1][1][0], kv[1][1][2]),
        )
        sink("ZoneStats", stats)
        alerts = op.filter_map(
            "alerts", stats, lambda r: (r[0], r[1], r[3]) if r[3] > 150 else None
        )
        sink("OverheatAlerts", alerts)
    elif workload == "W5":
        for zone in ("A", "B"):
            mine = op.filter(f"zone_{zone}", source, partial(_in_zone, zone))
            sink(f"Zone{zone}Stats", _stats_window(mine, f"stats_{zone}", TUMBLE_MS["W5"]))
    else:
        raise ValueError(f"unknown workload {workload}")
    run_main(flow)
    return sinks


def tables(workload: str, result: dict[str, list]) -> dict[str, pa.Table]:
    """The sinks' items as Arrow tables with the canonical columns."""
    out = {}
    for stream, names in WORKLOADS[workload].streams.items():
        found = result[stream]
        if workload in ("W2", "W5"):
            found = _stats_rows(found)
        elif workload == "W3":
            found = [(user, *state) for user, (_, state) in found]
        columns: list[Any] = list(zip(*found, strict=True)) if found else [[] for _ in names]
        out[stream] = pa.table({n: list(c) for n, c in zip(names, columns, strict=True)})
    return out
