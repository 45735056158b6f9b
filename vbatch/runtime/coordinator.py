"""The coordinator: starts a worker per context (or shard), feeds it, supervises it, stops it.

Two ways to feed the workers:
- **dispatch**: the main thread reads the input, runs the coordinator's feeder streams and
  sends each worker the batches its streams read (a shard: the rows of its keys), then an
  end-of-epoch marker per input chunk;
- **sources in workers** (`runtime/sources.py`): the workers read a Parquet input
  themselves, unit by unit; the coordinator reads nothing and only counts the epochs.
Either way the results come back through an Assembler (assembly.py), in input order.
"""

from __future__ import annotations

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
from vbatch.plan.physical import PhysicalPlan, WorkerPlan
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
from vbatch.runtime.forkserver import WorkerProcess, main_hidden, worker_context
from vbatch.runtime.heartbeat import STALL_SECONDS, Watch, make_counter
from vbatch.runtime.pipeline import Deliver, Emitted
from vbatch.runtime.protocol import Control, Sources, advance_payload
from vbatch.runtime.queue import DEFAULT_CAPACITY, Channel, ChannelWriter
from vbatch.runtime.shards import shard_of
from vbatch.runtime.sources import SourceLayout


def check_cores(physical: PhysicalPlan) -> None:
    """Every pinned core must exist on this machine (else exit code 3)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not available:
        return
    for worker in physical.workers:
        missing = [c for c in worker.cores or () if c not in available]
        if missing:
            have = ", ".join(map(str, available))
            core = missing[0]
            msg = f"{worker.label} asks for core {core}, but this run has cores {have}"
            hint = "change `cores: [...]`, or run on a machine with more cores"
            raise ConfigError(msg, hint=hint)


PEER_UNITS = 3  # whole units a queue between two source workers holds
PEER_SLOTS = 32  # of 8 MiB: a unit of a million rows takes about five


class ContextRunner:
    """Runs a physical plan with one worker process per context (or per shard).

    With a `layout`, the workers read the input themselves and `run` ignores the chunks
    it is given (only their count matters to nobody: the workers report what they read).
    """

    def __init__(
        self,
        physical: PhysicalPlan,
        *,
        send_rows: bool = True,
        capacity: int = DEFAULT_CAPACITY,
        layout: SourceLayout | None = None,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        check_cores(physical)
        self.physical = physical
        self.plan = physical.logical
        self.layout = layout
        self.sources = Sources.of(self.plan)
        self.send_rows = send_rows or bool(physical.collectors)
        self.capacity = capacity
        self.feeders = Engine(self.plan, physical.feeders)
        self.collectors = Engine(self.plan, physical.collectors)
        self.state = RunState()
        self.context = worker_context()
        self.channels: list[Channel] = []
        self.processes: dict[str, WorkerProcess] = {}
        self.ingress: dict[str, ChannelWriter] = {}
        self.results: dict[str, Channel] = {}
        self._links: list[tuple[str, str, Channel]] = []
        self.workers = {w.name: w for w in physical.workers_in_order()}
        self._order = list(self.workers)
        self.stall_seconds = stall_seconds
        self.heartbeats = {name: make_counter(self.context) for name in self.workers}
        self.watch = Watch(self.heartbeats)
        self._reads = {w.name: set(w.reads) for w in physical.workers}

    # ---- life cycle ----------------------------------------------------------

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Feed every chunk to the workers (or let them read the input); results reach
        `deliver` in input order."""
        self._start()
        epochs: queue.Queue[Epoch | None] = queue.Queue(maxsize=64)
        results = Assembler(
            self._order, self.workers, self.results, self.processes, self.sources, self.state,
            self.collectors,
        )  # fmt: skip
        assembler = threading.Thread(
            target=results.run, args=(epochs, deliver), name="vbatch-assemble", daemon=True
        )
        assembler.start()
        try:
            if self.layout is not None:
                self._count_units(self.layout, epochs)
            else:
                self._dispatch_all(chunks, epochs)
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
        """Per-stream counters of every process (a sharded stream's shards added up)."""
        merged = {n: p.counters for n, p in self.feeders.pipelines.items()}
        merged.update({n: p.counters for n, p in self.collectors.pipelines.items()})
        for counters in self.state.finished.values():
            for stream, found in counters.items():
                merged[stream] = _added(merged.get(stream), found)
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
        upstream: dict[str, list[Channel]] = {name: [] for name in self.workers}
        downstream: dict[str, dict[str, Channel]] = {name: {} for name in self.workers}
        for name, worker in self.workers.items():
            for target in worker.downstream:
                channel = self._channel(name, target)
                downstream[name][target] = channel
                upstream[target].append(channel)
        feeds = {}
        if self.layout is None:
            feeds = {name: self._channel(COORDINATOR_LABEL, name) for name in self.workers}
        peers = self._peer_channels()
        for name in self._order:
            self.results[name] = self._channel(name, COORDINATOR_LABEL)
        contexts = {name: w.context for name, w in self.workers.items()}
        for name, worker in self.workers.items():
            spec = worker_module.WorkerSpec(
                plan=self.plan,
                worker=worker,
                upstream=tuple(upstream[name]),
                downstream=downstream[name],
                results=self.results[name],
                send_rows=self.send_rows,
                contexts=contexts,
                heartbeat=self.heartbeats[name],
                feed=feeds.get(name),
                layout=self.layout,
                peers_in={r: c for (r, t), c in peers.items() if t == name},
                peers_out={t: c for (r, t), c in peers.items() if r == name},
            )
            process = WorkerProcess(
                self.context.Process(
                    target=worker_module.main, args=(spec,), name=f"vbatch-{name}", daemon=True
                )
            )
            with main_hidden():
                process.start()
            self.processes[name] = process
        self.ingress = {name: channel.writer() for name, channel in feeds.items()}

    def _peer_channels(self) -> dict[tuple[str, str], Channel]:
        """With sources in workers: a queue from each reader to each other source worker,
        holding a few whole units, so a reader is never held up by one unit in flight."""
        if self.layout is None:
            return {}
        readers = self.layout.readers
        largest = max((u.rows for u in self.layout.units), default=0)
        room = {"capacity": max(self.capacity, PEER_UNITS * largest), "slots": PEER_SLOTS}
        return {(r, t): self._channel(r, t, **room) for r in readers for t in readers if r != t}

    def _channel(
        self, source: str, target: str, capacity: int | None = None, slots: int = 8
    ) -> Channel:
        name = f"{source}-{target}"
        events = capacity or self.capacity
        channel = Channel.create(name, capacity_events=events, slots=slots, context=self.context)
        self.channels.append(channel)
        self._links.append((source, target, channel))
        return channel

    def links(self) -> list[LinkFigures]:
        """The queues between processes, for metrics."""
        return [LinkFigures(s, t, c.fill, c.blocked_seconds) for s, t, c in self._links]

    # ---- main thread: sources in workers ------------------------------------------

    def _count_units(self, layout: SourceLayout, epochs: queue.Queue[Epoch | None]) -> None:
        """The workers read the units; the coordinator only expects their epochs, in order."""
        for unit in layout.units:
            self._enqueue(epochs, Epoch(InputChunk((), unit.first_seq, 0), []))
        self._enqueue(epochs, Epoch(None, [], layout.end_seq))
        self._enqueue(epochs, None)

    # ---- main thread: dispatch -------------------------------------------------

    def _dispatch_all(
        self, chunks: Iterable[InputChunk | Sweep], epochs: queue.Queue[Epoch | None]
    ) -> None:
        events = 0
        for item in chunks:
            if isinstance(item, Sweep):
                self._sweep(item, epochs)
                continue
            self._dispatch(item, epochs)
            events += item.count
        self._finish(events, epochs)

    def _alive_check(self, name: str) -> Callable[[], bool]:
        """Whether a put to worker `name` may keep waiting: the run has not failed and that
        worker is alive and ticking (another worker that finished is no reason to stop)."""
        process = self.processes[name]
        return lambda: self.state.failure is None and process.is_alive() and not self._stalled(name)

    def _stalled(self, name: str) -> bool:
        return self.watch.age(name) > self.stall_seconds

    def heartbeat_ages(self) -> dict[str, float]:
        """Seconds since each worker's last heartbeat, for metrics."""
        return self.watch.ages()

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
        for name, worker in self.workers.items():
            self._send(worker, inputs)
            self._send_marker(name, marker, payload)

    def _send(self, worker: WorkerPlan, inputs: list[tuple[str, pa.RecordBatch]]) -> None:
        name = worker.name
        reads, writer = self._reads[name], self.ingress[name]
        alive = self._alive_check(name)
        for source, batch in inputs:
            if source not in reads or not batch.num_rows:
                continue
            if worker.shards > 1:  # a shard takes the rows of its keys, and all rows' clock
                with self._watching(name):
                    clock = batch.select(["_ts", "_seq"])
                    writer.put(clock, tag=self.sources.clock_tag(source), alive=alive)
                mine = shard_of(batch, worker.shard_keys, worker.shards) == worker.shard
                batch = batch.filter(pa.array(mine))
                if not batch.num_rows:
                    continue
            with self._watching(name):
                writer.put(batch, tag=self.sources.tag(source), alive=alive)

    def _send_marker(self, name: str, marker: Control, payload: bytes) -> None:
        with self._watching(name):
            alive = self._alive_check(name)
            self.ingress[name].put_message(payload, tag=marker, alive=alive)

    @contextmanager
    def _watching(self, name: str) -> Iterator[None]:
        """Turn 'the peer is gone' from a queue into the failure that explains it."""
        try:
            yield
        except EngineError:
            self._raise_failure()
            raise self._death(name) from None

    def _enqueue(self, epochs: queue.Queue[Epoch | None], epoch: Epoch | None) -> None:
        while True:
            self._raise_failure()
            try:
                epochs.put(epoch, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    # ---- failure and shutdown ---------------------------------------------------

    def _death(self, name: str) -> EngineError:
        return death_of(self.workers[name].label, self.processes[name])

    def _raise_reported(self) -> None:
        if self.state.failure is not None and not isinstance(self.state.failure, WorkerDeath):
            raise self.state.failure

    def _raise_failure(self) -> None:
        if self.state.failure is not None:
            raise self.state.failure
        for name, process in self.processes.items():
            if not process.is_alive() and process.exitcode not in (0, None):
                raise self._death(name)
            if process.is_alive() and self._stalled(name):
                label, seconds = self.workers[name].label, self.stall_seconds
                msg = f"{label} stopped making progress (no heartbeat for {seconds:g} s)"
                hint = "the process was stopped or is stuck; --stall-timeout sets the limit"
                raise WorkerDeath(msg, hint=hint)

    def _join(self, thread: threading.Thread) -> None:
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            self._raise_failure()

    def _wait_workers(self) -> None:
        for name, process in self.processes.items():
            process.join(STOP_GRACE_SECONDS)
            if process.exitcode not in (0, None):
                raise self._death(name)

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


def _added(total: StreamCounters | None, more: StreamCounters) -> StreamCounters:
    """Counters of one stream over its shards."""
    if total is None:
        return more
    return StreamCounters(
        total.rows_in + more.rows_in,
        total.rows_out + more.rows_out,
        total.windows_closed + more.windows_closed,
        total.late_rows + more.late_rows,
    )
