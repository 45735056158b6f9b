"""DuckDB: each workload as one batch SQL query over the Parquet file (2 threads by default).

Tumbling windows are `timestamp // size * size` group keys (epoch-aligned, as in vbatch);
sessions are a `lag` over each user's events in arrival order (`file_row_number`), a running
sum of gap breaks, and a group by; first/last are `arg_min`/`arg_max` by arrival. Results
are fetched as Arrow tables. W5's two zone streams come from one grouped pass.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.peers.workloads import SESSION_GAP_MS, TUMBLE_MS


def missing() -> str | None:
    """Why DuckDB cannot run here, or None."""
    return None if importlib.util.find_spec("duckdb") else "duckdb is not installed"


def warm_up() -> None:
    """Import DuckDB before the clock starts."""
    import duckdb  # noqa: F401


def _stats(source: str, size: int, where: str, keys: str) -> str:
    return f"""
        SELECT {keys}, timestamp // {size} * {size} AS window_start,
               avg(value) AS avg_value, max(value) AS max_value,
               stddev_pop(value) AS stddev_value, count(*) AS reading_count
        FROM {source} {where}
        GROUP BY ALL
    """


def queries(workload: str, source: str) -> dict[str, str]:
    """The SQL of each output stream; `source` is a table expression with the input rows."""
    if workload == "W1":
        return {"Hot": f"SELECT timestamp, sensor_id, value, zone FROM {source} WHERE value > 50"}
    if workload == "W2":
        return {"SensorStats": _stats(source, TUMBLE_MS["W2"], "", "sensor_id")}
    if workload == "W3":
        return {
            "UserSessions": f"""
            WITH marked AS (
                SELECT user_id, timestamp, action, seq,
                       coalesce(timestamp - lag(timestamp) OVER w > {SESSION_GAP_MS}, true)
                           AS starts
                FROM {source}
                WINDOW w AS (PARTITION BY user_id ORDER BY seq)
            ), numbered AS (
                SELECT *, sum(starts::INTEGER) OVER (PARTITION BY user_id ORDER BY seq
                                                    ROWS UNBOUNDED PRECEDING) AS session
                FROM marked
            )
            SELECT user_id, min(timestamp) AS session_start, max(timestamp) AS session_last,
                   count(*) AS event_count, arg_min(action, seq) AS first_action,
                   arg_max(action, seq) AS last_action
            FROM numbered GROUP BY user_id, session
            """
        }
    if workload == "W4":
        size = TUMBLE_MS["W4"]
        return {
            "ZoneStats": f"""
                SELECT zone, timestamp // {size} * {size} AS window_start,
                       avg(value) AS avg_value, max(value) AS max_value,
                       count(*) AS reading_count
                FROM {source} WHERE value > 0 AND sensor_id <> ''
                GROUP BY ALL
            """,
            "OverheatAlerts": "SELECT zone, window_start, max_value FROM ZoneStats"
            " WHERE max_value > 150",
        }
    if workload == "W5":
        where = "WHERE zone IN ('A', 'B')"
        return {"ZoneStats": _stats(source, TUMBLE_MS["W5"], where, "zone, sensor_id")}
    raise ValueError(f"unknown workload {workload}")


def compute(workload: str, path: Path, options: dict) -> dict[str, pa.Table]:
    """Run the workload's queries; one Arrow table per output stream."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {int(options['threads'])}")
    if workload == "W3":
        rows = f"read_parquet('{path}', file_row_number = true)"
        source = f"(SELECT *, file_row_number AS seq FROM {rows})"
    else:
        source = f"read_parquet('{path}')"
    results: dict[str, pa.Table] = {}
    for stream, sql in queries(workload, source).items():
        if workload == "W4" and stream == "ZoneStats":
            con.execute(f"CREATE TEMP TABLE ZoneStats AS {sql}")
            sql = "SELECT * FROM ZoneStats"
        relation = con.sql(sql)  # to_arrow_table from DuckDB 1.4, fetch_arrow_table before
        fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        results[stream] = fetch()
    con.close()
    if workload == "W5":
        both = results.pop("ZoneStats")
        for zone in ("A", "B"):
            results[f"Zone{zone}Stats"] = both.filter(pc.equal(both.column("zone"), zone))
    return results


def tables(workload: str, result: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Already in the canonical columns."""
    return result
