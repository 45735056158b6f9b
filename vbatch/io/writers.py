"""Output writers: JSON lines, Parquet and CSV, written atomically, built from whole columns."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import EngineError
from vbatch.io.source import SEQ

PARQUET_ROW_GROUP_ROWS = 131_072
# Bytes a JSON string must escape; of those, control characters other than \n \r \t are rare
# enough to go through json.dumps one row at a time.
_ESCAPED_BYTES = np.zeros(256, bool)
_ESCAPED_BYTES[[*range(0x20), ord('"'), ord("\\")]] = True
_NEEDS_DUMPS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_NULL_TEXT = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class _Fragment:
    """A column's JSON text; `quoted`: strings without nulls, still to be put between quotes
    (the quotes then join the literal pieces around them, which saves a pass)."""

    text: pa.Array
    quoted: bool = False

    def whole(self) -> pa.Array:
        """The JSON text with the quotes in."""
        return pc.binary_join_element_wise('"', self.text, '"', "") if self.quoted else self.text


Encoder = Callable[[pa.Array], _Fragment]


# --- JSON text of whole columns ---------------------------------------------------------------


def json_values(array: pa.Array) -> pa.Array:
    """JSON text of each value of `array`, as strings; null, NaN and inf become `null`.

    >>> json_values(pa.array([1.0, None, 2.5])).to_pylist()
    ['1.0', 'null', '2.5']
    """
    return _fragment(array).whole()


def json_rows(batch: pa.RecordBatch, *, stream: str | None = None) -> pa.Array:
    """One JSON object per row (`{"stream": ..., "_ts": ..., ...}`), as a string array.

    >>> json_rows(pa.record_batch({"a": [1]}), stream="S").to_pylist()
    ['{"stream": "S", "a": 1}']
    """
    return _object_text(_output_columns(batch), batch.num_rows, stream=stream, tail="}")


def _fragment(array: pa.Array) -> _Fragment:
    for accepts, encode in _ENCODERS:
        if accepts(array.type):
            return encode(array)
    return _python_values(array)


def _or_null(values: pa.Array, text: pa.Array, valid: pa.Array | None = None) -> _Fragment:
    """`text`, with `null` where `values` is null (or where `valid` is false)."""
    if valid is None:
        if values.null_count == 0:
            return _Fragment(text)
        valid = pc.is_valid(values)
    return _Fragment(pc.fill_null(pc.if_else(valid, text, _NULL_TEXT), "null"))


def _numbers(array: pa.Array) -> _Fragment:
    return _or_null(array, array.cast(pa.string()))


def _floats(array: pa.Array) -> _Fragment:
    array = array.cast(pa.float64())
    text = array.cast(pa.string())
    # Arrow prints the shortest round-trip form, without ".0" on whole numbers ("1", "1e+15").
    values = array.to_numpy(zero_copy_only=False)
    whole = pa.array(np.trunc(values) == values)
    bare = pc.and_(whole, pc.invert(pc.match_substring(text, "e")))
    if pc.any(bare).as_py():
        dotted = pc.binary_join_element_wise(pc.filter(text, bare), ".0", "")
        text = pc.replace_with_mask(text, bare, dotted)
    finite = pa.array(np.isfinite(values))
    if pc.all(finite).as_py():
        return _Fragment(text)
    return _or_null(array, text, finite)


def _bools(array: pa.Array) -> _Fragment:
    return _or_null(array, pc.if_else(array, "true", "false"))


def _strings(array: pa.Array) -> _Fragment:
    text = array.cast(pa.string())
    if _has_escapes(text):
        text = _escaped(text)
    if text.null_count == 0:
        return _Fragment(text, quoted=True)
    return _or_null(text, _Fragment(text, quoted=True).whole())


def _has_escapes(text: pa.Array) -> bool:
    """Whether any string holds a quote, a backslash or a control character (one byte scan)."""
    _, offsets, data = text.buffers()
    if data is None or len(text) == 0:
        return False
    start, stop = np.frombuffer(offsets, np.int32)[[text.offset, text.offset + len(text)]]
    return bool(_ESCAPED_BYTES[np.frombuffer(data, np.uint8, stop - start, start)].any())


def _escaped(text: pa.Array) -> pa.Array:
    awkward = pc.match_substring_regex(text, _NEEDS_DUMPS)
    rare = pc.filter(text, awkward)
    for raw, escape in _ESCAPES:
        text = pc.replace_substring(text, raw, escape)
    if len(rare):
        fixed = [json.dumps(s, ensure_ascii=False)[1:-1] for s in rare.to_pylist()]
        text = pc.replace_with_mask(text, awkward, pa.array(fixed, pa.string()))
    return text


def _temporal(array: pa.Array) -> _Fragment:
    return _strings(array.cast(pa.string()))


def _dictionary(array: pa.Array) -> _Fragment:
    return _fragment(array.dictionary_decode())


def _nulls(array: pa.Array) -> _Fragment:
    return _Fragment(pa.repeat("null", len(array)).cast(pa.string()))


def _lists(array: pa.Array) -> _Fragment:
    array = array.cast(pa.list_(array.type.value_type))
    offsets = array.offsets
    start = offsets[0].as_py()
    items = json_values(array.values.slice(start, offsets[-1].as_py() - start))
    lists = pa.ListArray.from_arrays(pc.subtract(offsets, start), items, mask=pc.is_null(array))
    text = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
    return _Fragment(pc.fill_null(text, "null"))


def _structs(array: pa.Array) -> _Fragment:
    fields = [(field.name, array.field(i)) for i, field in enumerate(array.type)]
    text = _object_text(fields, len(array), tail="}")
    return _or_null(array, text, pc.is_valid(array))


def _python_values(array: pa.Array) -> _Fragment:
    """Row-at-a-time fallback for types without a column encoder (binary, maps, unions)."""
    texts = [json.dumps(v, ensure_ascii=False, default=str) for v in array.to_pylist()]
    return _Fragment(pa.array(texts, pa.string()))


_ENCODERS: tuple[tuple[Callable[[pa.DataType], bool], Encoder], ...] = (
    (pa.types.is_boolean, _bools),
    (pa.types.is_integer, _numbers),
    (pa.types.is_decimal, _numbers),
    (pa.types.is_floating, _floats),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), _strings),
    (pa.types.is_dictionary, _dictionary),
    (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), _lists),
    (pa.types.is_fixed_size_list, _lists),
    (pa.types.is_struct, _structs),
    (pa.types.is_null, _nulls),
    (pa.types.is_temporal, _temporal),
)


def _object_text(
    columns: Sequence[tuple[str, pa.Array]], num_rows: int, *, stream: str | None = None, tail: str
) -> pa.Array:
    """Objects built by joining literal pieces (`, "name": `) with each column's JSON text."""
    text = "{" if stream is None else '{"stream": ' + _json_str(stream)
    first = stream is None
    pieces: list[str | pa.Array] = []
    for name, values in columns:
        fragment = _fragment(values)
        text += ("" if first else ", ") + _json_str(name) + ": "
        quote = '"' if fragment.quoted else ""
        pieces += [text + quote, fragment.text]
        text, first = quote, False
    pieces.append(text + tail)
    if len(pieces) == 1:
        return pa.repeat(pieces[0], num_rows).cast(pa.string())
    return pc.binary_join_element_wise(*pieces, "")


def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _output_columns(batch: pa.RecordBatch) -> list[tuple[str, pa.Array]]:
    """The columns a writer keeps: everything but `_seq` and internal `__` columns."""
    return [
        (name, column)
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
        if name != SEQ and not name.startswith("__")
    ]


def _output_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = _output_columns(batch)
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


class OutputFormat(Enum):
    """The machine-readable output formats."""

    JSONL = "jsonl"
    PARQUET = "parquet"
    CSV = "csv"


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
        lines = _object_text(_output_columns(batch), batch.num_rows, stream=stream, tail="}\n")
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
