"""Deterministic replay: chunks through a runner, results to the sinks, figures at the end."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow.compute as pc

from vbatch.figures import StreamCounters, Summary
from vbatch.io.source import EventBatch, InputChunk
from vbatch.plan.logical import LogicalPlan
from vbatch.plan.physical import PhysicalPlan
from vbatch.runtime.pipeline import Emitted
from vbatch.runtime.runners import Runner

MAX_WAIT_SECONDS = 3600.0  # the longest a paced replay waits for one gap in event time


class Sink(Protocol):
    """Receives what each input chunk caused; `chunk` is None for the end-of-input flush."""

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None: ...


@dataclass
class Pacing:
    """Replay at the recorded pace: event time → wall time, scaled by `speed`.

    A gap longer than `max_wait` seconds (after scaling) is shortened to `max_wait`, and
    the pace resumes from there: a time jump of years waits an hour, not years.
    """

    speed: float = 1.0
    granularity_ms: int = 10
    max_wait: float = MAX_WAIT_SECONDS
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
        if delay > self.max_wait:
            self._origin_wall -= delay - self.max_wait  # the gap is shortened from here on
            delay = self.max_wait
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


def window_summaries(
    plan: LogicalPlan, counters: dict[str, StreamCounters]
) -> tuple[tuple[str, int], ...]:
    """For each kind of window the summary counts (sessions), the windows its streams closed."""
    counts: dict[str, int] = {}
    for stream in plan.streams:
        window = stream.window
        noun = window.window.facts.counted if window is not None else None
        if noun is not None:
            counts[noun] = counts.get(noun, 0) + counters[stream.name].windows_closed
    return tuple(counts.items())


@dataclass
class Simulation:
    """One replay of a placed plan over an input."""

    physical: PhysicalPlan
    runner: Runner
    sinks: list[Sink]
    pacing: Pacing | None = None
    contexts_declared: int = 0
    events: int = 0
    started: float = field(default_factory=time.perf_counter)

    def run(self, chunks: Iterable[InputChunk]) -> Summary:
        """Replay every chunk, then flush; returns the summary figures."""
        self.runner.run(self._paced(chunks), self._deliver)
        return self.summary()

    def _paced(self, chunks: Iterable[InputChunk]) -> Iterator[InputChunk]:
        for chunk in chunks:
            if self.pacing is None:
                yield chunk
                continue
            for at_ms, part in paced_slices(chunk, self.pacing.granularity_ms):
                self.pacing.wait_for(at_ms)
                yield part

    def _deliver(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        if chunk is not None:  # counted as delivered: workers that read the input report it
            self.events += chunk.count
        for sink in self.sinks:
            sink.chunk(chunk, emitted)

    def summary(self, bad_records: int = 0) -> Summary:
        """The figures of the closing block."""
        plan = self.physical.logical
        counters = self.runner.counters()
        targets = cross_context_targets(plan)
        has_crossing = any(targets.values())
        crossed = sum(counters[name].rows_out * n for name, n in targets.items())
        used = {s.context for s in plan.streams if s.context is not None}
        return Summary(
            events=self.events,
            streams=len(plan.streams),
            contexts_declared=self.contexts_declared,
            contexts_used=len(used),
            cross_context_events=crossed if has_crossing else None,
            window_counts=window_summaries(plan, counters),
            late_events=sum(c.late_rows for c in counters.values()),
            bad_records=bad_records,
            seconds=time.perf_counter() - self.started,
        )
