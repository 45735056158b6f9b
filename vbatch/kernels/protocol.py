"""The one protocol every kernel follows, and what flows between kernels.

A kernel is lowered from one plan operator for a known input schema. It processes a
`Frame` (a batch of rows plus, before a window, how the watermark moved over the
stream's source rows), may be told that the watermark moved without rows (`advance`),
and is told when the input ends (`finish`). Stateless kernels answer `advance` and
`finish` with nothing. Besides its output, a kernel may show rows on the console through
its `Side` (prints, filter explanations, window rows); it never touches metrics, queues
or processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np
import pyarrow as pa

from vbatch.kernels.clock import Tick


class EmitKind(Enum):
    """What an emitted batch is: stream output, or something shown only on the console."""

    OUTPUT = 0
    WINDOW = 1
    FILTERED = 2
    PRINT = 3


Side = Callable[[EmitKind, pa.RecordBatch], None]


@dataclass(frozen=True)
class Frame:
    """Rows moving through a stream's kernels.

    `tick` is how the watermark moved over the source rows this frame came from (None
    after a window); `positions` says which of those rows the batch still holds (None:
    all of them), so a window decides lateness exactly as if rows came one at a time.
    """

    batch: pa.RecordBatch
    tick: Tick | None = None
    positions: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return self.batch.num_rows


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A batch with no rows, of `schema` (kernels derive their output schema from one)."""
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


class Kernel(Protocol):
    """A kernel: `schema` is the schema of the batches it outputs."""

    schema: pa.Schema
    stateful: bool

    def process(self, frame: Frame) -> Frame | None:
        """Rows in, rows out (None: nothing for the kernels after this one)."""
        ...

    def advance(self, tick: Tick) -> pa.RecordBatch | None:
        """The watermark moved without rows (a live sweep); rows it releases, if any."""
        ...

    def finish(self, end_seq: int) -> pa.RecordBatch | None:
        """End of input: rows still held, if any."""
        ...


class Stateless:
    """Base of kernels that keep nothing between batches."""

    stateful = False

    def advance(self, tick: Tick) -> pa.RecordBatch | None:
        """Nothing is held, so nothing is released."""
        return None

    def finish(self, end_seq: int) -> pa.RecordBatch | None:
        """Nothing is held, so nothing is released."""
        return None
