"""Results of the context workers, back in input order.

One thread per worker keeps its result queue empty (so no worker ever waits on the
coordinator); an assembler thread takes, for each input chunk ("epoch"), every worker's
results up to its end-of-epoch marker, runs the coordinator's collector streams over them,
and hands the whole epoch on.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field, replace

from vbatch.errors import EngineError, OutputClosed, VbatchError
from vbatch.figures import StreamCounters
from vbatch.io.source import InputChunk, Sweep
from vbatch.kernels.protocol import EmitKind
from vbatch.plan.physical import WorkerPlan
from vbatch.runtime.engine import Engine
from vbatch.runtime.forkserver import WorkerProcess
from vbatch.runtime.order import in_output_order
from vbatch.runtime.pipeline import Deliver, Emitted
from vbatch.runtime.protocol import Control, Failure, Finished, Sources, decode, owned
from vbatch.runtime.queue import Channel

POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 2.0


class WorkerDeath(EngineError):
    """A worker process ended without reporting an error."""


def death_of(label: str, process: WorkerProcess) -> WorkerDeath:
    """The error for a worker that ended (`label`: "context `c`"): its signal or exit code."""
    process.join(STOP_GRACE_SECONDS)
    code = process.exitcode
    cause = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return WorkerDeath(f"{label} died ({cause})")


@dataclass(frozen=True)
class EpochEnd:
    """In a worker's inbox: the end of its results for an epoch, and the events it read."""

    events: int = 0


@dataclass
class Epoch:
    """What one input chunk caused, gathered from every process (chunk None: the flush)."""

    chunk: InputChunk | None
    emitted: list[Emitted]
    end_seq: int = 0
    sweep: Sweep | None = None


@dataclass
class RunState:
    """Shared by the coordinator's threads: the first failure, and workers' counters."""

    failure: VbatchError | None = None
    finished: dict[str, dict[str, StreamCounters]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, err: VbatchError) -> None:
        """Remember the first failure."""
        with self.lock:
            if self.failure is None:
                self.failure = err


@dataclass
class Assembler:
    """Gathers the workers' results epoch by epoch, in the coordinator."""

    order: list[str]
    workers: dict[str, WorkerPlan]
    results: dict[str, Channel]
    processes: dict[str, WorkerProcess]
    sources: Sources
    state: RunState
    collectors: Engine

    def run(self, epochs: queue.Queue[Epoch | None], deliver: Deliver) -> None:
        """Hand on every epoch until the last; a failure is recorded, never raised here."""
        try:
            self._assemble_all(epochs, deliver)
        except BrokenPipeError:  # the reader of standard output went away (`| head`)
            self.state.fail(OutputClosed("standard output was closed"))
        except VbatchError as err:
            self.state.fail(err)
        except Exception as err:  # noqa: BLE001 - any crash must stop the run, not hang it
            self.state.fail(EngineError(f"result assembly failed: {type(err).__name__}: {err}"))

    def _assemble_all(self, epochs: queue.Queue[Epoch | None], deliver: Deliver) -> None:
        inboxes = {name: self._start_drain(name) for name in self.order}
        while True:
            epoch = self._next(epochs)
            if epoch is None:
                return
            parts, events = [], 0
            for name in self.order:
                emitted, read = self._take_epoch(inboxes[name])
                parts.append(emitted)
                events += read
            epoch.emitted += _shards_merged(parts)
            if epoch.chunk is not None and events:  # the workers read this unit themselves
                epoch.chunk = replace(epoch.chunk, count=events)
            self._collect(epoch)
            deliver(epoch.chunk, epoch.emitted)

    def _next(self, epochs: queue.Queue[Epoch | None]) -> Epoch | None:
        while True:
            if self.state.failure is not None:
                raise self.state.failure
            try:
                return epochs.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue

    def _take_epoch(self, inbox: queue.Queue[Emitted | EpochEnd]) -> tuple[list[Emitted], int]:
        """A worker's results up to its next end of epoch, and the events it read."""
        emitted: list[Emitted] = []
        while True:
            try:
                item = inbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self.state.failure is not None:
                    raise self.state.failure from None
                continue
            if isinstance(item, EpochEnd):
                return emitted, item.events
            emitted.append(item)

    def _start_drain(self, context: str) -> queue.Queue[Emitted | EpochEnd]:
        """A thread that keeps a worker's result queue empty, so no worker ever waits on us."""
        inbox: queue.Queue[Emitted | EpochEnd] = queue.Queue()
        thread = threading.Thread(
            target=self._drain, args=(context, inbox), name=f"vbatch-drain-{context}", daemon=True
        )
        thread.start()
        return inbox

    def _drain(self, context: str, inbox: queue.Queue[Emitted | EpochEnd]) -> None:
        try:
            self._drain_all(context, inbox)
        except VbatchError as err:
            self.state.fail(err)
        except Exception as err:  # noqa: BLE001 - any crash must stop the run, not hang it
            msg = f"reading the results of `{context}` failed: {type(err).__name__}: {err}"
            self.state.fail(EngineError(msg))

    def _drain_all(self, name: str, inbox: queue.Queue[Emitted | EpochEnd]) -> None:
        reader = self.results[name].reader()
        process = self.processes[name]
        label = self.workers[name].label
        while self.state.failure is None:
            try:
                item = reader.get(timeout=POLL_SECONDS, alive=process.is_alive)
            except EngineError:
                raise death_of(label, process) from None
            if item is None:
                if not process.is_alive():
                    raise death_of(label, process)
                continue
            if item.batch is not None:
                stream, kind = self.sources.from_result_tag(item.tag)
                inbox.put(Emitted(stream, kind, owned(item.batch)))
                continue
            marker = Control(item.tag)
            if marker is Control.FAILED:
                failure = decode(item.payload or b"")
                assert isinstance(failure, Failure)
                raise failure.error()
            finished = decode(item.payload or b"")
            assert isinstance(finished, Finished)
            self.state.finished[name] = finished.counters
            inbox.put(EpochEnd(finished.events))
            if marker is Control.FINISH:
                return

    def _collect(self, epoch: Epoch) -> None:
        if not self.collectors.plans:
            return
        inputs = [(i.stream, i.batch) for i in epoch.emitted if i.kind is EmitKind.OUTPUT]
        if epoch.chunk is None:
            epoch.emitted += self.collectors.finish(epoch.end_seq, inputs)
        elif epoch.sweep is not None:
            sweep = epoch.sweep
            epoch.emitted += self.collectors.advance(sweep.event_time, sweep.next_seq, inputs)
        else:
            epoch.emitted += self.collectors.step(inputs)


def _shards_merged(parts: list[list[Emitted]]) -> list[Emitted]:
    """The workers' results of an epoch; a stream several shards emitted, back in order."""
    by_stream: dict[tuple[str, EmitKind], list[int]] = {}
    for i, emitted in enumerate(parts):
        for item in emitted:
            workers = by_stream.setdefault((item.stream, item.kind), [])
            if i not in workers:
                workers.append(i)
    merged: list[Emitted] = []
    done: set[tuple[str, EmitKind]] = set()
    for emitted in parts:
        for item in emitted:
            key = (item.stream, item.kind)
            if len(by_stream[key]) == 1:
                merged.append(item)
            elif key not in done:
                done.add(key)
                batches = [e.batch for part in parts for e in part if (e.stream, e.kind) == key]
                merged.append(Emitted(item.stream, item.kind, in_output_order(batches)))
    return merged
