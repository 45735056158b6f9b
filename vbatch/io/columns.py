"""Tabular inputs: which columns hold the event type and time, column types, per-type schemas."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import InputError
from vbatch.io.source import (
    MAX_TIME_MS,
    TS,
    ReadOptions,
)

TYPE_COLUMN = "event_type"
TIME_COLUMNS = (TS, "timestamp")


def type_key(obj: Mapping[str, object]) -> str:
    """The key naming a JSON event's type: `"type"` stands in for a missing `"event_type"`
    (Varpulis's form)."""
    return TYPE_COLUMN if TYPE_COLUMN in obj or "type" not in obj else "type"


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
        if p.suffix.lower() in suffixes and p.is_file() and not _hidden(p.relative_to(path))
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


@dataclass(frozen=True)
class TimeFlaw:
    """Rows whose event time vbatch refuses, and why."""

    rows: np.ndarray
    reason: str
    hint: str


def time_flaws(column: pa.Array, name: str, earliest: int) -> list[TimeFlaw]:
    """Rows of an event-time column that are not whole milliseconds from `earliest` to
    MAX_TIME_MS (nulls aside: they are missing times). Columns of other types are refused
    whole by `event_times`."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary.take(column.indices)
    unit = _MS_SCALE.get(column.type.unit) if pa.types.is_timestamp(column.type) else (1, 1)
    if not (pa.types.is_timestamp(column.type) or _is_number(column.type)) or unit is None:
        return []
    hint = f"event times are milliseconds from {'0' if earliest == 0 else '-2**61'} to 2**61"
    flaws = []
    if pa.types.is_floating(column.type):
        column = column.cast(pa.float64())
        whole = pc.equal(pc.floor(column), column)  # false for NaN and ±inf
        rows = np.flatnonzero(~whole.fill_null(True).to_numpy(zero_copy_only=False))
        if len(rows):
            flaws.append(TimeFlaw(rows, f"event time '{name}' is not whole milliseconds", hint))
    low, high = _bounds(earliest, *unit)
    values = column.cast(pa.float64() if pa.types.is_floating(column.type) else pa.int64())
    extremes = pc.min_max(values)
    if (
        extremes["min"].is_valid
        and low <= extremes["min"].as_py() <= extremes["max"].as_py() <= high
    ):
        return flaws
    for test, bound, what in ((pc.less, low, "negative"), (pc.greater, high, "out of range")):
        limit = float(bound) if pa.types.is_floating(values.type) else bound
        outside = test(values, pa.scalar(limit, values.type)).fill_null(False)
        rows = np.flatnonzero(outside.to_numpy(zero_copy_only=False))
        if len(rows):
            what = what if earliest == 0 else "out of range"
            flaws.append(TimeFlaw(rows, f"event time '{name}' is {what}", hint))
    return flaws


def _is_number(dtype: pa.DataType) -> bool:
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype)


def _bounds(earliest: int, multiply: int, divide: int) -> tuple[int, int]:
    """The range of raw values (in a unit `multiply / divide` ms) from `earliest` to MAX_TIME_MS,
    clipped to int64; ms = raw * multiply // divide, as `event_times` computes it."""
    low = -((-earliest * divide) // multiply)
    high = ((MAX_TIME_MS + 1) * divide - 1) // multiply
    return max(low, -(2**63)), min(high, 2**63 - 1)


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
