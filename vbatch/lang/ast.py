"""The VPL syntax tree: frozen dataclasses, each carrying the span it was parsed from.

Spans never take part in equality, so a program printed and parsed again compares equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from vbatch.errors import Span

NO_SPAN = Span(0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)  # type: ignore[return-value]


# ---- expressions ----------------------------------------------------------


class BinaryOp(Enum):
    """Binary operators, by their VPL spelling."""

    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    AND = "and"
    OR = "or"
    IN = "in"
    NOT_IN = "not in"


class UnaryOp(Enum):
    """Unary operators, by their VPL spelling."""

    NEG = "-"
    NOT = "not"


class Expr:
    """Base of expression nodes."""

    span: Span


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: int, float, str, bool or None (null)."""

    value: int | float | str | bool | None
    span: Span = _span()


@dataclass(frozen=True)
class Duration(Expr):
    """A duration literal such as `30s`, kept in milliseconds."""

    millis: int
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class Name(Expr):
    """A reference to a field, a constant or a partition key."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Unary(Expr):
    """`-x` or `not x`."""

    op: UnaryOp
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary(Expr):
    """`left op right` for arithmetic, comparison, logic and membership."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Conditional(Expr):
    """`if condition then value else otherwise` (a null condition takes `otherwise`)."""

    condition: Expr
    then: Expr
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Call(Expr):
    """A function call: an aggregate such as `avg(value)` or a scalar function."""

    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr(Expr):
    """`[a, b, c]`."""

    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Interpolation(Expr):
    """A string literal with `{field}` holes; parts alternate text and expressions."""

    parts: tuple[str | Expr, ...]
    span: Span = _span()


# ---- stream operations ----------------------------------------------------


@dataclass(frozen=True)
class Item:
    """`name: expr` inside select/emit/aggregate; `name` alone keeps a field as is."""

    name: str
    value: Expr
    span: Span = _span()
    shorthand: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ContextOp:
    """`.context(name)`: run the stream in that context."""

    context: str
    span: Span = _span()


@dataclass(frozen=True)
class WhereOp:
    """`.where(cond)`: keep rows where cond is true."""

    condition: Expr
    span: Span = _span()


@dataclass(frozen=True)
class OnOp:
    """`.on(A.k == B.k)`: how the rows of a `join(...)` meet."""

    condition: Expr
    span: Span = _span()


@dataclass(frozen=True)
class HavingOp:
    """`.having(cond)`: keep aggregate rows where cond is true."""

    condition: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SelectOp:
    """`.select(a, b: expr)`: project rows onto new fields."""

    items: tuple[Item, ...]
    span: Span = _span()


@dataclass(frozen=True)
class EmitOp:
    """`.emit(context: c, a: expr)`: shape the stream's output, optionally to another context."""

    items: tuple[Item, ...]
    context: str | None = None
    span: Span = _span()
    context_span: Span = _span()


@dataclass(frozen=True)
class PrintOp:
    """`.print("text {field}")`: show a line per row on the console."""

    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class PartitionOp:
    """`.partition_by(key, ...)`: window state is kept per key."""

    keys: tuple[str, ...]
    span: Span = _span()


class WindowSyntax(Enum):
    """How a `.window(...)` was written; the checker decides time vs count."""

    FIXED = "fixed"
    SLIDING = "sliding"
    SESSION = "session"


@dataclass(frozen=True)
class WindowOp:
    """`.window(size)`, `(tumbling size)`, `(size, sliding: s)` or `(session: gap)`."""

    syntax: WindowSyntax
    size: Expr
    slide: Expr | None = None
    tumbling_keyword: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class AggregateOp:
    """`.aggregate(name: agg(expr), ...)`."""

    items: tuple[Item, ...]
    span: Span = _span()


@dataclass(frozen=True)
class LogOp:
    """`.log(level: "warn", message: "...", data: field)`: a log line per row."""

    items: tuple[Item, ...]
    span: Span = _span()


@dataclass(frozen=True)
class LatenessOp:
    """`.allowed_lateness(30s)`: rows this far behind the watermark still join their window."""

    lateness: Expr
    span: Span = _span()


@dataclass(frozen=True)
class WatermarkOp:
    """`.watermark(out_of_order: 2s)`."""

    out_of_order: Expr
    span: Span = _span()


@dataclass(frozen=True)
class FromOp:
    """`.from(Connector, topic: "...")`: live, the stream's events come from a connector."""

    connector: str
    params: tuple[Item, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class ToOp:
    """`.to(Connector, topic: "...")`: live, the stream's rows also go to a connector."""

    connector: str
    params: tuple[Item, ...] = ()
    span: Span = _span()


Operation = (
    ContextOp
    | WhereOp
    | OnOp
    | HavingOp
    | SelectOp
    | EmitOp
    | PrintOp
    | PartitionOp
    | WindowOp
    | AggregateOp
    | WatermarkOp
    | LatenessOp
    | LogOp
    | FromOp
    | ToOp
)


# ---- statements -----------------------------------------------------------


@dataclass(frozen=True)
class ContextDecl:
    """`context name` or `context name (cores: [1, 2])`."""

    name: str
    options: tuple[Item, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class FieldDecl:
    """`name: type` inside an event declaration."""

    name: str
    type_name: str
    span: Span = _span()


@dataclass(frozen=True)
class EventDecl:
    """`event Name:` followed by typed fields."""

    name: str
    fields: tuple[FieldDecl, ...]
    span: Span = _span()


class BindingKind(Enum):
    """The three ways to bind a name to a value."""

    LET = "let"
    CONST = "const"
    VAR = "var"


@dataclass(frozen=True)
class BindingDecl:
    """`let|const|var name [: type] = expr`."""

    kind: BindingKind
    name: str
    type_name: str | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Assignment:
    """`name := expr`: a new value for a `var` declared above (folded at check time)."""

    name: str
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class FnDecl:
    """`fn name(a: type, ...) -> type:` with `let` lines and one result expression; a call
    is replaced by the expression, its parameters by the call's arguments."""

    name: str
    params: tuple[tuple[str, str], ...]
    return_type: str | None
    lets: tuple[tuple[str, Expr], ...]
    body: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Import:
    """`import "file.vpl"`: the statements of another program file, in its place (a path
    relative to the importing file)."""

    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Merge:
    """`merge(A, B, stream S = C .where(...))`: the rows of several sources, in arrival order.

    Items are source names (`str`) or inline stream declarations.
    """

    items: tuple[str | StreamDecl, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Join:
    """`join(A, B, ...)`: rows of several sources that meet on a key (`.on(...)`).

    `items` name the sources; a source may be a stream declared inline (`inline`), with
    how it meets the others (`conditions`, aligned with `items`: None where not given).
    """

    items: tuple[str, ...]
    span: Span = _span()
    inline: tuple[StreamDecl, ...] = ()
    conditions: tuple[Expr | None, ...] = ()


@dataclass(frozen=True)
class StreamDecl:
    """`stream Name = Source .op(...) ...`; the source is a name, a `merge(...)` or a
    `join(...)`."""

    name: str
    source: str | Merge | Join
    operations: tuple[Operation, ...]
    span: Span = _span()
    source_span: Span = _span()
    name_span: Span = _span()
    item_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)

    @property
    def source_names(self) -> tuple[str, ...]:
        """The names this stream reads: its source, or each item of its merge."""
        if isinstance(self.source, str):
            return (self.source,)
        if isinstance(self.source, Join):
            return self.source.items
        return tuple(i if isinstance(i, str) else i.name for i in self.source.items)

    def source_span_of(self, name: str) -> Span:
        """Where `name` is written as one of this stream's sources."""
        if isinstance(self.source, str):
            return self.source_span
        for item, span in zip(self.source.items, self.item_spans, strict=False):
            if (item if isinstance(item, str) else item.name) == name:
                return span
        return self.source_span


@dataclass(frozen=True)
class ConnectorDecl:
    """`connector Name = kind(param: value, ...)`: a broker or endpoint streams read or write."""

    name: str
    kind: str
    params: tuple[Item, ...] = ()
    span: Span = _span()
    kind_span: Span = _span()


@dataclass(frozen=True)
class ConfigDecl:
    """`config mqtt { broker: "...", ... }`: the deprecated form of a connector declaration."""

    name: str
    items: tuple[Item, ...] = ()
    span: Span = _span()


Statement = (
    ContextDecl
    | EventDecl
    | BindingDecl
    | Assignment
    | StreamDecl
    | ConnectorDecl
    | ConfigDecl
    | Import
    | FnDecl
)


@dataclass(frozen=True)
class Module:
    """A whole VPL file: its statements in order."""

    statements: tuple[Statement, ...]


def dump(node: object, indent: int = 0) -> str:
    """An indented, human-readable view of a tree, with each node's line:column."""
    pad = "  " * indent
    if isinstance(node, tuple):
        if not node:
            return "[]"
        return "\n".join(f"{pad}- {dump(n, indent + 1).lstrip()}" for n in node)
    if isinstance(node, Enum):
        return node.value
    if not hasattr(node, "__dataclass_fields__"):
        return repr(node)
    span = getattr(node, "span", None)
    where = f" @{span.line}:{span.column}" if span is not None and span.line else ""
    lines = [f"{pad}{type(node).__name__}{where}"]
    for name, f in node.__dataclass_fields__.items():  # type: ignore[attr-defined]
        if not f.compare:
            continue
        value = getattr(node, name)
        if isinstance(value, tuple) and value or hasattr(value, "__dataclass_fields__"):
            lines.append(f"{pad}  {name}:")
            lines.append(dump(value, indent + 2))
        else:
            lines.append(f"{pad}  {name}: {dump(value)}")
    return "\n".join(lines)


def rewritten(node: object, change: Callable[[object], object | None]) -> object:
    """`node` with every part for which `change` gives a replacement replaced by it; the
    other parts (dataclasses and tuples) are rebuilt from their rewritten parts."""
    replacement = change(node)
    if replacement is not None:
        return replacement
    if isinstance(node, tuple):
        return tuple(rewritten(item, change) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        parts = {f.name: rewritten(getattr(node, f.name), change) for f in dataclasses.fields(node)}
        return dataclasses.replace(node, **parts)
    return node
