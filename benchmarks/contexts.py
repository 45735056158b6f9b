"""Contexts as worker processes against the same programs in one process.

    python -m benchmarks.contexts --events 10000000 --repeat 3

Replays the tutorial's Part 4 (two independent windowed contexts) and Part 3 (the
three-stage pipeline) from a seeded Parquet data set, each with its contexts as worker
processes and with `--no-contexts`, in fresh processes; reports the best events/s of each,
the ratio, and the peak RSS of the coordinator. Process start-up is included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.engine import ROOT, best, dataset

PROGRAMS = (
    ("Part 4: two windowed contexts", ROOT / "examples" / "parallel_windows.vpl"),
    ("Part 3: three-stage pipeline", ROOT / "examples" / "pipeline.vpl"),
)


def main() -> None:
    """Print one line per program: with contexts, without, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    args = parser.parse_args()
    events = dataset("sensors", args.events, args.data)
    print(f"{'program':<32} {'contexts':>10} {'one process':>12} {'ratio':>6} {'peak RSS':>9}")
    for name, program in PROGRAMS:
        with_contexts, rss = best(program, events, args.repeat)
        alone, _ = best(program, events, args.repeat, "--no-contexts")
        ratio = with_contexts / alone
        print(
            f"{name:<32} {with_contexts / 1e6:>9.1f}M {alone / 1e6:>11.1f}M {ratio:>5.2f}x"
            f" {rss:>7.0f}MiB"
        )


if __name__ == "__main__":
    main()
