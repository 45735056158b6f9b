"""Settling parsed blocks in input order into InputChunks: bad lines raise or become dead letters.

The file reader and the live line parser both end here, so both report bad lines, write dead
letters and number events the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from vbatch.errors import InputError
from vbatch.io.evt.assemble import Assembler
from vbatch.io.evt.lines import Event, LineParser
from vbatch.io.evt.parse import LONG_LINE, Flaw, Parsed
from vbatch.io.evt.values import BadLine
from vbatch.io.source import ErrorPolicy, InputChunk, ReadOptions, ReadStats

PREVIEW_CHARS = 4096  # how much of an over-long line the dead-letter file keeps


class Settler:
    """Turns parsed blocks, given in input order, into InputChunks and counts them in `stats`."""

    def __init__(self, options: ReadOptions, source_name: str, stats: ReadStats) -> None:
        self._options = options
        self.source_name = source_name
        self._stats = stats
        self._assembler = Assembler(options)
        self.on_skip: Callable[[dict[str, object]], None] | None = None

    def chunk(self, parsed: Parsed, start_time: int | None = None) -> InputChunk:
        """The block's chunk; raises InputError at its first bad line unless skipping.

        `start_time` is the time of lines before the block's first time (default: carried on).
        """
        conformed = self._assembler.conform(parsed)
        if parsed.flaws:
            self._settle_flaws(parsed)
        chunk = self._assembler.emit(parsed, conformed, start_time)
        self._stats.events += chunk.count
        return chunk

    def _settle_flaws(self, parsed: Parsed) -> None:
        """Raise the block's first flaw, or with ErrorPolicy.SKIP write them all as dead letters."""
        letters = []
        for row in sorted(parsed.flaws):
            flaw = parsed.flaws[row]
            line, column = parsed.first_line + row, _flaw_column(parsed, row, flaw)
            if self._options.on_error is not ErrorPolicy.SKIP:
                raise InputError(
                    flaw.reason, path=self.source_name, line=line, column=column, hint=flaw.hint
                )
            record = parsed.text(row)
            record = record[:PREVIEW_CHARS] if flaw is LONG_LINE else record
            letters.append(self._letter(line, column, flaw.reason, record))
        _append_dead_letters(self._options.dead_letter, letters)
        self._stats.bad_records += len(letters)
        if self.on_skip is not None:
            for letter in letters:
                self.on_skip(letter)

    def _letter(self, line: int, column: int, reason: str, record: str) -> dict[str, object]:
        return {
            "file": self.source_name,
            "line": line,
            "column": column,
            "reason": reason,
            "record": record,
        }


def _append_dead_letters(path: Path | None, letters: list[dict[str, object]]) -> None:
    """Append skipped records to the dead-letter file, one JSON object a line."""
    if path is None or not letters:
        return
    with open(path, "a", encoding="utf-8") as file:
        file.writelines(json.dumps(letter, ensure_ascii=False) + "\n" for letter in letters)


def _flaw_column(parsed: Parsed, row: int, flaw: Flaw) -> int:
    """The 1-based column of a flaw, finding the flawed field's value when needed."""
    if flaw.column is not None:
        return flaw.column
    try:
        record = LineParser(parsed.text(row)).parse()
    except BadLine:
        return 1
    if isinstance(record, Event) and flaw.field in record.names:
        return record.positions[record.names.index(flaw.field)] + 1
    return 1
