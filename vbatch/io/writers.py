"""Output writers: JSON lines, Parquet and CSV; regular files are written atomically.

A writer that cannot write (a full disk, a read-only file system, a name too long) removes
what it wrote and raises an InputError naming the file (exit 2); `abort` after a failure,
even halfway through a Parquet row group, only cleans up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import EngineError, InputError
from vbatch.io.formats import OutputFormat
from vbatch.io.json_text import json_values, object_text, output_columns

PARQUET_ROW_GROUP_ROWS = 131_072


def _output_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = output_columns(batch)
    return pa.RecordBatch.from_arrays([c for _, c in columns], names=[n for n, _ in columns])


# --- Output files -----------------------------------------------------------------------------

_TEMP_NAME_BYTES = 200  # of the target's name kept in its temporary name (NAME_MAX is 255)


class OutputFile:
    """Where one output file goes.

    A regular file, or a new path, is written under a temporary name beside it and renamed
    into place on commit (a symlink's target is the file replaced, the link stays); a device
    or FIFO (`/dev/null`, a named pipe) is written straight through: there is nothing to
    rename, and a failed run cannot take back what it already wrote there. `in_place` writes
    a regular file straight through too (a live run's output, readable as it grows).
    """

    def __init__(self, path: Path, *, in_place: bool = False) -> None:
        with writing(path):
            existing = path.stat() if path.exists() else None
        self.direct = in_place or (existing is not None and not stat.S_ISREG(existing.st_mode))
        self.path = path if self.direct or not path.is_symlink() else Path(os.path.realpath(path))
        name = self.path.name.encode()[:_TEMP_NAME_BYTES].decode(errors="ignore")
        temp = f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        self.temp = self.path if self.direct else self.path.with_name(temp)

    def open(self) -> BinaryIO:
        """The file to write into, its folder created if need be."""
        with writing(self.path):
            if not self.direct:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.temp, "wb")  # noqa: SIM115 - closed by the writer

    def commit(self) -> None:
        """Move the finished file into place."""
        if not self.direct:
            with writing(self.path):
                os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Remove the temporary file."""
        if not self.direct:
            with contextlib.suppress(OSError):
                self.temp.unlink(missing_ok=True)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an operating-system error writing `path` into an InputError naming it (exit 2)."""
    try:
        yield
    except OSError as err:
        raise write_error(path, err) from err


def write_error(path: Path, err: OSError) -> InputError:
    """The error to report when `path` cannot be written."""
    reason = err.strerror or str(err)
    hint = "free some space, or write the output elsewhere" if err.errno == errno.ENOSPC else None
    return InputError(f"cannot write: {reason}", path=str(path), hint=hint)


class _Folder:
    """An output folder: created on demand, and removed on abort if this run created it empty."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._created = False

    def file(self, name: str) -> OutputFile:
        with writing(self.path):
            if not self.path.exists():
                self.path.mkdir(parents=True)
                self._created = True
        return OutputFile(self.path / name)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
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
    """All streams into one JSON-lines file (or a binary file object such as stdout).

    `in_place`: the file is emptied at once and every `flush` leaves whole lines in it;
    a failed run keeps what it wrote (a live run's output).
    """

    def __init__(
        self, target: str | os.PathLike[str] | BinaryIO, *, in_place: bool = False
    ) -> None:
        self._file: OutputFile | None = None
        if isinstance(target, (str, os.PathLike)):
            self._file = OutputFile(Path(target), in_place=in_place)
            self._out: BinaryIO = self._file.open()
        else:
            self._out = target
        self._done = False

    def write(self, stream: str, batch: pa.RecordBatch) -> None:
        """Append one line per row of `batch`, naming `stream`."""
        if batch.num_rows == 0:
            return
        lines = object_text(output_columns(batch), batch.num_rows, stream=stream, tail="}\n")
        with self._or_abort():
            self._out.write(joined_text(lines))

    def write_lines(self, objects: pa.Array) -> None:
        """Append JSON objects already rendered by `json_rows` (e.g. merged across streams)."""
        if len(objects):
            with self._or_abort():
                self._out.write(joined_text(pc.binary_join_element_wise(objects, "\n", "")))

    def flush(self) -> None:
        """Push written lines to the file."""
        with self._or_abort():
            self._out.flush()

    def close(self) -> None:
        """Finish the output: rename the file into place (or just flush a file object)."""
        if self._done:
            return
        with self._or_abort():
            self._out.flush()
            if self._file is not None:
                self._out.close()
                self._file.commit()
        self._done = True

    def abort(self) -> None:
        """Drop the output written so far (a file object, or a file written in place, keeps
        what was streamed)."""
        if self._done:
            return
        self._done = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._file.discard()

    @contextlib.contextmanager
    def _or_abort(self) -> Iterator[None]:
        """A file that cannot be written is removed and reported (a file object's error, such
        as a closed pipe, is the caller's)."""
        try:
            yield
        except OSError as err:
            if self._file is None:
                raise
            self.abort()
            raise write_error(self._file.path, err) from err


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


def _parquet_options(schema: pa.Schema) -> dict[str, object]:
    """Event time is nearly unique and rising: delta-encoded it is three times smaller and
    faster to write than a dictionary that overflows; other columns keep pyarrow's default."""
    if "_ts" not in schema.names:
        return {}
    others = [name for name in schema.names if name != "_ts"]
    return {"use_dictionary": others, "column_encoding": {"_ts": "DELTA_BINARY_PACKED"}}


class _ParquetFile:
    """One stream's Parquet file: rows buffered into row groups, rewritten if its schema widens."""

    def __init__(self, file: OutputFile, schema: pa.Schema) -> None:
        self.file, self.schema = file, schema
        import pyarrow.parquet as pq  # imported on use: it brings pandas along when installed

        self._writer = pq.ParquetWriter(file.temp, schema, **_parquet_options(schema))
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
        old, self.file = self.file, OutputFile(self.file.path)
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self.file.temp, schema, **_parquet_options(schema))
        for batch in pq.ParquetFile(old.temp).iter_batches():
            self._writer.write_batch(batch.cast(schema))
        old.discard()
        self._pending = [b.cast(schema) for b in self._pending]
        self.schema = schema

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def abort(self) -> None:
        """Close a writer that may have failed halfway (pyarrow then refuses: "Only 0 out of 4
        columns are initialized"); the file is discarded anyway."""
        self._pending = []
        with contextlib.suppress(OSError, pa.ArrowException):
            self._writer.close()
        self.file.discard()


class _CsvFile:
    """One stream's CSV file, with a header; list and struct values are written as JSON text."""

    def __init__(self, file: OutputFile, schema: pa.Schema) -> None:
        self.file, self.schema = file, schema
        self._out: BinaryIO = file.open()
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

    def abort(self) -> None:
        """Close what may have failed halfway; the file is discarded anyway."""
        with contextlib.suppress(OSError, pa.ArrowException):
            self._writer.close()
        with contextlib.suppress(OSError):
            self._out.close()
        self.file.discard()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [f.with_type(pa.string()) if pa.types.is_nested(f.type) else f for f in schema]
    )


def _csv_column(column: pa.Array) -> pa.Array:
    if not pa.types.is_nested(column.type):
        return column
    return pc.if_else(pc.is_valid(column), json_values(column), pa.scalar(None, pa.string()))


class _StreamFile(Protocol):
    file: OutputFile
    schema: pa.Schema

    def append(self, batch: pa.RecordBatch) -> None: ...
    def flush(self) -> None: ...
    def widen(self, schema: pa.Schema) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class _FolderWriter:
    """One file per stream in a folder, each committed on `close` and removed on `abort`."""

    suffix = ""
    file_type: Callable[[OutputFile, pa.Schema], _StreamFile]

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._folder = _Folder(folder)
        self._files: dict[str, _StreamFile] = {}
        self._done = False

    def write(self, stream: str, batch: pa.RecordBatch) -> None:
        """Append `batch` to the stream's file, widening its schema (int → float) if needed."""
        batch = _output_batch(batch)
        path = self._folder.path / f"{stream}{self.suffix}"
        with self._or_abort(path):
            out = self._files.get(stream)
            if out is None:
                file = self._folder.file(path.name)
                out = self._files[stream] = self.file_type(file, batch.schema)
            elif batch.schema != out.schema:
                wider = _unified(out.schema, batch.schema, stream)
                if wider != out.schema:
                    out.widen(wider)
                batch = batch.cast(wider)
            out.append(batch)

    def flush(self) -> None:
        """Write buffered rows out."""
        for out in self._files.values():
            with self._or_abort(out.file.path):
                out.flush()

    def close(self) -> None:
        """Finish every stream's file and rename it into place."""
        if self._done:
            return
        for out in self._files.values():
            with self._or_abort(out.file.path):
                out.close()
        for out in self._files.values():
            with self._or_abort(out.file.path):
                out.file.commit()
        self._done = True

    def abort(self) -> None:
        """Remove every partial file (and the folder, if this writer created it)."""
        if self._done:
            return
        self._done = True
        for out in self._files.values():
            out.abort()
        self._folder.discard()

    @contextlib.contextmanager
    def _or_abort(self, path: Path) -> Iterator[None]:
        """A file that cannot be written: everything is removed, and the error names it."""
        try:
            yield
        except InputError:
            self.abort()
            raise
        except OSError as err:
            self.abort()
            raise write_error(path, err) from err


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
