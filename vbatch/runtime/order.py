"""The deterministic order of outputs across streams.

Each output row sorts by: the arrival that caused it (`_seq`), the end of the window it
came from (per-event rows first), the stream it is ordered with (`__root`) and the window's
partition (`__ord`: the `_seq` of the partition's first row), then the stream's depth
(readers after the stream they read), the kind of row (a window's own row before what it
emits), the stream's declaration order and the row's position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.clock import Tick
from vbatch.kernels.protocol import EmitKind, Frame, Kernel
from vbatch.kernels.window import PARTITION
from vbatch.plan.logical import StreamPlan

WEND = "__wend"
ROOT = "__root"
ORD = "__ord"
FIRST = np.iinfo(np.int64).min
KIND_RANK = {EmitKind.WINDOW: 0, EmitKind.PRINT: 1, EmitKind.OUTPUT: 2, EmitKind.FILTERED: 2}
EVENT_RANK = -1

Keys = tuple[np.ndarray, ...]


class OrderedWindow:
    """A window kernel whose rows get the global order columns `__wend`, `__root`, `__ord`.

    Window rows sort by window end, then by the stream they are ordered with (`root`) and
    their partition in first-seen order; readers downstream keep the columns.
    """

    stateful = True

    def __init__(self, kernel: Kernel, root: int) -> None:
        self.kernel = kernel
        self.root = root
        names = [n for n in kernel.schema.names if n != PARTITION]
        fields = [kernel.schema.field(n) for n in names]
        extra = [pa.field(name, pa.int64()) for name in (WEND, ROOT, ORD)]
        self.schema = pa.schema([*fields, *extra])

    def process(self, frame: Frame) -> Frame | None:
        """The window's rows, placed."""
        result = self.kernel.process(frame)
        return Frame(self._placed(result.batch)) if result is not None else None

    def advance(self, tick: Tick) -> pa.RecordBatch | None:
        """Rows the watermark released, placed."""
        released = self.kernel.advance(tick)
        return self._placed(released) if released is not None else None

    def finish(self, end_seq: int) -> pa.RecordBatch | None:
        """Rows still open at the end, placed."""
        released = self.kernel.finish(end_seq)
        return self._placed(released) if released is not None else None

    def _placed(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        index = batch.schema.get_field_index(PARTITION)
        partition = batch.column(index)
        batch = batch.remove_column(index)
        batch = batch.append_column(WEND, batch.column("_window_end"))
        batch = batch.append_column(ROOT, pa.repeat(pa.scalar(self.root, pa.int64()), len(batch)))
        return batch.append_column(ORD, partition)


def row_keys(batch: pa.RecordBatch, stream: StreamPlan, kind: EmitKind) -> Keys:
    """Sort keys of every row of an emitted batch."""
    n = batch.num_rows
    return (
        batch.column("_seq").to_numpy(),
        _column_or(batch, WEND, FIRST, n),
        _column_or(batch, ROOT, stream.root, n),
        _column_or(batch, ORD, FIRST, n),
        np.full(n, stream.depth, np.int64),
        np.full(n, KIND_RANK[kind], np.int64),
        np.full(n, stream.index, np.int64),
        np.arange(n, dtype=np.int64),
    )


def event_keys(seq: np.ndarray) -> Keys:
    """Sort keys of input events: before anything they cause."""
    n = len(seq)
    first = np.full(n, FIRST, np.int64)
    rank = np.full(n, EVENT_RANK)
    return (seq, first, first, first, rank, first, first, np.arange(n, dtype=np.int64))


def merge_order(keys: Sequence[Keys]) -> tuple[np.ndarray, np.ndarray]:
    """For keyed parts, the (part, row) pairs in output order."""
    if not keys:
        empty = np.zeros(0, np.int64)
        return empty, empty
    columns = [np.concatenate([k[i] for k in keys]) for i in range(len(keys[0]))]
    part = np.concatenate([np.full(len(k[0]), i, np.int64) for i, k in enumerate(keys)])
    *leading, position = columns
    order = np.lexsort((position, part, *reversed(leading)))
    return part[order], columns[-1][order]


def _column_or(batch: pa.RecordBatch, name: str, default: int, n: int) -> np.ndarray:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return np.full(n, default, np.int64)
    return batch.column(index).to_numpy()


def in_output_order(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Rows of one stream that came from several shards, as one batch in output order."""
    table = pa.Table.from_batches(batches)
    keys = [(name, "ascending") for name in ("_seq", WEND, ROOT, ORD) if name in table.schema.names]
    ordered = table.take(pc.sort_indices(table, keys))  # a stable sort: ties keep shard order
    return ordered.combine_chunks().to_batches()[0]
