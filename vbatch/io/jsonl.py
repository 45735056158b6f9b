"""JSON-lines input: bounded blocks of lines parsed by pyarrow, split by event type."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from vbatch.errors import InputError
from vbatch.io import json_screen, strict_json
from vbatch.io.bad_records import BadRecord, DeadLetters, drop_rows, invalid_rows
from vbatch.io.columns import (
    TIME_COLUMNS,
    TYPE_COLUMN,
    EventColumns,
    event_columns,
    input_files,
    type_key,
)
from vbatch.io.formats import JSONL_SUFFIXES
from vbatch.io.source import MAX_LINE_BYTES, InputChunk, ReadOptions, ReadStats
from vbatch.io.table import EventSplitter, frame

READ_BYTES = 1 << 22
PARSE_BLOCK_BYTES = 1 << 18  # small blocks parse faster, and in parallel
RECORD_HEAD = 1024  # how much of an over-long line the dead-letter file keeps
_NEWLINE = ord("\n")
_BLANK = np.zeros(256, bool)
_BLANK[[ord(" "), ord("\t"), ord("\r"), ord("\n")]] = True
_BOM = b"\xef\xbb\xbf"
_ARROW_ROW = re.compile(r"(?:JSON parse error: )?(.*?)(?: in row (\d+))?$", re.S)
_ARROW_COLUMN = re.compile(r"Column\(/?([^)]*)\)")


# --- Lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of a file: line `first_line + i` ends (before its newline) at `ends[i]`."""

    first_line: int
    data: memoryview
    ends: np.ndarray

    @cached_property
    def starts(self) -> np.ndarray:
        """Where each line starts in `data` (computed once: the slow path asks per line)."""
        return np.concatenate([[0], self.ends[:-1] + 1])

    @property
    def longest(self) -> int:
        """The length of the longest line."""
        return int((self.ends - self.starts).max(initial=0))

    def text(self, index: int) -> bytes:
        """The bytes of line `index` of the block, without its newline (nor a byte-order mark
        starting the file)."""
        text = bytes(self.data[int(self.starts[index]) : int(self.ends[index])])
        return text.removeprefix(_BOM) if self.first_line + index == 1 else text

    def filled(self) -> np.ndarray:
        """Indices of the lines that are not blank (pyarrow skips blank lines)."""
        solid = np.cumsum(~_BLANK[np.frombuffer(self.data, np.uint8)])
        before = np.concatenate([[0], solid])
        return np.flatnonzero(before[self.ends] - before[self.starts] > 0)


@dataclass(frozen=True)
class LongLine:
    """A line longer than MAX_LINE_BYTES: refused, and never held in memory whole."""

    line: int
    head: bytes


def line_blocks(source: BinaryIO, max_lines: int) -> Iterator[LineBlock | LongLine]:
    """Blocks of at most `max_lines` whole lines read from `source`, and the over-long lines."""
    carry, line = b"", 1
    while True:
        data = source.read(READ_BYTES)
        buffer = carry + data
        ends = np.flatnonzero(np.frombuffer(buffer, np.uint8) == _NEWLINE)
        if not data and buffer and (not ends.size or ends[-1] != len(buffer) - 1):
            ends = np.append(ends, len(buffer))  # the last line has no newline
        yield from _cut(buffer, ends, line, max_lines)
        line += ends.size
        carry = buffer[ends[-1] + 1 :] if ends.size else buffer
        if len(carry) > MAX_LINE_BYTES:
            yield LongLine(line, carry[:RECORD_HEAD])
            carry, line = _after_newline(source), line + 1
        if not data:
            return


def _cut(
    buffer: bytes, ends: np.ndarray, line: int, max_lines: int
) -> Iterator[LineBlock | LongLine]:
    """Blocks of whole lines of `buffer`, cut around the over-long ones."""
    starts = np.concatenate([[0], ends[:-1] + 1])
    view = memoryview(buffer)
    edges = [-1, *np.flatnonzero(ends - starts > MAX_LINE_BYTES).tolist(), ends.size]
    for before, after in zip(edges, edges[1:], strict=False):
        for first in range(before + 1, after, max_lines):
            last = min(first + max_lines, after)
            stop = min(int(ends[last - 1]) + 1, len(buffer))
            block_ends = ends[first:last] - starts[first]
            yield LineBlock(line + first, view[starts[first] : stop], block_ends)
        if after < ends.size:
            yield LongLine(line + after, buffer[starts[after] : starts[after] + RECORD_HEAD])


def _after_newline(source: BinaryIO) -> bytes:
    """Skip the rest of an over-long line; return what follows its newline."""
    while data := source.read(READ_BYTES):
        newline = data.find(b"\n")
        if newline >= 0:
            return data[newline + 1 :]
    return b""


# --- Parsing ----------------------------------------------------------------------------------


def parse_lines(
    data: bytes | memoryview, keep_times: frozenset[str], block_bytes: int | None = None
) -> pa.Table:
    """JSON objects, one a line, as a table (strings pyarrow took for timestamps stay strings).

    pyarrow parses `block_bytes` at a time on its threads, widening types across them; with
    one block (the default) its errors name the row at fault.
    """
    buffer = pa.py_buffer(data)
    options = pj.ReadOptions(block_size=block_bytes or max(len(buffer), 1 << 16), use_threads=True)
    table = pj.read_json(pa.BufferReader(buffer), read_options=options)
    stamped = [
        pa.field(f.name, pa.string())
        for f in table.schema
        if pa.types.is_timestamp(f.type) and f.name not in keep_times
    ]
    if stamped:
        parse = pj.ParseOptions(
            explicit_schema=pa.schema(stamped), unexpected_field_behavior="infer"
        )
        table = pj.read_json(pa.BufferReader(buffer), read_options=options, parse_options=parse)
    return unwrapped(table)


def unwrapped(table: pa.Table) -> pa.Table:
    """Varpulis's event form read as a flat event: the fields of a `"data"` object beside
    the others (`{"event_type": "T", "data": {...}, "timestamp": ...}`), and `"type"` naming
    the event type where there is no `"event_type"`."""
    names = table.schema.names
    if "data" in names and pa.types.is_struct(table.schema.field("data").type):
        data = table.column("data").combine_chunks()
        enveloped = data.is_valid()
        at = names.index("data")
        table = table.remove_column(at)
        for offset, i in enumerate(range(data.type.num_fields)):
            name, values = data.type.field(i).name, data.field(i)
            if name in table.schema.names:  # lines without an envelope have it beside
                where = table.schema.names.index(name)
                beside = table.column(name).combine_chunks()
                if beside.type != values.type:
                    beside, values = _common(beside, values)
                table = table.set_column(where, name, pc.if_else(enveloped, values, beside))
            else:
                table = table.add_column(at + offset, name, values)
        names = table.schema.names
    if "type" not in names or not pa.types.is_string(table.schema.field("type").type):
        return table
    if TYPE_COLUMN not in names:
        return table.rename_columns([TYPE_COLUMN if n == "type" else n for n in names])
    kind, other = table.column(TYPE_COLUMN), table.column("type")
    untyped = pc.is_null(kind)
    if not pc.any(untyped).as_py():
        return table
    table = table.set_column(
        names.index(TYPE_COLUMN), TYPE_COLUMN, pc.if_else(untyped, other, kind)
    )
    other = pc.if_else(untyped, pa.scalar(None, other.type), other)
    if other.null_count == len(other):  # `type` only ever named the event type
        return table.remove_column(names.index("type"))
    return table.set_column(names.index("type"), "type", other)


def _common(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Two columns of one field in one type (a null column takes the other's; ints meet
    floats as floats; anything else meets as strings)."""
    if pa.types.is_null(a.type):
        return a.cast(b.type), b
    if pa.types.is_null(b.type):
        return a, b.cast(a.type)
    numeric = (pa.types.is_integer(t) or pa.types.is_floating(t) for t in (a.type, b.type))
    target = pa.float64() if all(numeric) else pa.string()
    return a.cast(target), b.cast(target)


def _arrow_problem(err: pa.ArrowInvalid) -> tuple[str, int | None]:
    """pyarrow's JSON error as a reason naming the field, and the 0-based row it names."""
    match = _ARROW_ROW.match(str(err).strip())
    reason, row = (match.group(1), match.group(2)) if match else (str(err), None)
    reason = _ARROW_COLUMN.sub(lambda m: f"field '{m.group(1)}'", reason)
    return reason, int(row) if row is not None else None


# --- The reader -------------------------------------------------------------------------------


class JsonlReader:
    """Events from a JSON-lines file or folder, one object a line, read in bounded blocks.

    >>> for chunk in JsonlReader("events.jsonl", ReadOptions()): ...  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, options: ReadOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or ReadOptions()
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[InputChunk]:
        splitter = EventSplitter(self.options)
        with DeadLetters(self.options, self.stats) as bad:
            for file in input_files(self.path, JSONL_SUFFIXES):
                yield from self._file_chunks(file, splitter, bad)

    def _file_chunks(
        self, file: Path, splitter: EventSplitter, bad: DeadLetters
    ) -> Iterator[InputChunk]:
        blocks = _BlockReader(self.options, str(file), splitter, bad)
        with _opened(file) as source:
            for block in line_blocks(source, self.options.batch_size):
                if isinstance(block, LongLine):
                    bad.report(_long_line(file, block))
                    continue
                chunk = blocks.chunk(block, self.stats.events)
                self.stats.events += chunk.count
                yield chunk


def _opened(file: Path) -> BinaryIO:
    try:
        return open(file, "rb")
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path=str(file)) from err


def _long_line(file: Path, line: LongLine) -> BadRecord:
    reason = f"line longer than {MAX_LINE_BYTES} bytes"
    return BadRecord(str(file), line.line, reason, line.head.decode("utf-8", "replace"))


class _BlockReader:
    """Reads one block of lines: all at once when it parses, line by line when it does not."""

    def __init__(
        self, options: ReadOptions, path: str, splitter: EventSplitter, bad: DeadLetters
    ) -> None:
        self._options, self._path, self._splitter, self._bad = options, path, splitter, bad
        self._keep_times = frozenset({*TIME_COLUMNS, options.time_column or TIME_COLUMNS[0]})
        self._type_column = None if options.event_type else TYPE_COLUMN
        self._held: list[BadRecord] | None = None  # the slow path's bad lines, reported in order

    def chunk(self, block: LineBlock, first_seq: int) -> InputChunk:
        """The events of `block`, `_seq` counting from `first_seq`; bad lines reported."""
        if json_screen.unsafe_lines(block.data, block.starts, block.ends):
            return self._chunk_by_line(block, first_seq)
        try:
            # pyarrow needs every line inside one of its blocks
            block_bytes = max(PARSE_BLOCK_BYTES, block.longest + 2)
            table = parse_lines(block.data, self._keep_times, block_bytes)
        except pa.ArrowInvalid:
            return self._chunk_by_line(block, first_seq)
        if json_screen.suspect_numbers(table):
            return self._chunk_by_line(block, first_seq)
        lines = np.arange(block.ends.size) if table.num_rows == block.ends.size else block.filled()
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table)
        columns = event_columns(batch.schema.names, self._options, self._path)
        problems = invalid_rows(batch, columns, earliest=0)
        for row, reason, hint in problems:
            index = int(lines[row])
            record = block.text(index).decode("utf-8", "replace")
            self._bad.report(
                BadRecord(self._path, block.first_line + index, reason, record, hint=hint)
            )
        good = drop_rows(batch, [p[0] for p in problems]) if problems else batch
        good_lines = np.delete(lines, [p[0] for p in problems])
        return self._splitter.split(
            good, columns, first_seq, lambda row: _keys(block.text(int(good_lines[row])))
        )

    def _chunk_by_line(self, block: LineBlock, first_seq: int) -> InputChunk:
        """The slow path: find the bad lines with json.loads, parse each event type apart.

        Bad lines are reported in line order once all are known (the first stops the run).
        """
        self._held = []
        chunk = self._chunk_lines(block, first_seq)
        held, self._held = self._held, None
        for record in sorted(held, key=lambda r: r.line):
            self._bad.report(record)
        return chunk

    def _chunk_lines(self, block: LineBlock, first_seq: int) -> InputChunk:
        objects = self._objects(block)
        with_ts = any(isinstance(o, dict) and TIME_COLUMNS[0] in o for _, o in objects)
        time_key = self._options.time_column or (TIME_COLUMNS[0] if with_ts else TIME_COLUMNS[1])
        columns = EventColumns(self._path, self._type_column, time_key, self._options.event_type)
        groups: dict[str, list[int]] = {}
        for index, obj in objects:
            problem = _object_problem(obj, columns)
            if problem is None:
                groups.setdefault(_type_of(obj, columns), []).append(index)
            else:
                self._report(block, index, problem)
        parsed = {name: self._parse_group(block, lines) for name, lines in groups.items()}
        parsed = {name: self._timed(block, columns, *group) for name, group in parsed.items()}
        kept = np.sort(np.concatenate([np.empty(0, int), *(lines for lines, _ in parsed.values())]))
        batches = []
        for name, (lines, batch) in parsed.items():
            if not len(lines):
                continue
            seq = first_seq + np.searchsorted(kept, lines)
            framed = frame(batch, columns)
            keys = partial(_keys, block.text(int(lines[0])))
            batches.append(self._splitter.event_batch(name, framed, seq, self._path, keys))
        return InputChunk(tuple(batches), first_seq, len(kept))

    def _objects(self, block: LineBlock) -> list[tuple[int, Any]]:
        objects = []
        for index in block.filled().tolist():
            raw = block.text(index)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                column = len(raw[: err.start].decode("utf-8")) + 1
                self._report(block, index, f"invalid UTF-8 byte 0x{raw[err.start]:02x}", column)
                continue
            try:
                objects.append((index, strict_json.loads(text)))
            except strict_json.JsonProblem as err:
                self._report(block, index, err.reason, err.pos + 1, err.hint)
        return objects

    def _timed(
        self, block: LineBlock, columns: EventColumns, lines: np.ndarray, table: pa.Table
    ) -> tuple[np.ndarray, pa.RecordBatch]:
        """A group's lines and rows without those whose event time is refused (reported)."""
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table)
        problems = invalid_rows(batch, columns, earliest=0) if len(lines) else []
        for row, reason, hint in problems:
            self._report(block, int(lines[row]), reason, hint=hint)
        if not problems:
            return lines, batch
        rows = [p[0] for p in problems]
        return np.delete(lines, rows), drop_rows(batch, rows)

    def _parse_group(self, block: LineBlock, lines: list[int]) -> tuple[np.ndarray, pa.Table]:
        """Parse lines of one event type, dropping (or failing on) each line pyarrow refuses."""
        while lines:
            try:
                data = b"\n".join(block.text(i) for i in lines)
                return np.array(lines), parse_lines(data, self._keep_times)
            except pa.ArrowInvalid as err:
                reason, row = _arrow_problem(err)
                if row is None or row >= len(lines):
                    raise InputError(f"cannot read JSON: {reason}", path=self._path) from err
                self._report(block, lines.pop(row), reason)
        return np.empty(0, int), pa.table({})

    def _report(
        self,
        block: LineBlock,
        index: int,
        reason: str,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        record = block.text(index).decode("utf-8", "replace")
        bad = BadRecord(self._path, block.first_line + index, reason, record, column, hint)
        if self._held is None:
            self._bad.report(bad)
        else:
            self._held.append(bad)


def _object_problem(obj: Any, columns: EventColumns) -> str | None:
    """Why a parsed line is not an event, or None."""
    if not isinstance(obj, dict):
        return "line is not a JSON object"
    if columns.type_column is not None:
        kind = obj.get(_type_key(obj, columns))
        if kind is None:
            return f"missing event type '{columns.type_column}'"
        if not isinstance(kind, str):
            return f"event type '{columns.type_column}' is not a string"
    if obj.get(columns.time_column) is None:
        return f"missing event time '{columns.time_column}'"
    return None


def _type_of(obj: dict[str, Any], columns: EventColumns) -> str:
    if columns.type_column is None:
        return columns.event_type or ""
    return str(obj[_type_key(obj, columns)])


def _type_key(obj: dict[str, Any], columns: EventColumns) -> str:
    """The key naming a line's event type (another column when the options name one)."""
    assert columns.type_column is not None
    return type_key(obj) if columns.type_column == TYPE_COLUMN else columns.type_column


def _keys(line: bytes) -> list[str]:
    """The keys of a JSON line in the order it writes them (to order a new type's fields)."""
    return list(json.loads(line))


def _empty(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)
