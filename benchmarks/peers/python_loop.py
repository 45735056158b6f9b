"""The naive baseline: a plain Python loop over the rows, one event at a time.

Rows come from the Parquet file through pyarrow, a block of 65,536 at a time turned into
Python values (`to_pylist`), then each workload is a loop with dicts of running state: what
a Python user writes without an engine. Window state is kept per (key, window) and emitted at
the end; sessions close when the same user's next event is more than 5 s later.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.peers.workloads import SESSION_GAP_MS, TUMBLE_MS


def missing() -> str | None:
    """Always here."""
    return None


def rows(path: Path, columns: list[str]) -> Iterator[tuple]:
    """The file's rows as tuples of Python values."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=columns):
        yield from zip(*(batch.column(name).to_pylist() for name in columns), strict=True)


def _window_stats(path: Path, size: int) -> dict[tuple, list]:
    """(zone, sensor, window start) → [count, first, Σ(x-first), Σ(x-first)², max]."""
    state: dict[tuple, list] = {}
    for ts, sensor, value, zone in rows(path, ["timestamp", "sensor_id", "value", "zone"]):
        key = (zone, sensor, ts // size * size)
        acc = state.get(key)
        if acc is None:
            state[key] = [1, value, 0.0, 0.0, value]
            continue
        shifted = value - acc[1]
        acc[0] += 1
        acc[2] += shifted
        acc[3] += shifted * shifted
        if value > acc[4]:
            acc[4] = value
    return state


def _stats_rows(state: dict[tuple, list]) -> list[tuple]:
    out = []
    for (zone, sensor, start), (n, first, s, s2, high) in state.items():
        mean = s / n
        out.append(
            (zone, sensor, start, first + mean, high, math.sqrt(max(s2 / n - mean * mean, 0.0)), n)
        )
    return out


def compute(workload: str, path: Path, options: dict) -> dict[str, list[tuple]]:
    """Loop over the rows; result rows as tuples per output stream."""
    if workload == "W1":
        hot = []
        for row in rows(path, ["timestamp", "sensor_id", "value", "zone"]):
            if row[2] > 50:
                hot.append(row)
        return {"Hot": hot}
    if workload == "W2":
        return {"SensorStats": _stats_rows(_window_stats(path, TUMBLE_MS["W2"]))}
    if workload == "W3":
        open_sessions: dict[str, list] = {}
        closed = []
        for ts, user, action in rows(path, ["timestamp", "user_id", "action"]):
            session = open_sessions.get(user)
            if session is not None and ts - session[1] <= SESSION_GAP_MS:
                session[1] = ts
                session[2] += 1
                session[4] = action
                continue
            if session is not None:
                closed.append((user, *session))
            open_sessions[user] = [ts, ts, 1, action, action]
        closed.extend((user, *session) for user, session in open_sessions.items())
        return {"UserSessions": closed}
    if workload == "W4":
        size = TUMBLE_MS["W4"]
        state: dict[tuple, list] = {}
        for ts, sensor, value, zone in rows(path, ["timestamp", "sensor_id", "value", "zone"]):
            if not (value > 0 and sensor != ""):
                continue
            key = (zone, ts // size * size)
            acc = state.get(key)
            if acc is None:
                state[key] = [1, value, value]
                continue
            acc[0] += 1
            acc[1] += value
            if value > acc[2]:
                acc[2] = value
        stats = [(zone, start, s / n, high) for (zone, start), (n, s, high) in state.items()]
        alerts = [(zone, start, high) for zone, start, _, high in stats if high > 150]
        return {"ZoneStats": stats, "OverheatAlerts": alerts}
    if workload == "W5":
        both = _stats_rows(_window_stats(path, TUMBLE_MS["W5"]))
        return {f"Zone{z}Stats": [r[1:] for r in both if r[0] == z] for z in ("A", "B")}
    raise ValueError(f"unknown workload {workload}")


def tables(workload: str, result: dict[str, list[tuple]]) -> dict[str, pa.Table]:
    """The tuples as Arrow tables with the canonical columns."""
    from benchmarks.peers.workloads import WORKLOADS

    out = {}
    for stream, names in WORKLOADS[workload].streams.items():
        found = result[stream]
        if workload == "W2":
            found = [r[1:] for r in found]
        columns: list[Any] = list(zip(*found, strict=True)) if found else [[] for _ in names]
        out[stream] = pa.table({n: list(c) for n, c in zip(names, columns, strict=True)})
    return out
