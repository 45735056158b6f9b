"""A checked program: every name resolved, constants folded, windows and contexts validated."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from vbatch.errors import CheckWarning, Span, VbatchError
from vbatch.lang import ast
from vbatch.lang.connectors import Binding, Connector


class FieldType(Enum):
    """Types an `event` declaration may give a field."""

    INT = "int"
    FLOAT = "float"
    STRING = "str"
    BOOL = "bool"
    TIMESTAMP = "timestamp"


TYPE_NAMES = {
    "int": FieldType.INT,
    "integer": FieldType.INT,
    "float": FieldType.FLOAT,
    "double": FieldType.FLOAT,
    "number": FieldType.FLOAT,
    "str": FieldType.STRING,
    "string": FieldType.STRING,
    "bool": FieldType.BOOL,
    "boolean": FieldType.BOOL,
    "timestamp": FieldType.TIMESTAMP,
}


class WindowKind(Enum):
    """What a window counts: event time, arrivals, or inactivity gaps."""

    TIME = "time"
    COUNT = "count"
    SESSION = "session"


@dataclass(frozen=True)
class WindowSpec:
    """A resolved window: sizes in milliseconds (time, session) or events (count).

    Tumbling windows are sliding windows whose slide equals their size.
    """

    kind: WindowKind
    size: int
    slide: int
    span: Span = field(default=ast.NO_SPAN, compare=False)

    @property
    def is_tumbling(self) -> bool:
        """True when windows do not overlap."""
        return self.kind is not WindowKind.SESSION and self.slide == self.size


class SourceKind(Enum):
    """Where a stream's rows come from."""

    EVENT = "event"
    STREAM = "stream"


@dataclass(frozen=True)
class StreamInput:
    """One source a stream reads: an event type or another stream."""

    name: str
    kind: SourceKind


@dataclass(frozen=True)
class Context:
    """A declared context: a worker process, optionally pinned to cores."""

    name: str
    cores: tuple[int, ...] | None
    span: Span = field(default=ast.NO_SPAN, compare=False)


@dataclass(frozen=True)
class EventSchema:
    """A declared event type and its typed fields."""

    name: str
    fields: tuple[tuple[str, FieldType], ...]
    span: Span = field(default=ast.NO_SPAN, compare=False)


@dataclass(frozen=True)
class JoinSpec:
    """`join(A, B, ...).on(A.k == B.k).window(D)`: each source's key field, in source
    order, and how much older than an arriving row its partners may be (ms)."""

    keys: tuple[str, ...]
    window_ms: int


@dataclass(frozen=True)
class Stream:
    """One checked stream.

    `operations` keeps the data operations in program order (where, select, emit, print,
    aggregate, having); `.context`, `.partition_by`, `.window` and `.watermark` are lifted
    into fields.
    """

    name: str
    index: int
    inputs: tuple[StreamInput, ...]
    context: str | None
    operations: tuple[ast.Operation, ...]
    partition_keys: tuple[str, ...] = ()
    partition_span: Span | None = field(default=None, compare=False)
    window: WindowSpec | None = None
    watermark_ms: int = 0
    emit_context: str | None = None
    span: Span = field(default=ast.NO_SPAN, compare=False)
    sources: tuple[Binding, ...] = ()  # `.from(...)`: where a live run reads the events
    sinks: tuple[Binding, ...] = ()  # `.to(...)`: where a live run also sends the rows
    join: JoinSpec | None = None

    @property
    def reads_events(self) -> bool:
        """True when some input is an event type."""
        return any(i.kind is SourceKind.EVENT for i in self.inputs)

    def upstream(self) -> tuple[str, ...]:
        """The streams (not event types) this stream reads."""
        return tuple(i.name for i in self.inputs if i.kind is SourceKind.STREAM)


@dataclass(frozen=True)
class Program:
    """A whole checked program, ready for the planner."""

    source_name: str
    text: str
    contexts: tuple[Context, ...]
    events: tuple[EventSchema, ...]
    constants: tuple[tuple[str, object], ...]
    streams: tuple[Stream, ...]
    connectors: tuple[Connector, ...] = ()
    warnings: tuple[CheckWarning, ...] = ()  # reported, and the program still runs

    @contextmanager
    def errors_point_here(self) -> Iterator[None]:
        """Errors raised inside (planning, running) show this program's file and line."""
        try:
            yield
        except VbatchError as err:
            err.with_source(self.source_name, self.text)
            raise

    def stream(self, name: str) -> Stream:
        """The stream called `name`."""
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Stream]:
        return {s.name: s for s in self.streams}

    @cached_property
    def _readers(self) -> dict[str, tuple[Stream, ...]]:
        readers: dict[str, list[Stream]] = {}
        for s in self.streams:
            for name in dict.fromkeys(i.name for i in s.inputs):
                readers.setdefault(name, []).append(s)
        return {name: tuple(found) for name, found in readers.items()}

    def consumers(self, name: str) -> tuple[Stream, ...]:
        """Streams reading the stream or event type `name`, in declaration order."""
        return self._readers.get(name, ())

    def event_types(self) -> tuple[str, ...]:
        """Event types some stream reads, in order of first use."""
        names = [i.name for s in self.streams for i in s.inputs if i.kind is SourceKind.EVENT]
        return tuple(dict.fromkeys(names))

    def used_contexts(self) -> tuple[str, ...]:
        """Contexts some stream runs in, in declaration order."""
        used = {s.context for s in self.streams}
        return tuple(c.name for c in self.contexts if c.name in used)

    def topological_order(self) -> tuple[Stream, ...]:
        """Streams ordered so each comes after the streams it reads; ties by declaration."""
        return tuple(self.stream(name) for name in self._depths)

    def depth(self, name: str) -> int:
        """0 for a stream reading only events, else 1 + the largest depth of its inputs."""
        return self._depths[name]

    @cached_property
    def _depths(self) -> dict[str, int]:
        """Depth of every stream, in topological order (the checker has refused cycles)."""
        waiting = {s.name: len(set(s.upstream())) for s in self.streams}
        ready = [s.index for s in self.streams if waiting[s.name] == 0]
        heapq.heapify(ready)
        depths: dict[str, int] = {}
        while ready:
            stream = self.streams[heapq.heappop(ready)]
            depths[stream.name] = max((depths[u] + 1 for u in stream.upstream()), default=0)
            for reader in self.consumers(stream.name):
                waiting[reader.name] -= 1
                if waiting[reader.name] == 0:
                    heapq.heappush(ready, reader.index)
        return depths
