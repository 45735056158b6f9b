"""Tabular inputs split into one batch per event type, and the reader of in-memory tables."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import InputError
from vbatch.io.bad_records import DeadLetters, without_bad_rows
from vbatch.io.columns import (
    TYPE_HINT,
    EventColumns,
    FirstKeys,
    KeyOrder,
    TypeSchemas,
    event_columns,
    event_times,
    normal_type,
    normalised,
    require_columns,
)
from vbatch.io.source import (
    SEQ,
    TS,
    EventBatch,
    InputChunk,
    ReadOptions,
    ReadStats,
)

# --- Splitting rows by event type -------------------------------------------------------------


class EventSplitter:
    """Turns rows in arrival order into one EventBatch per event type, with stable schemas."""

    def __init__(self, options: ReadOptions, single_type: bool = False) -> None:
        self.schemas = TypeSchemas(options, single_type)

    def split(
        self,
        batch: pa.RecordBatch,
        columns: EventColumns,
        first_seq: int,
        key_order: KeyOrder | None = None,
    ) -> InputChunk:
        """The chunk of `batch` (good rows only), `_seq` counting from `first_seq`."""
        if batch.num_rows == 0:
            return InputChunk((), first_seq, 0)
        framed = frame(batch, columns)
        if columns.type_column is None:
            order, groups = None, [(columns.event_type or "", 0, batch.num_rows)]
        else:
            order, groups = _type_groups(batch.column(columns.type_column), columns)
        if order is None:
            positions = np.arange(first_seq, first_seq + batch.num_rows, dtype=np.int64)
        else:
            framed, positions = framed.take(order), first_seq + order.to_numpy()
        events = []
        for name, at, size in groups:
            seq = positions[at:][:size]
            keys = partial(key_order, int(seq[0] - first_seq)) if key_order else None
            events.append(self.event_batch(name, framed.slice(at, size), seq, columns.path, keys))
        return InputChunk(tuple(events), first_seq, batch.num_rows)

    def event_batch(
        self,
        event_type: str,
        framed: pa.RecordBatch,
        seq: np.ndarray,
        path: str,
        keys: FirstKeys | None = None,
    ) -> EventBatch:
        """An EventBatch of rows of one type: their `_ts` and fields (see `frame`), and `_seq`."""
        values = self.schemas.fit(event_type, framed.drop_columns([TS]), path, keys)
        names = [TS, SEQ, *self.schemas.schema(event_type).names]
        arrays = [framed.column(0), pa.array(seq, pa.int64()), *values]
        return EventBatch(event_type, pa.RecordBatch.from_arrays(arrays, names=names))


def frame(batch: pa.RecordBatch, columns: EventColumns) -> pa.RecordBatch:
    """`_ts` (int64 ms), then every column but the type, time and reserved ones."""
    reserved = {columns.type_column, columns.time_column, TS, SEQ}
    names = [n for n in batch.schema.names if n not in reserved]
    times = event_times(batch.column(columns.time_column), columns)
    arrays = [times, *(batch.column(n) for n in names)]
    return pa.RecordBatch.from_arrays(arrays, names=[TS, *names])


def _type_groups(
    types: pa.Array, columns: EventColumns
) -> tuple[pa.Array | None, list[tuple[str, int, int]]]:
    """Row order grouping rows by type (None: one type); (type, start, size) of each group."""
    types, names = _type_codes(types, columns)
    codes = types.indices.to_numpy()
    if codes.min() == codes.max():
        return None, [(names[codes[0]], 0, len(codes))]
    order = pc.sort_indices(types.indices)  # stable: arrival order within each type
    counts = np.bincount(codes, minlength=len(names))
    starts = np.cumsum(counts) - counts
    present = np.flatnonzero(counts)
    present = present[np.argsort(order.to_numpy()[starts[present]])]
    return order, [(names[c], int(starts[c]), int(counts[c])) for c in present]


def _type_codes(types: pa.Array, columns: EventColumns) -> tuple[pa.Array, list[str]]:
    """The type column as a dictionary array (codes), and the type name of each code."""
    if not pa.types.is_dictionary(types.type) or _has_duplicates(types.dictionary):
        types = normalised(types).dictionary_encode()
    if not pa.types.is_string(normal_type(types.type.value_type)):
        msg = f"event type column '{columns.type_column}' holds {types.type.value_type} values"
        raise InputError(msg, path=columns.path, hint="event types must be strings; " + TYPE_HINT)
    names = normalised(types.dictionary).to_pylist()
    return types, names


def _has_duplicates(dictionary: pa.Array) -> bool:
    return len(dictionary.unique()) != len(dictionary)


# --- In-memory tables -------------------------------------------------------------------------


class TableReader:
    """Events from a pyarrow Table, RecordBatch or RecordBatchReader, with Parquet's conventions.

    >>> table = pa.table({"_ts": [0, 5], "event_type": ["E", "E"], "x": [1, 2]})
    >>> [c.count for c in TableReader(table, ReadOptions())]
    [2]
    """

    def __init__(
        self, source: pa.Table | pa.RecordBatch | pa.RecordBatchReader, options: ReadOptions
    ) -> None:
        self.source = source
        self.options = options
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[InputChunk]:
        names = self.source.schema.names
        columns = require_columns(event_columns(names, self.options, "<table>"), names)
        splitter = EventSplitter(self.options, self._single_type(columns))
        first_row = 0
        with DeadLetters(self.options, self.stats) as bad:
            for batch in self._batches():
                good = without_bad_rows(batch, columns, bad, "<table>", first_row)
                chunk = splitter.split(good, columns, self.stats.events)
                self.stats.events += chunk.count
                first_row += batch.num_rows
                yield chunk

    def _single_type(self, columns: EventColumns) -> bool:
        """True when every row has the same event type (then typed all-null columns are kept)."""
        if columns.type_column is None or isinstance(self.source, pa.RecordBatchReader):
            return columns.type_column is None
        return pc.count_distinct(self.source.column(columns.type_column)).as_py() <= 1

    def _batches(self) -> Iterator[pa.RecordBatch]:
        size = self.options.batch_size
        if isinstance(self.source, pa.RecordBatch):
            batches: Iterator[pa.RecordBatch] = iter([self.source])
        elif isinstance(self.source, pa.Table):
            batches = iter(self.source.combine_chunks().to_batches())
        else:
            batches = iter(self.source)
        for batch in batches:
            for start in range(0, batch.num_rows, size):
                yield batch.slice(start, size)
