"""Projection and print kernels: new fields computed over whole columns."""

from __future__ import annotations

import pyarrow as pa

from vbatch.kernels.expr import compile_expr
from vbatch.kernels.protocol import EmitKind, Frame, Side, Stateless, empty_batch
from vbatch.plan.expr import PExpr

RESERVED = ("_ts", "_seq")
CARRIED = ("_window_start", "_window_end")


def carried_columns(names: list[str]) -> list[str]:
    """Columns every projection keeps: window bounds and hidden `__` ordering columns."""
    return [n for n in names if n in CARRIED or n.startswith("__")]


class ProjectKernel(Stateless):
    """`.select` / `.emit`: replace the fields by computed ones (or keep all if none given)."""

    def __init__(self, items: tuple[tuple[str, PExpr], ...], schema: pa.Schema) -> None:
        self.items = [(name, compile_expr(expr)) for name, expr in items]
        self.input_schema = schema
        self.schema = self._project(empty_batch(schema)).schema if items else schema

    def process(self, frame: Frame) -> Frame | None:
        """The projected rows."""
        if not self.items:
            return frame
        return Frame(self._project(frame.batch), frame.tick, frame.positions)

    def _project(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = {name: batch.column(name) for name in RESERVED}
        for name, expr in self.items:
            columns[name] = expr(batch)
        for name in carried_columns(batch.schema.names):
            columns.setdefault(name, batch.column(name))
        return pa.RecordBatch.from_pydict(columns)


class PrintKernel(Stateless):
    """`.print(...)`: one console line per row; rows pass on unchanged."""

    def __init__(self, text: PExpr | None, schema: pa.Schema, side: Side) -> None:
        self.text = compile_expr(text) if text is not None else None
        self.schema = schema
        self.side = side

    def process(self, frame: Frame) -> Frame | None:
        """Show the rows' lines; pass the rows on."""
        batch = frame.batch
        if batch.num_rows:
            columns = {n: batch.column(n) for n in batch.schema.names if n.startswith("_")}
            columns["text"] = self._lines(batch)
            self.side(EmitKind.PRINT, pa.RecordBatch.from_pydict(columns))
        return frame

    def _lines(self, batch: pa.RecordBatch) -> pa.Array:
        if self.text is None:
            return pa.repeat(pa.scalar(""), batch.num_rows)
        return self.text(batch)
