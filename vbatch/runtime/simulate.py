"""Deterministic replay: read the input, run every stream, hand results to the sinks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow.compute as pc

from vbatch.io import open_events
from vbatch.io.source import EventBatch, InputChunk, ReadOptions, Sweep
from vbatch.io.writers import OutputFormat, open_writer
from vbatch.lang.program import Program, WindowKind
from vbatch.plan.build import plan_program
from vbatch.plan.logical import LogicalPlan
from vbatch.render import ConsoleRenderer, Summary
from vbatch.runtime.engine import Engine
from vbatch.runtime.outputs import OutputSink
from vbatch.runtime.pipeline import Deliver, Emitted, StreamCounters, TraceOptions


class Runner(Protocol):
    """Runs the streams of a plan: in this process, or across context workers."""

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Run every chunk (or sweep), then the end-of-input flush; hand results to `deliver`."""
        ...

    def counters(self) -> dict[str, StreamCounters]:
        """Per-stream counters, complete once `run` returns."""
        ...

    def close(self) -> None:
        """Release processes and queues."""
        ...


class Sink(Protocol):
    """Receives what each input chunk caused; `chunk` is None for the end-of-input flush."""

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None: ...


class LocalRunner:
    """Every stream in this process."""

    def __init__(self, plan: LogicalPlan, trace: TraceOptions) -> None:
        self.engine = Engine(plan, trace=trace)

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Run the chunks one after the other."""
        events = 0
        for item in chunks:
            if isinstance(item, Sweep):
                deliver(item.as_chunk(), self.engine.advance(item.event_time, item.next_seq))
                continue
            deliver(item, self.engine.step((b.event_type, b.batch) for b in item.batches))
            events += item.count
        deliver(None, self.engine.finish(events))

    def counters(self) -> dict[str, StreamCounters]:
        """Per-stream counters."""
        return {name: p.counters for name, p in self.engine.pipelines.items()}

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class Pacing:
    """Replay at the recorded pace: event time → wall time, scaled by `speed`."""

    speed: float = 1.0
    granularity_ms: int = 10
    _origin_event: int | None = None
    _origin_wall: float = field(default=0.0)

    def wait_for(self, event_ms: int) -> None:
        """Sleep until the wall clock reaches the moment of `event_ms`."""
        if self._origin_event is None:
            self._origin_event = event_ms
            self._origin_wall = time.monotonic()
            return
        due = self._origin_wall + (event_ms - self._origin_event) / 1000.0 / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def paced_slices(chunk: InputChunk, granularity_ms: int) -> Iterator[tuple[int, InputChunk]]:
    """Split a chunk, in arrival order, wherever event time enters a new slice of time."""
    if chunk.count == 0:
        yield 0, chunk
        return
    seq = np.concatenate([b.batch.column("_seq").to_numpy() for b in chunk.batches])
    ts = np.concatenate([b.batch.column("_ts").to_numpy() for b in chunk.batches])
    order = np.argsort(seq)
    running = np.maximum.accumulate(ts[order]) // granularity_ms
    cuts = np.flatnonzero(np.diff(running)) + 1
    bounds = [0, *cuts.tolist(), len(order)]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        first, last = chunk.first_seq + lo, chunk.first_seq + hi
        batches = []
        for item in chunk.batches:
            seqs = item.batch.column("_seq")
            mask = pc.and_(pc.greater_equal(seqs, first), pc.less(seqs, last))
            part = item.batch.filter(mask)
            if part.num_rows:
                batches.append(EventBatch(item.event_type, part))
        yield int(running[lo] * granularity_ms), InputChunk(tuple(batches), first, hi - lo)


def cross_context_targets(plan: LogicalPlan) -> dict[str, int]:
    """For each stream, how many other contexts its output rows travel to."""
    targets = {}
    for stream in plan.streams:
        readers = {r.context for r in plan.consumers(stream.name)}
        if stream.emit_context is not None:
            readers.add(stream.emit_context)
        targets[stream.name] = len(readers - {stream.context})
    return targets


@dataclass
class Simulation:
    """One replay of a program over an input."""

    program: Program
    plan: LogicalPlan
    runner: Runner
    sinks: list[Sink]
    pacing: Pacing | None = None
    events: int = 0
    started: float = field(default_factory=time.perf_counter)

    def run(self, chunks: Iterable[InputChunk]) -> Summary:
        """Replay every chunk, then flush; returns the summary figures."""
        with self.program.errors_point_here():
            self.runner.run(self._paced(chunks), self._deliver)
        return self.summary(cross_context_targets(self.plan))

    def _paced(self, chunks: Iterable[InputChunk]) -> Iterator[InputChunk]:
        for chunk in chunks:
            if self.pacing is None:
                self.events += chunk.count
                yield chunk
                continue
            for at_ms, part in paced_slices(chunk, self.pacing.granularity_ms):
                self.pacing.wait_for(at_ms)
                self.events += part.count
                yield part

    def _deliver(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        for sink in self.sinks:
            sink.chunk(chunk, emitted)

    def summary(self, targets: dict[str, int], bad_records: int = 0) -> Summary:
        """The figures of the closing block."""
        counters = self.runner.counters()
        session_streams = [
            s.name
            for s in self.plan.streams
            if s.window is not None and s.window.window.kind is WindowKind.SESSION
        ]
        has_crossing = any(targets.values())
        crossed = sum(counters[name].rows_out * n for name, n in targets.items())
        return Summary(
            events=self.events,
            streams=len(self.plan.streams),
            contexts_declared=len(self.program.contexts),
            contexts_used=len(self.program.used_contexts()),
            cross_context_events=crossed if has_crossing else None,
            sessions_closed=(
                sum(counters[n].windows_closed for n in session_streams)
                if session_streams
                else None
            ),
            late_events=sum(c.late_rows for c in counters.values()),
            bad_records=bad_records,
            seconds=time.perf_counter() - self.started,
        )


@dataclass(frozen=True)
class SimulateOptions:
    """Everything `vbatch simulate` was asked to do."""

    program: Program
    events: object
    read: ReadOptions
    immediate: bool = True
    speed: float = 1.0
    verbose: bool = False
    quiet: bool = False
    output: Path | None = None
    output_format: OutputFormat = OutputFormat.JSONL
    contexts: bool = True
    capacity: int | None = None


def make_runner(
    program: Program, plan: LogicalPlan, trace: TraceOptions, *, contexts: bool,
    send_rows: bool = True, capacity: int | None = None,
) -> Runner:  # fmt: skip
    """Worker processes for the program's contexts, or everything in this process."""
    if not contexts or not program.contexts:
        return LocalRunner(plan, trace)
    from vbatch.plan.physical import place
    from vbatch.runtime.coordinator import ContextRunner

    physical = place(plan, {c.name: c.cores for c in program.contexts})
    if not physical.uses_processes:
        return LocalRunner(plan, trace)
    extra = {} if capacity is None else {"capacity": capacity}
    return ContextRunner(program, physical, trace, send_rows=send_rows, **extra)


def run_simulate(options: SimulateOptions, write: Callable[[str], None]) -> Summary:
    """Replay the events through the program, rendering to `write` and writing outputs."""
    plan = plan_program(options.program)
    reader = open_events(options.events, options.read)
    console = ConsoleRenderer(plan, write, verbose=options.verbose, quiet=options.quiet)
    sinks: list[Sink] = [] if options.quiet else [console]
    output = None
    if options.output is not None:
        output = OutputSink(plan, open_writer(options.output_format, options.output))
        sinks.append(output)
    trace = TraceOptions(window_rows=not options.quiet, filter_reasons=options.verbose)
    runner = make_runner(
        options.program,
        plan,
        trace,
        contexts=options.contexts,
        send_rows=bool(sinks),
        capacity=options.capacity,
    )
    pacing = None if options.immediate else Pacing(speed=options.speed)
    console.start(len(options.program.contexts))
    simulation = Simulation(options.program, plan, runner, sinks, pacing)
    try:
        summary = simulation.run(reader)
    except BaseException:
        if output is not None:
            output.abort()
        raise
    finally:
        runner.close()
    if output is not None:
        output.close()
    summary = replace(summary, bad_records=reader.stats.bad_records)
    console.finish(summary)
    return summary
