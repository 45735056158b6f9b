"""Engine throughput on the tutorial's workloads, end to end from Parquet with --immediate.

One process (`--no-contexts`): this measures the engine; benchmarks/contexts.py measures
what worker processes add.

    python -m benchmarks.engine --events 10000000 --repeat 3

Generates the data sets once (seeded) under data/bench/, then replays each workload in a
fresh process `repeat` times and reports the best events/s and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vbatch.datasets import generate

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "benchmarks" / "programs"


@dataclass(frozen=True)
class Workload:
    """A program and the data set it replays."""

    name: str
    program: Path
    dataset: str
    goal: float  # events/s the engine issue asks for


WORKLOADS = (
    Workload("a filter value > 50", PROGRAMS / "filter.vpl", "sensors", 25e6),
    Workload("b per-sensor 30s tumbling", PROGRAMS / "tumbling.vpl", "sensors", 15e6),
    Workload("c per-user 5s sessions", PROGRAMS / "sessions.vpl", "users", 8e6),
    Workload("d three-stage pipeline", ROOT / "examples" / "pipeline.vpl", "sensors", 15e6),
)


def dataset(kind: str, events: int, folder: Path) -> Path:
    """The seeded data set, generated on first use."""
    path = folder / f"{kind}-{events}.parquet"
    if not path.exists():
        generate(kind, events, path)
    return path


def replay(program: Path, events: Path, *extra: str) -> dict[str, float]:
    """One replay in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.replay", str(program), str(events), *extra]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def best(program: Path, events: Path, repeat: int, *extra: str) -> tuple[float, float]:
    """Best events/s over `repeat` fresh-process replays, and the largest peak RSS (MiB)."""
    runs = [replay(program, events, *extra) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r["seconds"])
    return fastest["events"] / fastest["seconds"], max(r["peak_mib"] for r in runs)


def main() -> None:
    """Run every workload and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    args = parser.parse_args()
    print(f"{'workload':<30} {'events/s':>12} {'goal':>8} {'peak RSS':>10}")
    for work in WORKLOADS:
        events = dataset(work.dataset, args.events, args.data)
        rate, peak = best(work.program, events, args.repeat, "--no-contexts")
        print(f"{work.name:<30} {rate / 1e6:>10.1f}M {work.goal / 1e6:>7.0f}M {peak:>8.0f}MiB")


if __name__ == "__main__":
    main()
