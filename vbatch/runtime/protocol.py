"""What travels on the queues between the coordinator and the context workers.

Data items are record batches whose tag says where the rows come from (an event type or a
stream) or, on result queues, which stream emitted them and as what. Control items are
small messages: the end of an input chunk ("epoch"), the end of input, a failure.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

import pyarrow as pa

from vbatch.errors import EngineError, Span, VbatchError
from vbatch.figures import StreamCounters
from vbatch.kernels.protocol import EmitKind
from vbatch.kernels.slots import owned_array
from vbatch.plan.logical import LogicalPlan


class Control(IntEnum):
    """Tags of control messages."""

    END_EPOCH = 1
    FINISH = 2
    FAILED = 3
    ADVANCE = 4


@dataclass(frozen=True)
class Sources:
    """Numbers for every event type and stream, shared by all processes."""

    names: tuple[str, ...]

    @classmethod
    def of(cls, plan: LogicalPlan) -> Sources:
        """Event types first, then streams in plan order."""
        return cls(tuple(plan.event_types) + tuple(s.name for s in plan.streams))

    @cached_property
    def _tags(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def tag(self, name: str) -> int:
        """The number of a source."""
        return self._tags[name]

    def name(self, tag: int) -> str:
        """The source a number stands for (rows or clock)."""
        return self.names[tag % len(self.names)]

    def clock_tag(self, name: str) -> int:
        """The number of a source's clock: `_ts`, `_seq` of all its rows of an epoch."""
        return self._tags[name] + len(self.names)

    def is_clock(self, tag: int) -> bool:
        """True for the tag of a clock."""
        return tag >= len(self.names)

    def result_tag(self, stream: str, kind: EmitKind) -> int:
        """Tag of an emitted batch on a result queue."""
        return self.tag(stream) * 8 + kind.value

    def from_result_tag(self, tag: int) -> tuple[str, EmitKind]:
        """(stream, kind) of a result-queue tag."""
        return self.name(tag // 8), EmitKind(tag % 8)


def owned(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A copy of `batch` in ordinary memory (queue slots are reused once released)."""
    return pa.RecordBatch.from_arrays([owned_array(c) for c in batch.columns], schema=batch.schema)


@dataclass(frozen=True)
class Failure:
    """A worker's error, sent to the coordinator and raised there again."""

    context: str
    kind: str
    message: str
    exit_code: int
    span: Span | None = None
    hint: str | None = None

    @classmethod
    def of(cls, context: str, err: BaseException) -> Failure:
        """Describe an exception raised in a worker."""
        if isinstance(err, VbatchError):
            kind = type(err).__name__
            return cls(context, kind, err.message, err.exit_code, err.span, err.hint)
        return cls(context, type(err).__name__, str(err), EngineError.exit_code)

    def error(self) -> VbatchError:
        """The error to raise in the coordinator."""
        if self.span is not None:
            err = VbatchError(self.message, self.span, hint=self.hint)
            err.exit_code = self.exit_code
            return err
        text = f"context `{self.context}` failed: {self.kind}: {self.message}"
        return EngineError(text, hint=self.hint)

    def encode(self) -> bytes:
        """Bytes for a control message."""
        return pickle.dumps(self)


@dataclass(frozen=True)
class Finished:
    """A worker's report at the end of an epoch: its streams' counters so far, and how many
    events it read for the epoch when it reads the input itself."""

    counters: dict[str, StreamCounters]
    events: int = 0

    def encode(self) -> bytes:
        """Bytes for a control message."""
        return pickle.dumps(self)


def advance_payload(event_time: int, seq: int) -> bytes:
    """The payload of an ADVANCE marker."""
    return f"{event_time},{seq}".encode()


def advance_values(payload: bytes) -> tuple[int, int]:
    """(event_time, seq) of an ADVANCE marker."""
    event_time, seq = payload.decode().split(",")
    return int(event_time), int(seq)


def decode(payload: bytes) -> object:
    """A Failure or Finished from a control message (only ever from our own workers)."""
    return pickle.loads(payload)  # noqa: S301 - written by this program's own processes
