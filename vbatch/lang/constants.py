"""Constant folding: evaluate expressions made only of literals and named constants, within
the bounds a program can run with.

Every value a program holds is checked here, at check time: an integer fits in 64 bits, a
float is finite, a duration is at most 2**61 ms (as event times are, so window bounds stay
in 64 bits), a constant string holds at most 1 MiB and a constant list 100,000 items.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from vbatch.errors import CheckError
from vbatch.lang import ast

_ARITHMETIC: dict[ast.BinaryOp, Callable[[Any, Any], Any]] = {
    ast.BinaryOp.ADD: operator.add,
    ast.BinaryOp.SUB: operator.sub,
    ast.BinaryOp.MUL: operator.mul,
    ast.BinaryOp.MOD: operator.mod,
    ast.BinaryOp.EQ: operator.eq,
    ast.BinaryOp.NE: operator.ne,
    ast.BinaryOp.LT: operator.lt,
    ast.BinaryOp.LE: operator.le,
    ast.BinaryOp.GT: operator.gt,
    ast.BinaryOp.GE: operator.ge,
}


MAX_DURATION_MS = 1 << 61  # as vbatch.io.source.MAX_TIME_MS
MAX_CONSTANT_CHARS = 1 << 20
MAX_CONSTANT_ITEMS = 100_000


def _fits_int64(value: int) -> bool:
    # Not `value in range(...)`: for int subclasses (Millis) that walks the whole range.
    return -(2**63) <= value < 2**63


class Millis(int):
    """An int that came from a duration, so it folds back to a Duration literal."""


def bounded(value: object, span: ast.Span) -> object:
    """`value`, if a program may hold it; a CheckError at `span` otherwise."""
    if isinstance(value, Millis) and abs(value) > MAX_DURATION_MS:
        msg = f"a duration of {int(value):,} ms is longer than 2**61 ms (73 million years)"
        raise CheckError(msg, span)
    if isinstance(value, int) and not isinstance(value, bool) and not _fits_int64(value):
        raise CheckError(f"integer {_short(value)} does not fit in 64 bits", span)
    if isinstance(value, float) and not math.isfinite(value):
        raise CheckError("number too large for a float", span, hint="floats go up to about 1.8e308")
    if isinstance(value, str) and len(value) > MAX_CONSTANT_CHARS:
        msg = f"a constant string holds at most {MAX_CONSTANT_CHARS:,} characters"
        raise CheckError(msg, span)
    if isinstance(value, list) and len(value) > MAX_CONSTANT_ITEMS:
        raise CheckError(f"a constant list holds at most {MAX_CONSTANT_ITEMS:,} items", span)
    return value


def _short(value: int) -> str:
    text = str(value) if value.bit_length() < 4000 else "of over 1,200 digits"
    return text if len(text) <= 24 else text[:20] + "…"


def fold(expr: ast.Expr, constants: Mapping[str, object]) -> object:
    """The value of a constant expression; raises CheckError for anything else.

    >>> from vbatch.lang.parser import parse
    >>> fold(parse("const x = 2 * 3").statements[0].value, {})
    6
    """
    return bounded(_fold(expr, constants), expr.span)


def _fold(expr: ast.Expr, constants: Mapping[str, object]) -> object:
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Duration):
        return Millis(expr.millis)
    if isinstance(expr, ast.Name):
        if expr.name in constants:
            return constants[expr.name]
        raise CheckError(f"`{expr.name}` is not a constant", expr.span)
    if isinstance(expr, ast.ListExpr):
        return [fold(item, constants) for item in expr.items]
    if isinstance(expr, ast.Unary):
        value = fold(expr.operand, constants)
        if expr.op is ast.UnaryOp.NOT:
            return not value
        _require_number(value, expr)
        return Millis(-value) if isinstance(value, Millis) else -value  # type: ignore[operator]
    if isinstance(expr, ast.Binary):
        return _fold_binary(expr, constants)
    if isinstance(expr, ast.Conditional):
        condition = fold(expr.condition, constants)
        if not isinstance(condition, bool) and condition is not None:
            raise CheckError("`if` needs a true/false condition", expr.condition.span)
        return fold(expr.then if condition is True else expr.otherwise, constants)
    raise CheckError("expected a constant value", expr.span)


def _fold_binary(expr: ast.Binary, constants: Mapping[str, object]) -> object:
    left = fold(expr.left, constants)
    right = fold(expr.right, constants)
    if expr.op is ast.BinaryOp.AND:
        return bool(left) and bool(right)
    if expr.op is ast.BinaryOp.OR:
        return bool(left) or bool(right)
    if expr.op in (ast.BinaryOp.IN, ast.BinaryOp.NOT_IN):
        if not isinstance(right, list | str) or isinstance(right, str) != isinstance(left, str):
            msg = f"cannot apply `{expr.op.value}` to {_kind(left)} and {_kind(right)}"
            raise CheckError(msg, expr.span)
        found = left in right
        return found if expr.op is ast.BinaryOp.IN else not found
    if expr.op in (ast.BinaryOp.DIV, ast.BinaryOp.MOD):
        _require_number(left, expr)
        _require_number(right, expr)
        if right == 0:
            what = "division" if expr.op is ast.BinaryOp.DIV else "modulo"
            raise CheckError(f"{what} by zero in a constant", expr.span)
        if expr.op is ast.BinaryOp.DIV:
            return left / right  # type: ignore[operator]
    _require_room(expr, left, right)
    try:
        result = _ARITHMETIC[expr.op](left, right)
    except TypeError as err:
        msg = f"cannot apply `{expr.op.value}` to {_kind(left)} and {_kind(right)}"
        raise CheckError(msg, expr.span) from err
    both_durations = isinstance(left, Millis) and isinstance(right, Millis)
    if both_durations and expr.op in (ast.BinaryOp.ADD, ast.BinaryOp.SUB):
        return Millis(result)  # type: ignore[arg-type]
    scaled = isinstance(left, Millis) != isinstance(right, Millis)
    if scaled and expr.op is ast.BinaryOp.MUL and isinstance(result, int):
        return Millis(result)
    return result


def _require_room(expr: ast.Binary, left: object, right: object) -> None:
    """Refuse a string or list that would outgrow its bound before it is built (`"ab" *
    999999999999` would take terabytes)."""
    sizes = [len(v) for v in (left, right) if isinstance(v, str | list)]
    if not sizes:
        return
    counts = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
    if expr.op is ast.BinaryOp.MUL and counts:
        size = sizes[0] * max(counts[0], 0)
    elif expr.op is ast.BinaryOp.ADD:
        size = sum(sizes)
    else:
        return
    limit = MAX_CONSTANT_CHARS if isinstance(left, str) or isinstance(right, str) else None
    if limit is not None and size > limit:
        msg = f"this constant string would hold {size:,} characters; at most {limit:,}"
        raise CheckError(msg, expr.span)
    if limit is None and size > MAX_CONSTANT_ITEMS:
        msg = f"this constant list would hold {size:,} items; at most {MAX_CONSTANT_ITEMS:,}"
        raise CheckError(msg, expr.span)


def _require_number(value: object, expr: ast.Expr) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CheckError(f"expected a number, got {_kind(value)}", expr.span)


def _kind(value: object) -> str:
    if isinstance(value, Millis):
        return "a duration"
    if value is None:
        return "null"
    return {bool: "a bool", int: "an int", float: "a float", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__
    )


def to_expr(value: object, span: ast.Span) -> ast.Expr:
    """A literal node holding a folded constant."""
    if isinstance(value, Millis):
        return ast.Duration(int(value), f"{int(value)}ms", span)
    if isinstance(value, list):
        return ast.ListExpr(tuple(to_expr(v, span) for v in value), span)
    return ast.Literal(value, span)  # type: ignore[arg-type]
