"""The window-aggregate kernel: one loop for every window kind, driven by a windower."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from vbatch.kernels.aggregate import Accumulator, LoggedAccumulator, make_accumulator
from vbatch.kernels.clock import Tick
from vbatch.kernels.expr import CompiledExpr, compile_expr
from vbatch.kernels.keys import KeyEncoder
from vbatch.kernels.sessions import SessionWindower
from vbatch.kernels.slots import SlotPool
from vbatch.kernels.windowers import (
    Assign,
    Close,
    CountWindower,
    Discard,
    Merge,
    Rows,
    Step,
    TimeWindower,
)
from vbatch.lang.program import WindowKind, WindowSpec
from vbatch.plan.build import AGG_COLUMN
from vbatch.plan.logical import WindowAggregate

ORDER_SHIFT = 40  # __ord = stream index << 40 | partition code
WEND = "__wend"
ORD = "__ord"

Windower = TimeWindower | CountWindower | SessionWindower


def make_windower(spec: WindowSpec, pool: SlotPool) -> Windower:
    """The windower for a window spec."""
    if spec.kind is WindowKind.SESSION:
        return SessionWindower(pool, spec.size)
    if spec.kind is WindowKind.COUNT:
        return CountWindower(pool, spec.size, spec.slide)
    return TimeWindower(pool, spec.size, spec.slide)


@dataclass
class WindowStats:
    """What the kernel has done so far."""

    windows_closed: int = 0
    late_rows: int = 0


@dataclass
class _Inputs:
    """Distinct aggregate arguments, each evaluated once per batch."""

    exprs: list[CompiledExpr] = field(default_factory=list)
    index: list[int | None] = field(default_factory=list)


class WindowAggregateKernel:
    """Windows rows per partition and emits one row per closed window.

    Output columns: `_ts` (window end), `_seq` (the arrival that closed the window), the
    `.aggregate` fields, partition keys not already named, `_window_start`, `_window_end`,
    and the ordering columns `__wend` and `__ord`.
    """

    def __init__(self, node: WindowAggregate, stream_index: int) -> None:
        self.node = node
        self.stream_index = stream_index
        self.keys = KeyEncoder(len(node.keys))
        self.accumulators: list[Accumulator] = [make_accumulator(c) for c in node.aggregates]
        self.pool = SlotPool(self._grow)
        self.windower = make_windower(node.window, self.pool)
        for acc in self.accumulators:
            if isinstance(acc, LoggedAccumulator):
                acc.attach(self.pool)
        self.inputs = self._compile_inputs()
        self.outputs = [(name, compile_expr(expr)) for name, expr in node.outputs]
        self.stats = WindowStats()

    def _compile_inputs(self) -> _Inputs:
        inputs = _Inputs()
        seen: list[object] = []
        for call in self.node.aggregates:
            if call.arg is None:
                inputs.index.append(None)
                continue
            if call.arg not in seen:
                seen.append(call.arg)
                inputs.exprs.append(compile_expr(call.arg))
            inputs.index.append(seen.index(call.arg))
        return inputs

    def _grow(self, capacity: int) -> None:
        for acc in self.accumulators:
            acc.grow(capacity)
        grow = getattr(self.windower, "grow", None)
        if grow is not None:
            grow(capacity)

    def process(
        self, batch: pa.RecordBatch, tick: Tick, positions: np.ndarray | None = None
    ) -> pa.RecordBatch | None:
        """Fold a batch into its windows; return the rows of windows that closed.

        `positions` says which of the tick's source rows the batch holds (None: all).
        """
        if batch.num_rows == 0:
            steps = self.windower.due(tick) if len(tick.seq) else []
            return self._run(steps, None, [])
        codes = self.keys.encode([batch.column(k) for k in self.node.keys], batch.num_rows)
        seqs = batch.column("_seq").to_numpy()
        rows = Rows(codes, batch.column("_ts").to_numpy(), seqs, tick.before_rows(positions))
        values = [expr(batch) for expr in self.inputs.exprs]
        steps = self.windower.steps(rows, tick)
        self.stats.late_rows = self.windower.late_rows
        return self._run(steps, rows, values)

    def finish(self, end_seq: int) -> pa.RecordBatch | None:
        """Close every open window (end of input)."""
        return self._run(self.windower.finish(end_seq), None, [])

    def _run(
        self, steps: list[Step], rows: Rows | None, values: list[pa.Array]
    ) -> pa.RecordBatch | None:
        closed: list[pa.RecordBatch] = []
        for step in steps:
            if isinstance(step, Assign):
                assert rows is not None
                self._assign(step, rows, values)
            elif isinstance(step, Merge):
                for acc in self.accumulators:
                    acc.merge(step.dst, step.src)
                self._free(step.src)
            elif isinstance(step, Close):
                if len(step.slots):
                    closed.append(self._emit(step))
                self._free(step.slots)
            elif isinstance(step, Discard):
                self._free(step.slots)
        if not closed:
            return None
        return closed[0] if len(closed) == 1 else pa.concat_batches(closed)

    def _assign(self, step: Assign, rows: Rows, values: list[pa.Array]) -> None:
        if step.rows is None:
            picked, seqs = values, rows.seqs
        else:
            taker = pa.array(step.rows)
            picked = [v.take(taker) for v in values]
            seqs = rows.seqs[step.rows]
        for acc, which in zip(self.accumulators, self.inputs.index, strict=True):
            acc.update(step.slots, None if which is None else picked[which], seqs)

    def _free(self, slots: np.ndarray) -> None:
        if not len(slots):
            return
        for acc in self.accumulators:
            acc.reset(slots)
        self.pool.release(slots)

    def _emit(self, step: Close) -> pa.RecordBatch:
        order = np.lexsort((step.codes, step.ends, step.trigger_seqs))
        slots, codes = step.slots[order], step.codes[order]
        ends, starts = step.ends[order], step.starts[order]
        base = {AGG_COLUMN.format(i): acc.finish(slots) for i, acc in enumerate(self.accumulators)}
        key_values = self.keys.key_values(codes)
        base.update(zip(self.node.keys, key_values, strict=True))
        base_batch = pa.RecordBatch.from_pydict(base) if base else None
        columns: dict[str, pa.Array] = {
            "_ts": pa.array(ends, pa.int64()),
            "_seq": pa.array(step.trigger_seqs[order], pa.int64()),
        }
        for name, expr in self.outputs:
            columns[name] = expr(base_batch) if base_batch is not None else pa.nulls(len(slots))
        for key, value in zip(self.node.keys, key_values, strict=True):
            columns.setdefault(key, value)
        columns["_window_start"] = pa.array(starts, pa.int64())
        columns["_window_end"] = pa.array(ends, pa.int64())
        columns[WEND] = pa.array(ends, pa.int64())
        columns[ORD] = pa.array((self.stream_index << ORDER_SHIFT) | codes, pa.int64())
        self.stats.windows_closed += len(slots)
        return pa.RecordBatch.from_pydict(columns)
