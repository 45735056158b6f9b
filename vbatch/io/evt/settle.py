"""Settling parsed blocks in input order into InputChunks: bad lines raise or become dead letters.

The file reader and the live line parser both end here, so both report bad lines, write dead
letters and number events the same way.
"""

from __future__ import annotations

from vbatch.io.bad_records import BadRecord, DeadLetters
from vbatch.io.evt.assemble import Assembler
from vbatch.io.evt.lines import Event, LineParser
from vbatch.io.evt.parse import LONG_LINE, Flaw, Parsed
from vbatch.io.evt.values import BadLine
from vbatch.io.source import InputChunk, ReadOptions, ReadStats

PREVIEW_CHARS = 4096  # how much of an over-long line the dead-letter file keeps


class Settler:
    """Turns parsed blocks, given in input order, into InputChunks and counts them in `stats`."""

    def __init__(self, options: ReadOptions, source_name: str, stats: ReadStats) -> None:
        self._options = options
        self.source_name = source_name
        self._stats = stats
        self._assembler = Assembler(options)
        self.letters = DeadLetters(options, stats)

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

    def close(self) -> None:
        """Close the dead-letter file."""
        self.letters.close()

    def _settle_flaws(self, parsed: Parsed) -> None:
        """Raise the block's first flaw, or with ErrorPolicy.SKIP set them all aside."""
        for row in sorted(parsed.flaws):
            flaw = parsed.flaws[row]
            text = parsed.text(row)
            record = BadRecord(
                self.source_name,
                parsed.first_line + row,
                flaw.reason,
                text[:PREVIEW_CHARS] if flaw is LONG_LINE else text,
                column=_flaw_column(parsed, row, flaw),
                hint=flaw.hint,
            )
            self.letters.report(record)
        self.letters.flush()


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
