"""Tabular event inputs (Parquet, JSON lines, Arrow tables): which columns hold the type
and time, per-type schemas, splitting rows by type, bad records; and the in-memory reader."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import InputError
from vbatch.io.json_text import json_rows
from vbatch.io.source import (
    SEQ,
    TS,
    ErrorPolicy,
    EventBatch,
    InputChunk,
    ReadOptions,
    ReadStats,
)

TYPE_COLUMN = "event_type"
TIME_COLUMNS = (TS, "timestamp")
TYPE_HINT = "pass --event-type NAME when every row is of one event type"
TIME_HINT = "name the column that holds event time with --time-column"


# --- Which columns hold what ------------------------------------------------------------------


@dataclass(frozen=True)
class EventColumns:
    """Where an input keeps the event type (None: every row is `event_type`) and event time."""

    path: str
    type_column: str | None
    time_column: str
    event_type: str | None = None


def event_columns(names: Sequence[str], options: ReadOptions, path: str) -> EventColumns:
    """The type and time columns among `names`, as the options and conventions choose them."""
    time_column = options.time_column or next((c for c in TIME_COLUMNS if c in names), "timestamp")
    type_column = None if options.event_type else TYPE_COLUMN
    return EventColumns(path, type_column, time_column, options.event_type)


def require_columns(columns: EventColumns, names: Sequence[str]) -> EventColumns:
    """`columns`, after checking that the input has them (else an error with a hint)."""
    if columns.type_column is not None and columns.type_column not in names:
        msg = f"no '{columns.type_column}' column to tell event types apart"
        raise InputError(msg, path=columns.path, hint=TYPE_HINT)
    if columns.time_column not in names:
        msg = f"no event-time column '{columns.time_column}' (columns: {', '.join(names)})"
        raise InputError(msg, path=columns.path, hint=TIME_HINT)
    return columns


def input_files(path: str | Path, suffixes: Sequence[str]) -> list[Path]:
    """`path` itself, or the files with one of `suffixes` under the folder `path`, by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError("no such file or folder", path=str(path))
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix in suffixes and p.is_file() and not _hidden(p.relative_to(path))
    )
    if not files:
        raise InputError(f"no {'/'.join(suffixes)} files in this folder", path=str(path))
    return files


def _hidden(relative: Path) -> bool:
    """Files that writers such as Spark leave beside the data (`_SUCCESS`, `.part.crc`)."""
    return any(part.startswith((".", "_")) for part in relative.parts)


# --- Column types -----------------------------------------------------------------------------


STRING_CODES = pa.dictionary(pa.int32(), pa.string())


def normal_type(dtype: pa.DataType) -> pa.DataType:
    """The type vbatch keeps values of `dtype` as: int64, float64, string, bool, lists of those.

    Dictionary-encoded strings (as Parquet stores them) stay encoded, as
    dictionary<int32, string>: the same values, cheaper to partition and filter.
    """
    if pa.types.is_dictionary(dtype) and normal_type(dtype.value_type) == pa.string():
        return STRING_CODES
    for accepts, convert in _NORMAL_TYPES:
        if accepts(dtype):
            return convert(dtype)
    return dtype


_NORMAL_TYPES: tuple[tuple[Callable[[pa.DataType], bool], Callable[..., pa.DataType]], ...] = (
    (pa.types.is_dictionary, lambda t: normal_type(t.value_type)),
    (pa.types.is_integer, lambda t: pa.int64()),
    (pa.types.is_floating, lambda t: pa.float64()),
    (pa.types.is_large_string, lambda t: pa.string()),
    (pa.types.is_string_view, lambda t: pa.string()),
    (pa.types.is_large_list, lambda t: pa.list_(normal_type(t.value_type))),
    (pa.types.is_fixed_size_list, lambda t: pa.list_(normal_type(t.value_type))),
    (pa.types.is_list, lambda t: pa.list_(normal_type(t.value_type))),
    (pa.types.is_struct, lambda t: pa.struct([f.with_type(normal_type(f.type)) for f in t])),
)


def normalised(column: pa.Array) -> pa.Array:
    """`column` with its normal type; dictionaries other than of strings are decoded."""
    if pa.types.is_dictionary(column.type) and normal_type(column.type) != STRING_CODES:
        column = column.dictionary.take(column.indices)
    dtype = normal_type(column.type)
    return column if dtype == column.type else column.cast(dtype)


def event_times(column: pa.Array, columns: EventColumns) -> pa.Array:
    """Event time as int64 ms, from integer ms or an Arrow timestamp of any unit and zone."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary.take(column.indices)
    for accepts, convert in _TIME_CONVERSIONS:
        if accepts(column.type):
            return convert(column, columns)
    msg = f"event time '{columns.time_column}' holds {column.type} values"
    hint = "event time must be integer milliseconds or a timestamp; " + TIME_HINT
    raise InputError(msg, path=columns.path, hint=hint)


_MS_SCALE = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def _timestamp_ms(column: pa.Array, columns: EventColumns) -> pa.Array:
    times, (multiply, divide) = column.cast(pa.int64()), _MS_SCALE[column.type.unit]
    if multiply == divide:
        return times
    return pa.array(times.to_numpy() * multiply // divide, pa.int64())


def _whole_ms(column: pa.Array, columns: EventColumns) -> pa.Array:
    try:
        return column.cast(pa.int64())
    except pa.ArrowInvalid as err:
        msg = f"event time '{columns.time_column}' must be whole milliseconds: {err}"
        raise InputError(msg, path=columns.path) from err


_TIME_CONVERSIONS = (
    (pa.types.is_timestamp, _timestamp_ms),
    (pa.types.is_integer, _whole_ms),
    (pa.types.is_floating, _whole_ms),
)


# --- Per-type schemas -------------------------------------------------------------------------

FirstKeys = Callable[[], Sequence[str]]
KeyOrder = Callable[[int], Sequence[str]]  # row of a batch → that record's keys, in its order


class TypeSchemas:
    """Each event type's fields: declared, or fixed by the first chunk holding the type."""

    def __init__(self, options: ReadOptions, single_type: bool = False) -> None:
        self._declared = options.schemas
        self._inferred: dict[str, pa.Schema] = {}
        self._single_type = single_type or options.event_type is not None

    def fit(
        self, event_type: str, batch: pa.RecordBatch, path: str, keys: FirstKeys | None = None
    ) -> list[pa.Array]:
        """The fields of `batch` (rows of `event_type`), cast to the type's schema.

        A new type's fields follow `keys()` (the type's first record's own key order, for
        inputs whose records order their keys), then the column order.
        """
        declared = self._declared.get(event_type)
        schema = declared or self._inferred.get(event_type)
        present = dict(zip(batch.schema.names, batch.columns, strict=True))
        if schema is None:
            schema = self._establish(present, keys() if keys else ())
            self._inferred[event_type] = schema
        elif declared is None:
            _refuse_new_fields(event_type, schema, present, path)
        fit = _cast_declared if declared is not None else _widen
        return [fit(present.get(f.name), f, batch.num_rows, event_type, path) for f in schema]

    def schema(self, event_type: str) -> pa.Schema:
        """The field schema of `event_type` (after at least one chunk held it)."""
        return self._declared.get(event_type) or self._inferred[event_type]

    def _establish(self, present: Mapping[str, pa.Array], keys: Sequence[str]) -> pa.Schema:
        """Normal types of the fields; all-null columns belong to other types in mixed inputs."""
        kept = [
            name
            for name, column in present.items()
            if not _empty(column) or (self._single_type and not pa.types.is_null(column.type))
        ]
        ordered = [k for k in keys if k in kept] + [k for k in kept if k not in keys]
        return pa.schema((name, normal_type(present[name].type)) for name in ordered)


def _empty(column: pa.Array) -> bool:
    return column.null_count == len(column)


def _refuse_new_fields(
    event_type: str, schema: pa.Schema, present: Mapping[str, pa.Array], path: str
) -> None:
    new = sorted(n for n, c in present.items() if n not in schema.names and not _empty(c))
    if new:
        msg = (
            f"field {', '.join(map(repr, new))} of {event_type} first has values after the"
            f" type's fields were fixed from its first rows ({', '.join(schema.names) or 'none'})"
        )
        hint = f"declare the fields in an `event {event_type}` declaration"
        raise InputError(msg, path=path, hint=hint)


def _cast_declared(
    column: pa.Array | None, field: pa.Field, rows: int, event_type: str, path: str
) -> pa.Array:
    if column is None:
        return pa.nulls(rows, field.type)
    column = normalised(column)
    if _same_strings(column.type, field.type):
        return column
    try:
        return column if column.type == field.type else column.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        msg = f"field '{field.name}' of {event_type} is declared {field.type}: {err}"
        raise InputError(msg, path=path) from err


def _widen(
    column: pa.Array | None, field: pa.Field, rows: int, event_type: str, path: str
) -> pa.Array:
    if column is None:
        return pa.nulls(rows, field.type)
    column = normalised(column)
    if column.type == field.type or _same_strings(column.type, field.type):
        return column
    if _widens_to(column.type, field.type):
        return column.cast(field.type)
    msg = (
        f"field '{field.name}' of {event_type} holds {column.type} values here"
        f" but {field.type} in earlier rows"
    )
    hint = f"declare the field's type in an `event {event_type}` declaration"
    raise InputError(msg, path=path, hint=hint)


def _same_strings(a: pa.DataType, b: pa.DataType) -> bool:
    """Strings and dictionary-encoded strings hold the same values: either may stand."""
    return {a, b} <= {pa.string(), STRING_CODES}


def _widens_to(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether values of `source` fit `target` by widening (null → any, int → float)."""
    try:
        merged = pa.unify_schemas(
            [pa.schema([("f", target)]), pa.schema([("f", source)])], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return merged.field("f").type == target


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


# --- Bad records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRecord:
    """A malformed record: where it is, why it is bad, and its text."""

    path: str
    line: int
    reason: str
    record: str
    column: int | None = None
    hint: str | None = None

    def error(self) -> InputError:
        """The error that stops the run under `--on-error fail`."""
        return InputError(
            self.reason, path=self.path, line=self.line, column=self.column, hint=self.hint
        )

    def dead_letter(self) -> str:
        """The JSON line written to the dead-letter file under `--on-error skip`."""
        fields = {
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
            "record": self.record,
        }
        return json.dumps(fields, ensure_ascii=False)


class DeadLetters:
    """Applies the error policy: a bad record stops the run, or is counted and set aside."""

    def __init__(self, options: ReadOptions, stats: ReadStats) -> None:
        self._options, self._stats = options, stats
        self._out: TextIO | None = None

    def report(self, record: BadRecord) -> None:
        """Raise the record's error, or count it and write it to the dead-letter file."""
        if self._options.on_error is ErrorPolicy.FAIL:
            raise record.error()
        self._stats.bad_records += 1
        if self._options.dead_letter is None:
            return
        if self._out is None:
            self._out = open(self._options.dead_letter, "w", encoding="utf-8")  # noqa: SIM115
        self._out.write(record.dead_letter() + "\n")

    def __enter__(self) -> DeadLetters:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._out is not None:
            self._out.close()


def invalid_rows(batch: pa.RecordBatch, columns: EventColumns) -> list[tuple[int, str, str | None]]:
    """Rows without an event type or time, with the reason and a hint (rare: a Python loop)."""
    checks = [(columns.time_column, "event time", TIME_HINT)]
    if columns.type_column is not None:
        checks.insert(0, (columns.type_column, "event type", TYPE_HINT))
    problems: dict[int, tuple[str, str | None]] = {}
    names = batch.schema.names
    for name, what, hint in checks:
        if name not in names:
            rows, missing_hint = np.arange(batch.num_rows), hint
        elif batch.column(name).null_count:
            rows, missing_hint = np.flatnonzero(batch.column(name).is_null()), None
        else:
            continue
        for row in rows.tolist():
            problems.setdefault(row, (f"missing {what} '{name}'", missing_hint))
    return sorted((row, reason, hint) for row, (reason, hint) in problems.items())


def drop_rows(batch: pa.RecordBatch, rows: Sequence[int]) -> pa.RecordBatch:
    """`batch` without `rows`."""
    keep = np.ones(batch.num_rows, bool)
    keep[list(rows)] = False
    return batch.filter(pa.array(keep))


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
                problems = invalid_rows(batch, columns)
                for row, reason, hint in problems:
                    record = json_rows(batch.slice(row, 1))[0].as_py()
                    bad.report(BadRecord("<table>", first_row + row + 1, reason, record, hint=hint))
                good = drop_rows(batch, [p[0] for p in problems]) if problems else batch
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
