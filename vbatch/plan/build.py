"""Checked program → logical plan (typed), and the physical plan placed from it."""

from __future__ import annotations

from vbatch.errors import CheckError
from vbatch.lang import ast
from vbatch.lang.functions import Aggregate, aggregate_of
from vbatch.lang.program import FieldType, Program, SourceKind, Stream, WindowKind, WindowSpec
from vbatch.plan.aggregates import AggFunc, AggregateCall
from vbatch.plan.bind import bind_stream, env_of, joined_env, merged_env
from vbatch.plan.expr import AggValue, PExpr, from_ast
from vbatch.plan.logical import (
    Filter,
    Input,
    InputKind,
    JoinPlan,
    LogicalPlan,
    Operator,
    Print,
    Project,
    StreamPlan,
    WindowAggregate,
)
from vbatch.plan.physical import PhysicalPlan, place
from vbatch.plan.typecheck import Env
from vbatch.plan.types import VType
from vbatch.plan.windows import Window
from vbatch.plan.windows import WindowKind as PlanWindowKind

FIELD_TYPES = {
    FieldType.INT: VType.INT,
    FieldType.FLOAT: VType.FLOAT,
    FieldType.STRING: VType.STRING,
    FieldType.BOOL: VType.BOOL,
    FieldType.TIMESTAMP: VType.INT,
}
WINDOW_KINDS = {
    WindowKind.TIME: PlanWindowKind.TIME,
    WindowKind.COUNT: PlanWindowKind.COUNT,
    WindowKind.SESSION: PlanWindowKind.SESSION,
}
INPUT_KINDS = {SourceKind.EVENT: InputKind.EVENT, SourceKind.STREAM: InputKind.STREAM}


def plan_program(program: Program, *, contexts: bool = True) -> PhysicalPlan:
    """The physical plan of a checked program (typed, placed); `contexts=False` places
    every stream in this process.

    Errors (types, placement) point into the program's text.
    """
    with program.errors_point_here():
        logical = build_plan(program)
        cores = {c.name: c.cores for c in program.contexts} if contexts else None
        return place(logical, cores)


def build_plan(program: Program) -> LogicalPlan:
    """The logical plan of a checked program, every stream type-checked.

    >>> from vbatch.lang import compile_text
    >>> plan = build_plan(compile_text("stream S = E .where(x > 1)"))
    >>> [type(op).__name__ for op in plan.stream("S").operators]
    ['Filter']
    """
    declared = tuple(
        (e.name, tuple((name, FIELD_TYPES[kind]) for name, kind in e.fields))
        for e in program.events
    )
    roots: dict[str, int] = {}
    streams = tuple(_stream_plan(program, s, roots) for s in program.topological_order())
    plan = LogicalPlan(streams, program.event_types(), declared)
    typecheck(plan)
    return plan


def typecheck(plan: LogicalPlan) -> dict[str, Env]:
    """Bind every stream to what the program declares; the output environment of each."""
    outputs: dict[str, Env] = {}
    for stream in plan.streams:
        ports = [
            env_of(plan.declared_fields(i.name)) if i.kind is InputKind.EVENT else outputs[i.name]
            for i in stream.inputs
        ]
        if stream.join is not None:
            env = joined_env(stream, ports)
        else:
            env = ports[0] if len(ports) == 1 else merged_env(stream, ports)
        outputs[stream.name] = bind_stream(stream, env)
    return outputs


def _stream_plan(program: Program, stream: Stream, roots: dict[str, int]) -> StreamPlan:
    return StreamPlan(
        name=stream.name,
        index=stream.index,
        depth=program.depth(stream.name),
        inputs=tuple(Input(i.name, INPUT_KINDS[i.kind]) for i in stream.inputs),
        context=stream.context,
        emit_context=stream.emit_context,
        operators=tuple(_operator(op, stream) for op in stream.operations),
        root=_root(stream, roots),
        span=stream.span,
        join=JoinPlan(stream.join.keys, stream.join.window_ms) if stream.join else None,
    )


def _root(stream: Stream, roots: dict[str, int]) -> int:
    """The stream its rows are ordered with: itself when it reads events, else the root
    of the earliest chain it reads (so a reader's rows follow the rows they came from).
    `roots` holds the streams before it in topological order."""
    found = [roots[name] for name in stream.upstream()]
    if stream.reads_events:
        found.append(stream.index)
    roots[stream.name] = min(found)
    return roots[stream.name]


def _operator(op: ast.Operation, stream: Stream) -> Operator:
    if isinstance(op, ast.WhereOp | ast.HavingOp):
        return Filter(from_ast(op.condition))
    if isinstance(op, ast.SelectOp | ast.EmitOp):
        return Project(tuple((item.name, from_ast(item.value)) for item in op.items))
    if isinstance(op, ast.PrintOp):
        return Print(_print_text(op.args))
    if isinstance(op, ast.AggregateOp):
        return _window_aggregate(op, stream)
    raise TypeError(f"no plan node for {type(op).__name__}")


def _print_text(args: tuple[ast.Expr, ...]) -> PExpr | None:
    """`.print(a, b)` is one line: the arguments' text joined by spaces."""
    if not args:
        return None
    parts: list[str | ast.Expr] = []
    for i, arg in enumerate(args):
        if i:
            parts.append(" ")
        parts.append(arg)
    span = args[0].span
    return from_ast(ast.Interpolation(tuple(parts), span))


def _window_aggregate(op: ast.AggregateOp, stream: Stream) -> WindowAggregate:
    assert stream.window is not None
    calls: list[AggregateCall] = []
    outputs = tuple((item.name, _lift_aggregates(item.value, calls)) for item in op.items)
    return WindowAggregate(
        keys=stream.partition_keys,
        window=_window(stream.window),
        watermark_ms=stream.watermark_ms,
        aggregates=tuple(calls),
        outputs=outputs,
        keys_span=stream.partition_span,
    )


def _window(spec: WindowSpec) -> Window:
    return Window(WINDOW_KINDS[spec.kind], spec.size, spec.slide)


def _lift_aggregates(expr: ast.Expr, calls: list[AggregateCall]) -> PExpr:
    """The plan expression of an `.aggregate` field, each aggregate call an `AggValue`."""

    def lift(call: ast.Call) -> PExpr | None:
        aggregate = aggregate_of(call.func, len(call.args))
        if aggregate is None:
            return None
        plan_call = _aggregate_call(aggregate, call)
        if plan_call not in calls:
            calls.append(plan_call)
        return AggValue(calls.index(plan_call), call.span, call)

    return from_ast(expr, lift)


def _aggregate_call(aggregate: Aggregate, expr: ast.Call) -> AggregateCall:
    func = AggFunc.of(aggregate)
    if aggregate is Aggregate.MEDIAN:
        return AggregateCall(func, from_ast(expr.args[0]), 50.0)
    if aggregate in (Aggregate.PERCENTILE, Aggregate.EMA):
        p = expr.args[1]
        if not isinstance(p, ast.Literal) or isinstance(p.value, bool | str | None):
            raise CheckError("the percentile is a number from 0 to 100", p.span)
        return AggregateCall(func, from_ast(expr.args[0]), float(p.value))
    arg = from_ast(expr.args[0]) if expr.args else None
    return AggregateCall(func, arg)
