"""A stream's kernels chained in plan order, with a watermark clock for windowed streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pyarrow as pa

from vbatch.io.source import InputChunk
from vbatch.kernels.clock import Clock, Tick
from vbatch.kernels.filter import FilterKernel
from vbatch.kernels.project import PrintKernel, ProjectKernel
from vbatch.kernels.window import WindowAggregateKernel
from vbatch.plan.logical import Filter, Print, Project, StreamPlan, WindowAggregate

Kernel = FilterKernel | ProjectKernel | PrintKernel | WindowAggregateKernel


class EmitKind(Enum):
    """What an emitted batch is: stream output, or something shown only on the console."""

    OUTPUT = 0
    WINDOW = 1
    FILTERED = 2
    PRINT = 3


@dataclass(frozen=True)
class Emitted:
    """A batch a stream produced."""

    stream: str
    kind: EmitKind
    batch: pa.RecordBatch


# Where a runner hands each input chunk's results (None: the results of end of input).
Deliver = Callable[[InputChunk | None, list[Emitted]], None]


@dataclass(frozen=True)
class TraceOptions:
    """What the console wants besides outputs."""

    window_rows: bool = False
    filter_reasons: bool = False


@dataclass
class StreamCounters:
    """Per-stream counts, for the summary and for metrics."""

    rows_in: int = 0
    rows_out: int = 0
    windows_closed: int = 0
    late_rows: int = 0


class StreamPipeline:
    """Runs one stream: rows in, emitted batches out."""

    def __init__(self, plan: StreamPlan, trace: TraceOptions | None = None) -> None:
        self.plan = plan
        self.trace = trace or TraceOptions()
        self.kernels: list[Kernel] = [_kernel(op, plan) for op in plan.operators]
        window = plan.window
        self.clock = Clock(window.watermark_ms) if window is not None else None
        self.window_index = next(
            (i for i, k in enumerate(self.kernels) if isinstance(k, WindowAggregateKernel)), None
        )
        self.explain = self.trace.filter_reasons and plan.emit_context is not None
        self.counters = StreamCounters()

    def process(self, batch: pa.RecordBatch) -> list[Emitted]:
        """Run a batch of source rows through the stream."""
        self.counters.rows_in += batch.num_rows
        tick = None
        if self.clock is not None:
            tick = self.clock.tick(batch.column("_ts").to_numpy(), batch.column("_seq").to_numpy())
        return self._run(batch, 0, tick)

    def advance(self, event_time: int, seq: int) -> list[Emitted]:
        """Close the windows an idle input's clock has passed (`event_time` is "now")."""
        if self.clock is None or self.window_index is None:
            return []
        tick = self.clock.advance(event_time - self.clock.out_of_order, seq)
        empty = pa.RecordBatch.from_pylist([], schema=self._empty_schema())
        return self._run(empty, self.window_index, tick)

    def _empty_schema(self) -> pa.Schema:
        return pa.schema([("_ts", pa.int64()), ("_seq", pa.int64())])

    def finish(self, end_seq: int) -> list[Emitted]:
        """Flush open windows at end of input."""
        if self.window_index is None:
            return []
        kernel = self.kernels[self.window_index]
        assert isinstance(kernel, WindowAggregateKernel)
        rows = kernel.finish(end_seq)
        self._count_window(kernel)
        if rows is None:
            return []
        return self._run(rows, self.window_index + 1, None)

    def _run(self, batch: pa.RecordBatch, start: int, tick: Tick | None) -> list[Emitted]:
        emitted: list[Emitted] = []
        shown_window = False
        positions: np.ndarray | None = None  # rows left of the source batch, None: all
        for i in range(start, len(self.kernels)):
            kernel = self.kernels[i]
            if isinstance(kernel, WindowAggregateKernel):
                assert tick is not None
                closed = kernel.process(batch, tick, positions)
                self._count_window(kernel)
                if closed is None:
                    return emitted
                batch = closed
                continue
            if batch.num_rows == 0 and (self.window_index is None or i > self.window_index):
                return emitted
            if isinstance(kernel, FilterKernel):
                mask = kernel.mask(batch)
                before_window = self.window_index is None or i < self.window_index
                if self.explain and before_window:
                    emitted.append(self._reasons(kernel, batch, mask))
                batch = batch.filter(mask)
                if before_window and tick is not None:
                    kept = np.asarray(mask, dtype=bool)
                    positions = np.flatnonzero(kept) if positions is None else positions[kept]
            elif isinstance(kernel, ProjectKernel):
                after_window = self.window_index is not None and i > self.window_index
                if after_window and not shown_window and self.trace.window_rows:
                    emitted.append(Emitted(self.plan.name, EmitKind.WINDOW, batch))
                    shown_window = True
                batch = kernel.process(batch)
            else:
                emitted.append(self._printed(kernel, batch))
        if batch.num_rows:
            self.counters.rows_out += batch.num_rows
            emitted.append(Emitted(self.plan.name, EmitKind.OUTPUT, batch))
        return emitted

    def _count_window(self, kernel: WindowAggregateKernel) -> None:
        self.counters.windows_closed = kernel.stats.windows_closed
        self.counters.late_rows = kernel.stats.late_rows

    def _reasons(self, kernel: FilterKernel, batch: pa.RecordBatch, mask: pa.Array) -> Emitted:
        seqs, reasons = kernel.explain(batch, mask)
        table = pa.RecordBatch.from_pydict({"_seq": pa.array(seqs, pa.int64()), "reason": reasons})
        return Emitted(self.plan.name, EmitKind.FILTERED, table)

    def _printed(self, kernel: PrintKernel, batch: pa.RecordBatch) -> Emitted:
        columns = {name: batch.column(name) for name in batch.schema.names if name.startswith("_")}
        columns["text"] = kernel.lines(batch)
        return Emitted(self.plan.name, EmitKind.PRINT, pa.RecordBatch.from_pydict(columns))


def _kernel(op: object, plan: StreamPlan) -> Kernel:
    if isinstance(op, Filter):
        return FilterKernel(op.condition)
    if isinstance(op, Project):
        return ProjectKernel(op.items)
    if isinstance(op, Print):
        return PrintKernel(op.args)
    if isinstance(op, WindowAggregate):
        return WindowAggregateKernel(op, plan.index)
    raise TypeError(f"no kernel for {type(op).__name__}")
