"""Logical plan → physical plan: which streams run in which process, and the edges between.

The coordinator process reads the input. Streams without `.context` run there: those that
depend on no context stream ("feeders") run before dispatch, the others ("collectors")
after the contexts' results come back. Every declared context with streams is a worker.
An edge is a stream whose output is read in another process.
"""

from __future__ import annotations

from dataclasses import dataclass

from vbatch.errors import CheckError
from vbatch.lang.program import SourceKind
from vbatch.plan.logical import LogicalPlan, StreamPlan


@dataclass(frozen=True)
class Edge:
    """Rows of `stream` travel from process `source` to process `target` (None: coordinator)."""

    stream: str
    source: str | None
    target: str | None


@dataclass(frozen=True)
class WorkerPlan:
    """A context's worker: its streams (topological order), what it reads and from where."""

    context: str
    cores: tuple[int, ...] | None
    streams: tuple[str, ...]
    event_types: tuple[str, ...]
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]


@dataclass(frozen=True)
class PhysicalPlan:
    """Where every stream runs and how rows move between processes."""

    logical: LogicalPlan
    feeders: tuple[str, ...]
    collectors: tuple[str, ...]
    workers: tuple[WorkerPlan, ...]
    edges: tuple[Edge, ...]

    @property
    def uses_processes(self) -> bool:
        """True when some stream runs in a context worker."""
        return bool(self.workers)


def place(plan: LogicalPlan, cores: dict[str, tuple[int, ...] | None]) -> PhysicalPlan:
    """The physical plan; `cores` maps each declared context to its pinned cores.

    >>> from vbatch.lang import compile_text
    >>> from vbatch.plan.build import build_plan
    >>> program = compile_text("context c\\nstream S = E .context(c)")
    >>> physical = place(build_plan(program), {"c": None})
    >>> [w.streams for w in physical.workers]
    [('S',)]
    """
    where = {s.name: s.context for s in plan.streams}
    edges = _edges(plan, where)
    feeders, collectors = _split_coordinator(plan, where)
    _reject_cycles(plan, where, edges)
    workers = tuple(
        _worker(plan, context, cores.get(context), where, edges)
        for context in dict.fromkeys(s.context for s in plan.streams if s.context is not None)
    )
    return PhysicalPlan(plan, feeders, collectors, workers, edges)


def _edges(plan: LogicalPlan, where: dict[str, str | None]) -> tuple[Edge, ...]:
    edges = []
    for stream in plan.streams:
        readers = dict.fromkeys(where[r.name] for r in plan.consumers(stream.name))
        for target in readers:
            if target != where[stream.name]:
                edges.append(Edge(stream.name, where[stream.name], target))
    return tuple(edges)


Placement = dict[str, str | None]  # stream → context (None: the coordinator)


def _depends_on_context(plan: LogicalPlan, stream: StreamPlan, where: Placement) -> bool:
    while stream.source_kind is SourceKind.STREAM:
        stream = plan.stream(stream.source)
        if where[stream.name] is not None:
            return True
    return False


def _split_coordinator(
    plan: LogicalPlan, where: dict[str, str | None]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    local = [s for s in plan.streams if where[s.name] is None]
    collectors = tuple(s.name for s in local if _depends_on_context(plan, s, where))
    feeders = tuple(s.name for s in local if s.name not in collectors)
    return feeders, collectors


def _reject_cycles(plan: LogicalPlan, where: Placement, edges: tuple[Edge, ...]) -> None:
    """Contexts exchange rows along a DAG; a cycle could deadlock full queues."""
    graph: dict[str | None, set[str | None]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    for edge in edges:
        if edge.source is None and edge.stream not in _feeder_names(plan, where):
            _raise_cycle(plan, edge)
    for start in graph:
        seen: set[str | None] = set()
        stack = list(graph.get(start, ()))
        while stack:
            node = stack.pop()
            if node == start and start is not None:
                edge = next(e for e in edges if e.source == start)
                _raise_cycle(plan, edge)
            if node in seen:
                continue
            seen.add(node)
            stack.extend(graph.get(node, ()))


def _feeder_names(plan: LogicalPlan, where: dict[str, str | None]) -> tuple[str, ...]:
    return _split_coordinator(plan, where)[0]


def _raise_cycle(plan: LogicalPlan, edge: Edge) -> None:
    source = f"context `{edge.source}`" if edge.source else "the coordinator"
    msg = f"rows of `{edge.stream}` would go from {source} back to a context it depends on"
    hint = "arrange contexts as a pipeline: each context may only feed contexts after it"
    raise CheckError(msg, plan.stream(edge.stream).span, hint=hint)


def _worker(
    plan: LogicalPlan,
    context: str,
    cores: tuple[int, ...] | None,
    where: dict[str, str | None],
    edges: tuple[Edge, ...],
) -> WorkerPlan:
    streams = tuple(s.name for s in plan.streams if where[s.name] == context)
    event_types = tuple(
        dict.fromkeys(
            s.source for s in plan.streams
            if where[s.name] == context and s.source_kind is SourceKind.EVENT
        )
    )  # fmt: skip
    upstream = tuple(dict.fromkeys(e.source for e in edges if e.target == context and e.source))
    downstream = tuple(dict.fromkeys(e.target for e in edges if e.source == context and e.target))
    return WorkerPlan(context, cores, streams, event_types, upstream, downstream)
