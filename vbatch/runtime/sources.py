"""Sources read where they are consumed: context workers share the reading of a Parquet input.

The input is cut into units (row groups). The workers whose streams read events (the
source workers) take turns: unit `u` is read by source worker `u % readers`, on a thread
of its own, which decodes only the columns some stream uses and sends every source
worker — itself included — the rows it reads: all rows of its event types, or, for one
shard of a context with several cores, the rows whose key hashes to that shard; rows
that the leading `.where` of every stream of a worker would drop are dropped right
after decoding (with the clock of all rows sent along, so watermarks move as in one
process). Each
worker then runs the units in input order, so every stream sees exactly the rows, in
exactly the order, it would see in one process. The coordinator reads nothing: it
supervises, and puts the results back in order.
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import EngineError
from vbatch.io.parquet import Unit, UnitReader
from vbatch.io.source import EventBatch, InputChunk, ReadOptions
from vbatch.kernels.expr import CompiledExpr, compile_expr
from vbatch.kernels.filter import condition_mask
from vbatch.plan.expr import PExpr
from vbatch.plan.logical import Filter, StreamPlan
from vbatch.plan.physical import PhysicalPlan, WorkerPlan
from vbatch.runtime.shards import shard_of

LOCAL_UNITS_AHEAD = 4  # units a reader may decode ahead of its own worker


# Per event type, the leading `.where` conditions of each stream of a worker that reads it.
Prefilters = tuple[tuple[str, tuple[tuple[PExpr, ...], ...]], ...]


@dataclass(frozen=True)
class Consumer:
    """A source worker as the readers see it: which event rows it takes.

    `prefilters` are the leading `.where` conditions of its streams, per event type: a
    reader drops the rows no stream of the worker would keep, right after decoding, and
    sends the clock of all the rows (`_ts`, `_seq`) with the ones it keeps, as for a shard,
    so windows close exactly as in one process. The streams still run their own `.where`.
    """

    worker: str
    event_types: tuple[str, ...]
    shard: int = 0
    shards: int = 1
    keys: tuple[str, ...] = ()
    prefilters: Prefilters = ()

    def rows_of(self, event: EventBatch) -> pa.RecordBatch | None:
        """The rows of `event` this worker takes (None: none)."""
        if event.event_type not in self.event_types:
            return None
        batch = event.batch
        if self.shards > 1:
            batch = batch.filter(pa.array(shard_of(batch, self.keys, self.shards) == self.shard))
        kept = self._kept(event.event_type, batch)
        return batch if kept is None else batch.filter(kept)

    def clock_of(self, event: EventBatch) -> pa.RecordBatch | None:
        """The clock of `event` (`_ts`, `_seq` of all its rows) for a shard or a prefiltered
        type; None when the worker takes all its rows."""
        if event.event_type not in self.event_types:
            return None
        if self.shards == 1 and event.event_type not in self._conditions:
            return None
        return event.batch.select(["_ts", "_seq"])

    @cached_property
    def _conditions(self) -> dict[str, list[list[CompiledExpr]]]:
        return {
            t: [[compile_expr(c) for c in s] for s in streams] for t, streams in self.prefilters
        }

    def _kept(self, event_type: str, batch: pa.RecordBatch) -> pa.Array | None:
        """Rows some stream's leading conditions keep (None: keep all). A condition that
        cannot be evaluated here keeps every row: the stream then says what is wrong."""
        streams = self._conditions.get(event_type)
        if streams is None:
            return None
        try:
            masks = [_all_of([condition_mask(c, batch) for c in s]) for s in streams]
        except Exception:  # noqa: BLE001 - the stream's own filter reports it, located
            return None
        return functools.reduce(pc.or_, masks)


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
    consumers = tuple(_consumer(physical, w) for w in sources)
    return SourceLayout(
        units, tuple(w.name for w in sources), consumers, _columns(physical, sources), options
    )


def _consumer(physical: PhysicalPlan, worker: WorkerPlan) -> Consumer:
    return Consumer(
        worker.name,
        worker.event_types,
        worker.shard,
        worker.shards,
        worker.shard_keys,
        _prefilters(physical, worker),
    )


def _prefilters(physical: PhysicalPlan, worker: WorkerPlan) -> Prefilters:
    """For each event type every reading stream of `worker` starts filtering (a stream
    with one input and leading `.where`s), their conditions."""
    found = []
    for event_type in worker.event_types:
        readers = [physical.logical.stream(name) for name in worker.streams]
        readers = [s for s in readers if s.reads(event_type)]
        leading = [_leading_conditions(s) for s in readers]
        if leading and all(leading) and not any(s.is_merge for s in readers):
            found.append((event_type, tuple(leading)))
    return tuple(found)


def _leading_conditions(stream: StreamPlan) -> tuple[PExpr, ...]:
    taken = itertools.takewhile(lambda op: isinstance(op, Filter), stream.operators)
    return tuple(op.condition for op in taken if isinstance(op, Filter))


def _all_of(masks: list[pa.Array]) -> pa.Array:
    return functools.reduce(pc.and_, masks)


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
