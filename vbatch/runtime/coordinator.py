"""The coordinator: starts a worker per context, routes input to it, stops it.

The main thread reads the input, runs the coordinator's feeder streams, and sends each
worker the batches its streams read, then an end-of-epoch marker per input chunk; the
results come back through an Assembler (assembly.py) on threads of their own.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pyarrow as pa

from vbatch.errors import ConfigError, EngineError
from vbatch.figures import COORDINATOR_LABEL, LinkFigures, StreamCounters
from vbatch.io.source import InputChunk, Sweep
from vbatch.kernels.protocol import EmitKind
from vbatch.plan.physical import PhysicalPlan
from vbatch.runtime import worker as worker_module
from vbatch.runtime.assembly import (
    POLL_SECONDS,
    STOP_GRACE_SECONDS,
    Assembler,
    Epoch,
    RunState,
    WorkerDeath,
    death_of,
)
from vbatch.runtime.engine import Engine
from vbatch.runtime.forkserver import main_hidden, worker_context
from vbatch.runtime.pipeline import Deliver, Emitted
from vbatch.runtime.protocol import Control, Sources, advance_payload
from vbatch.runtime.queue import DEFAULT_CAPACITY, Channel, ChannelWriter


def check_cores(physical: PhysicalPlan) -> None:
    """Every pinned core must exist on this machine (else exit code 3)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not available:
        return
    for worker in physical.workers:
        missing = [c for c in worker.cores or () if c not in available]
        if missing:
            have = ", ".join(map(str, available))
            name, core = worker.context, missing[0]
            msg = f"context `{name}` asks for core {core}, but this run has cores {have}"
            hint = "change `cores: [...]`, or run on a machine with more cores"
            raise ConfigError(msg, hint=hint)


class ContextRunner:
    """Runs a physical plan with one worker process per context."""

    def __init__(
        self,
        physical: PhysicalPlan,
        *,
        send_rows: bool = True,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        check_cores(physical)
        self.physical = physical
        self.plan = physical.logical
        self.sources = Sources.of(self.plan)
        self.send_rows = send_rows or bool(physical.collectors)
        self.capacity = capacity
        self.feeders = Engine(self.plan, physical.feeders)
        self.collectors = Engine(self.plan, physical.collectors)
        self.state = RunState()
        self.context = worker_context()
        self.channels: list[Channel] = []
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self.ingress: dict[str, ChannelWriter] = {}
        self.results: dict[str, Channel] = {}
        self._links: list[tuple[str, str, Channel]] = []
        self._order = [w.context for w in physical.workers_in_order()]
        self._reads = {w.context: set(w.reads) for w in physical.workers}

    # ---- life cycle ----------------------------------------------------------

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Dispatch every chunk to the workers; results reach `deliver` in chunk order."""
        self._start()
        epochs: queue.Queue[Epoch | None] = queue.Queue(maxsize=64)
        results = Assembler(
            self._order, self.results, self.processes, self.sources, self.state, self.collectors
        )
        assembler = threading.Thread(
            target=results.run, args=(epochs, deliver), name="vbatch-assemble", daemon=True
        )
        assembler.start()
        try:
            events = 0
            for item in chunks:
                if isinstance(item, Sweep):
                    self._sweep(item, epochs)
                    continue
                self._dispatch(item, epochs)
                events += item.count
            self._finish(events, epochs)
            self._join(assembler)
        except KeyboardInterrupt:
            self._stop()
            raise
        except BaseException:
            self._stop()
            self._raise_reported()  # a worker's own explanation beats the symptom
            raise
        self._raise_failure()
        self._wait_workers()

    def counters(self) -> dict[str, StreamCounters]:
        """Per-stream counters of every process."""
        merged = {n: p.counters for n, p in self.feeders.pipelines.items()}
        merged.update({n: p.counters for n, p in self.collectors.pipelines.items()})
        for counters in self.state.finished.values():
            merged.update(counters)
        return merged

    def schemas(self) -> dict[str, pa.Schema]:
        """Output schemas of the coordinator's own streams (workers keep theirs)."""
        return {**self.feeders.schemas(), **self.collectors.schemas()}

    def close(self) -> None:
        """Stop any worker still running and remove every queue."""
        self._stop()
        for channel in self.channels:
            channel.close()
            channel.unlink()
        self.channels.clear()

    def _start(self) -> None:
        workers = {w.context: w for w in self.physical.workers}
        inbound = {c: [self._channel(COORDINATOR_LABEL, c)] for c in workers}
        downstream: dict[str, dict[str, Channel]] = {c: {} for c in workers}
        for context in self._order:
            for target in workers[context].downstream:
                channel = self._channel(context, target)
                downstream[context][target] = channel
                inbound[target].append(channel)
        for context in self._order:
            self.results[context] = self._channel(context, COORDINATOR_LABEL)
        for context in self._order:
            spec = worker_module.WorkerSpec(
                plan=self.plan,
                worker=workers[context],
                inbound=tuple(inbound[context]),
                downstream=downstream[context],
                results=self.results[context],
                send_rows=self.send_rows,
            )
            process = self.context.Process(
                target=worker_module.main, args=(spec,), name=f"vbatch-{context}", daemon=True
            )
            with main_hidden():
                process.start()
            self.processes[context] = process
        for context in self._order:
            self.ingress[context] = inbound[context][0].writer()

    def _channel(self, source: str, target: str) -> Channel:
        name = f"{source}-{target}"
        channel = Channel.create(name, capacity_events=self.capacity, context=self.context)
        self.channels.append(channel)
        self._links.append((source, target, channel))
        return channel

    def links(self) -> list[LinkFigures]:
        """The queues between processes, for metrics."""
        return [LinkFigures(s, t, c.fill, c.blocked_seconds) for s, t, c in self._links]

    # ---- main thread: dispatch -------------------------------------------------

    def _alive_check(self, context: str) -> Callable[[], bool]:
        """Whether a put to `context` may keep waiting: the run has not failed and that
        worker is alive (another worker that finished and exited is no reason to stop)."""
        process = self.processes[context]
        return lambda: self.state.failure is None and process.is_alive()

    def _dispatch(self, chunk: InputChunk, epochs: queue.Queue[Epoch | None]) -> None:
        inputs = [(b.event_type, b.batch) for b in chunk.batches]
        emitted = self.feeders.step(inputs)
        self._broadcast(inputs + _fed(emitted), Control.END_EPOCH, b"")
        self._enqueue(epochs, Epoch(chunk, emitted))

    def _sweep(self, sweep: Sweep, epochs: queue.Queue[Epoch | None]) -> None:
        emitted = self.feeders.advance(sweep.event_time, sweep.next_seq)
        payload = advance_payload(sweep.event_time, sweep.next_seq)
        self._broadcast(_fed(emitted), Control.ADVANCE, payload)
        self._enqueue(epochs, Epoch(sweep.as_chunk(), emitted, sweep=sweep))

    def _finish(self, events: int, epochs: queue.Queue[Epoch | None]) -> None:
        emitted = self.feeders.finish(events)
        self._broadcast(_fed(emitted), Control.FINISH, str(events).encode())
        self._enqueue(epochs, Epoch(None, emitted, events))
        self._enqueue(epochs, None)

    def _broadcast(
        self, inputs: list[tuple[str, pa.RecordBatch]], marker: Control, payload: bytes
    ) -> None:
        """Send each worker the batches it reads, then the marker that ends the epoch."""
        for worker in self.physical.workers:
            self._send(worker.context, inputs)
            self._send_marker(worker.context, marker, payload)

    def _send(self, context: str, inputs: list[tuple[str, pa.RecordBatch]]) -> None:
        reads, writer = self._reads[context], self.ingress[context]
        alive = self._alive_check(context)
        for source, batch in inputs:
            if source in reads and batch.num_rows:
                with self._watching(context):
                    writer.put(batch, tag=self.sources.tag(source), alive=alive)

    def _send_marker(self, context: str, marker: Control, payload: bytes) -> None:
        with self._watching(context):
            alive = self._alive_check(context)
            self.ingress[context].put_message(payload, tag=marker, alive=alive)

    @contextmanager
    def _watching(self, context: str) -> Iterator[None]:
        """Turn 'the peer is gone' from a queue into the failure that explains it."""
        try:
            yield
        except EngineError:
            self._raise_failure()
            raise self._death(context) from None

    def _enqueue(self, epochs: queue.Queue[Epoch | None], epoch: Epoch | None) -> None:
        while True:
            self._raise_failure()
            try:
                epochs.put(epoch, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    # ---- failure and shutdown ---------------------------------------------------

    def _death(self, context: str) -> EngineError:
        return death_of(context, self.processes[context])

    def _raise_reported(self) -> None:
        if self.state.failure is not None and not isinstance(self.state.failure, WorkerDeath):
            raise self.state.failure

    def _raise_failure(self) -> None:
        if self.state.failure is not None:
            raise self.state.failure
        for context, process in self.processes.items():
            if not process.is_alive() and process.exitcode not in (0, None):
                raise self._death(context)

    def _join(self, thread: threading.Thread) -> None:
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            self._raise_failure()

    def _wait_workers(self) -> None:
        for context, process in self.processes.items():
            process.join(STOP_GRACE_SECONDS)
            if process.exitcode not in (0, None):
                raise self._death(context)

    def _stop(self) -> None:
        for process in self.processes.values():
            if process.is_alive():
                process.terminate()
        for process in self.processes.values():
            process.join(STOP_GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join(STOP_GRACE_SECONDS)


def _fed(emitted: list[Emitted]) -> list[tuple[str, pa.RecordBatch]]:
    """The feeder streams' outputs, as inputs for the workers."""
    return [(item.stream, item.batch) for item in emitted if item.kind is EmitKind.OUTPUT]
