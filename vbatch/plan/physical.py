"""Logical plan → physical plan: which streams run in which process, and the edges between.

The coordinator process reads the input. Streams without `.context` run there: those that
depend on no context stream ("feeders") run before dispatch, the others ("collectors")
after the contexts' results come back. Every declared context with streams is a worker.
An edge is a stream whose output is read in another process. The physical plan is a
value: computed once per run and handed to the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from vbatch.errors import CheckError
from vbatch.plan.logical import InputKind, LogicalPlan, StreamPlan


@dataclass(frozen=True)
class Edge:
    """Rows of `stream` travel from process `source` to process `target` (None: coordinator)."""

    stream: str
    source: str | None
    target: str | None


@dataclass(frozen=True)
class WorkerPlan:
    """A worker process: a context, or one shard of a context with several cores.

    `streams` run in it (topological order); `reads` are the event types and streams they
    read; `upstream` and `downstream` name the workers it receives rows from and sends rows
    to. A shard gets the event rows whose `shard_keys` hash to `shard` (of `shards`).
    """

    name: str
    context: str
    cores: tuple[int, ...] | None
    streams: tuple[str, ...]
    event_types: tuple[str, ...]
    reads: tuple[str, ...]
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    shard: int = 0
    shards: int = 1
    shard_keys: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name the worker: `context `c`` or `context `c` (shard 2 of 2)`."""
        if self.shards == 1:
            return f"context `{self.context}`"
        return f"context `{self.context}` (shard {self.shard + 1} of {self.shards})"


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

    @cached_property
    def placement(self) -> dict[str, str | None]:
        """The context of every stream (None: the coordinator)."""
        where: dict[str, str | None] = {s.name: None for s in self.logical.streams}
        for worker in self.workers:
            where.update(dict.fromkeys(worker.streams, worker.context))
        return where

    def worker(self, name: str) -> WorkerPlan:
        """The plan of one worker."""
        return next(w for w in self.workers if w.name == name)

    def shards_of(self, context: str) -> tuple[WorkerPlan, ...]:
        """The workers of one context (one, or one per shard)."""
        return tuple(w for w in self.workers if w.context == context)

    def workers_in_order(self) -> tuple[WorkerPlan, ...]:
        """Workers ordered so each comes after the contexts it reads from."""
        placed: list[WorkerPlan] = []
        pending = list(self.workers)
        while pending:
            done = {p.name for p in placed}
            ready = next(w for w in pending if set(w.upstream) <= done)
            placed.append(ready)
            pending.remove(ready)
        return tuple(placed)


Placement = dict[str, str | None]  # stream → context (None: the coordinator)


def place(plan: LogicalPlan, cores: Mapping[str, tuple[int, ...] | None] | None) -> PhysicalPlan:
    """The physical plan; `cores` maps each declared context to its pinned cores (None:
    run every stream in the coordinator, as `--no-contexts` asks).

    >>> from vbatch.lang import compile_text
    >>> from vbatch.plan.build import build_plan
    >>> program = compile_text("context c\\nstream S = E .context(c)")
    >>> physical = place(build_plan(program), {"c": None})
    >>> [w.streams for w in physical.workers]
    [('S',)]
    """
    if cores is None:
        names = tuple(s.name for s in plan.streams)
        return PhysicalPlan(plan, names, (), (), ())
    where: Placement = {s.name: s.context for s in plan.streams}
    edges = _edges(plan, where)
    feeders, collectors = _split_coordinator(plan, where)
    _reject_cycles(plan, feeders, edges)
    contexts = dict.fromkeys(s.context for s in plan.streams if s.context is not None)
    shards = {c: _shards(plan, c, cores.get(c), where) for c in contexts}
    workers = tuple(
        worker
        for context in contexts
        for worker in _workers(plan, context, cores.get(context), where, edges, shards)
    )
    return PhysicalPlan(plan, feeders, collectors, workers, edges)


def _edges(plan: LogicalPlan, where: Placement) -> tuple[Edge, ...]:
    edges = []
    for stream in plan.streams:
        readers = dict.fromkeys(where[r.name] for r in plan.consumers(stream.name))
        for target in readers:
            if target != where[stream.name]:
                edges.append(Edge(stream.name, where[stream.name], target))
    return tuple(edges)


def _split_coordinator(plan: LogicalPlan, where: Placement) -> tuple[tuple[str, ...], ...]:
    """Coordinator streams that need no context's rows (feeders) and those that do."""
    needs_context: dict[str, bool] = {}
    for stream in plan.streams:  # topological: a stream's inputs are decided first
        needs_context[stream.name] = any(
            where[u] is not None or needs_context[u] for u in stream.upstream()
        )
    local = [s.name for s in plan.streams if where[s.name] is None]
    collectors = tuple(n for n in local if needs_context[n])
    feeders = tuple(n for n in local if not needs_context[n])
    return feeders, collectors


def _reject_cycles(plan: LogicalPlan, feeders: tuple[str, ...], edges: tuple[Edge, ...]) -> None:
    """Contexts exchange rows along a DAG; a cycle could deadlock full queues."""
    graph: dict[str | None, set[str | None]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    for edge in edges:
        if edge.source is None and edge.stream not in feeders:
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


def _raise_cycle(plan: LogicalPlan, edge: Edge) -> None:
    source = f"context `{edge.source}`" if edge.source else "the coordinator"
    msg = f"rows of `{edge.stream}` would go from {source} back to a context it depends on"
    hint = "arrange contexts as a pipeline: each context may only feed contexts after it"
    raise CheckError(msg, plan.stream(edge.stream).span, hint=hint)


def shard_keys(plan: LogicalPlan, context: str, where: Placement) -> tuple[str, ...] | None:
    """The keys a context's rows can be split by over shards, or None if it cannot be split.

    A context splits when every stream in it reads only event types and windows them
    partitioned by the same keys: each key's rows then meet on one shard, and no stream
    needs another shard's rows. Otherwise the context is one worker on all its cores.
    """
    mine = [s for s in plan.streams if where[s.name] == context]
    keys = {s.window.keys if s.window is not None else () for s in mine}
    if len(keys) != 1 or any(s.upstream() for s in mine):
        return None
    (found,) = keys
    return found or None


def _shards(
    plan: LogicalPlan, context: str, cores: tuple[int, ...] | None, where: Placement
) -> int:
    if cores is None or len(cores) < 2 or shard_keys(plan, context, where) is None:
        return 1
    return len(cores)


def _workers(
    plan: LogicalPlan,
    context: str,
    cores: tuple[int, ...] | None,
    where: Placement,
    edges: tuple[Edge, ...],
    shards: dict[str, int],
) -> list[WorkerPlan]:
    """The worker, or one worker per shard, of a context."""
    mine: list[StreamPlan] = [s for s in plan.streams if where[s.name] == context]
    event_types = tuple(
        dict.fromkeys(i.name for s in mine for i in s.inputs if i.kind is InputKind.EVENT)
    )
    reads = tuple(dict.fromkeys(i.name for s in mine for i in s.inputs))
    upstream = tuple(
        name
        for e in dict.fromkeys(e.source for e in edges if e.target == context and e.source)
        for name in _names(e, shards[e])
    )
    downstream = tuple(
        name
        for e in dict.fromkeys(e.target for e in edges if e.source == context and e.target)
        for name in _names(e, shards[e])
    )
    streams = tuple(s.name for s in mine)
    n = shards[context]
    if n == 1:
        return [
            WorkerPlan(context, context, cores, streams, event_types, reads, upstream, downstream)
        ]
    keys = shard_keys(plan, context, where) or ()
    assert cores is not None
    return [
        WorkerPlan(
            name,
            context,
            (cores[i],),
            streams,
            event_types,
            reads,
            upstream,
            downstream,
            shard=i,
            shards=n,
            shard_keys=keys,
        )  # fmt: skip
        for i, name in enumerate(_names(context, n))
    ]


def _names(context: str, shards: int) -> list[str]:
    """Worker names of a context: the context's own, or `context#i` per shard."""
    return [context] if shards == 1 else [f"{context}#{i}" for i in range(shards)]
