"""Cutting an input file into blocks of whole lines, about `batch_size` lines each.

The file is never read whole: a block is cut at its last newline, and an over-long line is
cut to its first MAX_LINE_BYTES + 1 bytes (enough to report it), handed on as a block of its
own, and only then is the rest of it skipped: a run that stops at that line never reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np

from vbatch.io.evt.parse import MAX_BLOCK_BYTES, Block
from vbatch.io.source import MAX_LINE_BYTES

MAX_READ_BYTES = 1 << 26  # one read never asks for more, however long lines were so far


class BlockReader:
    """Cuts a file into blocks of whole lines, about `batch_size` lines each, never all at once."""

    def __init__(self, file: IO[bytes], batch_size: int) -> None:
        self._file = file
        self._batch_size = batch_size
        self._carry = b""
        self._line = 1
        self._per_line = 80.0

    def __iter__(self) -> Iterator[Block]:
        boost = 1
        while data := self._file.read(min(self._want() * boost, MAX_READ_BYTES)):
            buffer = self._carry + data if self._carry else data
            cut, count = self._cut(buffer)
            boost = 1 if cut else boost * 2
            if cut:
                yield self._emit(buffer[:cut], count)
            self._carry = buffer[cut:]
            tail = len(self._carry) - self._carry.rfind(b"\n") - 1
            if tail > MAX_LINE_BYTES:
                yield from self._cut_long_tail(tail)
                boost = 1
        while self._carry:
            cut, count = self._cut(self._carry)
            cut = cut or len(self._carry)
            block, self._carry = self._carry[:cut], self._carry[cut:]
            yield self._emit(block, count)

    def _want(self) -> int:
        want = self._batch_size * self._per_line - len(self._carry)
        return int(min(max(want, 64), MAX_BLOCK_BYTES))

    def _cut(self, buffer: bytes) -> tuple[int, int]:
        """The end of the last whole line of `buffer` (or of its batch_size-th when there are
        far more), and the number of lines before it."""
        cut = buffer.rfind(b"\n", 0, MAX_BLOCK_BYTES) + 1
        count = buffer.count(b"\n", 0, cut)
        if count > self._batch_size * 5 // 4:
            newlines = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8, count=cut) == 10)
            cut, count = int(newlines[self._batch_size - 1]) + 1, self._batch_size
        return cut, count

    def _cut_long_tail(self, tail: int) -> Iterator[Block]:
        """Emit the whole lines before an over-long unfinished line, then its head only; skip
        the rest of the line once the head was taken."""
        whole = len(self._carry) - tail
        if whole:
            yield self._emit(self._carry[:whole], self._carry.count(b"\n", 0, whole))
        head = self._carry[whole : whole + MAX_LINE_BYTES + 1] + b"\n"
        yield Block(self._line, head, cut_line=True)
        self._line += 1
        self._carry = _after_newline(self._file, self._carry[whole:])

    def _emit(self, block: bytes, count: int) -> Block:
        self._per_line = len(block) / max(count, 1)
        emitted = Block(self._line, block)
        self._line += count
        return emitted


def _after_newline(file: IO[bytes], start: bytes) -> bytes:
    """Skip the rest of the line `start` begins; the bytes after its newline."""
    chunk = start
    while (end := chunk.find(b"\n")) < 0:
        chunk = file.read(1 << 20)
        if not chunk:
            return b""
    return chunk[end + 1 :]
