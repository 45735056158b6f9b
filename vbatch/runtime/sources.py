"""Sources read where they are consumed: context workers share the reading of a Parquet input.

The input is cut into units (row groups). The workers whose streams read events (the
source workers) take turns: unit `u` is read by source worker `u % readers`, on a thread
of its own, which decodes only the columns some stream uses and sends every source
worker — itself included — the rows it reads: all rows of its event types, or, for one
shard of a context with several cores, the rows whose key hashes to that shard. Each
worker then runs the units in input order, so every stream sees exactly the rows, in
exactly the order, it would see in one process. The coordinator reads nothing: it
supervises, and puts the results back in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from vbatch.errors import EngineError
from vbatch.io.parquet import Unit, UnitReader
from vbatch.io.source import EventBatch, InputChunk, ReadOptions
from vbatch.plan.physical import PhysicalPlan, WorkerPlan
from vbatch.runtime.shards import shard_of

LOCAL_UNITS_AHEAD = 4  # units a reader may decode ahead of its own worker


@dataclass(frozen=True)
class Consumer:
    """A source worker as the readers see it: which event rows it takes."""

    worker: str
    event_types: tuple[str, ...]
    shard: int = 0
    shards: int = 1
    keys: tuple[str, ...] = ()

    def rows_of(self, event: EventBatch) -> pa.RecordBatch | None:
        """The rows of `event` this worker takes (None: none)."""
        if event.event_type not in self.event_types:
            return None
        batch = event.batch
        if self.shards > 1:
            batch = batch.filter(pa.array(shard_of(batch, self.keys, self.shards) == self.shard))
        return batch

    def clock_of(self, event: EventBatch) -> pa.RecordBatch | None:
        """A shard's clock of `event`: `_ts`, `_seq` of all its rows (None: not a shard)."""
        if event.event_type not in self.event_types or self.shards == 1:
            return None
        return event.batch.select(["_ts", "_seq"])


@dataclass(frozen=True)
class SourceLayout:
    """How the source workers share a Parquet input: its units, who reads which, who takes
    what, and the columns to decode (None: all)."""

    units: tuple[Unit, ...]
    readers: tuple[str, ...]
    consumers: tuple[Consumer, ...]
    columns: tuple[str, ...] | None
    options: ReadOptions

    def reader_of(self, unit: int) -> str:
        """The worker that reads unit `unit`."""
        return self.readers[unit % len(self.readers)]

    def units_of(self, worker: str) -> Iterator[int]:
        """The units `worker` reads, in order."""
        start = self.readers.index(worker)
        return iter(range(start, len(self.units), len(self.readers)))

    @property
    def end_seq(self) -> int:
        """The arrival index after the last row: every unit's rows counted."""
        return sum(u.rows for u in self.units)


def source_layout(
    physical: PhysicalPlan, units: tuple[Unit, ...], options: ReadOptions
) -> SourceLayout:
    """The layout for a plan whose event-reading streams all run in context workers."""
    sources = [w for w in physical.workers if w.event_types]
    consumers = tuple(_consumer(w) for w in sources)
    return SourceLayout(
        units, tuple(w.name for w in sources), consumers, _columns(physical, sources), options
    )


def _consumer(worker: WorkerPlan) -> Consumer:
    return Consumer(worker.name, worker.event_types, worker.shard, worker.shards, worker.shard_keys)


def _columns(physical: PhysicalPlan, sources: list[WorkerPlan]) -> tuple[str, ...] | None:
    """Fields some event-reading stream uses (None when one of them needs every field)."""
    wanted: set[str] = set()
    for worker in sources:
        for name in worker.streams:
            stream = physical.logical.stream(name)
            if not stream.reads_events:
                continue
            used = stream.fields_read()
            if used is None:
                return None
            wanted |= used
    return tuple(sorted(wanted))


Inputs = list[tuple[str, pa.RecordBatch]]
Deliver = Callable[[str, int, Inputs, Inputs, int], None]


class ReaderThread(threading.Thread):
    """Reads a worker's units and hands each consumer its rows of each unit, in unit order.

    `deliver(worker, unit, inputs, clocks, events)` hands one consumer its (event type,
    batch) inputs of a unit, and for a shard the clocks of those event types; `events` is
    the unit's event count for the worker that read it (0 for the others). A failure is
    kept in `error` for the worker to raise.
    """

    def __init__(self, layout: SourceLayout, worker: str, deliver: Deliver) -> None:
        super().__init__(name=f"vbatch-read-{worker}", daemon=True)
        self.layout = layout
        self.worker = worker
        self.deliver = deliver
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        """Read every unit of this worker, unless told to stop."""
        reader = UnitReader(self.layout.options, self.layout.columns)
        try:
            for unit in self.layout.units_of(self.worker):
                if self.stopping.is_set():
                    return
                self._route(unit, reader.read(self.layout.units[unit]))
        except BaseException as err:  # raised again by the worker's main thread
            self.error = err

    def _route(self, unit: int, chunk: InputChunk) -> None:
        # Other workers first: this worker's own rows may wait in its local queue.
        consumers = sorted(self.layout.consumers, key=lambda c: c.worker == self.worker)
        for consumer in consumers:
            inputs, clocks = [], []
            for event in chunk.batches:
                rows = consumer.rows_of(event)
                if rows is not None and rows.num_rows:
                    inputs.append((event.event_type, rows))
                clock = consumer.clock_of(event)
                if clock is not None:
                    clocks.append((event.event_type, clock))
            events = chunk.count if consumer.worker == self.worker else 0
            self.deliver(consumer.worker, unit, inputs, clocks, events)


class LocalUnits:
    """The units a worker reads for itself, handed from its reader thread to its main thread."""

    def __init__(self) -> None:
        self.ready: queue.Queue[tuple[int, Inputs, Inputs, int]] = queue.Queue(LOCAL_UNITS_AHEAD)

    def put(self, unit: int, inputs: Inputs, clocks: Inputs, events: int) -> None:
        """Hand over a unit's rows (waits while the main thread is units behind)."""
        self.ready.put((unit, inputs, clocks, events))

    def get(self, unit: int, reader: ReaderThread) -> tuple[Inputs, Inputs, int]:
        """The rows of `unit` (the next one this worker reads for itself); the reader's own
        error if it failed instead."""
        while True:
            try:
                got, inputs, clocks, events = self.ready.get(timeout=0.1)
            except queue.Empty:
                if reader.error is not None:
                    raise reader.error from None
                if not reader.is_alive():
                    raise EngineError(f"the reader of unit {unit} stopped") from None
                continue
            assert got == unit, f"unit {got} arrived for {unit}"
            return inputs, clocks, events
