"""Constant folding: evaluate expressions made only of literals and named constants."""

from __future__ import annotations

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


class Millis(int):
    """An int that came from a duration, so it folds back to a Duration literal."""


def fold(expr: ast.Expr, constants: Mapping[str, object]) -> object:
    """The value of a constant expression; raises CheckError for anything else.

    >>> from vbatch.lang.parser import parse
    >>> fold(parse("const x = 2 * 3").statements[0].value, {})
    6
    """
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
    raise CheckError("expected a constant value", expr.span)


def _fold_binary(expr: ast.Binary, constants: Mapping[str, object]) -> object:
    left = fold(expr.left, constants)
    right = fold(expr.right, constants)
    if expr.op is ast.BinaryOp.AND:
        return bool(left) and bool(right)
    if expr.op is ast.BinaryOp.OR:
        return bool(left) or bool(right)
    if expr.op in (ast.BinaryOp.IN, ast.BinaryOp.NOT_IN):
        found = left in right  # type: ignore[operator]
        return found if expr.op is ast.BinaryOp.IN else not found
    if expr.op is ast.BinaryOp.DIV:
        _require_number(left, expr)
        _require_number(right, expr)
        if right == 0:
            raise CheckError("division by zero in a constant", expr.span)
        return left / right  # type: ignore[operator]
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
