"""JSON text of whole Arrow columns: one JSON value (or object line) per row, vectorised."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io.source import SEQ

# Bytes a JSON string must escape; of those, control characters other than \n \r \t are rare
# enough to go through json.dumps one row at a time.
_ESCAPED_BYTES = np.zeros(256, bool)
_ESCAPED_BYTES[[*range(0x20), ord('"'), ord("\\")]] = True
_NEEDS_DUMPS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


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
    return object_text(output_columns(batch), batch.num_rows, stream=stream, tail="}")


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
    null = pa.scalar(None, pa.string())  # made here: a scalar at import would load pandas
    return _Fragment(pc.fill_null(pc.if_else(valid, text, null), "null"))


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
    text = object_text(fields, len(array), tail="}")
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


def object_text(
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


def output_columns(batch: pa.RecordBatch) -> list[tuple[str, pa.Array]]:
    """The columns a writer keeps: everything but `_seq` and internal `__` columns."""
    return [
        (name, column)
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
        if name != SEQ and not name.startswith("__")
    ]
