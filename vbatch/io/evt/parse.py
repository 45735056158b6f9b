"""Parsing one block of whole lines: learnt shapes over all lines at once, the exact parser
for the rest. Lines are split without copying (numpy newline positions → an Arrow string
array); what each line is, the time it sets and its events by group are kept per block, so
schemas, running time and `_seq` can be settled later, block by block in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np
import pyarrow as pa

from vbatch.io.evt.lines import Clock, Event, LineParser
from vbatch.io.evt.shapes import Shape, ShapeBook, match_shape
from vbatch.io.evt.values import BadLine
from vbatch.io.source import MAX_LINE_BYTES

MAX_BLOCK_BYTES = 1 << 30  # int32 offsets of one block's string array
# Blocks of at most this many lines skip the shapes: a shape pass costs about 0.4 ms
# whatever the block's size (Arrow compiles its regular expression on every call), the
# exact parser about 15 µs a line. Live micro-batches are often this small; their latency
# is what this buys (benchmarks/latency.py). Both paths give the same events and types.
SMALL_BLOCK_LINES = 16


class LineKind(IntEnum):
    """What a line of a block turned out to be."""

    SKIP = 0
    EVENT = 1
    CLOCK = 2
    BAD = 3


@dataclass(frozen=True)
class Flaw:
    """Why a line is a bad record; `field` names the value to point at when column is unknown."""

    reason: str
    column: int | None = None
    hint: str | None = None
    field: str | None = None


LONG_LINE = Flaw(f"line is longer than {MAX_LINE_BYTES} bytes", MAX_LINE_BYTES + 1)


@dataclass
class Group:
    """Events of one type parsed alike: their line indices in the block and typed columns."""

    event_type: str
    rows: np.ndarray
    names: tuple[str, ...]
    columns: list[pa.Array]

    def filter(self, keep: np.ndarray) -> Group:
        """The group without the rows where `keep` is false."""
        mask = pa.array(keep)
        columns = [column.filter(mask) for column in self.columns]
        return Group(self.event_type, self.rows[keep], self.names, columns)


@dataclass(frozen=True)
class Block:
    """Whole lines of the input: the number of the first one and their bytes; `cut_line`: the
    block is the head of one over-long line, whose rest is skipped after it."""

    first_line: int
    data: bytes
    cut_line: bool = False


@dataclass
class Parsed:
    """A parsed block: what each line is, its time if it sets one, and the events by group."""

    first_line: int
    data: bytes
    offsets: np.ndarray
    kinds: np.ndarray
    times: np.ndarray
    timed: np.ndarray
    groups: list[Group] = field(default_factory=list)
    flaws: dict[int, Flaw] = field(default_factory=dict)
    slow_events: int = 0

    @cached_property
    def escapes(self) -> bool:
        """Whether any line of the block holds a backslash."""
        return b"\\" in self.data

    def mark(self, row: int, kind: LineKind, time: int | None) -> None:
        """Record what the line at block index `row` is, and the time it sets if any."""
        self.kinds[row] = kind
        if time is not None:
            self.times[row], self.timed[row] = time, True

    def text(self, row: int) -> str:
        """The line at block index `row`, decoded, without its line ending."""
        raw = self.data[self.offsets[row] : self.offsets[row + 1]]
        text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
        return text.removeprefix("\ufeff") if self.first_line + row == 1 else text


def parse_block(block: Block, book: ShapeBook) -> Parsed:
    """Parse one block: learnt shapes over all lines at once, the exact parser for the rest."""
    lines, offsets = _split_lines(block.data)
    n = len(lines)
    kinds, times, timed = np.zeros(n, np.int8), np.zeros(n, np.int64), np.zeros(n, bool)
    parsed = Parsed(block.first_line, block.data, offsets, kinds, times, timed)
    rest = _screen(lines, parsed)
    if n <= SMALL_BLOCK_LINES:
        _parse_slow(lines, np.arange(n) if rest is None else rest, book, None, parsed)
        return parsed
    shapes = book.ranked()
    for shape in shapes:
        if rest is not None and len(rest) == 0:
            break
        rest = _apply_shape(shape, lines, rest, parsed, book)
    _parse_slow(lines, np.arange(n) if rest is None else rest, book, set(shapes), parsed)
    return parsed


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


def _screen(lines: pa.StringArray, parsed: Parsed) -> np.ndarray | None:
    """Flag over-long and non-UTF-8 lines; the rows left for parsing (None: all of them)."""
    raw = np.frombuffer(parsed.data, dtype=np.uint8)
    lengths = np.diff(parsed.offsets)
    if len(lengths):
        lengths = lengths - (raw[parsed.offsets[1:] - 1] == 10)
    flawed = {int(row): LONG_LINE for row in np.flatnonzero(lengths > MAX_LINE_BYTES)}
    if not _valid_utf8(lines):
        flawed |= _utf8_flaws(lines, parsed, flawed)
    if not flawed:
        return None
    parsed.flaws.update(flawed)
    keep = np.ones(len(lines), dtype=bool)
    keep[list(flawed)] = False
    return np.flatnonzero(keep)


def _valid_utf8(lines: pa.StringArray) -> bool:
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _utf8_flaws(lines: pa.StringArray, parsed: Parsed, skip: dict[int, Flaw]) -> dict[int, Flaw]:
    flaws = {}
    for row in failing_rows(lines, _valid_utf8).tolist():
        if row in skip:
            continue
        raw = parsed.data[parsed.offsets[row] : parsed.offsets[row + 1]]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            column = len(raw[: err.start].decode("utf-8")) + 1
            flaws[row] = Flaw(f"invalid UTF-8 byte 0x{raw[err.start]:02x}", column)
    return flaws


def failing_rows(values: pa.Array, ok: Callable[[pa.Array], bool]) -> np.ndarray:
    """The rows of `values` that fail `ok`, in order, for a check that fails on a slice exactly
    when it fails on one of its rows. Found by halving: about k·log2(n) checks for k failing
    rows, where a check a row would run n of them."""
    bad: list[int] = []
    pending = [(0, len(values))]
    while pending:
        start, stop = pending.pop()
        if start == stop or ok(values.slice(start, stop - start)):
            continue
        if stop - start == 1:
            bad.append(start)
            continue
        middle = (start + stop) // 2
        pending += [(middle, stop), (start, middle)]
    return np.array(bad, dtype=np.int64)


def _apply_shape(
    shape: Shape, lines: pa.StringArray, rows: np.ndarray | None, parsed: Parsed, book: ShapeBook
) -> np.ndarray:
    """Match `shape` against `lines[rows]`, keep the matches as a group; return the rows left."""
    subset = lines if rows is None else lines.take(pa.array(rows))
    rows = np.arange(len(lines)) if rows is None else rows
    match = match_shape(shape, subset, book, parsed.escapes)
    if not match.hit.any():
        return rows
    matched = rows[match.hit]
    parsed.kinds[matched] = LineKind.EVENT
    if match.times is not None:
        parsed.times[matched], parsed.timed[matched] = match.times, True
    parsed.groups.append(Group(shape.event_type, matched, shape.names, match.columns))
    return rows[~match.hit]


_Signature = tuple[str, tuple[tuple[str, pa.DataType], ...]]  # event type, field names and types


class _SlowRows:
    """Events read by the exact parser, grouped by type and field types."""

    def __init__(self) -> None:
        self._groups: dict[_Signature, tuple[list[int], list[list[object]]]] = {}

    def add(self, row: int, event: Event) -> None:
        """Remember the event at block index `row`."""
        key = (event.event_type, tuple(zip(event.names, event.types, strict=True)))
        rows, columns = self._groups.setdefault(key, ([], [[] for _ in event.names]))
        rows.append(row)
        for column, value in zip(columns, event.values, strict=True):
            column.append(value)

    def groups(self) -> list[Group]:
        """One group per event type and field types."""
        out = []
        for (event_type, fields), (rows, columns) in self._groups.items():
            arrays = [pa.array(v, type=t) for (_, t), v in zip(fields, columns, strict=True)]
            names = tuple(name for name, _ in fields)
            out.append(Group(event_type, np.array(rows, dtype=np.int64), names, arrays))
        return out


def _parse_slow(
    lines: pa.StringArray,
    rest: np.ndarray,
    book: ShapeBook,
    tried: set[Shape] | None,
    parsed: Parsed,
) -> None:
    """Parse the rows no shape matched, one by one; learn a shape and apply it when one fits
    (`tried` None: never, the block is small)."""
    slow = _SlowRows()
    k = 0
    while k < len(rest):
        row = int(rest[k])
        k += 1
        try:
            record = LineParser(parsed.text(row)).parse()
        except BadLine as bad:
            parsed.flaws[row] = Flaw(bad.reason, bad.pos + 1, bad.hint)
            continue
        if isinstance(record, Clock):
            parsed.mark(row, LineKind.CLOCK, record.time)
            continue
        if record is None:
            continue
        shape = record.shape() if tried is not None else None
        if shape is not None and tried is not None and shape not in tried and book.admit(shape):
            tried.add(shape)
            rest, k = _apply_shape(shape, lines, rest[k - 1 :], parsed, book), 0
            if len(rest) == 0 or rest[0] != row:
                continue
            k = 1
        parsed.mark(row, LineKind.EVENT, record.time)
        slow.add(row, record)
        parsed.slow_events += 1
    parsed.groups.extend(slow.groups())
