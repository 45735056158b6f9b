"""Logical plan: per stream, an ordered list of frozen operator nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from vbatch.errors import Span
from vbatch.lang import ast
from vbatch.lang.ast import NO_SPAN
from vbatch.lang.functions import Aggregate
from vbatch.lang.program import SourceKind, WindowSpec


@dataclass(frozen=True)
class Filter:
    """Keep rows where `condition` is true (null counts as false)."""

    condition: ast.Expr


@dataclass(frozen=True)
class Project:
    """Replace the fields by `items`; an empty `items` keeps every field (`.emit()`)."""

    items: tuple[tuple[str, ast.Expr], ...]


@dataclass(frozen=True)
class Print:
    """Show one console line per row, built from `args`."""

    args: tuple[ast.Expr, ...]


@dataclass(frozen=True)
class AggregateCall:
    """One aggregate to maintain per window: `func(arg)`; `param` is a percentile's p."""

    func: Aggregate
    arg: ast.Expr | None
    param: float | None = None


@dataclass(frozen=True)
class WindowAggregate:
    """Window the rows per partition key and aggregate each window.

    `outputs` are the `.aggregate` fields, written over columns `__agg<i>` (the value of
    `aggregates[i]`) and the partition keys.
    """

    keys: tuple[str, ...]
    window: WindowSpec
    watermark_ms: int
    aggregates: tuple[AggregateCall, ...]
    outputs: tuple[tuple[str, ast.Expr], ...]


Operator = Filter | Project | Print | WindowAggregate


@dataclass(frozen=True)
class StreamPlan:
    """A stream's operators in order, with where it runs and where its output goes."""

    name: str
    index: int
    depth: int
    source: str
    source_kind: SourceKind
    context: str | None
    emit_context: str | None
    operators: tuple[Operator, ...]
    root: int
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def window(self) -> WindowAggregate | None:
        """The stream's window operator, if it has one."""
        return next((op for op in self.operators if isinstance(op, WindowAggregate)), None)

    @property
    def is_per_event(self) -> bool:
        """True when every output row follows one input row (no window)."""
        return self.window is None

    @property
    def emits_after_window(self) -> bool:
        """True when a projection reshapes the window rows before they leave the stream."""
        window = self.window
        if window is None:
            return False
        after = self.operators[self.operators.index(window) + 1 :]
        return any(isinstance(op, Project) for op in after)


@dataclass(frozen=True)
class LogicalPlan:
    """Every stream's plan, in topological order (a stream after the stream it reads)."""

    streams: tuple[StreamPlan, ...]
    event_types: tuple[str, ...]

    def stream(self, name: str) -> StreamPlan:
        """The plan of stream `name`."""
        return next(s for s in self.streams if s.name == name)

    def consumers(self, source: str) -> tuple[StreamPlan, ...]:
        """Streams reading `source` (an event type or a stream), in topological order."""
        return tuple(s for s in self.streams if s.source == source)
