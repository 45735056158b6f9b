"""Learnt line shapes: one anchored RE2 regex per way of writing a type, applied to many lines.

A shape is learnt from a line the exact parser read; `match_shape` runs its regex over a whole
array of lines with `pyarrow.compute` and turns the captures into typed columns at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io import strict_json
from vbatch.io.evt.values import UNIT_MS, BadLine, Kind, unescape
from vbatch.io.source import MAX_TIME_MS

MAX_SHAPES_PER_TYPE = 4

_KIND_PATTERN = {
    Kind.DQ_STRING: r'"(?P<{g}>(?:[^"\\]|\\.)*)"',
    Kind.SQ_STRING: r"'(?P<{g}>(?:[^'\\]|\\.)*)'",
    Kind.INT: r"(?P<{g}>-?\d{1,18})",
    Kind.FLOAT: r"(?P<{g}>-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))",
    Kind.BOOL: r"(?P<{g}>true|false)",
    Kind.NULL: r"(?P<{g}>null)",
}
_JSON_PATTERN = {
    Kind.JSON_STRING: r'"(?P<{g}>(?:[^"\\\x00-\x1f]|\\.)*)"',
    Kind.INT: r"(?P<{g}>-?(?:0|[1-9]\d{0,17}))",
    Kind.FLOAT: r"(?P<{g}>-?(?:0|[1-9]\d*)(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+))",
    Kind.BOOL: r"(?P<{g}>true|false)",
    Kind.NULL: r"(?P<{g}>null)",
}
JSON_TYPE, JSON_TIME = "type", "time"  # roles of a JSON shape's keys besides its fields
_W = r"[ \t]*"
# A loose time token keeps the line regex one-pass (twice as fast); _times checks it strictly.
_TIME_PATTERN = r"@(?P<t>\d[\d.dhms]*)[ \t]+"
_TIME_PARTS = r"^(?P<whole>\d{1,18})(?:\.(?P<fraction>\d{1,9}))?(?P<unit>ms|s|m|h|d)?$"
_LINE_END = _W + r"\}" + _W + r"(?:#[^\r\n]*|//[^\r\n]*)?\r?\n?$"
_UNIT_NAMES = pa.array(list(UNIT_MS))
_UNIT_FACTORS = np.array(list(UNIT_MS.values()), dtype=np.int64)


@dataclass(frozen=True)
class Shape:
    """How the lines of one event type are written: time prefix or not, fields and value forms.

    A JSON shape (`json` set) is an object's keys in order, each a field's kind, JSON_TYPE
    (the key naming the event type) or JSON_TIME (the key holding the time in milliseconds,
    which makes the shape `timed`).
    """

    event_type: str
    timed: bool
    fields: tuple[tuple[str, Kind], ...]
    json: tuple[tuple[str, Kind | str], ...] | None = None

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(name for name, _ in self.fields)

    @cached_property
    def regex(self) -> str:
        """An anchored RE2 regex matching exactly the valid lines of this shape."""
        if self.json is not None:
            return self._json_regex(self.json)
        values = [
            f"{name}{_W}:{_W}" + _KIND_PATTERN[kind].replace("{g}", f"f{i}")
            for i, (name, kind) in enumerate(self.fields)
        ]
        head = "^" + _W + (_TIME_PATTERN if self.timed else "")
        return head + self.event_type + _W + r"\{" + _W + f"{_W},{_W}".join(values) + _LINE_END

    def _json_regex(self, keys: tuple[tuple[str, Kind | str], ...]) -> str:
        """Keys and names are plain identifiers (a JSON shape is learnt only then)."""
        values, field = [], 0
        for key, role in keys:
            if role == JSON_TYPE:
                value = f'"{self.event_type}"'
            elif role == JSON_TIME:
                value = r"(?P<t>\d{1,19})"
            else:
                value = _JSON_PATTERN[role].replace("{g}", f"f{field}")  # type: ignore[index]
                field += 1
            values.append(f'"{key}"{_W}:{_W}{value}')
        return "^" + _W + r"\{" + _W + f"{_W},{_W}".join(values) + _W + r"\}[ \t]*\r?\n?$"


class ShapeBook:
    """The shapes learnt so far for every event type; shared by the parsing threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shapes: tuple[Shape, ...] = ()
        self._hits: dict[Shape, int] = {}
        self._hit_rates: dict[Shape, float] = {}

    def ranked(self) -> tuple[Shape, ...]:
        """The shapes, the most used first (a line matches one shape at most: order is speed)."""
        return tuple(sorted(self.shapes, key=lambda shape: -self._hits.get(shape, 0)))

    def mostly_hits(self, shape: Shape) -> bool:
        """Whether `shape` matched most lines it was last tried on."""
        return self._hit_rates.get(shape, 0.0) > 0.9

    def record(self, shape: Shape, tried: int, matched: int) -> None:
        """Note how many of `tried` lines `shape` matched (statistics only: races are harmless)."""
        self._hits[shape] = self._hits.get(shape, 0) + matched
        self._hit_rates[shape] = matched / max(tried, 1)

    def admit(self, shape: Shape) -> bool:
        """Learn `shape` unless its type has enough shapes; True when the book holds it."""
        with self._lock:
            if shape in self.shapes:
                return True
            same_type = sum(known.event_type == shape.event_type for known in self.shapes)
            if same_type >= MAX_SHAPES_PER_TYPE:
                return False
            self.shapes = (*self.shapes, shape)
            return True


@dataclass
class Match:
    """Which of the tried lines a shape matched, and their times (if timed) and typed columns."""

    hit: np.ndarray
    times: np.ndarray | None
    columns: list[pa.Array]


def match_shape(shape: Shape, lines: pa.StringArray, book: ShapeBook, escapes: bool) -> Match:
    """Apply `shape` to all `lines` at once; lines it cannot decode are left unmatched.

    `escapes`: whether a line may hold a backslash (else strings need no decoding).
    """
    found, hit = _match(lines, shape.regex, not book.mostly_hits(shape))
    book.record(shape, len(lines), int(hit.sum()))
    if not hit.any():
        return Match(hit, None, [])
    ms, ok = _times(found.field("t")) if shape.timed else (None, np.ones(len(found), dtype=bool))
    columns = _columns(shape, found, escapes, ok)
    if not ok.all():  # rare: left to the exact parser, which says what is wrong
        columns = [column.filter(pa.array(ok)) for column in columns]
        ms = ms[ok] if ms is not None else None
        hit[np.flatnonzero(hit)[~ok]] = False
    return Match(hit, ms, columns)


def _columns(shape: Shape, found: pa.StructArray, escapes: bool, ok: np.ndarray) -> list[pa.Array]:
    """The typed columns of the captured values; clears `ok` where a string cannot be decoded."""
    columns = []
    for i, (_, kind) in enumerate(shape.fields):
        decode = _KIND_COLUMN[kind] if escapes or kind not in _STRING_KINDS else _verbatim
        column, good = decode(found.field(f"f{i}"))
        columns.append(column)
        if good is not None:
            ok &= good
    return columns


def _match(lines: pa.StringArray, regex: str, prefilter: bool) -> tuple[pa.StructArray, np.ndarray]:
    """The captures of the lines `regex` matches, and which lines those are.

    Capturing costs as much on a line that fails as on one that matches, so when many lines
    are expected to fail, a match-only pass (a DFA, about five times faster) picks them first.
    """
    if prefilter:
        hit = pc.match_substring_regex(lines, regex).to_numpy(zero_copy_only=False)
        if hit.any() and not hit.all():
            lines = lines.filter(pa.array(hit))
        return pc.extract_regex(lines, regex), hit
    found = pc.extract_regex(lines, regex)
    hit = found.is_valid().to_numpy(zero_copy_only=False)
    if hit.any() and not hit.all():
        found = found.filter(pa.array(hit))
    return found, hit


def _times(token: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of captured time tokens, and which rows the fast path may keep (the exact
    parser says what is wrong with the others)."""
    try:  # plain milliseconds: a token starts with a digit, so only digits cast
        ms = pc.cast(token, pa.int64()).to_numpy()
        return ms, ms <= MAX_TIME_MS
    except pa.ArrowInvalid:
        pass
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
    ok = (ms <= MAX_TIME_MS // factor) & (parts % scale == 0)
    total = np.where(ok, ms * np.where(ok, factor, 0) + parts // scale, 0)
    return total, ok & (total <= MAX_TIME_MS)


def _decoded(raw: pa.Array, decode: Callable[[str], str]) -> tuple[pa.Array, np.ndarray | None]:
    """Captured string bodies decoded by `decode`; rows it refuses are not ok,
    left to the exact parser, which says what is wrong. Only the bodies holding a backslash
    are decoded, one by one."""
    escaped = pc.match_substring(raw, "\\")
    if not pc.any(escaped).as_py():
        return raw, None
    ok = np.ones(len(raw), dtype=bool)
    decoded = []
    rows = np.flatnonzero(escaped.to_numpy(zero_copy_only=False))
    for row, body in zip(rows, raw.filter(escaped).to_pylist(), strict=True):
        try:
            decoded.append(decode(body))
        except (BadLine, ValueError):  # a bad escape; JSON's refusals are ValueErrors
            decoded.append("")
            ok[row] = False
    return pc.replace_with_mask(raw, escaped, pa.array(decoded, pa.string())), ok


def _strings(raw: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """`.evt` string bodies (their escapes, as the exact parser reads them)."""
    return _decoded(raw, lambda body: unescape(body, 0))


def _json_strings(raw: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """JSON string bodies, decoded as JSON decodes them (a lone surrogate is refused)."""
    return _decoded(raw, lambda body: strict_json.loads(f'"{body}"'))


def _verbatim(text: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    return text, None


def _floats(text: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Captured floats; rows too large for a float are not ok (the exact parser reports them)."""
    values = pc.cast(text, pa.float64())
    finite = pc.is_finite(values)
    if pc.all(finite).as_py():
        return values, None
    return values, finite.to_numpy(zero_copy_only=False)


_STRING_KINDS = (Kind.DQ_STRING, Kind.SQ_STRING, Kind.JSON_STRING)
_KIND_COLUMN: dict[Kind, Callable[[pa.Array], tuple[pa.Array, np.ndarray | None]]] = {
    Kind.DQ_STRING: _strings,
    Kind.SQ_STRING: _strings,
    Kind.JSON_STRING: _json_strings,
    Kind.INT: lambda text: (pc.cast(text, pa.int64()), None),
    Kind.FLOAT: _floats,
    Kind.BOOL: lambda text: (pc.equal(text, "true"), None),
    Kind.NULL: lambda text: (pa.nulls(len(text)), None),
}
