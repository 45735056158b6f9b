"""Filter kernel: keep the rows of a batch where a condition holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.expr import CompiledExpr, compile_expr
from vbatch.kernels.protocol import Frame, Stateless
from vbatch.plan.expr import PExpr


def condition_mask(condition: CompiledExpr, batch: pa.RecordBatch) -> pa.Array:
    """True for the rows where `condition` holds (null counts as false)."""
    result = condition(batch)
    if not pa.types.is_boolean(result.type):
        result = pc.cast(result, pa.bool_())
    return pc.fill_null(result, False)


class FilterKernel(Stateless):
    """`.where` / `.having`: the rows where the condition is true.

    Before a window, the frame's positions follow the kept rows, so the window still
    knows where each one stood among the source rows that moved the watermark.
    """

    def __init__(self, condition: PExpr, schema: pa.Schema) -> None:
        self.condition = compile_expr(condition)
        self.schema = schema

    def process(self, frame: Frame) -> Frame | None:
        """The rows that pass."""
        mask = condition_mask(self.condition, frame.batch)
        batch = frame.batch.filter(mask)
        if frame.tick is None:
            return Frame(batch)
        kept = np.asarray(mask, dtype=bool)
        positions = np.flatnonzero(kept) if frame.positions is None else frame.positions[kept]
        return Frame(batch, frame.tick, positions)
