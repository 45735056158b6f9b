"""Reader of `.evt` event files: learnt regex shapes for most lines, an exact parser for the rest.

A file is read in blocks of whole lines (about `batch_size` lines each), split into lines without
copying (numpy newline positions → an Arrow string array). Per event type the reader learns the
*shape* of a line (time prefix or not, field order, how each value is written) from the exact
per-line parser and turns it into one anchored RE2 regex that `pyarrow.compute` applies to the
whole block at once. Lines no shape matches (escapes, lists, JSON, comments, errors) go through
the exact parser one by one. Blocks are parsed on a thread pool (Arrow kernels release the GIL);
schemas, running time and `_seq` are then settled block by block in file order, so the output is
the same for any number of threads and, when every field of a type shows up with its type in the
type's first chunk, for any batch size.

Decisions where the format is silent: a time must come to whole milliseconds (`@1.0005s` is an
error); an int too big for 64 bits is an error, a float too big is ±inf (as in Python and JSON);
no trailing comma in `{...}` or `[...]`; a JSON line's `_ts` (else `timestamp`) is its time and
neither becomes a field; without a declared schema, a field first seen after its type's first
chunk, or a value of another type than that chunk gave the field (an int in a float field
aside), is a bad record, whose hint says how to declare the type.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import InputError
from vbatch.io.source import (
    MAX_LINE_BYTES,
    SEQ,
    TS,
    ErrorPolicy,
    EventBatch,
    InputChunk,
    ReadOptions,
    ReadStats,
)

__all__ = ["EvtReader"]

_INT64_MAX = 2**63 - 1
_UNIT_MS = {"": 1, "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_NAMES = pa.array(list(_UNIT_MS))
_UNIT_FACTORS = np.array(list(_UNIT_MS.values()), dtype=np.int64)
_UNIT_HINT = "time units are ms, s, m, h and d (no unit means ms)"
_MAX_SHAPES_PER_TYPE = 4
_MAX_BLOCK_BYTES = 1 << 30  # int32 offsets of one block's string array
_PREVIEW_CHARS = 4096  # how much of an over-long line the dead-letter file keeps
_RESERVED = (TS, SEQ)
_DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


# ---- values: how they are written, and their Arrow types -------------------------------------


class _Kind(Enum):
    """How a value is written, for the value forms a shape's regex captures."""

    DQ_STRING = "dq"
    SQ_STRING = "sq"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    NULL = "null"


_KIND_PATTERN = {
    _Kind.DQ_STRING: r'"(?P<{g}>(?:[^"\\]|\\.)*)"',
    _Kind.SQ_STRING: r"'(?P<{g}>(?:[^'\\]|\\.)*)'",
    _Kind.INT: r"(?P<{g}>-?\d{1,18})",
    _Kind.FLOAT: r"(?P<{g}>-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))",
    _Kind.BOOL: r"(?P<{g}>true|false)",
    _Kind.NULL: r"(?P<{g}>null)",
}
_VPL_TYPE_NAMES = {pa.int64(): "int", pa.float64(): "float", pa.string(): "str", pa.bool_(): "bool"}


def _promote(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type holding values of both `a` and `b` (null → any, int → float), or None."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.types.is_list(a) and pa.types.is_list(b):
        inner = _promote(a.value_type, b.value_type)
        return pa.list_(inner) if inner is not None else None
    return None


def _describe(t: pa.DataType) -> str:
    """A type as a user reads it in a message."""
    return _VPL_TYPE_NAMES.get(t, str(t))


def _check_int(value: int, pos: int) -> int:
    if not -(2**63) <= value <= _INT64_MAX:
        hint = "write it as a float (e.g. 1.0e20) or as a string"
        raise _Bad(pos, f"integer {value} does not fit in 64 bits", hint)
    return value


def _int_type(value: int, pos: int) -> pa.DataType:
    _check_int(value, pos)
    return pa.int64()


def _python_type(value: object, pos: int) -> pa.DataType:
    """The Arrow type of a value decoded from a JSON line."""
    typer = _JSON_TYPERS.get(type(value))
    if typer is None:
        raise _Bad(pos, "nested JSON objects are not supported as field values")
    return typer(value, pos)


def _list_type(items: list[Any], pos: int) -> pa.DataType:
    inner: pa.DataType = pa.null()
    for item in items:
        item_type = _python_type(item, pos)
        merged = _promote(inner, item_type)
        if merged is None:
            raise _Bad(pos, f"a list mixes {_describe(inner)} and {_describe(item_type)} values")
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


# ---- the exact per-line parser (the slow path, and the judge of what is valid) ---------------


class _Bad(Exception):
    """A malformed line: 0-based position of the problem, the reason and maybe a hint."""

    def __init__(self, pos: int, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason
        self.hint = hint


@dataclass
class _Event:
    """One event line as the exact parser reads it."""

    event_type: str
    time: int | None
    learnable: bool = True
    names: list[str] = field(default_factory=list)
    values: list[object] = field(default_factory=list)
    types: list[pa.DataType] = field(default_factory=list)
    kinds: list[_Kind | None] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def check_name(self, name: str, pos: int) -> None:
        """Refuse a reserved or repeated field name found at `pos`."""
        if name in _RESERVED:
            raise _Bad(pos, f"field name '{name}' is reserved")
        if name in self.names:
            raise _Bad(pos, f"field '{name}' appears twice")

    def add(self, name: str, value: object, typ: pa.DataType, kind: _Kind | None, pos: int) -> None:
        """Append a field whose value starts at `pos`."""
        self.names.append(name)
        self.values.append(value)
        self.types.append(typ)
        self.kinds.append(kind)
        self.positions.append(pos)

    def shape(self) -> _Shape | None:
        """The shape a regex can match for lines written like this one, if any."""
        if not self.learnable or None in self.kinds:
            return None
        fields = tuple(zip(self.names, self.kinds, strict=True))
        return _Shape(self.event_type, self.time is not None, fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Clock:
    """A `BATCH <time>` line: sets the running time."""

    time: int


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_RUN = re.compile(r"[-+.A-Za-z0-9_]*")
_TIME = re.compile(r"([0-9]+)(?:\.([0-9]+))?([A-Za-z]*)")
_BATCH = re.compile(r"BATCH[ \t]+(?=[0-9])")
_STRING = {'"': re.compile(r'"((?:[^"\\]|\\.)*)"'), "'": re.compile(r"'((?:[^'\\]|\\.)*)'")}
_STRING_KIND = {'"': _Kind.DQ_STRING, "'": _Kind.SQ_STRING}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r"}
_ESCAPES |= {"b": "\b", "f": "\f"}
_KEYWORDS: dict[str, tuple[object, pa.DataType, _Kind]] = {
    "true": (True, pa.bool_(), _Kind.BOOL),
    "false": (False, pa.bool_(), _Kind.BOOL),
    "null": (None, pa.null(), _Kind.NULL),
}
_TIME_KEYS = ("_ts", "timestamp")


def _unescape(body: str, start: int) -> str:
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
            raise _Bad(start + j, f"unknown escape '\\{code}'", 'write a backslash as "\\\\"')
        out.append(_ESCAPES[code])
        i = j + 2
    out.append(body[i:])
    return "".join(out)


def _unicode_escape(body: str, j: int, start: int) -> tuple[str, int]:
    """Decode `\\uXXXX` at body[j] (joining surrogate pairs); return the char and the next index."""
    digits = body[j + 2 : j + 6]
    if len(digits) < 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise _Bad(start + j, "a \\u escape needs four hex digits")
    code = int(digits, 16)
    if 0xD800 <= code < 0xDC00 and body[j + 6 : j + 8] == "\\u":
        low = body[j + 8 : j + 12]
        if len(low) == 4 and all(c in "0123456789abcdefABCDEF" for c in low):
            low_code = int(low, 16)
            if 0xDC00 <= low_code < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)), j + 12
    if 0xD800 <= code < 0xE000:
        raise _Bad(start + j, f"lone surrogate \\u{digits} in a string")
    return chr(code), j + 6


class _LineParser:
    """The exact parser of one line (without its newline)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> _Event | _Clock | None:
        """The line's event or clock, None for a blank or comment line; raises _Bad."""
        self._skip_ws()
        if self._at_end() or self.text.startswith(("#", "//"), self.pos):
            return None
        if _BATCH.match(self.text, self.pos):
            return self._clock()
        time = self._time_prefix() if self._peek() == "@" else None
        if self._peek() == "{":
            return self._json(time)
        return self._event(time)

    # -- characters

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        self.pos = pos

    def _take(self, char: str) -> bool:
        if self._peek() == char:
            self.pos += 1
            return True
        return False

    def _expected(self, what: str, closer: str | None = None) -> _Bad:
        if self._at_end() and closer:
            return _Bad(self.pos, f"missing '{closer}' at the end of the line")
        found = f"'{self._peek()}'" if not self._at_end() else "the end of the line"
        return _Bad(self.pos, f"expected {what}, found {found}")

    def _end_of_line(self, after: str) -> None:
        self._skip_ws()
        if not self._at_end() and not self.text.startswith(("#", "//"), self.pos):
            raise _Bad(self.pos, f"unexpected text after {after}", "comments start with # or //")

    def _ident(self, what: str) -> str:
        match = _IDENT.match(self.text, self.pos)
        if match is None:
            found = f"found '{self._peek()}'" if not self._at_end() else "the line ends"
            raise _Bad(self.pos, f"expected {what}, {found}")
        self.pos = match.end()
        return match.group()

    # -- time

    def _time(self, what: str) -> int:
        match = _TIME.match(self.text, self.pos)
        if match is None:
            raise _Bad(self.pos, f"expected a time after {what}", _UNIT_HINT)
        whole, fraction, unit = match.groups()
        factor = _UNIT_MS.get(unit)
        if factor is None:
            raise _Bad(match.start(3), f"unknown time unit '{unit}'", _UNIT_HINT)
        fraction = fraction or ""
        scaled, scale = int(whole + fraction) * factor, 10 ** len(fraction)
        if scaled % scale:
            raise _Bad(self.pos, f"time '{match.group()}' is not a whole number of milliseconds")
        if scaled // scale > _INT64_MAX:
            raise _Bad(self.pos, f"time '{match.group()}' is out of range")
        self.pos = match.end()
        return scaled // scale

    def _time_prefix(self) -> int:
        self.pos += 1
        time = self._time("'@'")
        if self._at_end():
            raise _Bad(self.pos, "expected an event after the time")
        if self._peek() not in " \t":
            raise _Bad(self.pos, f"expected a space after the time, found '{self._peek()}'")
        self._skip_ws()
        return time

    def _clock(self) -> _Clock:
        self.pos = _BATCH.match(self.text, self.pos).end()  # type: ignore[union-attr]
        time = self._time("BATCH")
        self._end_of_line("the BATCH time")
        return _Clock(time)

    # -- events

    def _event(self, time: int | None) -> _Event:
        event = _Event(self._ident("an event type, a comment or a JSON object"), time)
        self._skip_ws()
        if not self._take("{"):
            raise self._expected("'{' after the event type")
        self._skip_ws()
        if not self._take("}"):
            self._fields(event)
        self._end_of_line("'}'")
        return event

    def _fields(self, event: _Event) -> None:
        while True:
            self._field(event)
            self._skip_ws()
            if self._take("}"):
                return
            if not self._take(","):
                raise self._expected("',' or '}'", "}")
            self._skip_ws()

    def _field(self, event: _Event) -> None:
        start = self.pos
        name = self._ident("a field name")
        self._skip_ws()
        if not self._take(":"):
            raise self._expected(f"':' after field name '{name}'")
        self._skip_ws()
        at = self.pos
        value, typ, kind = self._value()
        event.check_name(name, start)
        event.add(name, value, typ, kind, at)

    # -- values

    def _value(self) -> tuple[object, pa.DataType, _Kind | None]:
        reader = _VALUE_READERS.get(self._peek(), _LineParser._keyword)
        return reader(self)

    def _string(self) -> tuple[object, pa.DataType, _Kind | None]:
        quote = self._peek()
        match = _STRING[quote].match(self.text, self.pos)
        if match is None:
            hint = f"end it with {quote}; inside a string write {quote} as \\{quote}"
            raise _Bad(self.pos, "unterminated string", hint)
        body = match.group(1)
        value = _unescape(body, self.pos + 1)
        self.pos = match.end()
        return value, pa.string(), _STRING_KIND[quote]

    def _number(self) -> tuple[object, pa.DataType, _Kind | None]:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        end = match.end() if match else start
        if match is None or _NUMBER_RUN.match(self.text, end).end() > end:  # type: ignore[union-attr]
            token = _NUMBER_RUN.match(self.text, start).group()  # type: ignore[union-attr]
            raise _Bad(start, f"bad number '{token}'", "numbers look like 42, -7, 72.5 or 1.5e-3")
        self.pos = end
        if match.group(1) or match.group(2):
            return float(match.group()), pa.float64(), _Kind.FLOAT
        return _check_int(int(match.group()), start), pa.int64(), _Kind.INT

    def _keyword(self) -> tuple[object, pa.DataType, _Kind | None]:
        if self._at_end():
            raise _Bad(self.pos, "missing value at the end of the line")
        start = self.pos
        match = _IDENT.match(self.text, start)
        if match is None:
            raise _Bad(start, f"expected a value, found '{self._peek()}'")
        word = match.group()
        if word not in _KEYWORDS:
            raise _Bad(start, f"unknown value '{word}'", f'strings need quotes: "{word}"')
        self.pos = match.end()
        return _KEYWORDS[word]

    def _list(self) -> tuple[object, pa.DataType, _Kind | None]:
        start = self.pos
        self.pos += 1
        items: list[object] = []
        inner: pa.DataType = pa.null()
        self._skip_ws()
        while not self._take("]"):
            if items and not self._take(","):
                raise self._expected("',' or ']'", "]")
            self._skip_ws()
            value, typ, _ = self._value()
            merged = _promote(inner, typ)
            if merged is None:
                msg = f"a list mixes {_describe(inner)} and {_describe(typ)} values"
                raise _Bad(start, msg)
            items.append(value)
            inner = merged
            self._skip_ws()
        return items, pa.list_(inner), None

    # -- JSON lines

    def _json(self, time: int | None) -> _Event:
        start = self.pos
        try:
            obj = json.loads(self.text[start:])
        except json.JSONDecodeError as err:
            raise _Bad(start + err.pos, f"bad JSON: {err.msg}") from err
        if not isinstance(obj, dict):
            raise _Bad(start, "a JSON event must be an object")
        event_type = obj.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise _Bad(start, 'a JSON event needs an "event_type" string')
        stamp = next((obj[key] for key in _TIME_KEYS if obj.get(key) is not None), None)
        event = _Event(event_type, time if stamp is None else _json_time(stamp, start), False)
        for name, value in obj.items():
            if name != "event_type" and name not in _TIME_KEYS:
                event.check_name(name, start)
                event.add(name, value, _python_type(value, start), None, start)
        return event


_VALUE_READERS: dict[str, Callable[[_LineParser], tuple[object, pa.DataType, _Kind | None]]] = {
    '"': _LineParser._string,
    "'": _LineParser._string,
    "[": _LineParser._list,
    "-": _LineParser._number,
    **{digit: _LineParser._number for digit in "0123456789"},
}


def _json_time(stamp: object, pos: int) -> int:
    """The event time of a JSON line's `_ts` / `timestamp` value."""
    if isinstance(stamp, float) and stamp.is_integer():
        stamp = int(stamp)
    if type(stamp) is not int:
        raise _Bad(pos, '"_ts" / "timestamp" must be a whole number of milliseconds')
    return _check_int(stamp, pos)


# ---- shapes: one regex per way of writing an event type's lines -------------------------------

_W = r"[ \t]*"
# A loose time token keeps the line regex one-pass (twice as fast); _times checks it strictly.
_TIME_PATTERN = r"@(?P<t>\d[\d.dhms]*)[ \t]+"
_TIME_PARTS = r"^(?P<whole>\d{1,18})(?:\.(?P<fraction>\d{1,9}))?(?P<unit>ms|s|m|h|d)?$"
_LINE_END = _W + r"\}" + _W + r"(?:#[^\r\n]*|//[^\r\n]*)?\r?\n?$"


@dataclass(frozen=True)
class _Shape:
    """How the lines of one event type are written: time prefix or not, fields and value forms."""

    event_type: str
    timed: bool
    fields: tuple[tuple[str, _Kind], ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(name for name, _ in self.fields)

    @cached_property
    def regex(self) -> str:
        """An anchored RE2 regex matching exactly the valid lines of this shape."""
        values = [
            f"{name}{_W}:{_W}" + _KIND_PATTERN[kind].replace("{g}", f"f{i}")
            for i, (name, kind) in enumerate(self.fields)
        ]
        head = "^" + _W + (_TIME_PATTERN if self.timed else "")
        return head + self.event_type + _W + r"\{" + _W + f"{_W},{_W}".join(values) + _LINE_END


class _ShapeBook:
    """The shapes learnt so far for every event type; shared by the parsing threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shapes: tuple[_Shape, ...] = ()
        self._hits: dict[_Shape, int] = {}
        self._hit_rates: dict[_Shape, float] = {}

    def ranked(self) -> tuple[_Shape, ...]:
        """The shapes, the most used first (a line matches one shape at most: order is speed)."""
        return tuple(sorted(self.shapes, key=lambda shape: -self._hits.get(shape, 0)))

    def mostly_hits(self, shape: _Shape) -> bool:
        """Whether `shape` matched most lines it was last tried on."""
        return self._hit_rates.get(shape, 0.0) > 0.9

    def record(self, shape: _Shape, tried: int, matched: int) -> None:
        """Note how many of `tried` lines `shape` matched (statistics only: races are harmless)."""
        self._hits[shape] = self._hits.get(shape, 0) + matched
        self._hit_rates[shape] = matched / max(tried, 1)

    def admit(self, shape: _Shape) -> bool:
        """Learn `shape` unless its type has enough shapes; True when the book holds it."""
        with self._lock:
            if shape in self.shapes:
                return True
            same_type = sum(known.event_type == shape.event_type for known in self.shapes)
            if same_type >= _MAX_SHAPES_PER_TYPE:
                return False
            self.shapes = (*self.shapes, shape)
            return True


def _times(token: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of captured time tokens, and which rows the fast path may keep."""
    if pc.all(pc.ascii_is_decimal(token)).as_py() and pc.max(pc.binary_length(token)).as_py() < 19:
        return pc.cast(token, pa.int64()).to_numpy(), np.ones(len(token), dtype=bool)
    parts = pc.extract_regex(token, _TIME_PARTS)
    ok = parts.is_valid().to_numpy(zero_copy_only=False)
    ms = np.zeros(len(token), dtype=np.int64)
    if ok.any():
        parts = parts.filter(pa.array(ok))
        rows = np.flatnonzero(ok)
        fields = (parts.field("whole"), parts.field("fraction"), parts.field("unit"))
        ms[rows], ok[rows] = _unit_times(*fields)
    return ms, ok


def _unit_times(
    whole: pa.Array, fraction: pa.Array, unit: pa.Array
) -> tuple[np.ndarray, np.ndarray]:
    """Exact milliseconds of `whole.fraction unit` times, and which are whole and in range."""
    ms = pc.cast(whole, pa.int64()).to_numpy()
    factor = _UNIT_FACTORS[pc.index_in(unit, value_set=_UNIT_NAMES).to_numpy()]
    scale = 10 ** pc.binary_length(fraction).to_numpy().astype(np.int64)
    parts = pc.cast(pc.binary_join_element_wise("0", fraction, ""), pa.int64()).to_numpy() * factor
    ok = (ms < _INT64_MAX // factor - 1) & (parts % scale == 0)
    return np.where(ok, ms * np.where(ok, factor, 0) + parts // scale, 0), ok


# ---- parsing one block ------------------------------------------------------------------------


class _LineKind(IntEnum):
    """What a line of a block turned out to be."""

    SKIP = 0
    EVENT = 1
    CLOCK = 2
    BAD = 3


@dataclass(frozen=True)
class _Flaw:
    """Why a line is a bad record; `field` names the value to point at when column is unknown."""

    reason: str
    column: int | None = None
    hint: str | None = None
    field: str | None = None


_LONG_LINE = _Flaw(f"line is longer than {MAX_LINE_BYTES} bytes", MAX_LINE_BYTES + 1)


@dataclass
class _Group:
    """Events of one type parsed alike: their line indices in the block and typed columns."""

    event_type: str
    rows: np.ndarray
    names: tuple[str, ...]
    columns: list[pa.Array]

    def filter(self, keep: np.ndarray) -> _Group:
        """The group without the rows where `keep` is false."""
        mask = pa.array(keep)
        columns = [column.filter(mask) for column in self.columns]
        return _Group(self.event_type, self.rows[keep], self.names, columns)


@dataclass(frozen=True)
class _Block:
    """Whole lines of the file: the number of the first one and their bytes."""

    first_line: int
    data: bytes


@dataclass
class _Parsed:
    """A parsed block: what each line is, its time if it sets one, and the events by group."""

    first_line: int
    data: bytes
    offsets: np.ndarray
    kinds: np.ndarray
    times: np.ndarray
    timed: np.ndarray
    groups: list[_Group] = field(default_factory=list)
    flaws: dict[int, _Flaw] = field(default_factory=dict)
    slow_events: int = 0

    def mark(self, row: int, kind: _LineKind, time: int | None) -> None:
        """Record what the line at block index `row` is, and the time it sets if any."""
        self.kinds[row] = kind
        if time is not None:
            self.times[row], self.timed[row] = time, True

    def text(self, row: int) -> str:
        """The line at block index `row`, decoded, without its line ending."""
        raw = self.data[self.offsets[row] : self.offsets[row + 1]]
        text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
        return text.removeprefix("\ufeff") if self.first_line + row == 1 else text


def _split_lines(data: bytes) -> tuple[pa.StringArray, np.ndarray]:
    """The lines of `data` (with their newlines) as a zero-copy string array, and their offsets."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10) + 1
    if len(data) and data[-1] != 10:
        ends = np.append(ends, len(data))
    offsets = np.zeros(len(ends) + 1, dtype=np.int32)
    offsets[1:] = ends
    lines = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    return lines, offsets


def _screen(lines: pa.StringArray, parsed: _Parsed) -> np.ndarray | None:
    """Flag over-long and non-UTF-8 lines; the rows left for parsing (None: all of them)."""
    raw = np.frombuffer(parsed.data, dtype=np.uint8)
    lengths = np.diff(parsed.offsets)
    if len(lengths):
        lengths = lengths - (raw[parsed.offsets[1:] - 1] == 10)
    flawed = {int(row): _LONG_LINE for row in np.flatnonzero(lengths > MAX_LINE_BYTES)}
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        flawed |= _utf8_flaws(parsed, flawed)
    if not flawed:
        return None
    parsed.flaws.update(flawed)
    keep = np.ones(len(lines), dtype=bool)
    keep[list(flawed)] = False
    return np.flatnonzero(keep)


def _utf8_flaws(parsed: _Parsed, skip: dict[int, _Flaw]) -> dict[int, _Flaw]:
    flaws = {}
    for row in range(len(parsed.offsets) - 1):
        raw = parsed.data[parsed.offsets[row] : parsed.offsets[row + 1]]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if row not in skip:
                column = len(raw[: err.start].decode("utf-8")) + 1
                flaws[row] = _Flaw(f"invalid UTF-8 byte 0x{raw[err.start]:02x}", column)
    return flaws


def _strings(raw: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Captured string bodies decoded; rows with a bad escape are not ok (the exact parser
    reports them). Only the bodies holding a backslash are decoded one by one."""
    escaped = pc.match_substring(raw, "\\")
    if not pc.any(escaped).as_py():
        return raw, None
    ok = np.ones(len(raw), dtype=bool)
    decoded = []
    rows = np.flatnonzero(escaped.to_numpy(zero_copy_only=False))
    for row, body in zip(rows, raw.filter(escaped).to_pylist(), strict=True):
        try:
            decoded.append(_unescape(body, 0))
        except _Bad:
            decoded.append("")
            ok[row] = False
    return pc.replace_with_mask(raw, escaped, pa.array(decoded, pa.string())), ok


_KIND_COLUMN: dict[_Kind, Callable[[pa.Array], tuple[pa.Array, np.ndarray | None]]] = {
    _Kind.DQ_STRING: _strings,
    _Kind.SQ_STRING: _strings,
    _Kind.INT: lambda text: (pc.cast(text, pa.int64()), None),
    _Kind.FLOAT: lambda text: (pc.cast(text, pa.float64()), None),
    _Kind.BOOL: lambda text: (pc.equal(text, "true"), None),
    _Kind.NULL: lambda text: (pa.nulls(len(text)), None),
}


def _match(
    subset: pa.StringArray, regex: str, prefilter: bool
) -> tuple[pa.StructArray, np.ndarray]:
    """The captures of the lines `regex` matches, and which lines those are.

    Capturing costs as much on a line that fails as on one that matches, so when many lines
    are expected to fail, a match-only pass (a DFA, about five times faster) picks them first.
    """
    if prefilter:
        hit = pc.match_substring_regex(subset, regex).to_numpy(zero_copy_only=False)
        if hit.any() and not hit.all():
            subset = subset.filter(pa.array(hit))
        return pc.extract_regex(subset, regex), hit
    found = pc.extract_regex(subset, regex)
    hit = found.is_valid().to_numpy(zero_copy_only=False)
    if hit.any() and not hit.all():
        found = found.filter(pa.array(hit))
    return found, hit


def _apply_shape(
    shape: _Shape, lines: pa.StringArray, rows: np.ndarray | None, parsed: _Parsed, book: _ShapeBook
) -> np.ndarray:
    """Match `shape` against `lines[rows]`, keep the matches as a group; return the rows left."""
    subset = lines if rows is None else lines.take(pa.array(rows))
    rows = np.arange(len(lines)) if rows is None else rows
    found, hit = _match(subset, shape.regex, not book.mostly_hits(shape))
    book.record(shape, len(rows), int(hit.sum()))
    if not hit.any():
        return rows
    ms, ok = _times(found.field("t")) if shape.timed else (None, np.ones(len(found), dtype=bool))
    columns = []
    for i, (_, kind) in enumerate(shape.fields):
        column, good = _KIND_COLUMN[kind](found.field(f"f{i}"))
        columns.append(column)
        if good is not None:
            ok &= good
    if not ok.all():  # rare: left to the exact parser, which says what is wrong
        columns = [column.filter(pa.array(ok)) for column in columns]
        ms = ms[ok] if ms is not None else None
        hit[np.flatnonzero(hit)[~ok]] = False
    matched = rows[hit]
    parsed.kinds[matched] = _LineKind.EVENT
    if ms is not None:
        parsed.times[matched], parsed.timed[matched] = ms, True
    parsed.groups.append(_Group(shape.event_type, matched, shape.names, columns))
    return rows[~hit]


_Signature = tuple[str, tuple[tuple[str, pa.DataType], ...]]  # event type, field names and types


class _SlowRows:
    """Events read by the exact parser, grouped by type and field types."""

    def __init__(self) -> None:
        self._groups: dict[_Signature, tuple[list[int], list[list[object]]]] = {}

    def add(self, row: int, event: _Event) -> None:
        """Remember the event at block index `row`."""
        key = (event.event_type, tuple(zip(event.names, event.types, strict=True)))
        rows, columns = self._groups.setdefault(key, ([], [[] for _ in event.names]))
        rows.append(row)
        for column, value in zip(columns, event.values, strict=True):
            column.append(value)

    def groups(self) -> list[_Group]:
        """One group per event type and field types."""
        out = []
        for (event_type, fields), (rows, columns) in self._groups.items():
            arrays = [pa.array(v, type=t) for (_, t), v in zip(fields, columns, strict=True)]
            names = tuple(name for name, _ in fields)
            out.append(_Group(event_type, np.array(rows, dtype=np.int64), names, arrays))
        return out


def _parse_slow(
    lines: pa.StringArray, rest: np.ndarray, book: _ShapeBook, tried: set[_Shape], parsed: _Parsed
) -> None:
    """Parse the rows no shape matched, one by one; learn a shape and apply it when one fits."""
    slow = _SlowRows()
    k = 0
    while k < len(rest):
        row = int(rest[k])
        k += 1
        try:
            record = _LineParser(parsed.text(row)).parse()
        except _Bad as bad:
            parsed.flaws[row] = _Flaw(bad.reason, bad.pos + 1, bad.hint)
            continue
        if isinstance(record, _Clock):
            parsed.mark(row, _LineKind.CLOCK, record.time)
            continue
        if record is None:
            continue
        shape = record.shape()
        if shape is not None and shape not in tried and book.admit(shape):
            tried.add(shape)
            rest, k = _apply_shape(shape, lines, rest[k - 1 :], parsed, book), 0
            if len(rest) == 0 or rest[0] != row:
                continue
            k = 1
        parsed.mark(row, _LineKind.EVENT, record.time)
        slow.add(row, record)
        parsed.slow_events += 1
    parsed.groups.extend(slow.groups())


def _parse_block(block: _Block, book: _ShapeBook) -> _Parsed:
    """Parse one block: learnt shapes over all lines at once, the exact parser for the rest."""
    lines, offsets = _split_lines(block.data)
    n = len(lines)
    parsed = _Parsed(
        block.first_line,
        block.data,
        offsets,
        np.zeros(n, dtype=np.int8),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
    )
    rest = _screen(lines, parsed)
    shapes = book.ranked()
    for shape in shapes:
        if rest is not None and len(rest) == 0:
            break
        rest = _apply_shape(shape, lines, rest, parsed, book)
    _parse_slow(lines, np.arange(n) if rest is None else rest, book, set(shapes), parsed)
    return parsed


# ---- settling schemas, time and sequence, block by block in file order ------------------------


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
    return pc.cast(column, target, safe=not _int_to_float(column.type, target))


def _castable(value: pa.Array, target: pa.DataType) -> bool:
    try:
        _cast(value, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _hint_declare(event_type: str, name: str, t: pa.DataType) -> str:
    return f"declare the type with `event {event_type}: {name}: {_describe(t)}`"


def _clash_hint(event_type: str, name: str, fixed: pa.DataType, found: pa.DataType) -> str:
    if {_family(fixed), _family(found)} == {_Family.NUMBER}:
        return _hint_declare(event_type, name, pa.float64())
    return (
        f"a field holds one type of value; declaring it with `event {event_type}: {name}: "
        f"{_describe(fixed)}` makes other values bad records that --on-error skip can skip"
    )


class _Assembler:
    """Settles parsed blocks in file order: schemas, running time and `_seq`."""

    def __init__(self, options: ReadOptions) -> None:
        self._declared = {
            name: pa.schema([pa.field(f.name, f.type) for f in schema if f.name not in _RESERVED])
            for name, schema in options.schemas.items()
        }
        self._fixed: dict[str, pa.Schema] = {}
        self._time = 0
        self._seq = 0

    def conform(self, parsed: _Parsed) -> dict[str, tuple[pa.Schema, list[_Group]]]:
        """Per event type its schema and groups cast to it; clashing rows become flaws."""
        by_type: dict[str, list[_Group]] = {}
        for group in sorted(parsed.groups, key=lambda g: int(g.rows[0])):
            by_type.setdefault(group.event_type, []).append(group)
        return {name: self._conform_type(name, groups, parsed) for name, groups in by_type.items()}

    def _conform_type(
        self, name: str, groups: list[_Group], parsed: _Parsed
    ) -> tuple[pa.Schema, list[_Group]]:
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
        self, parsed: _Parsed, conformed: dict[str, tuple[pa.Schema, list[_Group]]]
    ) -> InputChunk:
        """The block's InputChunk (call after its flaws were reported)."""
        if parsed.flaws:
            parsed.kinds[list(parsed.flaws)] = _LineKind.BAD
        times = self._running_time(parsed)
        events = parsed.kinds == _LineKind.EVENT
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

    def _running_time(self, parsed: _Parsed) -> np.ndarray:
        sets = (parsed.kinds == _LineKind.EVENT) | (parsed.kinds == _LineKind.CLOCK)
        sets &= parsed.timed
        last = np.where(sets, np.arange(len(sets)), -1)
        np.maximum.accumulate(last, out=last)
        times = np.where(last >= 0, parsed.times[np.maximum(last, 0)], self._time)
        if len(times):
            self._time = int(times[-1])
        return times


def _infer(groups: list[_Group]) -> pa.Schema:
    """The schema of a type from its first block: fields by first appearance, types widened."""
    types: dict[str, pa.DataType] = {}
    for group in groups:
        merged = {
            name: _promote(types.get(name, pa.null()), column.type)
            for name, column in zip(group.names, group.columns, strict=True)
        }
        if None not in merged.values():
            types.update(merged)  # type: ignore[arg-type]
    return pa.schema(list(types.items()))


def _flag(parsed: _Parsed, rows: np.ndarray, flaw: _Flaw) -> None:
    for row in rows:
        parsed.flaws.setdefault(int(row), flaw)


def _fit_inferred(group: _Group, schema: pa.Schema, parsed: _Parsed) -> _Group | None:
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
            _flag(parsed, group.rows, _Flaw(reason, None, hint, field_name))
            return None
        target = schema.field(index).type if index >= 0 else column.type
        if _promote(target, column.type) != target:
            reason = (
                f"field '{field_name}' of {name} holds a {_describe(column.type)} value, "
                f"but earlier lines made it {_describe(target)}"
            )
            _flag(
                parsed,
                group.rows,
                _Flaw(reason, None, _clash_hint(name, field_name, target, column.type), field_name),
            )
            return None
    return _cast_group(group, schema)


def _fit_declared(group: _Group, schema: pa.Schema, parsed: _Parsed) -> _Group | None:
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
            f"{_describe(column.type)} value, but it is declared {_describe(target.type)}"
        )
        flaw = _Flaw(reason, None, None, target.name)
        if len(families) > 1:
            _flag(parsed, group.rows, flaw)
            return None
        if _castable(column, target.type):
            continue
        bad = np.array([not _castable(column.slice(i, 1), target.type) for i in range(len(column))])
        _flag(parsed, group.rows[bad], flaw)
        keep &= ~bad
    if not keep.all():
        group = group.filter(keep)
    return _cast_group(group, schema) if len(group.rows) else None


def _cast_group(group: _Group, schema: pa.Schema) -> _Group:
    """The group's columns in schema order and types, nulls where a field is missing."""
    columns = dict(zip(group.names, group.columns, strict=True))
    n = len(group.rows)
    cast = [
        _cast(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return _Group(group.event_type, group.rows, tuple(schema.names), cast)


def _batch(
    name: str, schema: pa.Schema, groups: list[_Group], times: np.ndarray, seqs: np.ndarray
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


# ---- reading the file -------------------------------------------------------------------------


class _BlockReader:
    """Cuts a file into blocks of whole lines, about `batch_size` lines each, never all at once."""

    def __init__(self, file: IO[bytes], batch_size: int) -> None:
        self._file = file
        self._batch_size = batch_size
        self._carry = b""
        self._line = 1
        self._per_line = 80.0

    def __iter__(self) -> Iterator[_Block]:
        boost = 1
        while data := self._file.read(self._want() * boost):
            buffer = self._carry + data if self._carry else data
            cut, count = self._cut(buffer)
            boost = 1 if cut else boost * 2
            if cut:
                yield self._emit(buffer[:cut], count)
            self._carry = buffer[cut:]
            tail = len(self._carry) - self._carry.rfind(b"\n") - 1
            if tail > MAX_LINE_BYTES:
                yield from self._cut_long_tail(tail)
        while self._carry:
            cut, count = self._cut(self._carry)
            cut = cut or len(self._carry)
            block, self._carry = self._carry[:cut], self._carry[cut:]
            yield self._emit(block, count)

    def _want(self) -> int:
        want = self._batch_size * self._per_line - len(self._carry)
        return int(min(max(want, 64), _MAX_BLOCK_BYTES))

    def _cut(self, buffer: bytes) -> tuple[int, int]:
        """The end of the last whole line of `buffer` (or of its batch_size-th when there are
        far more), and the number of lines before it."""
        cut = buffer.rfind(b"\n", 0, _MAX_BLOCK_BYTES) + 1
        count = buffer.count(b"\n", 0, cut)
        if count > self._batch_size * 5 // 4:
            newlines = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8, count=cut) == 10)
            cut, count = int(newlines[self._batch_size - 1]) + 1, self._batch_size
        return cut, count

    def _cut_long_tail(self, tail: int) -> Iterator[_Block]:
        """Emit the whole lines before an over-long unfinished line, then its head only."""
        whole = len(self._carry) - tail
        if whole:
            yield self._emit(self._carry[:whole], self._carry.count(b"\n", 0, whole))
        head, self._carry = _cut_long_line(self._file, self._carry[whole:])
        yield self._emit(head, 1)

    def _emit(self, block: bytes, count: int) -> _Block:
        self._per_line = len(block) / max(count, 1)
        emitted = _Block(self._line, block)
        self._line += count
        return emitted


def _cut_long_line(file: IO[bytes], start: bytes) -> tuple[bytes, bytes]:
    """Skip the rest of a line longer than MAX_LINE_BYTES; its head, and the bytes after it."""
    head = start[: MAX_LINE_BYTES + 1] + b"\n"
    chunk = start
    while (end := chunk.find(b"\n")) < 0:
        chunk = file.read(1 << 20)
        if not chunk:
            return head, b""
    return head, chunk[end + 1 :]


class _DeadLetter:
    """Appends skipped records to the dead-letter file, one JSON object a line; opened lazily."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> _DeadLetter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, entry: dict[str, object]) -> None:
        """Append one record."""
        if self._path is None:
            return
        if self._file is None:
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _flaw_column(parsed: _Parsed, row: int, flaw: _Flaw) -> int:
    """The 1-based column of a flaw, finding the flawed field's value when needed."""
    if flaw.column is not None:
        return flaw.column
    try:
        record = _LineParser(parsed.text(row)).parse()
    except _Bad:
        return 1
    if isinstance(record, _Event) and flaw.field in record.names:
        return record.positions[record.names.index(flaw.field)] + 1
    return 1


class EvtReader:
    """Reads a `.evt` file as InputChunks in file order, one EventBatch per event type a chunk.

    `workers` threads parse blocks (default: up to 2); the output does not depend on it.
    `stats` counts events and bad records as the reader goes; `slow_events` counts the events
    that went through the exact per-line parser rather than a learnt shape.

    Example: `for chunk in EvtReader("sensors.evt", ReadOptions(batch_size=10_000)): ...`
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        options: ReadOptions | None = None,
        *,
        workers: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options or ReadOptions()
        self.workers = max(1, _DEFAULT_WORKERS if workers is None else workers)
        self.stats = ReadStats()
        self.slow_events = 0
        self._book = _ShapeBook()

    def __iter__(self) -> Iterator[InputChunk]:
        """The chunks of the file; raises InputError at the first bad line unless skipping."""
        assembler = _Assembler(self.options)
        with self._open() as file, _DeadLetter(self.options.dead_letter) as dead:
            for parsed in self._parse_blocks(file):
                conformed = assembler.conform(parsed)
                self._settle_flaws(parsed, dead)
                chunk = assembler.emit(parsed, conformed)
                self.stats.events += chunk.count
                self.slow_events += parsed.slow_events
                yield chunk

    def _open(self) -> IO[bytes]:
        if self.path.is_dir():
            raise InputError("is a directory, not an event file", path=str(self.path))
        try:
            return open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError as err:
            raise InputError("no such event file", path=str(self.path)) from err
        except OSError as err:
            raise InputError(
                f"cannot read the event file: {err.strerror}", path=str(self.path)
            ) from err

    def _parse_blocks(self, file: IO[bytes]) -> Iterator[_Parsed]:
        blocks = _BlockReader(file, max(1, self.options.batch_size))
        if self.workers == 1:
            yield from (_parse_block(block, self._book) for block in blocks)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vbatch-evt")
        pending: deque[Future[_Parsed]] = deque()
        try:
            for block in blocks:
                pending.append(pool.submit(_parse_block, block, self._book))
                if len(pending) > 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _settle_flaws(self, parsed: _Parsed, dead: _DeadLetter) -> None:
        """Raise the block's first flaw, or with ErrorPolicy.SKIP write them all as dead letters."""
        for row in sorted(parsed.flaws):
            flaw = parsed.flaws[row]
            line, column = parsed.first_line + row, _flaw_column(parsed, row, flaw)
            if self.options.on_error is not ErrorPolicy.SKIP:
                raise InputError(
                    flaw.reason, path=str(self.path), line=line, column=column, hint=flaw.hint
                )
            record = parsed.text(row)
            if flaw is _LONG_LINE:
                record = record[:_PREVIEW_CHARS]
            dead.write(
                {
                    "file": str(self.path),
                    "line": line,
                    "column": column,
                    "reason": flaw.reason,
                    "record": record,
                }
            )
            self.stats.bad_records += 1
