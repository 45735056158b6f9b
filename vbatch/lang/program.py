"""A checked program: every name resolved, constants folded, windows and contexts validated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

from vbatch.errors import Span, VbatchError
from vbatch.lang import ast


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
class Stream:
    """One checked stream.

    `operations` keeps the data operations in program order (where, select, emit, print,
    aggregate, having); `.context`, `.partition_by`, `.window` and `.watermark` are lifted
    into fields.
    """

    name: str
    index: int
    source: str
    source_kind: SourceKind
    context: str | None
    operations: tuple[ast.Operation, ...]
    partition_keys: tuple[str, ...] = ()
    window: WindowSpec | None = None
    watermark_ms: int = 0
    emit_context: str | None = None
    span: Span = field(default=ast.NO_SPAN, compare=False)


@dataclass(frozen=True)
class Program:
    """A whole checked program, ready for the planner."""

    source_name: str
    text: str
    contexts: tuple[Context, ...]
    events: tuple[EventSchema, ...]
    constants: tuple[tuple[str, object], ...]
    streams: tuple[Stream, ...]

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
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(name)

    def consumers(self, name: str) -> tuple[Stream, ...]:
        """Streams whose source is the stream or event type `name`, in declaration order."""
        return tuple(s for s in self.streams if s.source == name)

    def event_types(self) -> tuple[str, ...]:
        """Event types some stream reads, in order of first use."""
        names = [s.source for s in self.streams if s.source_kind is SourceKind.EVENT]
        return tuple(dict.fromkeys(names))

    def used_contexts(self) -> tuple[str, ...]:
        """Contexts some stream runs in, in declaration order."""
        used = {s.context for s in self.streams}
        return tuple(c.name for c in self.contexts if c.name in used)

    def topological_order(self) -> tuple[Stream, ...]:
        """Streams ordered so each comes after the stream it reads; ties by declaration."""
        placed: dict[str, Stream] = {}
        pending = list(self.streams)
        while pending:
            for s in pending:
                if s.source_kind is SourceKind.EVENT or s.source in placed:
                    placed[s.name] = s
                    pending.remove(s)
                    break
        return tuple(placed.values())

    def depth(self, name: str) -> int:
        """0 for a stream reading events, 1 + its source's depth otherwise."""
        s = self.stream(name)
        return 0 if s.source_kind is SourceKind.EVENT else 1 + self.depth(s.source)
