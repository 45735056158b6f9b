"""Taps: kernels that pass rows on unchanged and show something on the console.

They exist only when the console asks for them (`--verbose`, window rows), inserted into
a stream's plan by `plan/trace.py`; a run without them pays nothing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.expr import compile_expr
from vbatch.kernels.filter import condition_mask
from vbatch.kernels.protocol import EmitKind, Frame, Side, Stateless
from vbatch.plan.expr import PExpr


class ExplainFilterKernel(Stateless):
    """Before a filter: for each row it will drop, the first condition that did not hold."""

    def __init__(
        self,
        condition: PExpr,
        parts: tuple[PExpr, ...],
        reasons: tuple[str, ...],
        schema: pa.Schema,
        side: Side,
    ) -> None:
        self.condition = compile_expr(condition)
        self.parts = [compile_expr(p) for p in parts]
        self.reasons = pa.array(reasons, pa.string())
        self.schema = schema
        self.side = side

    def process(self, frame: Frame) -> Frame | None:
        """Show why dropped rows are dropped; pass every row on."""
        batch = frame.batch
        if batch.num_rows:
            dropped = batch.filter(pc.invert(condition_mask(self.condition, batch)))
            if dropped.num_rows:
                self.side(EmitKind.FILTERED, self._explained(dropped))
        return frame

    def _explained(self, rows: pa.RecordBatch) -> pa.RecordBatch:
        failing = np.full(rows.num_rows, len(self.parts) - 1, np.int64)
        decided = np.zeros(rows.num_rows, bool)
        for i, part in enumerate(self.parts):
            holds = np.asarray(condition_mask(part, rows), dtype=bool)
            newly = ~holds & ~decided
            failing[newly] = i
            decided |= newly
        reasons = self.reasons.take(pa.array(failing))
        return pa.RecordBatch.from_pydict({"_seq": rows.column("_seq"), "reason": reasons})


class ShowWindowRowsKernel(Stateless):
    """After a window: show its rows before a projection reshapes them."""

    def __init__(self, schema: pa.Schema, side: Side) -> None:
        self.schema = schema
        self.side = side

    def process(self, frame: Frame) -> Frame | None:
        """Show the window rows; pass them on."""
        if frame.num_rows:
            self.side(EmitKind.WINDOW, frame.batch)
        return frame
