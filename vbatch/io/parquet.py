"""Parquet input: a file or a folder of files, streamed in bounded batches."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from vbatch.errors import InputError
from vbatch.io.bad_records import DeadLetters, without_bad_rows
from vbatch.io.columns import TYPE_COLUMN, event_columns, input_files, require_columns
from vbatch.io.formats import PARQUET_SUFFIXES
from vbatch.io.source import InputChunk, ReadOptions, ReadStats
from vbatch.io.table import EventSplitter

T = TypeVar("T")
READ_ROWS = 1 << 18  # rows decoded per read; chunks are slices of it
READ_AHEAD = 2  # batches decoded ahead, on a thread, while the caller splits the last one


# --- The Parquet reader -----------------------------------------------------------------------


class ParquetReader:
    """Events from a Parquet file or a folder of them, read `options.batch_size` rows at a time.

    >>> for chunk in ParquetReader("sensors.parquet", ReadOptions()): ...  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, options: ReadOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or ReadOptions()
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[InputChunk]:
        files = input_files(self.path, PARQUET_SUFFIXES)
        splitter = EventSplitter(self.options, _single_type(files))
        with DeadLetters(self.options, self.stats) as bad:
            # Decoding and splitting run on a reader thread, ahead of the engine.
            yield from read_ahead(self._all_chunks(files, splitter, bad), READ_AHEAD)

    def _all_chunks(
        self, files: list[Path], splitter: EventSplitter, bad: DeadLetters
    ) -> Iterator[InputChunk]:
        for file in files:
            yield from self._chunks(file, splitter, bad)

    def _chunks(
        self, file: Path, splitter: EventSplitter, bad: DeadLetters
    ) -> Iterator[InputChunk]:
        parquet = _open(file)
        names = parquet.schema_arrow.names
        columns = require_columns(event_columns(names, self.options, str(file)), names)
        first_row = 0
        for batch in _batches(parquet, self.options.batch_size, file):
            good = without_bad_rows(batch, columns, bad, str(file), first_row)
            chunk = splitter.split(good, columns, self.stats.events)
            self.stats.events += chunk.count
            first_row += batch.num_rows
            yield chunk


# --- Units: the input cut into pieces that processes can read on their own --------------------


@dataclass(frozen=True)
class Unit:
    """One row group of one file: the piece of input one process decodes at a time.

    `first_seq` is the arrival index of its first row (rows before it in earlier units
    and files), known from the files' metadata before anything is decoded.
    """

    file: str
    row_group: int
    first_seq: int
    rows: int


def parquet_units(path: str | Path) -> tuple[Unit, ...]:
    """The units of a Parquet file or folder, in input order."""
    units = []
    first = 0
    for file in input_files(Path(path), PARQUET_SUFFIXES):
        try:
            metadata = pq.read_metadata(file)
        except (OSError, pa.ArrowInvalid) as err:
            raise InputError(f"cannot read Parquet: {err}", path=str(file)) from err
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            units.append(Unit(str(file), group, first, rows))
            first += rows
    return tuple(units)


def single_type(path: str | Path, options: ReadOptions) -> bool:
    """True when every row of the input is of one event type (so its schema is the file's)."""
    return options.event_type is not None or _single_type(input_files(Path(path), PARQUET_SUFFIXES))


class UnitReader:
    """Decodes units into InputChunks, reading only `columns` (None: all of them).

    Bad rows are errors here (`ReadOptions.on_error` must be FAIL): a unit's arrival
    indexes are fixed before it is read, so a skipped row could not be left out of them.
    """

    def __init__(self, options: ReadOptions, columns: Sequence[str] | None) -> None:
        self.options = options
        self.columns = columns
        self.splitter = EventSplitter(options, single_type=True)
        self.stats = ReadStats()
        self._files: dict[str, pq.ParquetFile] = {}

    def read(self, unit: Unit) -> InputChunk:
        """The events of one unit."""
        parquet = self._files.get(unit.file)
        if parquet is None:
            parquet = self._files[unit.file] = _open(Path(unit.file))
        names = parquet.schema_arrow.names
        columns = require_columns(event_columns(names, self.options, unit.file), names)
        wanted = None
        if self.columns is not None:
            wanted = [c for c in names if c in {*self.columns, columns.time_column}]
            if columns.type_column is not None:
                wanted.append(columns.type_column)
        try:
            table = parquet.read_row_group(unit.row_group, columns=wanted, use_threads=False)
        except (OSError, pa.ArrowInvalid) as err:
            raise InputError(f"cannot read Parquet: {err}", path=unit.file) from err
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else None
        if batch is None:
            return InputChunk((), unit.first_seq, 0)
        with DeadLetters(self.options, self.stats) as bad:
            good = without_bad_rows(batch, columns, bad, unit.file, unit.first_seq)
        chunk = self.splitter.split(good, columns, unit.first_seq)
        self.stats.events += chunk.count
        return chunk


def _single_type(files: list[Path]) -> bool:
    """True when the files' statistics show one event type in every row group."""
    seen: set[object] = set()
    for file in files:
        try:
            metadata = pq.read_metadata(file)
        except (OSError, pa.ArrowInvalid):
            return False
        names = metadata.schema.names
        if TYPE_COLUMN not in names:
            return False
        column = names.index(TYPE_COLUMN)
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(column).statistics
            if stats is None or not stats.has_min_max or stats.min != stats.max:
                return False
            seen.add(stats.min)
    return len(seen) <= 1


def _open(file: Path) -> pq.ParquetFile:
    """A Parquet file whose string columns read as dictionaries: cheap to split and decode."""
    try:
        metadata = pq.read_metadata(file)  # read once: the schema and the file share it
        schema = metadata.schema.to_arrow_schema()
        strings = [f.name for f in schema if f.type in (pa.string(), pa.large_string())]
        return pq.ParquetFile(file, metadata=metadata, read_dictionary=strings, pre_buffer=False)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read Parquet: {err}", path=str(file)) from err


def _batches(parquet: pq.ParquetFile, batch_size: int, file: Path) -> Iterator[pa.RecordBatch]:
    """Batches of `batch_size` rows, sliced from larger reads (decoding is cheaper in bulk)."""
    try:
        for read in parquet.iter_batches(max(batch_size, READ_ROWS), use_threads=True):
            for start in range(0, read.num_rows, batch_size):
                yield read.slice(start, batch_size)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read Parquet: {err}", path=str(file)) from err


_DONE = object()


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items`, produced on a thread up to `depth` ahead (Arrow decoding releases the GIL)."""
    ready: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(ready, item, stop):
                    return
            _offer(ready, _DONE, stop)
        except BaseException as err:  # handed to the consumer, raised there
            _offer(ready, err, stop)

    threading.Thread(target=produce, name="vbatch-read-ahead", daemon=True).start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _offer(ready: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Put `item` once there is room; False if the consumer went away first."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
