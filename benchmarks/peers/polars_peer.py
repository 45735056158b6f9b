"""Polars: each workload as a lazy query over the Parquet file (`scan_parquet` → `collect`).

Tumbling windows are `timestamp // size * size` group keys; `--option dynamic` computes W2 with
`group_by_dynamic` instead (Polars' time-window API, which wants the rows sorted by time).
Sessions: the rows sorted by user and arrival, a break where the user changes or the gap
exceeds 5 s, a running count of breaks, then a group by (first/last keep arrival order).
W5's two zone streams come from one grouped pass.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.peers.workloads import SESSION_GAP_MS, TUMBLE_MS


def missing() -> str | None:
    """Why Polars cannot run here, or None."""
    return None if importlib.util.find_spec("polars") else "polars is not installed"


def warm_up() -> None:
    """Import Polars before the clock starts."""
    import polars  # noqa: F401


def _stats(frame, size: int, keys: list[str]):  # noqa: ANN001, ANN202 - polars types
    import polars as pl

    window = (pl.col("timestamp") // size * size).alias("window_start")
    return frame.group_by([*keys, window]).agg(
        pl.col("value").mean().alias("avg_value"),
        pl.col("value").max().alias("max_value"),
        pl.col("value").std(ddof=0).alias("stddev_value"),
        pl.len().alias("reading_count"),
    )


def compute(workload: str, path: Path, options: dict) -> dict[str, Any]:
    """Run the workload's lazy queries; one DataFrame per output stream."""
    import polars as pl

    scan = pl.scan_parquet(path)
    if workload == "W1":
        hot = scan.filter(pl.col("value") > 50).select("timestamp", "sensor_id", "value", "zone")
        return {"Hot": hot.collect()}
    if workload == "W2" and "dynamic" in options["options"]:
        stats = (
            scan.select("timestamp", "sensor_id", "value")
            .group_by_dynamic(
                "timestamp", every=f"{TUMBLE_MS['W2']}i", group_by="sensor_id", label="left"
            )
            .agg(
                pl.col("value").mean().alias("avg_value"),
                pl.col("value").max().alias("max_value"),
                pl.col("value").std(ddof=0).alias("stddev_value"),
                pl.len().alias("reading_count"),
            )
            .rename({"timestamp": "window_start"})
        )
        return {"SensorStats": stats.collect()}
    if workload == "W2":
        return {"SensorStats": _stats(scan, TUMBLE_MS["W2"], ["sensor_id"]).collect()}
    if workload == "W3":
        ts, user = pl.col("timestamp"), pl.col("user_id")
        starts = (user != user.shift(1)) | (ts - ts.shift(1) > SESSION_GAP_MS)
        sessions = (
            scan.select("user_id", "timestamp", "action")
            .with_row_index("seq")
            .sort("user_id", "seq")
            .with_columns(starts.fill_null(True).cum_sum().alias("session"))
            .group_by("session")
            .agg(
                user.first(),
                ts.min().alias("session_start"),
                ts.max().alias("session_last"),
                pl.len().alias("event_count"),
                pl.col("action").first().alias("first_action"),
                pl.col("action").last().alias("last_action"),
            )
        )
        return {"UserSessions": sessions.collect()}
    if workload == "W4":
        size = TUMBLE_MS["W4"]
        valid = scan.filter((pl.col("value") > 0) & (pl.col("sensor_id") != ""))
        zone_stats = (
            valid.group_by("zone", (pl.col("timestamp") // size * size).alias("window_start"))
            .agg(
                pl.col("value").mean().alias("avg_value"),
                pl.col("value").max().alias("max_value"),
                pl.len().alias("reading_count"),
            )
            .collect()
        )
        alerts = zone_stats.filter(pl.col("max_value") > 150).select(
            "zone", "window_start", "max_value"
        )
        return {"ZoneStats": zone_stats, "OverheatAlerts": alerts}
    if workload == "W5":
        zones = scan.filter(pl.col("zone").is_in(["A", "B"]))
        both = _stats(zones, TUMBLE_MS["W5"], ["zone", "sensor_id"]).collect()
        return {f"Zone{z}Stats": both.filter(pl.col("zone") == z) for z in ("A", "B")}
    raise ValueError(f"unknown workload {workload}")


def tables(workload: str, result: dict[str, Any]) -> dict[str, pa.Table]:
    """The DataFrames as Arrow tables."""
    return {stream: frame.to_arrow() for stream, frame in result.items()}
