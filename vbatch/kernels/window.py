"""The window-aggregate kernel: one loop for every window kind, driven by a windower.

Which windows a row belongs to and when a window is complete are the windower's job
(`WINDOWERS`, one per kind); what is kept per window is the accumulators' job
(`aggregate.py`); this kernel only runs the steps a windower asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from vbatch.kernels.aggregate import Accumulator, LoggedAccumulator, make_accumulator, plain_type
from vbatch.kernels.clock import Tick
from vbatch.kernels.expr import AGG_COLUMN, CompiledExpr, compile_expr
from vbatch.kernels.keys import KeyEncoder
from vbatch.kernels.protocol import Frame, empty_batch
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
from vbatch.plan.logical import WindowAggregate
from vbatch.plan.windows import Window, WindowKind

PARTITION = "__part"  # a window row's partition: the _seq of the row that first showed it

Windower = TimeWindower | CountWindower | SessionWindower

WINDOWERS: dict[WindowKind, Callable[[Window, SlotPool], Windower]] = {
    WindowKind.TIME: lambda w, pool: TimeWindower(pool, w.size, w.slide),
    WindowKind.COUNT: lambda w, pool: CountWindower(pool, w.size, w.slide),
    WindowKind.SESSION: lambda w, pool: SessionWindower(pool, w.size),
}


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
    and `__part`, the `_seq` of the first row of the window's partition: partitions are
    ordered by first appearance, the same way however the keys are spread over shards.
    """

    stateful = True

    def __init__(self, node: WindowAggregate, schema: pa.Schema) -> None:
        self.node = node
        self.inputs = self._compile_inputs()
        empty = empty_batch(schema)
        arg_types = [expr(empty).type for expr in self.inputs.exprs]
        self.accumulators: list[Accumulator] = [
            make_accumulator(c, None if i is None else arg_types[i])
            for c, i in zip(node.aggregates, self.inputs.index, strict=True)
        ]
        key_types = [plain_type(schema.field(k).type) for k in node.keys]
        self.keys = KeyEncoder(len(node.keys), key_types)
        self.pool = SlotPool(self._grow)
        self.windower = WINDOWERS[node.window.kind](node.window, self.pool)
        for acc in self.accumulators:
            if isinstance(acc, LoggedAccumulator):
                acc.attach(self.pool)
        self.outputs = [(name, compile_expr(expr)) for name, expr in node.outputs]
        self.stats = WindowStats()
        self.arrived = 0  # rows taken so far: the next row's arrival rank
        self.first_seq = np.zeros(0, np.int64)  # per partition code, its first row's _seq
        self.schema = self._rows(empty_close()).schema

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

    def process(self, frame: Frame) -> Frame | None:
        """Fold the rows into their windows; the rows of windows that closed."""
        batch, tick = frame.batch, frame.tick
        assert tick is not None, "a window's rows carry the watermark's movement"
        if batch.num_rows == 0:
            closed = self.advance(tick) if len(tick.seq) else None
            return Frame(closed) if closed is not None else None
        codes = self.keys.encode([batch.column(k) for k in self.node.keys], batch.num_rows)
        seqs = batch.column("_seq").to_numpy()
        self._note_first_rows(codes, seqs)
        ts = batch.column("_ts").to_numpy()
        rows = Rows(codes, ts, seqs, tick.before_rows(frame.positions))
        values = [expr(batch) for expr in self.inputs.exprs]
        steps = self.windower.steps(rows, tick)
        self.stats.late_rows = self.windower.late_rows
        ranks = self.arrived + np.arange(batch.num_rows, dtype=np.int64)
        self.arrived += batch.num_rows
        closed = self._run(steps, ranks, values)
        return Frame(closed) if closed is not None else None

    def _note_first_rows(self, codes: np.ndarray, seqs: np.ndarray) -> None:
        """Remember the `_seq` of the first row of each partition seen for the first time."""
        known = len(self.first_seq)
        if self.keys.count <= known:
            return
        fresh = np.flatnonzero(codes >= known)
        new_codes, first = np.unique(codes[fresh], return_index=True)
        grown = np.empty(self.keys.count, np.int64)
        grown[:known] = self.first_seq
        grown[new_codes] = seqs[fresh[first]]
        self.first_seq = grown

    def advance(self, tick: Tick) -> pa.RecordBatch | None:
        """Close the windows the watermark has passed."""
        return self._run(self.windower.due(tick), None, [])

    def finish(self, end_seq: int) -> pa.RecordBatch | None:
        """Close every open window (end of input)."""
        return self._run(self.windower.finish(end_seq), None, [])

    def _run(
        self, steps: list[Step], ranks: np.ndarray | None, values: list[pa.Array]
    ) -> pa.RecordBatch | None:
        closed: list[pa.RecordBatch] = []
        for step in steps:
            if isinstance(step, Assign):
                assert ranks is not None
                self._assign(step, ranks, values)
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

    def _assign(self, step: Assign, ranks: np.ndarray, values: list[pa.Array]) -> None:
        if step.rows is None:
            picked = values
        else:
            taker = pa.array(step.rows)
            picked = [v.take(taker) for v in values]
            ranks = ranks[step.rows]
        for acc, which in zip(self.accumulators, self.inputs.index, strict=True):
            acc.update(step.slots, None if which is None else picked[which], ranks)

    def _free(self, slots: np.ndarray) -> None:
        if not len(slots):
            return
        for acc in self.accumulators:
            acc.reset(slots)
        self.pool.release(slots)

    def _emit(self, step: Close) -> pa.RecordBatch:
        order = np.lexsort((step.codes, step.ends, step.trigger_seqs))
        ordered = Close(
            step.slots[order],
            step.codes[order],
            step.starts[order],
            step.ends[order],
            step.trigger_seqs[order],
        )
        self.stats.windows_closed += len(ordered.slots)
        return self._rows(ordered)

    def _rows(self, step: Close) -> pa.RecordBatch:
        """The output rows of closed windows, in the order given."""
        base = {
            AGG_COLUMN.format(i): acc.finish(step.slots) for i, acc in enumerate(self.accumulators)
        }
        key_values = self.keys.key_values(step.codes)
        base.update(zip(self.node.keys, key_values, strict=True))
        base["_seq"] = pa.array(step.trigger_seqs, pa.int64())
        base_batch = pa.RecordBatch.from_pydict(base)
        columns: dict[str, pa.Array] = {
            "_ts": pa.array(step.ends, pa.int64()),
            "_seq": base["_seq"],
        }
        for name, expr in self.outputs:
            columns[name] = expr(base_batch)
        for key, value in zip(self.node.keys, key_values, strict=True):
            columns.setdefault(key, value)
        columns["_window_start"] = pa.array(step.starts, pa.int64())
        columns["_window_end"] = pa.array(step.ends, pa.int64())
        columns[PARTITION] = pa.array(self.first_seq[step.codes], pa.int64())
        return pa.RecordBatch.from_pydict(columns)


def empty_close() -> Close:
    """No windows closing (for the output schema)."""
    nothing = np.zeros(0, np.int64)
    return Close(nothing, nothing, nothing, nothing, nothing)
