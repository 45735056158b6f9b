"""Checked program → logical plan."""

from __future__ import annotations

from dataclasses import replace

from vbatch.lang import ast
from vbatch.lang.functions import Aggregate, aggregate_of
from vbatch.lang.program import Program, Stream
from vbatch.plan.logical import (
    AggregateCall,
    Filter,
    LogicalPlan,
    Operator,
    Print,
    Project,
    StreamPlan,
    WindowAggregate,
)

AGG_COLUMN = "__agg{}"


def plan_program(program: Program) -> LogicalPlan:
    """The logical plan, after checking that the streams can be placed in their contexts."""
    from vbatch.plan.physical import place

    with program.errors_point_here():
        plan = build_plan(program)
        place(plan, {c.name: c.cores for c in program.contexts})
    return plan


def build_plan(program: Program) -> LogicalPlan:
    """The logical plan of a checked program.

    >>> from vbatch.lang import compile_text
    >>> plan = build_plan(compile_text("stream S = E .where(x > 1)"))
    >>> [type(op).__name__ for op in plan.stream("S").operators]
    ['Filter']
    """
    streams = tuple(_stream_plan(program, s) for s in program.topological_order())
    return LogicalPlan(streams, program.event_types())


def _stream_plan(program: Program, stream: Stream) -> StreamPlan:
    operators: list[Operator] = []
    for op in stream.operations:
        operators.append(_operator(op, stream))
    root = stream
    while root.source_kind.value == "stream":
        root = program.stream(root.source)
    return StreamPlan(
        name=stream.name,
        index=stream.index,
        depth=program.depth(stream.name),
        source=stream.source,
        source_kind=stream.source_kind,
        context=stream.context,
        emit_context=stream.emit_context,
        operators=tuple(operators),
        root=root.index,
        span=stream.span,
    )


def _operator(op: ast.Operation, stream: Stream) -> Operator:
    if isinstance(op, ast.WhereOp | ast.HavingOp):
        return Filter(op.condition)
    if isinstance(op, ast.SelectOp | ast.EmitOp):
        return Project(tuple((item.name, item.value) for item in op.items))
    if isinstance(op, ast.PrintOp):
        return Print(op.args)
    if isinstance(op, ast.AggregateOp):
        return _window_aggregate(op, stream)
    raise TypeError(f"no plan node for {type(op).__name__}")


def _window_aggregate(op: ast.AggregateOp, stream: Stream) -> WindowAggregate:
    assert stream.window is not None
    calls: list[AggregateCall] = []
    outputs = tuple((item.name, _lift_aggregates(item.value, calls)) for item in op.items)
    return WindowAggregate(
        keys=stream.partition_keys,
        window=stream.window,
        watermark_ms=stream.watermark_ms,
        aggregates=tuple(calls),
        outputs=outputs,
    )


def _lift_aggregates(expr: ast.Expr, calls: list[AggregateCall]) -> ast.Expr:
    """Replace each aggregate call by a reference to its `__agg<i>` column."""
    if isinstance(expr, ast.Call):
        aggregate = aggregate_of(expr.func)
        if aggregate is not None:
            call = _aggregate_call(aggregate, expr)
            if call not in calls:
                calls.append(call)
            return ast.Name(AGG_COLUMN.format(calls.index(call)), expr.span)
        return replace(expr, args=tuple(_lift_aggregates(a, calls) for a in expr.args))
    if isinstance(expr, ast.Binary):
        left = _lift_aggregates(expr.left, calls)
        return replace(expr, left=left, right=_lift_aggregates(expr.right, calls))
    if isinstance(expr, ast.Unary):
        return replace(expr, operand=_lift_aggregates(expr.operand, calls))
    return expr


def _aggregate_call(aggregate: Aggregate, expr: ast.Call) -> AggregateCall:
    if aggregate is Aggregate.MEDIAN:
        return AggregateCall(Aggregate.PERCENTILE, expr.args[0], 50.0)
    if aggregate is Aggregate.PERCENTILE:
        p = expr.args[1]
        assert isinstance(p, ast.Literal)
        return AggregateCall(aggregate, expr.args[0], float(p.value))  # type: ignore[arg-type]
    arg = expr.args[0] if expr.args else None
    return AggregateCall(aggregate, arg)
