"""PyFlink: each workload as a Flink SQL job of the Table API in streaming mode (parallelism 2).

The input is a CSV copy of the Parquet data set (same rows, same order, plus the arrival
index `seq`), read by Flink's filesystem connector: the connectors bundled with the
`apache-flink` wheel have no Parquet format (that jar comes from Maven, which this machine
cannot reach). Event time is `TO_TIMESTAMP_LTZ(timestamp, 3)` with the watermark at the
largest time seen (like vbatch's default out-of-orderness of 0); windows are the `TUMBLE`
and `SESSION` table-valued functions in UTC (so epoch-aligned). `FIRST_VALUE`/`LAST_VALUE`
lack the `merge` that session windows need, so first/last are the action of the smallest /
largest arrival index, by the usual `MIN(CONCAT(LPAD(seq), action))` idiom. One source
reader keeps each key's rows in arrival order. Results come back to Python with
`to_pandas()`. The clock includes starting the JVM, as a user's script would.

`apache-flink` pins pyarrow < 21 and pandas < 2.3, so it lives in its own virtualenv
(`data/bench/pyflink-venv`, see benchmarks/README.md) and this module runs under that
interpreter.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.peers.workloads import SESSION_GAP_MS, TUMBLE_MS, WORKLOADS

PARALLELISM = 2

SOURCES = {
    "sensors": "`timestamp` BIGINT, event_type STRING, sensor_id STRING, `value` DOUBLE,"
    " zone STRING, seq BIGINT",
    "users": "`timestamp` BIGINT, event_type STRING, user_id STRING, action STRING, seq BIGINT",
}


def missing() -> str | None:
    """Why PyFlink cannot run under this interpreter, or None."""
    return None if importlib.util.find_spec("pyflink") else "apache-flink is not installed"


def warm_up() -> None:
    """Import PyFlink's Python side before the clock starts (the JVM starts inside it)."""
    import pyflink.table  # noqa: F401


def _stats(size_ms: int, keys: str, where: str = "") -> str:
    return f"""
        SELECT {keys}, window_start, AVG(`value`) AS avg_value, MAX(`value`) AS max_value,
               STDDEV_POP(`value`) AS stddev_value, COUNT(*) AS reading_count
        FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '{size_ms // 1000}' SECOND))
        {where}
        GROUP BY {keys}, window_start, window_end
    """


def query(workload: str) -> tuple[list[str], str]:
    """Views to create first, and the query whose rows are the workload's outputs."""
    if workload == "W1":
        return [], "SELECT `timestamp`, sensor_id, `value`, zone FROM src WHERE `value` > 50"
    if workload == "W2":
        return [], _stats(TUMBLE_MS["W2"], "sensor_id")
    if workload == "W3":
        return (
            [],
            f"""
            SELECT user_id, MIN(`timestamp`) AS session_start, MAX(`timestamp`) AS session_last,
                   COUNT(*) AS event_count,
                   SUBSTRING(MIN(CONCAT(LPAD(CAST(seq AS STRING), 12, '0'), action)), 13)
                       AS first_action,
                   SUBSTRING(MAX(CONCAT(LPAD(CAST(seq AS STRING), 12, '0'), action)), 13)
                       AS last_action
            FROM TABLE(SESSION(TABLE src PARTITION BY user_id, DESCRIPTOR(ts),
                               INTERVAL '{SESSION_GAP_MS // 1000}' SECOND))
            GROUP BY user_id, window_start, window_end
        """,
        )
    if workload == "W4":
        minutes = TUMBLE_MS["W4"] // 60_000
        views = [
            "CREATE TEMPORARY VIEW valid AS SELECT * FROM src"
            " WHERE `value` > 0 AND sensor_id <> ''",
            f"""CREATE TEMPORARY VIEW zone_stats AS
                SELECT zone, window_start, AVG(`value`) AS avg_value,
                       MAX(`value`) AS max_value, COUNT(*) AS reading_count
                FROM TABLE(TUMBLE(TABLE valid, DESCRIPTOR(ts), INTERVAL '{minutes}' MINUTE))
                GROUP BY zone, window_start, window_end""",
        ]
        return (
            views,
            """
            SELECT 'ZoneStats' AS output_stream, zone, window_start, avg_value, max_value
            FROM zone_stats
            UNION ALL
            SELECT 'OverheatAlerts' AS output_stream, zone, window_start,
                   CAST(NULL AS DOUBLE) AS avg_value, max_value
            FROM zone_stats WHERE max_value > 150
        """,
        )
    if workload == "W5":
        return [], _stats(TUMBLE_MS["W5"], "zone, sensor_id", "WHERE zone IN ('A', 'B')")
    raise ValueError(f"unknown workload {workload}")


def compute(workload: str, path: Path, options: dict) -> Any:
    """Start Flink, run the job over the CSV file, fetch the rows as a pandas DataFrame."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", str(PARALLELISM))
    config.set("table.local-time-zone", "UTC")
    env.execute_sql(f"""
        CREATE TABLE src (
            {SOURCES[WORKLOADS[workload].dataset]},
            ts AS TO_TIMESTAMP_LTZ(`timestamp`, 3),
            WATERMARK FOR ts AS ts
        ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')
    """)
    views, sql = query(workload)
    for view in views:
        env.execute_sql(view)
    return env.sql_query(sql).to_pandas()


def _epoch_ms(column: Any) -> Any:
    """A window_start column (datetime64 in UTC) as epoch milliseconds."""
    return column.astype("datetime64[ms]").astype("int64")


def tables(workload: str, result: Any) -> dict[str, pa.Table]:
    """The DataFrame split into the canonical streams."""
    frame = result
    if "window_start" in frame.columns:
        frame = frame.assign(window_start=_epoch_ms(frame["window_start"]))
    if workload == "W4":
        return {
            stream: pa.Table.from_pandas(
                frame[frame["output_stream"] == stream].drop(columns="output_stream"),
                preserve_index=False,
            )
            for stream in ("ZoneStats", "OverheatAlerts")
        }
    if workload == "W5":
        return {
            f"Zone{z}Stats": pa.Table.from_pandas(frame[frame["zone"] == z], preserve_index=False)
            for z in ("A", "B")
        }
    (stream,) = WORKLOADS[workload].streams
    return {stream: pa.Table.from_pandas(frame, preserve_index=False)}
