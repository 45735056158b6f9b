"""What pyarrow's JSON parser must not be given, and what it reads otherwise than the rule of
`strict_json`, found over whole blocks of JSON lines at once.

pyarrow's parser crashes the process on values nested a few thousand deep and passes invalid
UTF-8 through, so such blocks go to the exact reader; it also reads NaN, Infinity and integers
too big for 64 bits as floats, so a block whose floats hold those goes there too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io.source import MAX_NESTING

_OPENERS = (ord("["), ord("{"))
_INT64_LIMIT = 2.0**63


def unsafe_lines(data: memoryview, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether a block holds invalid UTF-8, or a line with more brackets than MAX_NESTING
    (which might nest too deep: the exact reader tells)."""
    if not _valid_utf8(data):
        return True
    raw = np.frombuffer(data, np.uint8)
    opens = np.flatnonzero((raw == _OPENERS[0]) | (raw == _OPENERS[1]))
    if len(opens) <= MAX_NESTING:
        return False
    per_line = np.bincount(np.searchsorted(ends, opens), minlength=len(ends) + 1)
    return bool((per_line > MAX_NESTING).any())


def _valid_utf8(data: memoryview) -> bool:
    offsets = pa.py_buffer(np.array([0, len(data)], np.int32).tobytes())
    text = pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def suspect_numbers(table: pa.Table) -> bool:
    """Whether a float anywhere in `table` is NaN, infinite or at least 2**63 in size: what
    pyarrow makes of `NaN`, `Infinity` and integers beyond 64 bits."""
    return any(_suspect(column.combine_chunks()) for column in table.columns)


def _suspect(values: pa.Array) -> bool:
    dtype = values.type
    if pa.types.is_floating(dtype):
        size = pc.abs(values.cast(pa.float64()))
        return bool(pc.any(pc.invert(pc.less(size, _INT64_LIMIT))).as_py())
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _suspect(pc.list_flatten(values))
    if pa.types.is_struct(dtype):
        return any(_suspect(values.field(i)) for i in range(dtype.num_fields))
    return False
