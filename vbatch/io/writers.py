"""Output writers: JSON lines, Parquet and CSV, written atomically."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import EngineError
from vbatch.io.formats import OutputFormat
from vbatch.io.json_text import json_values, object_text, output_columns

PARQUET_ROW_GROUP_ROWS = 131_072


def _output_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = output_columns(batch)
    return pa.RecordBatch.from_arrays([c for _, c in columns], names=[n for n, _ in columns])


# --- Atomic files -----------------------------------------------------------------------------


class AtomicFile:
    """A file written under a temporary name beside `path`, renamed into place on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")

    def commit(self) -> None:
        """Move the finished file into place."""
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Remove the temporary file."""
        self.temp.unlink(missing_ok=True)


class _Folder:
    """An output folder: created on demand, and removed on abort if this run created it empty."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._created = False

    def file(self, name: str) -> AtomicFile:
        if not self.path.exists():
            self.path.mkdir(parents=True)
            self._created = True
        return AtomicFile(self.path / name)

    def discard(self) -> None:
        if self._created and not any(self.path.iterdir()):
            self.path.rmdir()


# --- Writers ----------------------------------------------------------------------------------


class OutputWriter(Protocol):
    """Receives per-stream output batches; `close` commits the output, `abort` removes it."""

    def write(self, stream: str, batch: pa.RecordBatch) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class JsonlWriter:
    """All streams into one JSON-lines file (or a binary file object such as stdout)."""

    def __init__(self, target: str | os.PathLike[str] | BinaryIO) -> None:
        self._atomic: AtomicFile | None = None
        if isinstance(target, (str, os.PathLike)):
            self._atomic = AtomicFile(Path(target))
            self._atomic.path.parent.mkdir(parents=True, exist_ok=True)
            self._out: BinaryIO = open(self._atomic.temp, "wb")  # noqa: SIM115 - closed in close()
        else:
            self._out = target
        self._done = False

    def write(self, stream: str, batch: pa.RecordBatch) -> None:
        """Append one line per row of `batch`, naming `stream`."""
        if batch.num_rows == 0:
            return
        lines = object_text(output_columns(batch), batch.num_rows, stream=stream, tail="}\n")
        self._out.write(joined_text(lines))

    def write_lines(self, objects: pa.Array) -> None:
        """Append JSON objects already rendered by `json_rows` (e.g. merged across streams)."""
        if len(objects):
            self._out.write(joined_text(pc.binary_join_element_wise(objects, "\n", "")))

    def flush(self) -> None:
        """Push written lines to the file."""
        self._out.flush()

    def close(self) -> None:
        """Finish the output: rename the file into place (or just flush a file object)."""
        if self._done:
            return
        self._done = True
        self._out.flush()
        if self._atomic is not None:
            self._out.close()
            self._atomic.commit()

    def abort(self) -> None:
        """Drop the output written so far (a file object keeps what was streamed)."""
        if self._done:
            return
        self._done = True
        if self._atomic is not None:
            self._out.close()
            self._atomic.discard()


def joined_text(lines: pa.Array) -> pa.Buffer:
    """The bytes of all strings of a string array, back to back (a slice of its data, no copy).

    >>> bytes(joined_text(pa.array(["a\\n", "b\\n"])))
    b'a\\nb\\n'
    """
    _, offsets, data = lines.buffers()
    if data is None or len(lines) == 0:
        return pa.py_buffer(b"")
    bounds = np.frombuffer(offsets, np.int32)[[lines.offset, lines.offset + len(lines)]]
    return data.slice(int(bounds[0]), int(bounds[1] - bounds[0]))


class _ParquetFile:
    """One stream's Parquet file: rows buffered into row groups, rewritten if its schema widens."""

    def __init__(self, atomic: AtomicFile, schema: pa.Schema) -> None:
        self.atomic, self.schema = atomic, schema
        import pyarrow.parquet as pq  # imported on use: it brings pandas along when installed

        self._writer = pq.ParquetWriter(atomic.temp, schema)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def append(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= PARQUET_ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, self.schema)
            self._writer.write_table(table, row_group_size=len(table))
            self._pending, self._pending_rows = [], 0

    def widen(self, schema: pa.Schema) -> None:
        """Copy the rows written so far into a new temporary file under the wider schema."""
        self._writer.close()
        old, self.atomic = self.atomic, AtomicFile(self.atomic.path)
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self.atomic.temp, schema)
        for batch in pq.ParquetFile(old.temp).iter_batches():
            self._writer.write_batch(batch.cast(schema))
        old.discard()
        self._pending = [b.cast(schema) for b in self._pending]
        self.schema = schema

    def close(self) -> None:
        self.flush()
        self._writer.close()


class _CsvFile:
    """One stream's CSV file, with a header; list and struct values are written as JSON text."""

    def __init__(self, atomic: AtomicFile, schema: pa.Schema) -> None:
        self.atomic, self.schema = atomic, schema
        self._out: BinaryIO = open(atomic.temp, "wb")  # noqa: SIM115 - closed in close()
        import pyarrow.csv as pacsv

        self._writer = pacsv.CSVWriter(self._out, _csv_schema(schema))

    def append(self, batch: pa.RecordBatch) -> None:
        columns = [_csv_column(c) for c in batch.columns]
        self._writer.write_batch(
            pa.RecordBatch.from_arrays(columns, schema=_csv_schema(self.schema))
        )

    def flush(self) -> None:
        self._out.flush()

    def widen(self, schema: pa.Schema) -> None:
        """Carry on under the wider schema; CSV text has no types, so earlier rows stay."""
        import pyarrow.csv as pacsv

        self._writer.close()
        options = pacsv.WriteOptions(include_header=False)
        self._writer = pacsv.CSVWriter(self._out, _csv_schema(schema), write_options=options)
        self.schema = schema

    def close(self) -> None:
        self._writer.close()
        self._out.close()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_nested(f.type) else f for f in schema]
    )


def _csv_column(column: pa.Array) -> pa.Array:
    if not pa.types.is_nested(column.type):
        return column
    return pc.if_else(pc.is_valid(column), json_values(column), pa.scalar(None, pa.string()))


class _StreamFile(Protocol):
    atomic: AtomicFile
    schema: pa.Schema

    def append(self, batch: pa.RecordBatch) -> None: ...
    def flush(self) -> None: ...
    def widen(self, schema: pa.Schema) -> None: ...
    def close(self) -> None: ...


class _FolderWriter:
    """One file per stream in a folder, each committed on `close` and removed on `abort`."""

    suffix = ""
    file_type: Callable[[AtomicFile, pa.Schema], _StreamFile]

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._folder = _Folder(folder)
        self._files: dict[str, _StreamFile] = {}
        self._done = False

    def write(self, stream: str, batch: pa.RecordBatch) -> None:
        """Append `batch` to the stream's file, widening its schema (int → float) if needed."""
        batch = _output_batch(batch)
        out = self._files.get(stream)
        if out is None:
            atomic = self._folder.file(f"{stream}{self.suffix}")
            out = self._files[stream] = self.file_type(atomic, batch.schema)
        elif batch.schema != out.schema:
            wider = _unified(out.schema, batch.schema, stream)
            if wider != out.schema:
                out.widen(wider)
            batch = batch.cast(wider)
        out.append(batch)

    def flush(self) -> None:
        """Write buffered rows out."""
        for out in self._files.values():
            out.flush()

    def close(self) -> None:
        """Finish every stream's file and rename it into place."""
        if self._done:
            return
        self._done = True
        for out in self._files.values():
            out.close()
        for out in self._files.values():
            out.atomic.commit()

    def abort(self) -> None:
        """Remove every partial file (and the folder, if this writer created it)."""
        if self._done:
            return
        self._done = True
        for out in self._files.values():
            out.close()
            out.atomic.discard()
        self._folder.discard()


def _unified(old: pa.Schema, new: pa.Schema, stream: str) -> pa.Schema:
    if old.names != new.names:
        msg = f"stream {stream} changed its fields from {old.names} to {new.names}"
        raise EngineError(msg)
    try:
        return pa.unify_schemas([old, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        msg = f"stream {stream}: {err}"
        raise EngineError(msg) from err


class ParquetWriter(_FolderWriter):
    """One Parquet file per stream, `<folder>/<Stream>.parquet`, in row groups of ~128k rows."""

    suffix = ".parquet"
    file_type = _ParquetFile


class CsvWriter(_FolderWriter):
    """One CSV file per stream, `<folder>/<Stream>.csv`, with a header row."""

    suffix = ".csv"
    file_type = _CsvFile


_WRITERS: dict[OutputFormat, Callable[..., OutputWriter]] = {
    OutputFormat.JSONL: JsonlWriter,
    OutputFormat.PARQUET: ParquetWriter,
    OutputFormat.CSV: CsvWriter,
}


def open_writer(fmt: OutputFormat, target: str | os.PathLike[str] | BinaryIO) -> OutputWriter:
    """A writer for `fmt`: JSON lines go to one file or file object, Parquet/CSV to a folder.

    >>> open_writer(OutputFormat.JSONL, io.BytesIO())  # doctest: +SKIP
    """
    return _WRITERS[fmt](target)
