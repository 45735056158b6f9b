"""EvtLineParser: successive blocks of lines from a live source, parsed as the file reader does."""

from __future__ import annotations

from collections.abc import Callable

from vbatch.io.bad_records import BadRecord
from vbatch.io.evt.parse import MAX_BLOCK_BYTES, Block, parse_block
from vbatch.io.evt.settle import Settler
from vbatch.io.evt.shapes import ShapeBook
from vbatch.io.source import InputChunk, ReadOptions, ReadStats


class EvtLineParser:
    """Parses successive blocks of .evt / JSON lines into InputChunks, keeping schemas, seq, time.

    Blocks go through the file reader's pieces on the calling thread: learnt shapes, the
    exact parser for the rest, schemas fixed by the first block a type appears in (or declared
    in `options.schemas`), `_seq` and bad-line handling as in files. `stats` counts events and
    bad records; `slow_events` counts the events read by the exact per-line parser.

    Example:
    >>> parser = EvtLineParser(ReadOptions())
    >>> parser.parse(b'@5 A { v: 1 }\\nA { v: 2 }\\n', first_line=1).count
    2
    >>> parser.parse(b"A { v: 3 }\\n", first_line=3, arrival_ms=90).batches[0].batch["_ts"][0]
    <pyarrow.Int64Scalar: 90>
    """

    def __init__(self, options: ReadOptions, source_name: str = "<stdin>") -> None:
        self.options = options
        self.source_name = source_name
        self.stats = ReadStats()
        self.slow_events = 0
        self._book = ShapeBook()
        self._settler = Settler(options, source_name, self.stats)

    @property
    def on_skip(self) -> Callable[[BadRecord], None] | None:
        """Called with each skipped bad line, under SKIP."""
        return self._settler.letters.on_skip

    @on_skip.setter
    def on_skip(self, hook: Callable[[BadRecord], None] | None) -> None:
        self._settler.letters.on_skip = hook

    def close(self) -> None:
        """Close the dead-letter file, if one was written."""
        self._settler.close()

    def parse(
        self,
        data: bytes,
        *,
        first_line: int,
        arrival_ms: int | None = None,
        source_name: str | None = None,
    ) -> InputChunk:
        """The chunk of `data`, whole lines numbered from `first_line` (the last may lack `\\n`).

        Lines before the block's first explicit time (an `@` prefix, a JSON `_ts` / `timestamp`
        or a BATCH line) take `arrival_ms` when given, else the time the previous block ended
        at; an explicit time applies to its line and to the untimed lines after it. A bad line
        raises InputError unless `options.on_error` is SKIP, in which case it goes to
        `options.dead_letter`, is counted in `stats.bad_records` and handed to `on_skip` if
        set. `source_name` names where the lines came from (default: the parser's). A block
        that raises yields no events: `_seq` and the running time stay as they were (schemas
        it fixed stay fixed).
        """
        if len(data) > MAX_BLOCK_BYTES:
            msg = f"a block of lines may hold at most {MAX_BLOCK_BYTES} bytes, got {len(data)}"
            raise ValueError(msg)
        self._settler.source_name = source_name or self.source_name
        parsed = parse_block(Block(first_line, data), self._book)
        chunk = self._settler.chunk(parsed, arrival_ms)
        self.slow_events += parsed.slow_events
        return chunk
