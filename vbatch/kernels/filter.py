"""Filter kernel: keep rows where a condition holds, and say why the others were dropped."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.expr import compile_expr
from vbatch.lang import ast
from vbatch.lang.printer import print_expr

_NEGATED = {
    ast.BinaryOp.GT: ast.BinaryOp.LE,
    ast.BinaryOp.GE: ast.BinaryOp.LT,
    ast.BinaryOp.LT: ast.BinaryOp.GE,
    ast.BinaryOp.LE: ast.BinaryOp.GT,
    ast.BinaryOp.EQ: ast.BinaryOp.NE,
    ast.BinaryOp.NE: ast.BinaryOp.EQ,
    ast.BinaryOp.IN: ast.BinaryOp.NOT_IN,
    ast.BinaryOp.NOT_IN: ast.BinaryOp.IN,
}


def conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    """`a and b and c` → [a, b, c]."""
    if isinstance(expr, ast.Binary) and expr.op is ast.BinaryOp.AND:
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def negation_text(expr: ast.Expr) -> str:
    """VPL text saying that `expr` did not hold: `value > 0` → `value <= 0`."""
    if isinstance(expr, ast.Binary) and expr.op in _NEGATED:
        return print_expr(replace(expr, op=_NEGATED[expr.op]))
    if isinstance(expr, ast.Unary) and expr.op is ast.UnaryOp.NOT:
        return print_expr(expr.operand)
    return print_expr(ast.Unary(ast.UnaryOp.NOT, expr))


class FilterKernel:
    """Keeps the rows of a batch where the condition is true (null counts as false)."""

    def __init__(self, condition: ast.Expr) -> None:
        self.condition = compile_expr(condition)
        self.parts = [compile_expr(c) for c in conjuncts(condition)]
        self.reasons = pa.array([negation_text(c) for c in conjuncts(condition)])

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        """True for the rows that pass."""
        result = self.condition(batch)
        if not pa.types.is_boolean(result.type):
            result = pc.cast(result, pa.bool_())
        return pc.fill_null(result, False)

    def explain(self, batch: pa.RecordBatch, mask: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """For the dropped rows: their `_seq` and the first conjunct that failed, negated."""
        dropped = pc.invert(mask)
        rows = batch.filter(dropped)
        failing = np.full(rows.num_rows, len(self.parts) - 1, np.int64)
        decided = np.zeros(rows.num_rows, bool)
        for i, part in enumerate(self.parts):
            holds = np.asarray(pc.fill_null(part(rows), False), dtype=bool)
            newly = ~holds & ~decided
            failing[newly] = i
            decided |= newly
        return rows.column("_seq").to_numpy(), self.reasons.take(pa.array(failing))
