"""Projection and print kernels: new fields computed over whole columns."""

from __future__ import annotations

import pyarrow as pa

from vbatch.kernels.expr import compile_expr
from vbatch.lang import ast

RESERVED = ("_ts", "_seq")
CARRIED = ("_window_start", "_window_end")


def carried_columns(batch: pa.RecordBatch) -> list[str]:
    """Columns every projection keeps: window bounds and hidden `__` ordering columns."""
    return [n for n in batch.schema.names if n in CARRIED or n.startswith("__")]


class ProjectKernel:
    """`.select` / `.emit`: replace the fields by computed ones (or keep all if none given)."""

    def __init__(self, items: tuple[tuple[str, ast.Expr], ...]) -> None:
        self.items = [(name, compile_expr(expr)) for name, expr in items]

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The projected rows."""
        if not self.items:
            return batch
        columns = {name: batch.column(name) for name in RESERVED}
        for name, expr in self.items:
            columns[name] = expr(batch)
        for name in carried_columns(batch):
            columns.setdefault(name, batch.column(name))
        return pa.RecordBatch.from_pydict(columns)


class PrintKernel:
    """`.print(...)`: one text line per row, the arguments joined by spaces."""

    def __init__(self, args: tuple[ast.Expr, ...]) -> None:
        parts: list[str | ast.Expr] = []
        for i, arg in enumerate(args):
            if i:
                parts.append(" ")
            parts.append(arg)
        self.text = compile_expr(ast.Interpolation(tuple(parts))) if parts else None

    def lines(self, batch: pa.RecordBatch) -> pa.Array:
        """The text of each row's line."""
        if self.text is None:
            return pa.repeat(pa.scalar(""), batch.num_rows)
        return self.text(batch)
