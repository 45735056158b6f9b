"""Plan rewrites for the console: taps inserted where `--verbose` wants to see inside.

- Before a filter of a stream that forwards to another context, `ExplainFilter` says why
  each dropped row was dropped (the tutorial's `(filtered: value <= 0)`).
- After a window whose rows a projection reshapes, `ShowWindowRows` shows them first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vbatch.lang import ast
from vbatch.lang.printer import print_expr
from vbatch.plan.expr import Apply, Fn, PExpr
from vbatch.plan.logical import (
    ExplainFilter,
    Filter,
    LogicalPlan,
    Operator,
    Project,
    ShowWindowRows,
    StreamPlan,
    WindowAggregate,
)


@dataclass(frozen=True)
class TraceOptions:
    """What the console wants besides outputs."""

    window_rows: bool = False
    filter_reasons: bool = False


def traced(plan: LogicalPlan, options: TraceOptions) -> LogicalPlan:
    """`plan` with the taps `options` ask for."""
    if not (options.window_rows or options.filter_reasons):
        return plan
    return plan.with_streams(tuple(_traced(s, options) for s in plan.streams))


def _traced(stream: StreamPlan, options: TraceOptions) -> StreamPlan:
    operators: list[Operator] = []
    explain = options.filter_reasons and stream.emit_context is not None
    windowed = False
    shown = False
    for op in stream.operators:
        if isinstance(op, Filter) and explain and not windowed:
            parts = conjuncts(op.condition)
            operators.append(ExplainFilter(op.condition, parts, tuple(map(negation, parts))))
        if isinstance(op, Project) and windowed and not shown and options.window_rows:
            operators.append(ShowWindowRows())
            shown = True
        operators.append(op)
        windowed = windowed or isinstance(op, WindowAggregate)
    return replace(stream, operators=tuple(operators))


def conjuncts(expr: PExpr) -> tuple[PExpr, ...]:
    """`a and b and c` → (a, b, c)."""
    found: list[PExpr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Apply) and node.fn is Fn.AND:
            stack.extend(reversed(node.args))
        else:
            found.append(node)
    return tuple(found)


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


def negation(expr: PExpr) -> str:
    """VPL text saying that `expr` did not hold: `value > 0` → `value <= 0`."""
    origin = getattr(expr, "origin", None)
    if isinstance(origin, ast.Binary) and origin.op in _NEGATED:
        return print_expr(replace(origin, op=_NEGATED[origin.op]))
    if isinstance(origin, ast.Unary) and origin.op is ast.UnaryOp.NOT:
        return print_expr(origin.operand)
    if isinstance(origin, ast.Expr):
        return print_expr(ast.Unary(ast.UnaryOp.NOT, origin))
    return f"not ({expr.text})"
