"""What every input reader yields, and the options they all take."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

TS = "_ts"
SEQ = "_seq"
DEFAULT_BATCH_SIZE = 65_536
MAX_LINE_BYTES = 1 << 20  # a longer .evt / JSON line is refused, not buffered
MAX_NESTING = 64  # lists or JSON objects nested deeper in a value are refused
# Event times beyond ±2**61 ms (about ±73 million years) are refused: with durations bounded
# alike, window starts, ends and watermarks computed from them stay inside int64.
MAX_TIME_MS = 1 << 61


@dataclass(frozen=True)
class EventBatch:
    """Events of one type: a RecordBatch with `_ts` (int64 ms) and `_seq` (int64) first."""

    event_type: str
    batch: pa.RecordBatch

    @property
    def num_rows(self) -> int:
        """Number of events in the batch."""
        return self.batch.num_rows


@dataclass(frozen=True)
class InputChunk:
    """A bounded slice of the input in arrival order, split into one batch per event type.

    `_seq` values of the chunk are exactly first_seq .. first_seq + count - 1, spread over
    the batches; a chunk may hold no batches when every line in it was a comment.
    """

    batches: tuple[EventBatch, ...]
    first_seq: int
    count: int


@dataclass(frozen=True)
class Sweep:
    """No input, but time has passed: windows an idle stream's clock has passed may close.

    Live runs send one between chunks while the input is quiet; `event_time` is the input's
    clock now and `next_seq` the seq the next event will get.
    """

    event_time: int
    next_seq: int

    def as_chunk(self) -> InputChunk:
        """An empty chunk standing for the sweep, for sinks."""
        return InputChunk((), self.next_seq, 0)


class ErrorPolicy(Enum):
    """What a reader does with a malformed record."""

    FAIL = "fail"
    SKIP = "skip"


@dataclass
class ReadStats:
    """Counters a reader keeps while it runs."""

    events: int = 0
    bad_records: int = 0


@dataclass(frozen=True)
class ReadOptions:
    """Options shared by every reader.

    - `schemas`: declared field types per event type (from `event` declarations); fields
      are cast to them and other fields are dropped. Types not listed are inferred.
    - `event_type`: the type of every row (Parquet / JSON lines without an `event_type` column).
    - `time_column`: the column holding event time (Parquet / JSON lines).
    - `dead_letter`: where skipped records go, one JSON object per line, with `on_error=SKIP`.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    on_error: ErrorPolicy = ErrorPolicy.FAIL
    dead_letter: Path | None = None
    schemas: Mapping[str, pa.Schema] = field(default_factory=dict)
    event_type: str | None = None
    time_column: str | None = None


class EventReader(Protocol):
    """A reader: iterate to get chunks in arrival order; `stats` is filled in as it goes."""

    stats: ReadStats

    def __iter__(self) -> Iterator[InputChunk]: ...
