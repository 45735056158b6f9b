"""A context's worker process: its streams' pipelines, fed and drained through queues."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from vbatch.kernels.protocol import EmitKind
from vbatch.lean import without_pandas
from vbatch.plan.logical import LogicalPlan
from vbatch.plan.physical import WorkerPlan
from vbatch.runtime.engine import Engine
from vbatch.runtime.pipeline import Emitted
from vbatch.runtime.protocol import Control, Failure, Finished, Sources, advance_values, owned
from vbatch.runtime.queue import Channel, ChannelReader, ChannelWriter

without_pandas()  # workers (and the fork server they come from) never use pandas


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, handed to it when the process starts."""

    plan: LogicalPlan
    worker: WorkerPlan
    inbound: tuple[Channel, ...]  # the coordinator's first, then upstream contexts in order
    downstream: dict[str, Channel]  # context → queue
    results: Channel
    send_rows: bool  # False: the coordinator needs no result rows, only counters


def pin(cores: tuple[int, ...] | None) -> None:
    """Run this process only on `cores` (accepted and ignored where unsupported)."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))


def main(spec: WorkerSpec) -> None:
    """Entry point of the worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when workers stop
    sys.setswitchinterval(0.0005)  # hand-offs between threads should not wait 5 ms
    pin(spec.worker.cores)
    parent = multiprocessing.parent_process()
    alive: Callable[[], bool] = parent.is_alive if parent is not None else (lambda: True)
    results = spec.results.writer()
    try:
        _Worker(spec, results, alive).serve()
    except BaseException as err:  # reported to the coordinator, which decides the exit code
        failure = Failure.of(spec.worker.context, err).encode()
        results.put_message(failure, tag=Control.FAILED, alive=alive)
        raise SystemExit(1) from err
    finally:
        results.close()


class _Worker:
    def __init__(self, spec: WorkerSpec, results: ChannelWriter, alive: Callable[[], bool]) -> None:
        self.spec = spec
        self.sources = Sources.of(spec.plan)
        self.engine = Engine(spec.plan, spec.worker.streams)
        self.results = results
        self.alive = alive
        self.inbound: list[ChannelReader] = [c.reader() for c in spec.inbound]
        self.downstream = {ctx: c.writer() for ctx, c in spec.downstream.items()}
        mine = [spec.plan.stream(name) for name in spec.worker.streams]
        self.merged = {i.name for s in mine if s.is_merge for i in s.inputs}
        self.readers_of = {
            name: list(dict.fromkeys(
                s.context for s in spec.plan.consumers(name) if s.context in spec.downstream
            ))
            for name in spec.worker.streams
        }  # fmt: skip

    def serve(self) -> None:
        """Handle epochs until the end of input."""
        while True:
            marker, payload = self._epoch()
            if marker is Control.FINISH:
                self._send(self.engine.finish(int(payload)))
                self._broadcast(Control.FINISH, payload)
                return
            if marker is Control.ADVANCE:
                self._send(self.engine.advance(*advance_values(payload)))
            self._broadcast(marker, payload)

    def _epoch(self) -> tuple[Control, bytes]:
        """Read every inbound queue up to its next marker, running the rows as they come.

        Rows a merge reads are kept until the epoch's end and run as one step, as in one
        process, so the merge sees all of its inputs' rows of the epoch at once.
        """
        marker, payload = Control.END_EPOCH, b""
        held = []
        for reader in self.inbound:
            while True:
                item = reader.get(alive=self.alive)
                if item is None:
                    continue
                if item.batch is None:
                    marker, payload = Control(item.tag), item.payload or b""
                    break
                source = self.sources.name(item.tag)
                if source in self.merged:
                    held.append((source, owned(item.batch)))
                else:
                    self._send(self.engine.step([(source, item.batch)]))
        if held:
            self._send(self.engine.step(held))
        return marker, payload

    def _send(self, emitted: list[Emitted]) -> None:
        for item in emitted:
            if item.kind is EmitKind.OUTPUT:
                for context in self.readers_of.get(item.stream, ()):
                    self.downstream[context].put(
                        item.batch, tag=self.sources.tag(item.stream), alive=self.alive
                    )
            if self.spec.send_rows:
                tag = self.sources.result_tag(item.stream, item.kind)
                self.results.put(item.batch, tag=tag, alive=self.alive)

    def _broadcast(self, marker: Control, payload: bytes) -> None:
        """Pass the marker on downstream; tell the coordinator, with the counters so far."""
        for writer in self.downstream.values():
            writer.put_message(payload, tag=marker, alive=self.alive)
        counters = {n: p.counters for n, p in self.engine.pipelines.items()}
        result = Control.FINISH if marker is Control.FINISH else Control.END_EPOCH
        self.results.put_message(Finished(counters).encode(), tag=result, alive=self.alive)
