"""Rows/s a shared-memory Channel carries between two pinned processes, vs multiprocessing.Queue.

Sensor batches (int64 ts, int64 seq, string sensor_id, float64 value, string zone) of 64K rows
go from a producer process to a consumer process, each pinned to its own core when the machine
has two. The consumer takes every batch (zero copy for the Channel, unpickled for the Queue)
and counts its rows; the clock runs in the consumer from a start marker to the end marker.

Run: `python benchmarks/bench_queue.py --rows 100000000`
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue

import numpy as np
import pyarrow as pa

from vbatch.runtime.queue import Channel

CTX = multiprocessing.get_context("spawn")
ZONES = np.array(["north", "south", "east", "west"])
SENSORS = np.array([f"S{i}" for i in range(1000)])
START, END = 1, 2


def sensor_batches(count: int, rows: int, seed: int) -> list[pa.RecordBatch]:
    """`count` seeded sensor batches of `rows` rows each."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(0, 20, count * rows))
    return [
        pa.record_batch(
            {
                "ts": ts[i * rows : (i + 1) * rows],
                "seq": np.arange(i * rows, (i + 1) * rows),
                "sensor_id": pa.array(SENSORS[rng.integers(0, len(SENSORS), rows)]),
                "value": rng.uniform(-10, 150, rows),
                "zone": pa.array(ZONES[rng.integers(0, len(ZONES), rows)]),
            }
        )
        for i in range(count)
    ]


def pin(core: int | None) -> None:
    """Run this process on `core` only (when a core was chosen)."""
    if core is not None:
        os.sched_setaffinity(0, {core})


def channel_producer(channel: Channel, batches: int, rows: int, core: int | None) -> None:
    """Put `batches` sensor batches on the channel, between a start and an end marker."""
    pin(core)
    pool = sensor_batches(8, rows, seed=42)
    writer = channel.writer()
    writer.put_message(b"", tag=START)
    for i in range(batches):
        writer.put(pool[i % len(pool)])
    writer.put_message(b"", tag=END)
    writer.close()


def channel_consumer(channel: Channel, core: int | None, result: Connection) -> None:
    """Take every batch; send back (seconds from start marker to end marker, rows)."""
    pin(core)
    reader = channel.reader()
    reader.get()  # the start marker
    start, rows = time.perf_counter(), 0
    while (item := reader.get()) is not None and item.batch is not None:
        rows += item.batch.num_rows
    result.send((time.perf_counter() - start, rows))
    reader.close()


def queue_producer(queue: Queue, batches: int, rows: int, core: int | None) -> None:
    """The same batches through a pickling multiprocessing.Queue."""
    pin(core)
    pool = sensor_batches(8, rows, seed=42)
    queue.put("start")
    for i in range(batches):
        queue.put(pool[i % len(pool)])
    queue.put(None)


def queue_consumer(queue: Queue, core: int | None, result: Connection) -> None:
    """Take every batch from the Queue; send back (seconds, rows)."""
    pin(core)
    queue.get()
    start, rows = time.perf_counter(), 0
    while (batch := queue.get()) is not None:
        rows += batch.num_rows
    result.send((time.perf_counter() - start, rows))


@dataclass(frozen=True)
class Run:
    """One measured transfer: the consumer's clock and rows, the producer's blocked time."""

    seconds: float
    rows: int
    blocked: float | None = None

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds


def run_pair(
    producer: Callable[..., None],
    consumer: Callable[..., None],
    link: object,
    batches: int,
    rows: int,
    cores: list[int | None],
) -> Run:
    """Start both processes on `link`; the run as the consumer measured it."""
    receive, send = CTX.Pipe(duplex=False)
    processes = [
        CTX.Process(target=producer, args=(link, batches, rows, cores[0])),
        CTX.Process(target=consumer, args=(link, cores[1], send)),
    ]
    for process in processes:
        process.start()
    seconds, carried = receive.recv()
    for process in processes:
        process.join()
    return Run(seconds, carried)


def measure_channel(batches: int, rows: int, cores: list[int | None], slots: int) -> Run:
    """One Channel run, with the time its producer spent blocked."""
    channel = Channel.create("bench", slots=slots, context=CTX)
    try:
        run = run_pair(channel_producer, channel_consumer, channel, batches, rows, cores)
        return Run(run.seconds, run.rows, channel.blocked_seconds())
    finally:
        channel.close()
        channel.unlink()


def measure_queue(batches: int, rows: int, cores: list[int | None]) -> Run:
    """One multiprocessing.Queue run, bounded to 8 batches like the Channel's 8 slots."""
    queue = CTX.Queue(maxsize=8)
    return run_pair(queue_producer, queue_consumer, queue, batches, rows, cores)


def report(label: str, runs: list[Run]) -> None:
    """Best and median rows/s over the runs."""
    rates = [run.rate for run in runs]
    blocked = [run.blocked for run in runs if run.blocked is not None]
    extra = f", producer blocked {max(blocked):.2f} s at most" if blocked else ""
    print(
        f"{label}: best {max(rates) / 1e6:,.1f}M rows/s, median "
        f"{statistics.median(rates) / 1e6:,.1f}M rows/s over {len(runs)} run(s) of "
        f"{runs[0].rows:,} rows{extra}"
    )


def main() -> None:
    """Measure the Channel, then multiprocessing.Queue, and print rows/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--queue-rows", type=int, help="rows for the Queue (default: --rows)")
    args = parser.parse_args()
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores: list[int | None] = [available[0], available[1]] if len(available) >= 2 else [None, None]
    batches = -(-args.rows // args.batch_rows)
    size = sensor_batches(1, args.batch_rows, seed=42)[0].nbytes
    print(
        f"{batches:,} batches of {args.batch_rows:,} rows ({size / 1e6:.2f} MB each), "
        f"producer on core {cores[0]}, consumer on core {cores[1]}, {os.cpu_count()} CPUs"
    )
    channel_runs = [
        measure_channel(batches, args.batch_rows, cores, args.slots) for _ in range(args.repeat)
    ]
    report("shared-memory Channel", channel_runs)
    queue_batches = -(-(args.queue_rows or args.rows) // args.batch_rows)
    report("multiprocessing.Queue", [measure_queue(queue_batches, args.batch_rows, cores)])


if __name__ == "__main__":
    main()
