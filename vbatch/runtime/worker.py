"""A worker process (a context, or one shard of one): its streams, fed and drained by queues.

Its event rows come either from the coordinator's queue (the coordinator reads the input)
or, when the workers read the input themselves (`runtime/sources.py`), unit by unit from
its own reader thread or from the worker that read the unit. Rows of other contexts'
streams come from their workers' queues. Epoch by epoch — one input chunk or unit — the
worker runs what it received and passes the epoch's end on, downstream and to the
coordinator.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from vbatch.kernels.protocol import EmitKind
from vbatch.lean import without_pandas
from vbatch.plan.logical import InputKind, LogicalPlan
from vbatch.plan.physical import WorkerPlan
from vbatch.runtime.engine import Engine
from vbatch.runtime.heartbeat import start_beating
from vbatch.runtime.order import in_output_order
from vbatch.runtime.pipeline import Emitted
from vbatch.runtime.protocol import Control, Failure, Finished, Sources, advance_values, owned
from vbatch.runtime.queue import Channel, ChannelReader, ChannelWriter
from vbatch.runtime.sources import LocalUnits, ReaderThread, SourceLayout

without_pandas()  # workers (and the fork server they come from) never use pandas

Alive = Callable[[], bool]
Inputs = list[tuple[str, pa.RecordBatch]]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, handed to it when the process starts.

    `feed` is the coordinator's queue (when it reads the input); `layout`, `peers_in` and
    `peers_out` are set when the workers read it (the rows other readers send here, and
    the queues this worker's reader sends other workers' rows on).
    """

    plan: LogicalPlan
    worker: WorkerPlan
    upstream: tuple[Channel, ...]  # rows of streams from upstream workers, in worker order
    downstream: dict[str, Channel]  # worker name → queue
    results: Channel
    send_rows: bool  # False: the coordinator needs no result rows, only counters
    contexts: dict[str, str] = field(default_factory=dict)  # every worker's context
    heartbeat: Any = None  # a shared counter the worker ticks (see heartbeat.py)
    feed: Channel | None = None
    layout: SourceLayout | None = None
    peers_in: dict[str, Channel] = field(default_factory=dict)
    peers_out: dict[str, Channel] = field(default_factory=dict)


def pin(cores: tuple[int, ...] | None) -> None:
    """Run this process only on `cores` (accepted and ignored where unsupported)."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))


def main(spec: WorkerSpec) -> None:
    """Entry point of the worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when workers stop
    sys.setswitchinterval(0.0005)  # hand-offs between threads should not wait 5 ms
    pin(spec.worker.cores)
    if spec.heartbeat is not None:
        start_beating(spec.heartbeat)
    parent = multiprocessing.parent_process()
    alive: Alive = parent.is_alive if parent is not None else (lambda: True)
    results = spec.results.writer()
    try:
        _Worker(spec, results, alive).serve()
    except BaseException as err:  # reported to the coordinator, which decides the exit code
        failure = Failure.of(spec.worker.label, err).encode()
        results.put_message(failure, tag=Control.FAILED, alive=alive)
        raise SystemExit(1) from err
    finally:
        results.close()


class _Worker:
    def __init__(self, spec: WorkerSpec, results: ChannelWriter, alive: Alive) -> None:
        self.spec = spec
        self.sources = Sources.of(spec.plan)
        self.engine = Engine(spec.plan, spec.worker.streams)
        self.results = results
        self.alive = alive
        self.upstream: list[ChannelReader] = [c.reader() for c in spec.upstream]
        self.downstream = {name: c.writer() for name, c in spec.downstream.items()}
        self.readers_of = _readers_of(spec)
        self.from_shards = _from_shards(spec)
        self.held = _held_sources(spec) | self.from_shards
        self.feed = _feed(spec, alive)

    def serve(self) -> None:
        """Handle epochs until the end of input."""
        while True:
            marker, payload, events = self._epoch()
            if marker is Control.FINISH:
                self._send(self.engine.finish(int(payload)))
                self._broadcast(Control.FINISH, payload, events)
                return
            if marker is Control.ADVANCE:
                self._send(self.engine.advance(*advance_values(payload)))
            self._broadcast(marker, payload, events)

    def _epoch(self) -> tuple[Control, bytes, int]:
        """Take one epoch's rows — event rows, then each upstream worker's — running them as
        they come; rows a merge or several shards' rows meet in are run together at the end,
        in order, as one process would run them."""
        held: dict[str, list[pa.RecordBatch]] = {}
        clocks: dict[str, pa.RecordBatch] = {}
        marker, payload, events = self.feed.epoch(
            lambda s, b: self._take(s, b, held), lambda s, b: self._clock(s, b, held, clocks)
        )
        for reader in self.upstream:
            marker, payload = self._read_to_marker(reader, held)
        if held or clocks:
            self._send(self.engine.step(self._in_order(held), clocks))
        return marker, payload, events

    def _clock(
        self, source: str, clock: pa.RecordBatch, held: dict[str, list], clocks: dict
    ) -> None:
        """A shard's epoch: the source's rows come with the clock of all its rows, and wait
        for the end of the epoch (they are run as one batch with one tick)."""
        clocks[source] = owned(clock)
        held.setdefault(source, [])

    def _take(self, source: str, batch: pa.RecordBatch, held: dict[str, list]) -> None:
        if source in self.held or source in held:
            held.setdefault(source, []).append(owned(batch))
        else:
            self._send(self.engine.step([(source, batch)]))

    def _read_to_marker(
        self, reader: ChannelReader, held: dict[str, list]
    ) -> tuple[Control, bytes]:
        while True:
            item = reader.get(alive=self.alive)
            if item is None:
                continue
            if item.batch is None:
                return Control(item.tag), item.payload or b""
            self._take(self.sources.name(item.tag), item.batch, held)

    def _in_order(self, held: dict[str, list[pa.RecordBatch]]) -> Inputs:
        inputs = []
        for source, batches in held.items():
            if len(batches) > 1 and source in self.from_shards:
                batches = [in_output_order(batches)]
            inputs += [(source, b) for b in batches]
        return inputs

    def _send(self, emitted: list[Emitted]) -> None:
        for item in emitted:
            if item.kind is EmitKind.OUTPUT:
                for worker in self.readers_of.get(item.stream, ()):
                    self.downstream[worker].put(
                        item.batch, tag=self.sources.tag(item.stream), alive=self.alive
                    )
            if self.spec.send_rows:
                tag = self.sources.result_tag(item.stream, item.kind)
                self.results.put(item.batch, tag=tag, alive=self.alive)

    def _broadcast(self, marker: Control, payload: bytes, events: int) -> None:
        """Pass the marker on downstream; tell the coordinator, with the counters so far."""
        for writer in self.downstream.values():
            writer.put_message(payload, tag=marker, alive=self.alive)
        counters = {n: p.counters for n, p in self.engine.pipelines.items()}
        result = Control.FINISH if marker is Control.FINISH else Control.END_EPOCH
        report = Finished(counters, events).encode()
        self.results.put_message(report, tag=result, alive=self.alive)


def _readers_of(spec: WorkerSpec) -> dict[str, list[str]]:
    """For each of this worker's streams, the downstream workers that read it."""
    readers: dict[str, list[str]] = {}
    for name in spec.worker.streams:
        contexts = {s.context for s in spec.plan.consumers(name)}
        readers[name] = [w for w in spec.downstream if spec.contexts[w] in contexts]
    return readers


def _held_sources(spec: WorkerSpec) -> set[str]:
    """A merge's inputs: their rows of an epoch must be run together."""
    mine = [spec.plan.stream(name) for name in spec.worker.streams]
    return {i.name for s in mine if s.is_merge for i in s.inputs}


def _from_shards(spec: WorkerSpec) -> set[str]:
    """Streams this worker reads whose rows come from several shards of one context."""
    shards: dict[str, int] = {}
    for name in spec.worker.upstream:
        shards[spec.contexts[name]] = shards.get(spec.contexts[name], 0) + 1
    sharded = {context for context, n in shards.items() if n > 1}
    return {
        i.name
        for name in spec.worker.streams
        for i in spec.plan.stream(name).inputs
        if i.kind is InputKind.STREAM and spec.plan.stream(i.name).context in sharded
    }


# ---- where event rows come from ----------------------------------------------------------


Take = Callable[[str, pa.RecordBatch], None]


class _NoFeed:
    """A worker that reads no events: its epochs are those of its upstream workers."""

    def epoch(self, take: Take, clock: Take) -> tuple[Control, bytes, int]:
        return Control.END_EPOCH, b"", 0


class _CoordinatorFeed:
    """Event rows and epoch markers from the coordinator's queue."""

    def __init__(self, channel: Channel, sources: Sources, alive: Alive) -> None:
        self.reader = channel.reader()
        self.sources = sources
        self.alive = alive

    def epoch(self, take: Take, clock: Take) -> tuple[Control, bytes, int]:
        while True:
            item = self.reader.get(alive=self.alive)
            if item is None:
                continue
            if item.batch is None:
                return Control(item.tag), item.payload or b"", 0
            handle = clock if self.sources.is_clock(item.tag) else take
            handle(self.sources.name(item.tag), item.batch)


class _UnitFeed:
    """Event rows unit by unit, from this worker's own reader thread or the unit's reader."""

    def __init__(self, spec: WorkerSpec, sources: Sources, alive: Alive) -> None:
        assert spec.layout is not None
        self.layout = spec.layout
        self.name = spec.worker.name
        self.sources = sources
        self.alive = alive
        self.unit = 0
        self.local = LocalUnits()
        self.peers_in = {name: c.reader() for name, c in spec.peers_in.items()}
        self.peers_out = {name: c.writer() for name, c in spec.peers_out.items()}
        self.reader = ReaderThread(self.layout, self.name, self._deliver)
        self.reader.start()

    def epoch(self, take: Take, clock: Take) -> tuple[Control, bytes, int]:
        if self.unit == len(self.layout.units):
            return Control.FINISH, str(self.layout.end_seq).encode(), 0
        unit, self.unit = self.unit, self.unit + 1
        reader = self.layout.reader_of(unit)
        if reader == self.name:
            inputs, clocks, events = self.local.get(unit, self.reader)
            for source, batch in clocks:
                clock(source, batch)
            for source, batch in inputs:
                take(source, batch)
            return Control.END_EPOCH, b"", events
        peer = self.peers_in[reader]
        while True:
            item = peer.get(alive=self._reading)
            if item is None:
                continue
            if item.batch is None:
                return Control.END_EPOCH, b"", 0
            handle = clock if self.sources.is_clock(item.tag) else take
            handle(self.sources.name(item.tag), item.batch)

    def _reading(self) -> bool:
        if self.reader.error is not None:
            raise self.reader.error
        return self.alive()

    def _deliver(self, worker: str, unit: int, inputs: Inputs, clocks: Inputs, events: int) -> None:
        """Called on the reader thread: hand a consumer its rows (and clocks) of a unit."""
        if worker == self.name:
            self.local.put(unit, inputs, clocks, events)
            return
        writer = self.peers_out[worker]
        for source, batch in clocks:
            writer.put(batch, tag=self.sources.clock_tag(source), alive=self.alive)
        for source, batch in inputs:
            writer.put(batch, tag=self.sources.tag(source), alive=self.alive)
        writer.put_message(b"", tag=Control.END_EPOCH, alive=self.alive)


def _feed(spec: WorkerSpec, alive: Alive) -> _NoFeed | _CoordinatorFeed | _UnitFeed:
    sources = Sources.of(spec.plan)
    if spec.feed is not None:
        return _CoordinatorFeed(spec.feed, sources, alive)
    if spec.layout is not None and spec.worker.name in spec.layout.readers:
        return _UnitFeed(spec, sources, alive)
    return _NoFeed()
