"""Throughput of the `.evt` reader on generated tutorial `SensorReading` lines.

Run: `python benchmarks/bench_evt_reader.py --events 2000000`
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from multiprocessing import Process
from pathlib import Path

from vbatch.io.evt import EvtReader
from vbatch.io.source import ReadOptions

ZONES = ("north", "south", "east", "west")


def write_sensor_file(path: Path, events: int, seed: int) -> int:
    """Write `events` seeded SensorReading lines to `path`; return the file size in bytes."""
    rng = random.Random(seed)
    t = 0
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, events, 100_000):
            lines = []
            for _ in range(min(100_000, events - start)):
                t += rng.randint(0, 20)
                sensor, value, zone = rng.randint(0, 999), rng.uniform(-10, 150), rng.choice(ZONES)
                lines.append(
                    f'@{t} SensorReading {{ sensor_id: "S{sensor}", value: {value:.1f}, '
                    f'zone: "{zone}" }}\n'
                )
            out.write("".join(lines))
    return path.stat().st_size


def measure(path: Path, workers: int, batch_size: int, repeat: int) -> tuple[float, int, int]:
    """Best wall time over `repeat` full reads, events read and events on the slow path."""
    best = float("inf")
    events = slow = 0
    for _ in range(repeat):
        reader = EvtReader(path, ReadOptions(batch_size=batch_size), workers=workers)
        start = time.perf_counter()
        for _chunk in reader:
            pass
        best = min(best, time.perf_counter() - start)
        events, slow = reader.stats.events, reader.slow_events
    return best, events, slow


def _burn() -> None:
    total = 0
    for i in range(10_000_000):
        total += i


def parallel_capacity(processes: int) -> float:
    """How many cores' worth of work `processes` CPU-bound processes get done here (ideal: n).

    On a shared virtual machine a second core may be busy elsewhere; this puts the threaded
    figure in context.
    """

    def wall(n: int) -> float:
        start = time.perf_counter()
        workers = [Process(target=_burn) for _ in range(n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start

    return processes * wall(1) / wall(processes)


def main() -> None:
    """Generate the file, read it with one and two threads, print events/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sensors.evt"
        size = write_sensor_file(path, args.events, args.seed)
        print(
            f"file: {args.events:,} events, {size / 1e6:.1f} MB, batch_size {args.batch_size:,}, "
            f"{os.cpu_count()} CPUs"
        )
        cores = max(args.workers)
        if cores > 1:
            print(f"parallel capacity of {cores} processes: {parallel_capacity(cores):.2f} cores")
        for workers in args.workers:
            seconds, events, slow = measure(path, workers, args.batch_size, args.repeat)
            print(
                f"workers={workers}: {events / seconds:,.0f} events/s "
                f"({seconds:.3f} s, {size / seconds / 1e6:,.0f} MB/s, "
                f"slow path {slow / max(events, 1):.4%})"
            )


if __name__ == "__main__":
    main()
