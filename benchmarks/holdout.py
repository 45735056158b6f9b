"""Hold-out data: Parquet files shaped like users' files, not like `vbatch datasets` output.

    python -m benchmarks.holdout sensors --events 20000000 --out data/bench/holdout-sensors.parquet
    python -m benchmarks.holdout users --events 20000000 --out data/bench/holdout-users.parquet

What differs from `vbatch datasets`, on purpose:
- no `event_type` column (replay with `--event-type`) and event time in a column `ts`
  (`--time-column ts`), int64 milliseconds;
- strings stored plain (`string`, no dictionary encoding in the file or its schema), as
  files written by other tools often are;
- 1M-row row groups; times that mostly increase, with 1% of events up to 3 s late;
- sensors: 5,000 sensor ids in zones A and B, uniform; users: `user_id` Zipf-distributed
  over 50,000 users (a few very active users, a long tail), six actions.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1 << 20
SEED = 20261202


def _times(rng: np.random.Generator, first: int, n: int, rate: float) -> np.ndarray:
    """Arrival times at `rate` events/s (exponential gaps), 1% of them up to 3 s late."""
    gaps = rng.exponential(1000.0 / rate, n)
    ts = first + np.cumsum(gaps)
    late = rng.random(n) < 0.01
    ts[late] -= rng.uniform(0, 3000, int(late.sum()))
    return np.maximum(ts, 0).astype(np.int64)


def sensor_groups(events: int, rng: np.random.Generator) -> Iterator[pa.Table]:
    """SensorReading rows: ts, sensor_id, zone, value."""
    sensors = 5_000
    ids = np.array([f"sensor-{i:05d}" for i in range(sensors)], dtype=object)
    zones = np.array(["A", "B"], dtype=object)
    zone_of = rng.integers(0, 2, sensors)
    baseline = rng.normal(60.0, 15.0, sensors)
    clock = 0.0
    for start in range(0, events, ROW_GROUP):
        n = min(ROW_GROUP, events - start)
        sensor = rng.integers(0, sensors, n)
        ts = _times(rng, int(clock), n, rate=5_000.0)
        clock = float(ts.max())
        value = np.round(baseline[sensor] + rng.normal(0, 10.0, n), 2)
        yield pa.table(
            {
                "ts": ts,
                "sensor_id": pa.array(ids[sensor], pa.string()),
                "zone": pa.array(zones[zone_of[sensor]], pa.string()),
                "value": value,
            }
        )


def user_groups(events: int, rng: np.random.Generator) -> Iterator[pa.Table]:
    """UserActivity rows: ts, user_id (Zipf over 50,000 users), action."""
    users = 50_000
    ids = np.array([f"user-{i:05d}" for i in range(users)], dtype=object)
    actions = np.array(["login", "view_page", "click", "add_to_cart", "purchase", "logout"])
    clock = 0.0
    for start in range(0, events, ROW_GROUP):
        n = min(ROW_GROUP, events - start)
        user = (rng.zipf(1.3, n) - 1) % users
        ts = _times(rng, int(clock), n, rate=2_000.0)
        clock = float(ts.max())
        yield pa.table(
            {
                "ts": ts,
                "user_id": pa.array(ids[user], pa.string()),
                "action": pa.array(actions[rng.integers(0, len(actions), n)], pa.string()),
            }
        )


GENERATORS = {"sensors": sensor_groups, "users": user_groups}


def generate(kind: str, events: int, out: Path) -> Path:
    """Write the data set `kind` with `events` rows to `out` (a Parquet file)."""
    rng = np.random.default_rng(SEED)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    writer = None
    for table in GENERATORS[kind](events, rng):
        if writer is None:
            writer = pq.ParquetWriter(part, table.schema, use_dictionary=False, store_schema=False)
        writer.write_table(table, row_group_size=ROW_GROUP)
    assert writer is not None
    writer.close()
    part.rename(out)
    return out


def dataset(kind: str, events: int, folder: Path) -> Path:
    """The hold-out data set, generated on first use."""
    path = folder / f"holdout-{kind}-{events}.parquet"
    return path if path.exists() else generate(kind, events, path)


def main() -> None:
    """Generate one data set."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    generate(args.kind, args.events, args.out)


if __name__ == "__main__":
    main()
