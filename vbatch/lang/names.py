"""Checking expressions: names resolved against the fields in scope, calls validated."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from vbatch.errors import CheckError, suggest
from vbatch.lang import ast
from vbatch.lang.constants import Millis, bounded, fold, to_expr
from vbatch.lang.functions import (
    AGGREGATE_ARITY,
    DISTINCT,
    SCALAR_ARITY,
    Aggregate,
    aggregate_of,
    all_function_names,
    scalar_name,
)

RESERVED_FIELDS = ("_ts", "_seq", "_window_start", "_window_end")
WINDOW_FIELDS = ("_window_start", "_window_end")
# Names an output row cannot take: the JSON-lines envelope (`stream`), event time and arrival
# (which the engine sets), and the engine's internal columns.
RESERVED_OUTPUTS = ("stream", "_ts", "_seq")


def check_output_name(item: ast.Item) -> None:
    """Refuse an output field named like the envelope or the engine's own columns."""
    if item.name in RESERVED_OUTPUTS or item.name.startswith("__"):
        msg = f"`{item.name}` is a reserved output name"
        hint = "outputs carry `stream`, `_ts` and `_seq` themselves (`__` names are the engine's)"
        raise CheckError(msg, item.span, hint=hint)


@dataclass
class Scope:
    """Fields visible at a point of a stream; `None` when the source's fields are not known."""

    fields: tuple[str, ...] | None
    describe: str
    # a join's sources and their fields (None: not known): `A.price` reads A's `price`
    sources: tuple[tuple[str, tuple[str, ...] | None], ...] = ()

    aliases: tuple[tuple[str, str], ...] = ()  # another name of a join's source: its type

    def canonical(self, name: str) -> str:
        """`T.f` as `S.f` where T is another name of the join's source S."""
        if "." not in name:
            return name
        source, field = name.split(".", 1)
        return f"{dict(self.aliases).get(source, source)}.{field}"

    def has(self, name: str) -> bool:
        """True when `name` may be read here."""
        name = self.canonical(name)
        if "." in name:
            source, field = name.split(".", 1)
            fields = dict(self.sources).get(source, ())
            return fields is None or field in fields
        return self.fields is None or name in self.fields or name in RESERVED_FIELDS[:2]


class ExprChecker:
    """Resolves names and validates calls in one expression."""

    def __init__(
        self,
        constants: dict[str, object],
        scope: Scope,
        *,
        allow_aggregates: bool,
        keys: tuple[str, ...],
        functions: dict[str, ast.FnDecl] | None = None,
        inlining: tuple[str, ...] = (),
    ) -> None:
        self.constants = constants
        self.scope = scope
        self.allow_aggregates = allow_aggregates
        self.keys = keys
        self.functions = functions or {}
        self.inlining = inlining  # the user functions being inlined, outermost first
        self.inside_aggregate = False

    def visit(self, expr: ast.Expr) -> ast.Expr:
        """The checked expression (constants folded, literals within their bounds)."""
        if isinstance(expr, ast.Literal):
            bounded(expr.value, expr.span)
            return expr
        if isinstance(expr, ast.Duration):
            bounded(Millis(expr.millis), expr.span)
            return expr
        if isinstance(expr, ast.Name):
            return self._name(expr)
        if isinstance(expr, ast.Call):
            return self._call(expr)
        if isinstance(expr, ast.Unary):
            return replace(expr, operand=self.visit(expr.operand))
        if isinstance(expr, ast.Binary):
            return replace(expr, left=self.visit(expr.left), right=self.visit(expr.right))
        if isinstance(expr, ast.Conditional):
            condition, then = self.visit(expr.condition), self.visit(expr.then)
            otherwise = self.visit(expr.otherwise)
            return replace(expr, condition=condition, then=then, otherwise=otherwise)
        if isinstance(expr, ast.ListExpr):
            return replace(expr, items=tuple(self.visit(i) for i in expr.items))
        if isinstance(expr, ast.Interpolation):
            parts = tuple(p if isinstance(p, str) else self.visit(p) for p in expr.parts)
            return replace(expr, parts=parts)
        return expr

    def _name(self, expr: ast.Name) -> ast.Expr:
        name = self.scope.canonical(expr.name)
        expr = replace(expr, name=name)
        field_known = self.scope.fields is not None and name in self.scope.fields
        if name in self.constants and not field_known:
            return to_expr(self.constants[name], expr.span)
        if self.allow_aggregates and not self.inside_aggregate and name not in self.keys:
            msg = f"`{name}` is not a partition key, so it needs an aggregate here"
            hint = f"use `first({name})` or `last({name})`, or add it to `.partition_by(...)`"
            raise CheckError(msg, expr.span, hint=hint)
        if not self.scope.has(name):
            msg = f"unknown field `{name}` in {self.scope.describe}"
            choices = [*(self.scope.fields or ()), *self.constants]
            unknown_hint: str | None = suggest(name, choices)
            if "." in name and not self.scope.sources and unknown_hint is None:
                plain = name.split(".", 1)[1]
                unknown_hint = f"`Source.field` names a field of a join's source; write `{plain}`"
            raise CheckError(msg, expr.span, hint=unknown_hint)
        return expr

    def _call(self, expr: ast.Call) -> ast.Expr:
        if expr.func == "now" and not expr.args:
            return ast.Name("_ts", expr.span)  # the event time of the row at hand
        if expr.func in self.functions:
            return self._inline(expr, self.functions[expr.func])
        aggregate = aggregate_of(expr.func, len(expr.args))
        if aggregate is not None:
            return self._aggregate_call(expr, aggregate)
        if expr.func == DISTINCT:
            raise CheckError("`distinct(...)` is only allowed inside `count(...)`", expr.span)
        arity = SCALAR_ARITY.get(scalar_name(expr.func, len(expr.args)))
        if arity is None:
            msg = f"unknown function `{expr.func}`"
            raise CheckError(msg, expr.span, hint=suggest(expr.func, all_function_names()))
        if not arity.accepts(len(expr.args)):
            msg = f"`{expr.func}` takes {arity.describe()}, not {len(expr.args)}"
            raise CheckError(msg, expr.span)
        return replace(expr, args=tuple(self.visit(a) for a in expr.args))

    def _inline(self, call: ast.Call, fn: ast.FnDecl) -> ast.Expr:
        """A user function's result expression, its parameters replaced by the call's
        arguments (checked here); its body is checked in its own scope, where only its
        parameters, `let`s, constants and functions are known."""
        if fn.name in self.inlining:
            chain = " → ".join((*self.inlining[self.inlining.index(fn.name) :], fn.name))
            raise CheckError(f"`fn {fn.name}` calls itself: {chain}", call.span)
        if len(call.args) != len(fn.params):
            msg = f"`{fn.name}` takes {len(fn.params)} arguments, not {len(call.args)}"
            raise CheckError(msg, call.span, hint=f"declared at line {fn.span.line}")
        args = {name: self.visit(arg) for (name, _), arg in zip(fn.params, call.args, strict=True)}
        lets: dict[str, ast.Expr] = {}
        for name, value in fn.lets:
            lets[name] = substituted(value, lets)
        body = substituted(fn.body, lets)
        names = tuple(name for name, _ in fn.params)
        inner = ExprChecker(
            self.constants,
            Scope(names, f"`fn {fn.name}` (its parameters)"),
            allow_aggregates=False,
            keys=(),
            functions=self.functions,
            inlining=(*self.inlining, fn.name),
        )
        return substituted(inner.visit(body), args)

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
        if aggregate is Aggregate.EMA:
            return self._ema(expr)
        return replace(expr, args=tuple(self._inside(a) for a in expr.args))

    def _percentile(self, expr: ast.Call) -> ast.Expr:
        value = self._inside(expr.args[0])
        p = fold(expr.args[1], self.constants)
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
            msg = "the percentile is a number from 0 to 100"
            raise CheckError(msg, expr.args[1].span, hint="e.g. `percentile(latency, 99)`")
        return replace(expr, args=(value, ast.Literal(float(p), expr.args[1].span)))

    def _ema(self, expr: ast.Call) -> ast.Expr:
        value = self._inside(expr.args[0])
        n = fold(expr.args[1], self.constants)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            msg = "the period of `ema` is a whole number of values, 1 or more"
            raise CheckError(msg, expr.args[1].span, hint="e.g. `ema(price, 12)`")
        return replace(expr, args=(value, ast.Literal(float(n), expr.args[1].span)))

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


def interpolate(expr: ast.Expr) -> ast.Expr:
    """Turn string literals with `{field}` holes into Interpolation nodes."""
    if (
        isinstance(expr, ast.Literal)
        and isinstance(expr.value, str)
        and any(c in expr.value for c in "{}")
    ):
        return _split_holes(expr)
    if isinstance(expr, ast.Binary):
        return replace(expr, left=interpolate(expr.left), right=interpolate(expr.right))
    if isinstance(expr, ast.Call):
        return replace(expr, args=tuple(interpolate(a) for a in expr.args))
    if isinstance(expr, ast.Conditional):
        return replace(expr, then=interpolate(expr.then), otherwise=interpolate(expr.otherwise))
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


def substituted(expr: ast.Expr, values: dict[str, ast.Expr]) -> ast.Expr:
    """`expr` with each name of `values` replaced by its expression."""
    if not values:
        return expr
    result = ast.rewritten(
        expr, lambda node: values.get(node.name) if isinstance(node, ast.Name) else None
    )
    assert isinstance(result, ast.Expr)
    return result
