"""The exact parser of one `.evt` line: the slow path, and the judge of what is valid."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from vbatch.io import strict_json
from vbatch.io.columns import type_key
from vbatch.io.evt.shapes import JSON_TIME, JSON_TYPE, Shape
from vbatch.io.evt.values import (
    UNIT_HINT,
    UNIT_MS,
    BadLine,
    Kind,
    describe,
    parse_float,
    parse_int,
    promote,
    python_type,
    unescape,
)
from vbatch.io.source import MAX_NESTING, MAX_TIME_MS, SEQ, TS

RESERVED = (TS, SEQ)
MAX_SHAPE_FIELDS = 256  # a regex of more captures compiles slower than the exact parser reads


@dataclass
class Event:
    """One event line as the exact parser reads it."""

    event_type: str
    time: int | None
    learnable: bool = True
    names: list[str] = field(default_factory=list)
    values: list[object] = field(default_factory=list)
    types: list[pa.DataType] = field(default_factory=list)
    kinds: list[Kind | None] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    json_keys: tuple[tuple[str, Kind | str], ...] | None = None  # a JSON line's, if learnable
    _seen: set[str] = field(default_factory=set, repr=False)

    def check_name(self, name: str, pos: int) -> None:
        """Refuse a reserved or repeated field name found at `pos`."""
        if name in RESERVED:
            raise BadLine(pos, f"field name '{name}' is reserved")
        if name in self._seen:
            raise BadLine(pos, f"field '{name}' appears twice")

    def add(self, name: str, value: object, typ: pa.DataType, kind: Kind | None, pos: int) -> None:
        """Append a field whose value starts at `pos`."""
        self._seen.add(name)
        self.names.append(name)
        self.values.append(value)
        self.types.append(typ)
        self.kinds.append(kind)
        self.positions.append(pos)

    def shape(self) -> Shape | None:
        """The shape a regex can match for lines written like this one, if any."""
        if not self.learnable or None in self.kinds or len(self.names) > MAX_SHAPE_FIELDS:
            return None
        fields = tuple(zip(self.names, self.kinds, strict=True))
        timed = self.time is not None
        return Shape(self.event_type, timed, fields, self.json_keys)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Clock:
    """A `BATCH <time>` line: sets the running time."""

    time: int


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_RUN = re.compile(r"[-+.A-Za-z0-9_]*")
_TIME = re.compile(r"([0-9]+)(?:\.([0-9]+))?([A-Za-z]*)")
_BATCH = re.compile(r"BATCH[ \t]+(?=[0-9])")
_STRING = {'"': re.compile(r'"((?:[^"\\]|\\.)*)"'), "'": re.compile(r"'((?:[^'\\]|\\.)*)'")}
_STRING_KIND = {'"': Kind.DQ_STRING, "'": Kind.SQ_STRING}
_KEYWORDS: dict[str, tuple[object, pa.DataType, Kind]] = {
    "true": (True, pa.bool_(), Kind.BOOL),
    "false": (False, pa.bool_(), Kind.BOOL),
    "null": (None, pa.null(), Kind.NULL),
}
_TIME_KEYS = ("_ts", "timestamp")


class LineParser:
    """The exact parser of one line (without its newline)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._depth = 0  # lists open around the current value

    def parse(self) -> Event | Clock | None:
        """The line's event or clock, None for a blank or comment line; raises BadLine."""
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

    def _expected(self, what: str, closer: str | None = None) -> BadLine:
        if self._at_end() and closer:
            return BadLine(self.pos, f"missing '{closer}' at the end of the line")
        found = f"'{self._peek()}'" if not self._at_end() else "the end of the line"
        return BadLine(self.pos, f"expected {what}, found {found}")

    def _end_of_line(self, after: str) -> None:
        self._skip_ws()
        if not self._at_end() and not self.text.startswith(("#", "//"), self.pos):
            raise BadLine(self.pos, f"unexpected text after {after}", "comments start with # or //")

    def _ident(self, what: str) -> str:
        match = _IDENT.match(self.text, self.pos)
        if match is None:
            found = f"found '{self._peek()}'" if not self._at_end() else "the line ends"
            raise BadLine(self.pos, f"expected {what}, {found}")
        self.pos = match.end()
        return match.group()

    # -- time

    def _time(self, what: str) -> int:
        match = _TIME.match(self.text, self.pos)
        if match is None:
            raise BadLine(self.pos, f"expected a time after {what}", UNIT_HINT)
        whole, fraction, unit = match.groups()
        factor = UNIT_MS.get(unit)
        if factor is None:
            raise BadLine(match.start(3), f"unknown time unit '{unit}'", UNIT_HINT)
        fraction = (fraction or "").rstrip("0")
        shown = match.group() if len(match.group()) <= 24 else match.group()[:20] + "…"
        if len(whole.lstrip("0")) > 19:  # checked before int(): Python caps digits at 4300
            raise _time_out_of_range(self.pos, shown)
        if len(fraction) > 9:  # a day is 8.64e7 ms: more decimals cannot be whole milliseconds
            raise BadLine(self.pos, f"time '{shown}' is not a whole number of milliseconds")
        scaled, scale = int(whole + fraction) * factor, 10 ** len(fraction)
        if scaled % scale:
            raise BadLine(self.pos, f"time '{shown}' is not a whole number of milliseconds")
        if scaled // scale > MAX_TIME_MS:
            raise _time_out_of_range(self.pos, shown)
        self.pos = match.end()
        return scaled // scale

    def _time_prefix(self) -> int:
        self.pos += 1
        time = self._time("'@'")
        if self._at_end():
            raise BadLine(self.pos, "expected an event after the time")
        if self._peek() not in " \t":
            raise BadLine(self.pos, f"expected a space after the time, found '{self._peek()}'")
        self._skip_ws()
        return time

    def _clock(self) -> Clock:
        self.pos = _BATCH.match(self.text, self.pos).end()  # type: ignore[union-attr]
        time = self._time("BATCH")
        self._end_of_line("the BATCH time")
        return Clock(time)

    # -- events

    def _event(self, time: int | None) -> Event:
        event = Event(self._ident("an event type, a comment or a JSON object"), time)
        self._skip_ws()
        if not self._take("{"):
            raise self._expected("'{' after the event type")
        self._skip_ws()
        if not self._take("}"):
            self._fields(event)
        self._end_of_line("'}'")
        return event

    def _fields(self, event: Event) -> None:
        while True:
            self._field(event)
            self._skip_ws()
            if self._take("}"):
                return
            if not self._take(","):
                raise self._expected("',' or '}'", "}")
            self._skip_ws()

    def _field(self, event: Event) -> None:
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

    def _value(self) -> tuple[object, pa.DataType, Kind | None]:
        reader = _VALUE_READERS.get(self._peek(), LineParser._keyword)
        return reader(self)

    def _string(self) -> tuple[object, pa.DataType, Kind | None]:
        quote = self._peek()
        match = _STRING[quote].match(self.text, self.pos)
        if match is None:
            hint = f"end it with {quote}; inside a string write {quote} as \\{quote}"
            raise BadLine(self.pos, "unterminated string", hint)
        body = match.group(1)
        value = unescape(body, self.pos + 1)
        self.pos = match.end()
        return value, pa.string(), _STRING_KIND[quote]

    def _number(self) -> tuple[object, pa.DataType, Kind | None]:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        end = match.end() if match else start
        if match is None or _NUMBER_RUN.match(self.text, end).end() > end:  # type: ignore[union-attr]
            token = _NUMBER_RUN.match(self.text, start).group()  # type: ignore[union-attr]
            hint = "numbers look like 42, -7, 72.5 or 1.5e-3"
            raise BadLine(start, f"bad number '{token}'", hint)
        self.pos = end
        if match.group(1) or match.group(2):
            return parse_float(match.group(), start), pa.float64(), Kind.FLOAT
        return parse_int(match.group(), start), pa.int64(), Kind.INT

    def _keyword(self) -> tuple[object, pa.DataType, Kind | None]:
        if self._at_end():
            raise BadLine(self.pos, "missing value at the end of the line")
        start = self.pos
        match = _IDENT.match(self.text, start)
        if match is None:
            raise BadLine(start, f"expected a value, found '{self._peek()}'")
        word = match.group()
        if word not in _KEYWORDS:
            raise BadLine(start, f"unknown value '{word}'", f'strings need quotes: "{word}"')
        self.pos = match.end()
        return _KEYWORDS[word]

    def _list(self) -> tuple[object, pa.DataType, Kind | None]:
        start = self.pos
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise BadLine(start, f"lists nested deeper than {MAX_NESTING} levels")
        self.pos += 1
        items: list[object] = []
        inner: pa.DataType = pa.null()
        self._skip_ws()
        while not self._take("]"):
            if items and not self._take(","):
                raise self._expected("',' or ']'", "]")
            self._skip_ws()
            value, typ, _ = self._value()
            merged = promote(inner, typ)
            if merged is None:
                msg = f"a list mixes {describe(inner)} and {describe(typ)} values"
                raise BadLine(start, msg)
            items.append(value)
            inner = merged
            self._skip_ws()
        self._depth -= 1
        return items, pa.list_(inner), None

    # -- JSON lines

    def _json(self, time: int | None) -> Event:
        start = self.pos
        try:
            obj = strict_json.loads(self.text[start:])
        except strict_json.JsonProblem as err:
            raise BadLine(start + err.pos, f"bad JSON: {err.reason}", err.hint) from err
        if not isinstance(obj, dict):
            raise BadLine(start, "a JSON event must be an object")
        key = type_key(obj)
        event_type = obj.get(key)
        if not isinstance(event_type, str) or not event_type:
            raise BadLine(start, 'a JSON event needs an "event_type" string')
        stamp = next((obj[key] for key in _TIME_KEYS if obj.get(key) is not None), None)
        keys = _json_layout(obj, key, event_type) if time is None else None
        event = Event(
            event_type, time if stamp is None else _json_time(stamp, start), keys is not None
        )
        kinds = iter(kind for _, kind in keys or () if isinstance(kind, Kind))
        for name, value in _json_fields(obj, key, start):
            event.check_name(name, start)
            event.add(name, value, python_type(value, start), next(kinds, None), start)
        event.json_keys = keys
        return event


_JSON_KINDS: dict[type, Kind] = {
    str: Kind.JSON_STRING,
    int: Kind.INT,
    float: Kind.FLOAT,
    bool: Kind.BOOL,
    type(None): Kind.NULL,
}
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _json_layout(
    obj: dict[str, Any], named_by: str, event_type: str
) -> tuple[tuple[str, Kind | str], ...] | None:
    """The keys of a JSON event in order, each with its role, when a shape can match lines
    written like it: plain names, flat values, at most one time key holding whole
    milliseconds. None otherwise (the line is still read, by the exact parser)."""
    if not _PLAIN_NAME.match(event_type) or sum(key in obj for key in _TIME_KEYS) > 1:
        return None
    keys: list[tuple[str, Kind | str]] = []
    for key, value in obj.items():
        if not _PLAIN_NAME.match(key):
            return None
        if key == named_by:
            keys.append((key, JSON_TYPE))
        elif key in _TIME_KEYS:
            if type(value) is not int:
                return None
            keys.append((key, JSON_TIME))
        else:
            kind = _JSON_KINDS.get(type(value))
            if kind is None:
                return None
            keys.append((key, kind))
    return tuple(keys)


def _json_fields(obj: dict[str, Any], named_by: str, pos: int) -> Iterator[tuple[str, Any]]:
    """An event object's fields: its own, or those of its `"data"` envelope (Varpulis's
    `{"event_type": "T", "data": {...}, "timestamp": ...}`) beside any other top-level ones."""
    data = obj.get("data")
    for name, value in obj.items():
        if name == named_by or name in _TIME_KEYS:
            continue
        if name == "data" and isinstance(data, dict):
            for inner, inner_value in data.items():
                if inner in obj and inner != "data":
                    raise BadLine(pos, f'field "{inner}" is both in "data" and beside it')
                yield inner, inner_value
        else:
            yield name, value


_VALUE_READERS: dict[str, Callable[[LineParser], tuple[object, pa.DataType, Kind | None]]] = {
    '"': LineParser._string,
    "'": LineParser._string,
    "[": LineParser._list,
    "-": LineParser._number,
    **{digit: LineParser._number for digit in "0123456789"},
}


def _json_time(stamp: object, pos: int) -> int:
    """The event time of a JSON line's `_ts` / `timestamp` value: whole milliseconds since
    the Unix epoch, or an ISO-8601 date-time string (`"2026-02-04T10:30:00Z"`; without an
    offset it is UTC)."""
    if isinstance(stamp, str):
        stamp = _iso_time(stamp, pos)
    if isinstance(stamp, float) and stamp.is_integer():
        stamp = int(stamp)
    if type(stamp) is not int:
        raise BadLine(pos, '"_ts" / "timestamp" must be a whole number of milliseconds')
    if stamp < 0:
        raise BadLine(pos, f'"_ts" / "timestamp" is negative ({stamp})', _TIME_HINT)
    if stamp > MAX_TIME_MS:
        raise _time_out_of_range(pos, str(stamp))
    return stamp


_TIME_HINT = "event times are milliseconds from 0 to 2**61"


def _iso_time(text: str, pos: int) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = 'an ISO-8601 date-time such as "2026-02-04T10:30:00Z", or milliseconds'
        raise BadLine(pos, f'"_ts" / "timestamp" {text[:40]!r} is not a date-time', hint) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time_out_of_range(pos: int, shown: str) -> BadLine:
    return BadLine(pos, f"time '{shown}' is out of range", _TIME_HINT)
