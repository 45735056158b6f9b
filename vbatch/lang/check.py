"""Syntax tree → checked Program: resolve names, fold constants, validate every operation."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from vbatch.errors import CheckError, Span
from vbatch.lang import ast
from vbatch.lang.constants import Millis, fold, to_expr
from vbatch.lang.functions import (
    AGGREGATE_ARITY,
    DISTINCT,
    SCALAR_ARITY,
    Aggregate,
    aggregate_of,
    all_function_names,
)
from vbatch.lang.program import (
    TYPE_NAMES,
    Context,
    EventSchema,
    Program,
    SourceKind,
    Stream,
    WindowKind,
    WindowSpec,
)

RESERVED_FIELDS = ("_ts", "_seq", "_window_start", "_window_end")
WINDOW_FIELDS = ("_window_start", "_window_end")


def check(module: ast.Module, source_name: str = "<input>", text: str = "") -> Program:
    """Validate a parsed module and resolve it into a Program.

    >>> from vbatch.lang.parser import parse
    >>> check(parse("stream S = E .where(x > 1)")).streams[0].source
    'E'
    """
    try:
        return _Checker(module, source_name, text).run()
    except CheckError as err:
        raise err.with_source(source_name, text) from None


def _suggest(word: str, choices: object) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)  # type: ignore[call-overload]
    return f"did you mean `{close[0]}`?" if close else None


@dataclass
class _Scope:
    """Fields visible at a point of a stream; `None` when the source's fields are not known."""

    fields: tuple[str, ...] | None
    describe: str

    def has(self, name: str) -> bool:
        return self.fields is None or name in self.fields or name in RESERVED_FIELDS[:2]


class _Checker:
    def __init__(self, module: ast.Module, source_name: str, text: str) -> None:
        self.module = module
        self.source_name = source_name
        self.text = text
        self.contexts: dict[str, Context] = {}
        self.events: dict[str, EventSchema] = {}
        self.constants: dict[str, object] = {}
        self.stream_decls: dict[str, ast.StreamDecl] = {}
        self.outputs: dict[str, tuple[str, ...] | None] = {}

    def run(self) -> Program:
        self._collect_declarations()
        self._check_cycles()
        streams = []
        for index, decl in enumerate(self.stream_decls.values()):
            streams.append(self._check_stream(index, decl))
        self._check_emit_targets(streams)
        return Program(
            self.source_name,
            self.text,
            tuple(self.contexts.values()),
            tuple(self.events.values()),
            tuple(self.constants.items()),
            tuple(streams),
        )

    # ---- declarations ------------------------------------------------------

    def _collect_declarations(self) -> None:
        seen: dict[str, str] = {}
        for statement in self.module.statements:
            kind, name, span = _declared(statement)
            namespace = "context" if kind == "context" else "value"
            key = f"{namespace}:{name}"
            if key in seen:
                msg = f"{kind} `{name}` is already declared as a {seen[key]}"
                raise CheckError(msg, span, hint="give each declaration its own name")
            seen[key] = kind
            if isinstance(statement, ast.ContextDecl):
                self.contexts[name] = self._context(statement)
            elif isinstance(statement, ast.EventDecl):
                self.events[name] = self._event(statement)
            elif isinstance(statement, ast.BindingDecl):
                self.constants[name] = self._binding(statement)
            else:
                self.stream_decls[name] = statement

    def _context(self, decl: ast.ContextDecl) -> Context:
        cores: tuple[int, ...] | None = None
        for option in decl.options:
            if option.name != "cores":
                msg = f"unknown context option `{option.name}`"
                raise CheckError(msg, option.span, hint="the only option is `cores: [1, 2]`")
            value = fold(option.value, self.constants)
            if not isinstance(value, list) or not value:
                raise CheckError("`cores` takes a non-empty list of core ids", option.value.span)
            for item, node in zip(value, option.value.items, strict=True):  # type: ignore[attr-defined]
                if isinstance(item, bool) or not isinstance(item, int):
                    raise CheckError("a core id is a whole number", node.span)
                if item < 0:
                    msg = f"core id {item} is negative"
                    raise CheckError(msg, node.span, hint="cores are numbered from 0")
            if len(set(value)) != len(value):
                raise CheckError("`cores` lists a core twice", option.value.span)
            cores = tuple(value)
        return Context(decl.name, cores, decl.span)

    def _event(self, decl: ast.EventDecl) -> EventSchema:
        fields = []
        seen: set[str] = set()
        for f in decl.fields:
            if f.name in seen:
                raise CheckError(f"field `{f.name}` is declared twice in `{decl.name}`", f.span)
            seen.add(f.name)
            if f.type_name not in TYPE_NAMES:
                msg = f"unknown type `{f.type_name}`"
                hint = (
                    _suggest(f.type_name, TYPE_NAMES)
                    or "types are int, float, str, bool, timestamp"
                )
                raise CheckError(msg, f.span, hint=hint)
            fields.append((f.name, TYPE_NAMES[f.type_name]))
        return EventSchema(decl.name, tuple(fields), decl.span)

    def _binding(self, decl: ast.BindingDecl) -> object:
        return fold(decl.value, self.constants)

    def _check_cycles(self) -> None:
        for name, decl in self.stream_decls.items():
            path = [name]
            current = decl.source
            while current in self.stream_decls:
                if current in path:
                    cycle = " → ".join([*path[path.index(current) :], current])
                    msg = f"streams form a cycle: {cycle}"
                    raise CheckError(msg, decl.source_span, hint="a stream cannot read itself")
                path.append(current)
                current = self.stream_decls[current].source

    def _check_emit_targets(self, streams: list[Stream]) -> None:
        by_name = {s.name: s for s in streams}
        for s in streams:
            source = by_name.get(s.source)
            if source is None or source.emit_context is None:
                continue
            if s.context != source.emit_context:
                decl = self.stream_decls[s.name]
                where = f"runs in `{s.context}`" if s.context else "has no `.context(...)`"
                msg = f"`{s.name}` reads `{source.name}`, which emits to context "
                msg += f"`{source.emit_context}`, but {where}"
                hint = f"add `.context({source.emit_context})` to `{s.name}`"
                raise CheckError(msg, decl.name_span, hint=hint)

    # ---- streams -----------------------------------------------------------

    def _check_stream(self, index: int, decl: ast.StreamDecl) -> Stream:
        kind, scope = self._source(decl)
        state = _StreamState(decl)
        operations: list[ast.Operation] = []
        for op in decl.operations:
            checked = self._operation(op, state, scope)
            if checked is not None:
                operations.append(checked)
            scope = state.scope_after(op, scope, self)
        if state.window is not None and not state.aggregated:
            msg = "`.window` needs an `.aggregate(...)` after it"
            raise CheckError(msg, state.window_span, hint="add e.g. `.aggregate(n: count())`")
        self.outputs[decl.name] = scope.fields
        return Stream(
            name=decl.name,
            index=index,
            source=decl.source,
            source_kind=kind,
            context=state.context,
            operations=tuple(operations),
            partition_keys=state.partition_keys,
            window=state.window,
            watermark_ms=state.watermark_ms,
            emit_context=state.emit_context,
            span=decl.span,
        )

    def _source(self, decl: ast.StreamDecl) -> tuple[SourceKind, _Scope]:
        if decl.source in self.stream_decls:
            fields = self.outputs.get(decl.source)
            return SourceKind.STREAM, _Scope(fields, f"stream `{decl.source}`")
        if decl.source in self.events:
            fields = tuple(name for name, _ in self.events[decl.source].fields)
            return SourceKind.EVENT, _Scope(fields, f"event `{decl.source}`")
        close = difflib.get_close_matches(decl.source, list(self.stream_decls), n=1, cutoff=0.8)
        if close or self.events:
            known = list(self.stream_decls) + list(self.events)
            msg = f"unknown stream or event type `{decl.source}`"
            hint = _suggest(decl.source, known) or "declare it with `event Name:`"
            raise CheckError(msg, decl.source_span, hint=hint)
        return SourceKind.EVENT, _Scope(None, f"event `{decl.source}`")

    def _operation(
        self, op: ast.Operation, state: _StreamState, scope: _Scope
    ) -> ast.Operation | None:
        if isinstance(op, ast.ContextOp):
            state.set_context(op, self.contexts)
            return None
        if isinstance(op, ast.WatermarkOp):
            state.set_watermark(op, self.constants)
            return None
        if isinstance(op, ast.PartitionOp):
            state.set_partition(op, scope)
            return None
        if isinstance(op, ast.WindowOp):
            state.set_window(op, self.constants)
            return None
        state.require_no_emit_before(op)
        if isinstance(op, ast.AggregateOp):
            return self._aggregate(op, state, scope)
        if isinstance(op, ast.HavingOp):
            if not state.aggregated:
                raise CheckError("`.having` needs an `.aggregate(...)` before it", op.span)
            return replace(op, condition=self._expr(op.condition, scope))
        if isinstance(op, ast.WhereOp):
            if state.window is not None and not state.aggregated:
                msg = "`.where` between `.window` and `.aggregate`"
                hint = "filter before `.window(...)`, or use `.having(...)` after `.aggregate`"
                raise CheckError(msg, op.span, hint=hint)
            return replace(op, condition=self._expr(op.condition, scope))
        if isinstance(op, ast.SelectOp):
            return replace(op, items=self._items(op.items, scope, "select"))
        if isinstance(op, ast.EmitOp):
            state.set_emit(op, self.contexts)
            return replace(op, items=self._items(op.items, scope, "emit"))
        if isinstance(op, ast.PrintOp):
            args = tuple(self._expr(_interpolate(a), scope) for a in op.args)
            return replace(op, args=args)
        raise TypeError(op)

    def _items(
        self, items: tuple[ast.Item, ...], scope: _Scope, where: str
    ) -> tuple[ast.Item, ...]:
        seen: set[str] = set()
        checked = []
        for item in items:
            if item.name in seen:
                raise CheckError(f"`{item.name}` is named twice in `.{where}`", item.span)
            seen.add(item.name)
            checked.append(replace(item, value=self._expr(_interpolate(item.value), scope)))
        return tuple(checked)

    def _aggregate(
        self, op: ast.AggregateOp, state: _StreamState, scope: _Scope
    ) -> ast.AggregateOp:
        if state.window is None:
            msg = "`.aggregate` needs a `.window(...)` before it"
            raise CheckError(msg, op.span, hint="add e.g. `.window(1m)` before `.aggregate`")
        if state.aggregated:
            raise CheckError("a stream can aggregate only once", op.span)
        if not op.items:
            raise CheckError("`.aggregate` needs at least one field", op.span)
        state.aggregated = True
        seen: set[str] = set()
        items = []
        for item in op.items:
            if item.name in seen:
                raise CheckError(f"`{item.name}` is named twice in `.aggregate`", item.span)
            seen.add(item.name)
            value = self._agg_expr(item.value, scope, state.partition_keys)
            items.append(replace(item, value=value))
        return replace(op, items=tuple(items))

    # ---- expressions -------------------------------------------------------

    def _expr(self, expr: ast.Expr, scope: _Scope) -> ast.Expr:
        """Check an expression outside `.aggregate`: no aggregate calls allowed."""
        return _ExprChecker(self, scope, allow_aggregates=False, keys=()).visit(expr)

    def _agg_expr(self, expr: ast.Expr, scope: _Scope, keys: tuple[str, ...]) -> ast.Expr:
        return _ExprChecker(self, scope, allow_aggregates=True, keys=keys).visit(expr)


def _declared(statement: ast.Statement) -> tuple[str, str, Span]:
    if isinstance(statement, ast.ContextDecl):
        return "context", statement.name, statement.span
    if isinstance(statement, ast.EventDecl):
        return "event", statement.name, statement.span
    if isinstance(statement, ast.BindingDecl):
        return statement.kind.value, statement.name, statement.span
    return "stream", statement.name, statement.name_span


class _StreamState:
    """What a stream has declared so far while its operations are checked in order."""

    def __init__(self, decl: ast.StreamDecl) -> None:
        self.decl = decl
        self.context: str | None = None
        self.context_seen = False
        self.partition_keys: tuple[str, ...] = ()
        self.window: WindowSpec | None = None
        self.window_span: Span | None = None
        self.watermark_ms = 0
        self.watermark_seen = False
        self.aggregated = False
        self.emit_context: str | None = None
        self.emitted = False

    def set_context(self, op: ast.ContextOp, contexts: dict[str, Context]) -> None:
        if self.context_seen:
            raise CheckError("a stream runs in one context; `.context` is given twice", op.span)
        if op.context not in contexts:
            msg = f"unknown context `{op.context}`"
            hint = _suggest(op.context, contexts) or f"declare it with `context {op.context}`"
            raise CheckError(msg, op.span, hint=hint)
        self.context_seen = True
        self.context = op.context

    def set_watermark(self, op: ast.WatermarkOp, constants: dict[str, object]) -> None:
        if self.watermark_seen:
            raise CheckError("`.watermark` is given twice", op.span)
        if self.window is not None:
            raise CheckError("`.watermark` must come before `.window`", op.span)
        value = fold(op.out_of_order, constants)
        if not isinstance(value, Millis):
            raise CheckError("`out_of_order` takes a duration such as `2s`", op.out_of_order.span)
        if value < 0:
            raise CheckError("`out_of_order` cannot be negative", op.out_of_order.span)
        self.watermark_seen = True
        self.watermark_ms = int(value)

    def set_partition(self, op: ast.PartitionOp, scope: _Scope) -> None:
        if self.partition_keys:
            raise CheckError("`.partition_by` is given twice", op.span)
        if self.window is not None:
            raise CheckError("`.partition_by` must come before `.window`", op.span)
        if len(set(op.keys)) != len(op.keys):
            raise CheckError("`.partition_by` names a key twice", op.span)
        for key in op.keys:
            if not scope.has(key):
                msg = f"unknown field `{key}` in {scope.describe}"
                raise CheckError(msg, op.span, hint=_suggest(key, scope.fields or ()))
        self.partition_keys = op.keys

    def set_window(self, op: ast.WindowOp, constants: dict[str, object]) -> None:
        if self.window is not None:
            raise CheckError("a stream has one `.window`", op.span)
        self.window = _window_spec(op, constants)
        self.window_span = op.span

    def set_emit(self, op: ast.EmitOp, contexts: dict[str, Context]) -> None:
        if op.context is not None and op.context not in contexts:
            msg = f"`.emit` to unknown context `{op.context}`"
            hint = _suggest(op.context, contexts) or f"declare it with `context {op.context}`"
            raise CheckError(msg, op.context_span, hint=hint)
        self.emit_context = op.context
        self.emitted = True

    def require_no_emit_before(self, op: ast.Operation) -> None:
        if self.emitted and not isinstance(op, ast.PrintOp):
            msg = "`.emit` must be the last operation of a stream"
            raise CheckError(msg, op.span, hint="move this operation before `.emit(...)`")

    def scope_after(self, op: ast.Operation, scope: _Scope, checker: _Checker) -> _Scope:
        describe = f"stream `{self.decl.name}`"
        if isinstance(op, ast.AggregateOp):
            names = [i.name for i in op.items]
            names += [k for k in self.partition_keys if k not in names]
            return _Scope((*names, *WINDOW_FIELDS), describe)
        if isinstance(op, ast.SelectOp | ast.EmitOp) and op.items:
            carried = WINDOW_FIELDS if self.aggregated else ()
            return _Scope((*(i.name for i in op.items), *carried), describe)
        return scope


def _window_spec(op: ast.WindowOp, constants: dict[str, object]) -> WindowSpec:
    size = _positive(op.size, constants, "window size")
    if op.syntax is ast.WindowSyntax.SESSION:
        if not isinstance(size, Millis):
            raise CheckError("a session gap is a duration such as `5s`", op.size.span)
        return WindowSpec(WindowKind.SESSION, int(size), int(size), op.span)
    kind = WindowKind.TIME if isinstance(size, Millis) else WindowKind.COUNT
    if op.slide is None:
        return WindowSpec(kind, int(size), int(size), op.span)
    slide = _positive(op.slide, constants, "slide")
    if isinstance(slide, Millis) != (kind is WindowKind.TIME):
        msg = "the slide must be of the same kind as the size (both durations or both counts)"
        raise CheckError(msg, op.slide.span)
    if slide > size:
        msg = f"the slide ({_show(slide)}) is larger than the window ({_show(size)})"
        raise CheckError(msg, op.slide.span, hint="use a slide no larger than the window")
    return WindowSpec(kind, int(size), int(slide), op.span)


def _positive(expr: ast.Expr, constants: dict[str, object], what: str) -> int:
    value = fold(expr, constants)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"the {what} must be a duration such as `30s` or a whole number of events"
        raise CheckError(msg, expr.span)
    if value <= 0:
        raise CheckError(f"the {what} must be positive, not {_show(value)}", expr.span)
    return value


def _show(value: int) -> str:
    return format_duration(int(value)) if isinstance(value, Millis) else str(value)


def format_duration(millis: int) -> str:
    """The shortest VPL spelling of a duration: 60000 → `1m`."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


class _ExprChecker:
    """Resolves names and validates calls in one expression."""

    def __init__(
        self, checker: _Checker, scope: _Scope, *, allow_aggregates: bool, keys: tuple[str, ...]
    ) -> None:
        self.checker = checker
        self.scope = scope
        self.allow_aggregates = allow_aggregates
        self.keys = keys
        self.inside_aggregate = False

    def visit(self, expr: ast.Expr) -> ast.Expr:
        if isinstance(expr, ast.Name):
            return self._name(expr)
        if isinstance(expr, ast.Call):
            return self._call(expr)
        if isinstance(expr, ast.Unary):
            return replace(expr, operand=self.visit(expr.operand))
        if isinstance(expr, ast.Binary):
            return replace(expr, left=self.visit(expr.left), right=self.visit(expr.right))
        if isinstance(expr, ast.ListExpr):
            return replace(expr, items=tuple(self.visit(i) for i in expr.items))
        if isinstance(expr, ast.Interpolation):
            parts = tuple(p if isinstance(p, str) else self.visit(p) for p in expr.parts)
            return replace(expr, parts=parts)
        return expr

    def _name(self, expr: ast.Name) -> ast.Expr:
        name = expr.name
        field_known = self.scope.fields is not None and name in self.scope.fields
        if name in self.checker.constants and not field_known:
            return to_expr(self.checker.constants[name], expr.span)
        if self.allow_aggregates and not self.inside_aggregate and name not in self.keys:
            msg = f"`{name}` is not a partition key, so it needs an aggregate here"
            hint = f"use `first({name})` or `last({name})`, or add it to `.partition_by(...)`"
            raise CheckError(msg, expr.span, hint=hint)
        if not self.scope.has(name):
            msg = f"unknown field `{name}` in {self.scope.describe}"
            choices = [*(self.scope.fields or ()), *self.checker.constants]
            raise CheckError(msg, expr.span, hint=_suggest(name, choices))
        return expr

    def _call(self, expr: ast.Call) -> ast.Expr:
        aggregate = aggregate_of(expr.func)
        if aggregate is not None:
            return self._aggregate_call(expr, aggregate)
        if expr.func == DISTINCT:
            raise CheckError("`distinct(...)` is only allowed inside `count(...)`", expr.span)
        arity = SCALAR_ARITY.get(expr.func)
        if arity is None:
            msg = f"unknown function `{expr.func}`"
            raise CheckError(msg, expr.span, hint=_suggest(expr.func, all_function_names()))
        if not arity.accepts(len(expr.args)):
            msg = f"`{expr.func}` takes {arity.describe()}, not {len(expr.args)}"
            raise CheckError(msg, expr.span)
        return replace(expr, args=tuple(self.visit(a) for a in expr.args))

    def _aggregate_call(self, expr: ast.Call, aggregate: Aggregate) -> ast.Expr:
        if not self.allow_aggregates:
            msg = f"aggregate `{expr.func}(...)` is only allowed inside `.aggregate(...)`"
            raise CheckError(msg, expr.span, hint="add `.window(...)` and `.aggregate(...)`")
        if self.inside_aggregate:
            raise CheckError(f"aggregate `{expr.func}` inside another aggregate", expr.span)
        arity = AGGREGATE_ARITY[aggregate]
        if not arity.accepts(len(expr.args)):
            msg = f"`{expr.func}` takes {arity.describe()}, not {len(expr.args)}"
            raise CheckError(msg, expr.span)
        if aggregate is Aggregate.COUNT and expr.args and _is_distinct(expr.args[0]):
            inner = expr.args[0]
            assert isinstance(inner, ast.Call)
            if len(inner.args) != 1:
                raise CheckError("`distinct` takes 1 argument", inner.span)
            value = self._inside(inner.args[0])
            return ast.Call(Aggregate.COUNT_DISTINCT.value, (value,), expr.span)
        if aggregate is Aggregate.PERCENTILE:
            return self._percentile(expr)
        return replace(expr, args=tuple(self._inside(a) for a in expr.args))

    def _percentile(self, expr: ast.Call) -> ast.Expr:
        value = self._inside(expr.args[0])
        p = fold(expr.args[1], self.checker.constants)
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
            msg = "the percentile is a number from 0 to 100"
            raise CheckError(msg, expr.args[1].span, hint="e.g. `percentile(latency, 99)`")
        return replace(expr, args=(value, ast.Literal(float(p), expr.args[1].span)))

    def _inside(self, expr: ast.Expr) -> ast.Expr:
        self.inside_aggregate = True
        try:
            if _is_distinct(expr):
                raise CheckError("`distinct(...)` is only allowed inside `count(...)`", expr.span)
            return self.visit(expr)
        finally:
            self.inside_aggregate = False


def _is_distinct(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Call) and expr.func == DISTINCT


_HOLE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _interpolate(expr: ast.Expr) -> ast.Expr:
    """Turn string literals with `{field}` holes into Interpolation nodes."""
    if (
        isinstance(expr, ast.Literal)
        and isinstance(expr.value, str)
        and any(c in expr.value for c in "{}")
    ):
        return _split_holes(expr)
    if isinstance(expr, ast.Binary):
        return replace(expr, left=_interpolate(expr.left), right=_interpolate(expr.right))
    if isinstance(expr, ast.Call):
        return replace(expr, args=tuple(_interpolate(a) for a in expr.args))
    return expr


def _split_holes(expr: ast.Literal) -> ast.Expr:
    text = str(expr.value)
    parts: list[str | ast.Expr] = []
    buffer = ""
    position = 0
    for match in _HOLE.finditer(text):
        buffer += text[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            buffer += token[0]
            continue
        name = match.group(1)
        if name is None or not _IDENTIFIER.fullmatch(name.strip()):
            msg = f"bad interpolation `{token}` in string"
            hint = "write `{field}` to insert a field, `{{` and `}}` for literal braces"
            raise CheckError(msg, expr.span, hint=hint)
        if buffer:
            parts.append(buffer)
            buffer = ""
        parts.append(ast.Name(name.strip(), expr.span))
    buffer += text[position:]
    if buffer:
        parts.append(buffer)
    return ast.Interpolation(tuple(parts), expr.span)
