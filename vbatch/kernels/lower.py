"""Plan operators → kernels, for a known input schema: one registered function per node."""

from __future__ import annotations

from functools import singledispatch

import pyarrow as pa

from vbatch.kernels.filter import FilterKernel
from vbatch.kernels.project import PrintKernel, ProjectKernel
from vbatch.kernels.protocol import Kernel, Side
from vbatch.kernels.tap import ExplainFilterKernel, ShowWindowRowsKernel
from vbatch.kernels.window import WindowAggregateKernel
from vbatch.plan.logical import (
    ExplainFilter,
    Filter,
    Operator,
    Print,
    Project,
    ShowWindowRows,
    WindowAggregate,
)


@singledispatch
def lower(op: Operator, schema: pa.Schema, side: Side) -> Kernel:
    """The kernel that runs `op` over rows of `schema`; `side` receives console rows."""
    raise TypeError(f"no kernel for {type(op).__name__}")


@lower.register
def _(op: Filter, schema: pa.Schema, side: Side) -> Kernel:
    return FilterKernel(op.condition, schema)


@lower.register
def _(op: Project, schema: pa.Schema, side: Side) -> Kernel:
    return ProjectKernel(op.items, schema)


@lower.register
def _(op: Print, schema: pa.Schema, side: Side) -> Kernel:
    return PrintKernel(op.text, schema, side)


@lower.register
def _(op: WindowAggregate, schema: pa.Schema, side: Side) -> Kernel:
    return WindowAggregateKernel(op, schema)


@lower.register
def _(op: ExplainFilter, schema: pa.Schema, side: Side) -> Kernel:
    return ExplainFilterKernel(op.condition, op.parts, op.reasons, schema, side)


@lower.register
def _(op: ShowWindowRows, schema: pa.Schema, side: Side) -> Kernel:
    return ShowWindowRowsKernel(schema, side)


def lower_chain(operators: tuple[Operator, ...], schema: pa.Schema, side: Side) -> list[Kernel]:
    """Kernels for operators in order, each bound to the schema the one before outputs."""
    kernels = []
    for op in operators:
        kernel = lower(op, schema, side)
        kernels.append(kernel)
        schema = kernel.schema
    return kernels
