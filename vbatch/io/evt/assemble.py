"""Settling parsed blocks in input order: schemas fixed or declared, casts, running time, `_seq`.

Without a declared schema, a type's schema comes from the first block it appears in; later
values of another type (an int in a float field aside) or new fields are bad records.
"""

from __future__ import annotations

from enum import Enum
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io.evt.lines import RESERVED
from vbatch.io.evt.parse import Flaw, Group, LineKind, Parsed, failing_rows
from vbatch.io.evt.values import describe, promote
from vbatch.io.source import SEQ, TS, EventBatch, InputChunk, ReadOptions


class _Family(Enum):
    """Kinds of types a declared schema accepts values of."""

    NULL = "null"
    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    LIST = "list"
    OTHER = "other"


_FAMILY_TESTS = (
    (pa.types.is_null, _Family.NULL),
    (
        lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
        _Family.NUMBER,
    ),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), _Family.STRING),
    (pa.types.is_boolean, _Family.BOOL),
    (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), _Family.LIST),
)


def _family(t: pa.DataType) -> _Family:
    return next((family for test, family in _FAMILY_TESTS if test(t)), _Family.OTHER)


def _int_to_float(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a cast turns ints into floats (rounding past 2**53 like Python's float())."""
    if pa.types.is_list(source) and pa.types.is_list(target):
        return _int_to_float(source.value_type, target.value_type)
    return pa.types.is_integer(source) and pa.types.is_floating(target)


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    """`column` as `target`: safe casts, except that big ints round to the nearest float."""
    if column.type == target:
        return column
    return pc.cast(column, target, safe=not _int_to_float(column.type, target))


def _castable(value: pa.Array, target: pa.DataType) -> bool:
    try:
        _cast(value, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _hint_declare(event_type: str, name: str, t: pa.DataType) -> str:
    return f"declare the type with `event {event_type}: {name}: {describe(t)}`"


def _clash_hint(event_type: str, name: str, fixed: pa.DataType, found: pa.DataType) -> str:
    if {_family(fixed), _family(found)} == {_Family.NUMBER}:
        return _hint_declare(event_type, name, pa.float64())
    return (
        f"a field holds one type of value; declaring it with `event {event_type}: {name}: "
        f"{describe(fixed)}` makes other values bad records that --on-error skip can skip"
    )


class Assembler:
    """Settles parsed blocks in input order: schemas, running time and `_seq`."""

    def __init__(self, options: ReadOptions) -> None:
        self._declared = {
            name: pa.schema([pa.field(f.name, f.type) for f in schema if f.name not in RESERVED])
            for name, schema in options.schemas.items()
        }
        self._fixed: dict[str, pa.Schema] = {}
        self._time = 0
        self._seq = 0

    def conform(self, parsed: Parsed) -> dict[str, tuple[pa.Schema, list[Group]]]:
        """Per event type its schema and groups cast to it; clashing rows become flaws."""
        by_type: dict[str, list[Group]] = {}
        for group in sorted(parsed.groups, key=lambda g: int(g.rows[0])):
            by_type.setdefault(group.event_type, []).append(group)
        return {name: self._conform_type(name, groups, parsed) for name, groups in by_type.items()}

    def _conform_type(
        self, name: str, groups: list[Group], parsed: Parsed
    ) -> tuple[pa.Schema, list[Group]]:
        declared = self._declared.get(name)
        if declared is not None:
            fitted = [_fit_declared(g, declared, parsed) for g in groups]
            return declared, [g for g in fitted if g is not None]
        if name not in self._fixed:
            self._fixed[name] = _infer(groups)
        schema = self._fixed[name]
        fitted = [_fit_inferred(g, schema, parsed) for g in groups]
        return schema, [g for g in fitted if g is not None]

    def emit(
        self,
        parsed: Parsed,
        conformed: dict[str, tuple[pa.Schema, list[Group]]],
        start_time: int | None = None,
    ) -> InputChunk:
        """The block's InputChunk (call after its flaws were reported); lines before the
        block's first time get `start_time`, by default the time the previous block ended at."""
        if parsed.flaws:
            parsed.kinds[list(parsed.flaws)] = LineKind.BAD
        times = self._running_time(parsed, self._time if start_time is None else start_time)
        events = parsed.kinds == LineKind.EVENT
        seqs = np.cumsum(events, dtype=np.int64) - 1 + self._seq
        first_seq, count = self._seq, int(events.sum())
        self._seq += count
        batches = [
            (int(min(g.rows[0] for g in groups)), _batch(name, schema, groups, times, seqs))
            for name, (schema, groups) in conformed.items()
            if groups
        ]
        ordered = tuple(batch for _, batch in sorted(batches, key=lambda item: item[0]))
        return InputChunk(ordered, first_seq, count)

    def _running_time(self, parsed: Parsed, start: int) -> np.ndarray:
        sets = (parsed.kinds == LineKind.EVENT) | (parsed.kinds == LineKind.CLOCK)
        sets &= parsed.timed
        last = np.where(sets, np.arange(len(sets)), -1)
        np.maximum.accumulate(last, out=last)
        times = np.where(last >= 0, parsed.times[np.maximum(last, 0)], start)
        self._time = int(times[-1]) if len(times) else start
        return times


def _infer(groups: list[Group]) -> pa.Schema:
    """The schema of a type from its first block: fields by first appearance, types widened."""
    types: dict[str, pa.DataType] = {}
    for group in groups:
        merged = {
            name: promote(types.get(name, pa.null()), column.type)
            for name, column in zip(group.names, group.columns, strict=True)
        }
        if None not in merged.values():
            types.update(merged)  # type: ignore[arg-type]
    return pa.schema(list(types.items()))


def _flag(parsed: Parsed, rows: np.ndarray, flaw: Flaw) -> None:
    for row in rows:
        parsed.flaws.setdefault(int(row), flaw)


def _fit_inferred(group: Group, schema: pa.Schema, parsed: Parsed) -> Group | None:
    """The group cast to an inferred schema, or None (rows flagged) when a value clashes."""
    name = group.event_type
    for field_name, column in zip(group.names, group.columns, strict=True):
        index = schema.get_field_index(field_name)
        if index < 0 and not pa.types.is_null(column.type):
            fields = ", ".join(schema.names)
            reason = (
                f"field '{field_name}' of {name} is not in the schema inferred from the first "
                f"lines of {name} ({fields})"
            )
            hint = _hint_declare(name, field_name, column.type)
            _flag(parsed, group.rows, Flaw(reason, None, hint, field_name))
            return None
        target = schema.field(index).type if index >= 0 else column.type
        if promote(target, column.type) != target:
            reason = (
                f"field '{field_name}' of {name} holds a {describe(column.type)} value, "
                f"but earlier lines made it {describe(target)}"
            )
            _flag(
                parsed,
                group.rows,
                Flaw(reason, None, _clash_hint(name, field_name, target, column.type), field_name),
            )
            return None
    return _cast_group(group, schema)


def _fit_declared(group: Group, schema: pa.Schema, parsed: Parsed) -> Group | None:
    """The group cast to a declared schema; values that cannot be cast are flagged rows."""
    keep = np.ones(len(group.rows), dtype=bool)
    columns = dict(zip(group.names, group.columns, strict=True))
    for target in schema:
        column = columns.get(target.name)
        if column is None:
            continue
        families = {_family(column.type), _family(target.type)} - {_Family.OTHER, _Family.NULL}
        reason = (
            f"field '{target.name}' of {group.event_type} holds a "
            f"{describe(column.type)} value, but it is declared {describe(target.type)}"
        )
        flaw = Flaw(reason, None, None, target.name)
        if len(families) > 1:
            _flag(parsed, group.rows, flaw)
            return None
        if _castable(column, target.type):
            continue
        bad = np.zeros(len(column), dtype=bool)
        bad[failing_rows(column, partial(_castable, target=target.type))] = True
        _flag(parsed, group.rows[bad], flaw)
        keep &= ~bad
    if not keep.all():
        group = group.filter(keep)
    return _cast_group(group, schema) if len(group.rows) else None


def _cast_group(group: Group, schema: pa.Schema) -> Group:
    """The group's columns in schema order and types, nulls where a field is missing."""
    columns = dict(zip(group.names, group.columns, strict=True))
    n = len(group.rows)
    cast = [
        _cast(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return Group(group.event_type, group.rows, tuple(schema.names), cast)


def _batch(
    name: str, schema: pa.Schema, groups: list[Group], times: np.ndarray, seqs: np.ndarray
) -> EventBatch:
    """One RecordBatch of a type from its groups, rows in line order, `_ts` and `_seq` first."""
    if len(groups) == 1:
        rows, columns = groups[0].rows, groups[0].columns
    else:
        rows = np.concatenate([g.rows for g in groups])
        order = pa.array(np.argsort(rows, kind="stable"))
        rows = np.sort(rows)
        columns = [
            pa.concat_arrays([g.columns[i] for g in groups]).take(order) for i in range(len(schema))
        ]
    full = pa.schema([pa.field(TS, pa.int64()), pa.field(SEQ, pa.int64()), *schema])
    arrays = [pa.array(times[rows]), pa.array(seqs[rows]), *columns]
    return EventBatch(name, pa.RecordBatch.from_arrays(arrays, schema=full))
