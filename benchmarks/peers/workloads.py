"""The five comparison workloads, their canonical result columns, and the result checksum.

Every system returns, per output stream, a table with the columns below (keys first). The
checksum sorts it by all its columns and keeps, per column, the plain sum and a sum weighted by
row position (weights 1..101, repeating), so that a different set of rows, a different value or
a value on the wrong row all change it. Strings enter as CRC-32 codes; integers are summed
exactly; floats are compared with a relative tolerance of 1e-6 (and printed to 6 significant
digits), since each system adds in its own order.

Only pyarrow and numpy are imported here: the PyFlink peer runs this module under its own
interpreter (see benchmarks/README.md).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "benchmarks" / "programs"
EXAMPLES = ROOT / "examples"

WINDOW_STATS = (
    "sensor_id",
    "window_start",
    "avg_value",
    "max_value",
    "stddev_value",
    "reading_count",
)


@dataclass(frozen=True)
class Workload:
    """A tutorial computation: the VPL program vbatch runs and the data set it reads."""

    key: str
    title: str
    short: str  # for the chart
    program: Path
    dataset: str  # "sensors" or "users"
    streams: dict[str, tuple[str, ...]]  # output stream → canonical columns, keys first


WORKLOADS = {
    w.key: w
    for w in (
        Workload(
            "W1",
            "filter value > 50",
            "filter",
            PROGRAMS / "filter.vpl",
            "sensors",
            {"Hot": ("timestamp", "sensor_id", "value", "zone")},
        ),
        Workload(
            "W2",
            "per-sensor 30 s tumbling avg/max/stddev/count",
            "30 s tumbling",
            PROGRAMS / "tumbling.vpl",
            "sensors",
            {"SensorStats": WINDOW_STATS},
        ),
        Workload(
            "W3",
            "per-user 5 s sessions count/first/last",
            "5 s sessions",
            PROGRAMS / "sessions.vpl",
            "users",
            {
                "UserSessions": (
                    "user_id",
                    "session_start",
                    "session_last",
                    "event_count",
                    "first_action",
                    "last_action",
                )
            },
        ),
        Workload(
            "W4",
            "three-stage pipeline (filter, per-zone 1 min, alerts)",
            "pipeline",
            EXAMPLES / "pipeline.vpl",
            "sensors",
            {
                "ZoneStats": ("zone", "window_start", "avg_value", "max_value"),
                "OverheatAlerts": ("zone", "window_start", "max_value"),
            },
        ),
        Workload(
            "W5",
            "Part 4: two zones' 30 s windows, with / without contexts",
            "Part 4 contexts",
            EXAMPLES / "parallel_windows.vpl",
            "sensors",
            {"ZoneAStats": WINDOW_STATS, "ZoneBStats": WINDOW_STATS},
        ),
    )
}

TUMBLE_MS = {"W2": 30_000, "W4": 60_000, "W5": 30_000}
SESSION_GAP_MS = 5_000
WEIGHTS = 101
FLOAT_TOLERANCE = 1e-6


def canonical(workload: str, stream: str, table: pa.Table) -> pa.Table:
    """`table` reduced to the stream's canonical columns, in order (extra columns dropped)."""
    names = WORKLOADS[workload].streams[stream]
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise ValueError(f"{workload} {stream}: result lacks columns {missing}")
    return table.select(list(names))


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """A column as numbers for summing (strings as CRC-32 codes), and its null count."""
    nulls = column.null_count
    kind = column.type
    if pa.types.is_null(kind):  # an empty result built from Python lists
        return np.zeros(len(column), np.int64), nulls
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.string_view():
        encoded = column.cast(pa.large_string()).combine_chunks().dictionary_encode()
        words = encoded.dictionary.to_pylist()
        crc = np.array([zlib.crc32(w.encode()) % 1_000_003 for w in words], dtype=np.int64)
        indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
        values = crc[indices] if len(crc) else np.zeros(len(indices), np.int64)
        if nulls:
            values = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), 0, values)
        return values, nulls
    if pa.types.is_boolean(kind):
        column = column.cast(pa.int64())
        kind = column.type
    if pa.types.is_integer(kind):
        return column.cast(pa.int64()).fill_null(0).to_numpy(), nulls
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64()).fill_null(0.0).to_numpy(), nulls
    raise TypeError(f"cannot checksum a column of type {kind}")


def checksum(workload: str, tables: dict[str, pa.Table]) -> dict[str, object]:
    """Row counts and per-column sums of every output stream, over rows sorted by all columns."""
    result: dict[str, object] = {}
    for stream, names in WORKLOADS[workload].streams.items():
        table = canonical(workload, stream, tables[stream])
        for name in names:  # one physical type per column whatever the system produced
            column = table.column(name)
            if pa.types.is_dictionary(column.type):
                table = table.set_column(
                    table.column_names.index(name), name, column.cast(column.type.value_type)
                )
        order = pc.sort_indices(table, sort_keys=[(n, "ascending") for n in names])
        table = table.take(order)
        weights = np.arange(table.num_rows, dtype=np.int64) % WEIGHTS + 1
        result[f"{stream}.rows"] = table.num_rows
        for name in names:
            values, nulls = _codes(table.column(name))
            if values.dtype.kind == "f":
                total, weighted = float(values.sum()), float(values @ weights)
            else:
                total, weighted = int(values.sum()), int(values @ weights)
            result[f"{stream}.{name}"] = [total, weighted]
            if nulls:
                result[f"{stream}.{name}.nulls"] = nulls
    return result


def differences(mine: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Where a checksum disagrees with the reference (empty when they agree)."""
    problems = []
    for key in sorted(set(mine) | set(reference)):
        a, b = mine.get(key), reference.get(key)
        if a is None or b is None:
            problems.append(f"{key}: {a} vs {b}")
            continue
        pairs = zip(a, b, strict=True) if isinstance(a, list) else [(a, b)]
        for x, y in pairs:
            if isinstance(x, float) or isinstance(y, float):
                same = math.isclose(x, y, rel_tol=FLOAT_TOLERANCE, abs_tol=1e-9)
            else:
                same = x == y
            if not same:
                problems.append(f"{key}: {rounded(a)} vs {rounded(b)}")
                break
    return problems


def rounded(value: object) -> object:
    """A checksum entry with floats to 6 significant digits, for printing."""
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value
