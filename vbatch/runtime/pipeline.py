"""A stream's kernels as one fold: rows in, emitted batches out.

A stream is bound to the schema of the first rows that reach it: its plan is type-checked
against that schema (so an ill-typed program fails before any row is computed) and each
operator is lowered to a kernel. Every batch then goes through the kernels in order; a
windowed stream's clock tells its window how the watermark moved. The runtime, not the
window, attaches the columns that place window rows in the global output order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vbatch.figures import StreamCounters
from vbatch.io.source import InputChunk
from vbatch.kernels.clock import Clock
from vbatch.kernels.join import JoinKernel
from vbatch.kernels.lower import lower_chain
from vbatch.kernels.merge import UnionKernel
from vbatch.kernels.protocol import EmitKind, Frame, Kernel, empty_batch
from vbatch.kernels.types import env_of_schema
from vbatch.kernels.window import WindowAggregateKernel
from vbatch.plan.bind import bind_stream
from vbatch.plan.logical import StreamPlan
from vbatch.runtime.order import OrderedWindow


@dataclass(frozen=True)
class Emitted:
    """A batch a stream produced."""

    stream: str
    kind: EmitKind
    batch: pa.RecordBatch


# Where a runner hands each input chunk's results (None: the results of end of input).
Deliver = Callable[[InputChunk | None, list[Emitted]], None]

Port = int  # the index of an input in StreamPlan.inputs
# Rows run through the kernels at a time: results never depend on it, but a session
# window that must be cut does less work on a run of this size than on a whole row group.
STEP_ROWS = 1 << 16


class StreamPipeline:
    """Runs one stream: rows in, emitted batches out."""

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        window = plan.window
        self.clock = Clock(window.watermark_ms) if window is not None else None
        self.union = _combiner(plan)
        self.kernels: list[Kernel] = []
        self.bound: pa.Schema | None = None
        self.last_stateful = -1
        self.window: WindowAggregateKernel | None = None
        self.counters = StreamCounters()
        self._emitted: list[Emitted] = []

    def process(
        self, inputs: list[tuple[Port, pa.RecordBatch]], clock: pa.RecordBatch | None = None
    ) -> list[Emitted]:
        """Run one step's input batches through the stream (a merge takes them as one).

        `clock` (`_ts`, `_seq` of every source row of the step) is given when the batches
        hold only some of those rows — a shard's keys — so the watermark still moves with
        all of them, exactly as in one process.
        """
        if self.union is not None:
            merged = self.union.combine(inputs)
            batches = [merged] if merged is not None else []
        else:
            batches = [b for _, b in inputs]
        if clock is not None:
            self._step_clocked(batches, clock)
            return self._take()
        for batch in batches:
            for start in range(0, batch.num_rows, STEP_ROWS):
                self._step(batch.slice(start, STEP_ROWS))
        return self._take()

    def _step_clocked(self, batches: list[pa.RecordBatch], clock: pa.RecordBatch) -> None:
        """Rows that are a subset of the clock's rows: ticks over all of them, a slice of
        the clock at a time (the rows of each slice with it)."""
        if len(batches) > 1:
            batches = [pa.Table.from_batches(batches).combine_chunks().to_batches()[0]]
        if not batches and self.bound is None:
            if self.clock is not None:  # nothing to compute yet; the watermark still moves
                self.clock.tick(clock.column("_ts").to_numpy(), clock.column("_seq").to_numpy())
            return
        assert self.bound is not None or batches
        batch = batches[0] if batches else empty_batch(self.bound)  # type: ignore[arg-type]
        if clock.num_rows <= STEP_ROWS:
            self._step(batch, clock)
            return
        clock_seq, row_seq = clock.column("_seq").to_numpy(), batch.column("_seq").to_numpy()
        for start in range(0, clock.num_rows, STEP_ROWS):
            part = clock.slice(start, STEP_ROWS)
            first, last = clock_seq[start], clock_seq[start + part.num_rows - 1]
            lo = int(np.searchsorted(row_seq, first))
            hi = int(np.searchsorted(row_seq, last, side="right"))
            self._step(batch.slice(lo, hi - lo), part)

    def advance(self, event_time: int, seq: int) -> list[Emitted]:
        """Close the windows an idle input's clock has passed (`event_time` is "now")."""
        if self.clock is None or not self.kernels:
            return []
        tick = self.clock.advance(event_time - self.clock.out_of_order, seq)
        for i, kernel in enumerate(self.kernels):
            released = kernel.advance(tick)
            if released is not None:
                self._push(Frame(released), i + 1)
        self._count()
        return self._take()

    def finish(self, end_seq: int) -> list[Emitted]:
        """Flush what is held at end of input."""
        for i, kernel in enumerate(self.kernels):
            released = kernel.finish(end_seq)
            if released is not None:
                self._push(Frame(released), i + 1)
        self._count()
        return self._take()

    def _step(self, batch: pa.RecordBatch, clock: pa.RecordBatch | None = None) -> None:
        if self.bound is None or (self.union is not None and batch.schema != self.bound):
            self._bind(batch.schema)
        self.counters.rows_in += batch.num_rows
        tick, positions = None, None
        if self.clock is not None:
            source = clock if clock is not None else batch
            ts, seq = source.column("_ts").to_numpy(), source.column("_seq").to_numpy()
            tick = self.clock.tick(ts, seq)
            if clock is not None:
                positions = np.searchsorted(seq, batch.column("_seq").to_numpy())
        self._push(Frame(batch, tick, positions), 0)
        self._count()

    def _bind(self, schema: pa.Schema) -> None:
        """Type-check the stream for rows of `schema` and lower its kernels (once, or again
        when a merge's inputs bring new fields before any state is kept)."""
        bind_stream(self.plan, env_of_schema(schema))
        self.bound = schema
        if self.kernels and self.last_stateful >= 0:
            return  # a window keeps its kernels; its inputs are read by name
        kernels = lower_chain(self.plan.operators, schema, self._side)
        for i, kernel in enumerate(kernels):
            if isinstance(kernel, WindowAggregateKernel):
                self.window = kernel
                kernels[i] = OrderedWindow(kernel, self.plan.root)
            if kernel.stateful:
                self.last_stateful = i
        self.kernels = kernels

    def _push(self, frame: Frame, start: int) -> None:
        for i in range(start, len(self.kernels)):
            if frame.num_rows == 0 and i > self.last_stateful:
                return
            result = self.kernels[i].process(frame)
            if result is None:
                return
            frame = result
        if frame.num_rows:
            self.counters.rows_out += frame.num_rows
            self._emitted.append(Emitted(self.plan.name, EmitKind.OUTPUT, frame.batch))

    def _side(self, kind: EmitKind, batch: pa.RecordBatch) -> None:
        self._emitted.append(Emitted(self.plan.name, kind, batch))

    def _take(self) -> list[Emitted]:
        emitted, self._emitted = self._emitted, []
        return emitted

    def _count(self) -> None:
        if self.window is not None:
            self.counters.windows_closed = self.window.stats.windows_closed
            self.counters.late_rows = self.window.stats.late_rows

    @property
    def output_schema(self) -> pa.Schema | None:
        """The schema of the stream's output rows, once it is bound."""
        return self.kernels[-1].schema if self.kernels else self.bound


def _combiner(plan: StreamPlan) -> UnionKernel | JoinKernel | None:
    """What makes one batch of a step's rows from several ports: a join or a merge."""
    if plan.join is not None:
        sources = tuple(i.name for i in plan.inputs)
        return JoinKernel(plan.name, sources, plan.join.keys, plan.join.window_ms)
    return UnionKernel(plan.name, plan.fields_read()) if plan.is_merge else None
