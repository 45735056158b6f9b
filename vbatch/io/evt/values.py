"""Values of `.evt` lines: how they are written, their Arrow types, escapes and time units."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any

import pyarrow as pa

INT64_MAX = 2**63 - 1
UNIT_MS = {"": 1, "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
UNIT_HINT = "time units are ms, s, m, h and d (no unit means ms)"


class BadLine(Exception):
    """A malformed line: 0-based position of the problem, the reason and maybe a hint."""

    def __init__(self, pos: int, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason
        self.hint = hint


class Kind(Enum):
    """How a value is written, for the value forms a shape's regex captures."""

    DQ_STRING = "dq"
    SQ_STRING = "sq"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    NULL = "null"
    JSON_STRING = "json"  # a string in a JSON line: JSON's escapes, no raw control characters


_VPL_TYPE_NAMES = {pa.int64(): "int", pa.float64(): "float", pa.string(): "str", pa.bool_(): "bool"}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r"}
_ESCAPES |= {"b": "\b", "f": "\f"}
_HEX = frozenset("0123456789abcdefABCDEF")


def promote(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type holding values of both `a` and `b` (null → any, int → float), or None."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.types.is_list(a) and pa.types.is_list(b):
        inner = promote(a.value_type, b.value_type)
        return pa.list_(inner) if inner is not None else None
    return None


def describe(t: pa.DataType) -> str:
    """A type as a user reads it in a message."""
    return _VPL_TYPE_NAMES.get(t, str(t))


def check_int(value: int, pos: int) -> int:
    """`value` if it fits in 64 bits; raises BadLine otherwise."""
    if not -(2**63) <= value <= INT64_MAX:
        raise _too_big_int(str(value), pos)
    return value


def parse_int(digits: str, pos: int) -> int:
    """The integer written `digits` (`-?[0-9]+`) if it fits in 64 bits; raises BadLine otherwise.

    The length is checked first: Python refuses to convert integers of over 4300 digits.
    """
    if len(digits.lstrip("-")) > 19:
        raise _too_big_int(digits, pos)
    return check_int(int(digits), pos)


def parse_float(text: str, pos: int) -> float:
    """The float written `text`, if a float can hold it; raises BadLine otherwise."""
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "…"
        raise BadLine(pos, f"number {shown} is too large for a float")
    return value


def _too_big_int(digits: str, pos: int) -> BadLine:
    shown = digits if len(digits) <= 24 else digits[:20] + "…"
    hint = "write it as a float (e.g. 1.0e20) or as a string"
    return BadLine(pos, f"integer {shown} does not fit in 64 bits", hint)


def _int_type(value: int, pos: int) -> pa.DataType:
    check_int(value, pos)
    return pa.int64()


def python_type(value: object, pos: int) -> pa.DataType:
    """The Arrow type of a value decoded from a JSON line."""
    typer = _JSON_TYPERS.get(type(value))
    if typer is None:
        raise BadLine(pos, "nested JSON objects are not supported as field values")
    return typer(value, pos)


def _list_type(items: list[Any], pos: int) -> pa.DataType:
    inner: pa.DataType = pa.null()
    for item in items:
        item_type = python_type(item, pos)
        merged = promote(inner, item_type)
        if merged is None:
            raise BadLine(pos, f"a list mixes {describe(inner)} and {describe(item_type)} values")
        inner = merged
    return pa.list_(inner)


_JSON_TYPERS: dict[type, Callable[[Any, int], pa.DataType]] = {
    bool: lambda v, pos: pa.bool_(),
    int: lambda v, pos: _int_type(v, pos),
    float: lambda v, pos: pa.float64(),
    str: lambda v, pos: pa.string(),
    type(None): lambda v, pos: pa.null(),
    list: _list_type,
}


def unescape(body: str, start: int) -> str:
    """Decode the escapes of a string body that starts at line position `start`."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while (j := body.find("\\", i)) >= 0:
        out.append(body[i:j])
        code = body[j + 1]
        if code == "u":
            char, i = _unicode_escape(body, j, start)
            out.append(char)
            continue
        if code not in _ESCAPES:
            raise BadLine(start + j, f"unknown escape '\\{code}'", 'write a backslash as "\\\\"')
        out.append(_ESCAPES[code])
        i = j + 2
    out.append(body[i:])
    return "".join(out)


def _unicode_escape(body: str, j: int, start: int) -> tuple[str, int]:
    """Decode `\\uXXXX` at body[j] (joining surrogate pairs); return the char and the next index."""
    digits = body[j + 2 : j + 6]
    if len(digits) < 4 or not all(c in _HEX for c in digits):
        raise BadLine(start + j, "a \\u escape needs four hex digits")
    code = int(digits, 16)
    if 0xD800 <= code < 0xDC00 and body[j + 6 : j + 8] == "\\u":
        low = body[j + 8 : j + 12]
        if len(low) == 4 and all(c in _HEX for c in low):
            low_code = int(low, 16)
            if 0xDC00 <= low_code < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)), j + 12
    if 0xD800 <= code < 0xE000:
        raise BadLine(start + j, f"lone surrogate \\u{digits} in a string")
    return chr(code), j + 6
