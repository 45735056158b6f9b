"""`vbatch explain`: the physical plan as text a person can read, deterministically.

Per process (the coordinator, then each context in pipeline order): the streams it runs
with their input ports and operators, then every queue between processes with the event
types or stream rows that cross it and their fields. Types come from the program's
`event` declarations and what the operators derive (`?` where the input decides).
"""

from __future__ import annotations

from functools import singledispatch

from vbatch.lang.durations import format_duration
from vbatch.plan.build import typecheck
from vbatch.plan.logical import (
    ExplainFilter,
    Filter,
    InputKind,
    LogicalPlan,
    Operator,
    Print,
    Project,
    ShowWindowRows,
    StreamPlan,
    WindowAggregate,
)
from vbatch.plan.physical import Edge, PhysicalPlan
from vbatch.plan.typecheck import Env
from vbatch.plan.types import VType

INDENT = "  "


def explain(physical: PhysicalPlan, title: str = "program") -> str:
    """The plan as text, ending in a newline.

    >>> from vbatch.lang import compile_text
    >>> from vbatch.plan.build import plan_program
    >>> print(explain(plan_program(compile_text("stream S = E .where(x > 1)")), "p.vpl"), end="")
    Plan of p.vpl: 1 stream, 1 process
    <BLANKLINE>
    coordinator
      stream S
        reads E (event)
        Filter x > 1
        outputs ?
    """
    plan = physical.logical
    envs = typecheck(plan)
    processes = 1 + len(physical.workers)
    lines = [
        f"Plan of {title}: {_plural(len(plan.streams), 'stream')}, "
        f"{_plural(processes, 'process', 'processes')}"
    ]
    where = physical.placement
    groups: list[tuple[str, list[str]]] = [("coordinator", _local(physical))]
    for worker in physical.workers_in_order():
        cores = f" (cores {', '.join(map(str, worker.cores))})" if worker.cores else ""
        groups.append((f"context {worker.context}{cores}", list(worker.streams)))
    for heading, names in groups:
        if not names and heading != "coordinator":
            continue
        lines += ["", heading]
        if not names:
            lines.append(f"{INDENT}reads the input and sends it on")
        for name in names:
            lines += _stream(plan.stream(name), envs, where)
    queues = _queues(physical, envs)
    if queues:
        lines += ["", "queues", *queues]
    return "\n".join(lines) + "\n"


def _local(physical: PhysicalPlan) -> list[str]:
    order = [s.name for s in physical.logical.streams]
    mine = set(physical.feeders) | set(physical.collectors)
    return [n for n in order if n in mine]


def _stream(stream: StreamPlan, envs: dict[str, Env], where: dict[str, str | None]) -> list[str]:
    pad = INDENT * 2
    lines = [f"{INDENT}stream {stream.name}"]
    for port in stream.inputs:
        origin = ""
        if port.kind is InputKind.STREAM and where[port.name] != where[stream.name]:
            origin = f", from {_process(where[port.name])}"
        lines.append(f"{pad}reads {port.name} ({port.kind.value}{origin})")
    if stream.join is not None:
        sources = [i.name for i in stream.inputs]
        on = " = ".join(f"{s}.{k}" for s, k in zip(sources, stream.join.keys, strict=True))
        within = format_duration(stream.join.window_ms)
        lines.append(f"{pad}Join {', '.join(sources)} on {on}: each row with the latest row of")
        lines.append(f"{pad}  every source for its key, none more than {within} older")
    elif stream.is_merge:
        lines.append(f"{pad}Merge {', '.join(i.name for i in stream.inputs)} in arrival order")
    for op in stream.operators:
        lines += [pad + line for line in describe(op)]
    lines.append(f"{pad}outputs {_fields(envs[stream.name])}")
    if stream.emit_context is not None:
        lines.append(f"{pad}emits to context {stream.emit_context}")
    return lines


@singledispatch
def describe(op: Operator) -> list[str]:
    """Lines describing one operator."""
    raise TypeError(f"cannot describe {type(op).__name__}")


@describe.register
def _(op: Filter) -> list[str]:
    return [f"Filter {op.condition.text}"]


@describe.register
def _(op: Project) -> list[str]:
    if not op.items:
        return ["Project (every field)"]
    items = ", ".join(name if e.text == name else f"{name}: {e.text}" for name, e in op.items)
    return [f"Project {items}"]


@describe.register
def _(op: Print) -> list[str]:
    return [f"Print {op.text.text if op.text is not None else '(empty line)'}"]


@describe.register
def _(op: WindowAggregate) -> list[str]:
    keys = f", partition by {', '.join(op.keys)}" if op.keys else ""
    late = f", out of order {format_duration(op.watermark_ms)}" if op.watermark_ms else ""
    window = op.window
    closes = "watermark" if window.facts.watermark_closes else "count"
    lines = [f"Window {window.describe()}{keys}{late} (closed by {closes})"]
    calls = ", ".join(call.text for call in op.aggregates) or "none"
    lines.append(f"{INDENT}aggregates {calls}")
    outputs = ", ".join(f"{name}: {e.text}" for name, e in op.outputs)
    lines.append(f"{INDENT}emits {outputs}")
    return lines


@describe.register
def _(op: ExplainFilter) -> list[str]:
    return [f"Tap: why rows fail {op.condition.text}"]


@describe.register
def _(op: ShowWindowRows) -> list[str]:
    return ["Tap: show window rows"]


def _queues(physical: PhysicalPlan, envs: dict[str, Env]) -> list[str]:
    plan = physical.logical
    lines = []
    for worker in physical.workers_in_order():
        for event_type in worker.event_types:
            fields = _event_fields(plan, event_type, worker.streams)
            lines.append(f"{INDENT}coordinator -> {worker.context}: {event_type} {fields}")
    for edge in physical.edges:
        if edge.source is None and edge.stream not in physical.feeders:
            continue
        lines.append(f"{INDENT}{_edge(edge)}: {edge.stream} {_fields(envs[edge.stream])}")
    return lines


def _edge(edge: Edge) -> str:
    return f"{_process(edge.source)} -> {_process(edge.target)}"


def _process(context: str | None) -> str:
    return context if context is not None else "coordinator"


def _event_fields(plan: LogicalPlan, event_type: str, streams: tuple[str, ...]) -> str:
    """The fields of an event type the streams of one process read."""
    needed: set[str] = set()
    for name in streams:
        stream = plan.stream(name)
        if not stream.reads(event_type):
            continue
        read = stream.fields_read()
        if read is None:
            return "[every field]"
        needed |= read
    declared = plan.declared_fields(event_type) or {}
    shown = [f"{n}: {_type(declared.get(n, VType.ANY))}" for n in sorted(needed)]
    return "[" + ", ".join(shown) + "]"


def _fields(env: Env) -> str:
    names = [n for n in env.types if not n.startswith("_")]
    if not env.closed and not names:
        return "?"
    shown = ", ".join(f"{n}: {_type(env.types[n])}" for n in names)
    return f"[{shown}]" if env.closed else f"[{shown}, ...]"


def _type(vtype: VType) -> str:
    return "?" if vtype is VType.ANY else vtype.value


def _plural(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
