"""Logical plan: a dataflow DAG of streams, each an ordered list of frozen operators.

A stream has one input port per source it reads (an event type or another stream);
with several ports its rows are the ports' rows merged in arrival order (`_seq`). Its
output schema is never stored: it is derived from the input's schema when the stream is
bound (`plan/bind.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from vbatch.errors import Span
from vbatch.lang.ast import NO_SPAN
from vbatch.plan.aggregates import AggregateCall
from vbatch.plan.expr import PExpr
from vbatch.plan.types import VType
from vbatch.plan.windows import Window


@dataclass(frozen=True)
class Filter:
    """Keep rows where `condition` is true (null counts as false)."""

    condition: PExpr


@dataclass(frozen=True)
class Project:
    """Replace the fields by `items`; an empty `items` keeps every field (`.emit()`)."""

    items: tuple[tuple[str, PExpr], ...]


@dataclass(frozen=True)
class Print:
    """Show one console line per row; `text` builds it (None: an empty line)."""

    text: PExpr | None


@dataclass(frozen=True)
class WindowAggregate:
    """Window the rows per partition key and aggregate each window.

    `outputs` are the `.aggregate` fields, computed from the aggregates' values
    (`AggValue(i)` is `aggregates[i]`) and the partition keys.
    """

    keys: tuple[str, ...]
    window: Window
    watermark_ms: int
    aggregates: tuple[AggregateCall, ...]
    outputs: tuple[tuple[str, PExpr], ...]
    keys_span: Span | None = field(default=None, compare=False)  # the `.partition_by`


@dataclass(frozen=True)
class ExplainFilter:
    """A tap before a filter: says, for each row the filter drops, which condition failed.

    `parts` are the condition's conjuncts and `reasons` the text saying each failed.
    """

    condition: PExpr
    parts: tuple[PExpr, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ShowWindowRows:
    """A tap after a window: shows its rows before a projection reshapes them."""


Operator = Filter | Project | Print | WindowAggregate | ExplainFilter | ShowWindowRows
TAPS = (ExplainFilter, ShowWindowRows)


class InputKind(Enum):
    """What an input port reads."""

    EVENT = "event"
    STREAM = "stream"


@dataclass(frozen=True)
class Input:
    """One input port of a stream."""

    name: str
    kind: InputKind


@dataclass(frozen=True)
class JoinPlan:
    """How a joined stream's ports meet: each port's key field (in port order) and how much
    older than an arriving row its partners may be (ms)."""

    keys: tuple[str, ...]
    window_ms: int


@dataclass(frozen=True)
class StreamPlan:
    """A stream's ports and operators, with where it runs and where its output goes.

    `root` and `depth` place its rows in the global output order (`runtime/order.py`).
    """

    name: str
    index: int
    depth: int
    inputs: tuple[Input, ...]
    context: str | None
    emit_context: str | None
    operators: tuple[Operator, ...]
    root: int
    span: Span = field(default=NO_SPAN, compare=False)
    join: JoinPlan | None = None

    @property
    def window(self) -> WindowAggregate | None:
        """The stream's window operator, if it has one."""
        return next((op for op in self.operators if isinstance(op, WindowAggregate)), None)

    @property
    def is_per_event(self) -> bool:
        """True when every output row follows one input row (no window)."""
        return self.window is None

    @property
    def reads_events(self) -> bool:
        """True when some port reads an event type."""
        return any(i.kind is InputKind.EVENT for i in self.inputs)

    @property
    def is_merge(self) -> bool:
        """True when the stream has several input ports."""
        return len(self.inputs) > 1

    def reads(self, name: str) -> bool:
        """True when some port reads `name`."""
        return any(i.name == name for i in self.inputs)

    def upstream(self) -> tuple[str, ...]:
        """The streams (not event types) this stream reads."""
        return tuple(i.name for i in self.inputs if i.kind is InputKind.STREAM)

    @property
    def emits_after_window(self) -> bool:
        """True when a projection reshapes the window rows before they leave the stream."""
        window = self.window
        if window is None:
            return False
        after = self.operators[self.operators.index(window) + 1 :]
        return any(isinstance(op, Project) for op in after)

    def fields_read(self) -> set[str] | None:
        """Fields of the input this stream's operators read (None: all of them, `.emit()`;
        a join reads all of its sources' fields)."""
        if self.join is not None:
            return None
        names: set[str] = set()
        for op in self.operators:
            if isinstance(op, Project) and not op.items:
                return None
            if isinstance(op, WindowAggregate):
                names.update(op.keys)
                for call in op.aggregates:
                    if call.arg is not None:
                        names |= call.arg.fields()
                return names  # later operators read the window's rows, not the input
            for expr in _expressions(op):
                names |= expr.fields()
            if isinstance(op, Project):
                return names
        return None  # rows leave the stream as they came: every field is read


def _expressions(op: Operator) -> list[PExpr]:
    if isinstance(op, Filter | ExplainFilter):
        return [op.condition]
    if isinstance(op, Project):
        return [e for _, e in op.items]
    if isinstance(op, Print):
        return [op.text] if op.text is not None else []
    return []


@dataclass(frozen=True)
class LogicalPlan:
    """Every stream's plan, in topological order (a stream after the streams it reads).

    `declared` holds the field types `event` declarations give, per event type.
    """

    streams: tuple[StreamPlan, ...]
    event_types: tuple[str, ...]
    declared: tuple[tuple[str, tuple[tuple[str, VType], ...]], ...] = ()

    @cached_property
    def _by_name(self) -> dict[str, StreamPlan]:
        return {s.name: s for s in self.streams}

    @cached_property
    def _readers(self) -> dict[str, tuple[StreamPlan, ...]]:
        readers: dict[str, list[StreamPlan]] = {}
        for s in self.streams:
            for i in s.inputs:
                readers.setdefault(i.name, []).append(s)
        return {name: tuple(found) for name, found in readers.items()}

    def stream(self, name: str) -> StreamPlan:
        """The plan of stream `name`."""
        return self._by_name[name]

    def consumers(self, source: str) -> tuple[StreamPlan, ...]:
        """Streams reading `source` (an event type or a stream), in topological order."""
        return self._readers.get(source, ())

    def declared_fields(self, event_type: str) -> dict[str, VType] | None:
        """The declared field types of an event type (None when it is not declared)."""
        for name, fields in self.declared:
            if name == event_type:
                return dict(fields)
        return None

    def with_streams(self, streams: tuple[StreamPlan, ...]) -> LogicalPlan:
        """The same plan with rewritten streams (e.g. taps added)."""
        return LogicalPlan(streams, self.event_types, self.declared)
