"""EvtReader: a `.evt` file in blocks, parsed on a thread pool, settled in file order."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from vbatch.errors import InputError
from vbatch.io.evt.blocks import BlockReader
from vbatch.io.evt.parse import Parsed, parse_block
from vbatch.io.evt.settle import Settler
from vbatch.io.evt.shapes import ShapeBook
from vbatch.io.source import InputChunk, ReadOptions, ReadStats

_DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


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
        self._book = ShapeBook()

    def __iter__(self) -> Iterator[InputChunk]:
        """The chunks of the file; raises InputError at the first bad line unless skipping."""
        settler = Settler(self.options, str(self.path), self.stats)
        with self._open() as file, settler.letters:
            for parsed in self._parse_blocks(file):
                chunk = settler.chunk(parsed)
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

    def _parse_blocks(self, file: IO[bytes]) -> Iterator[Parsed]:
        blocks = BlockReader(file, max(1, self.options.batch_size))
        if self.workers == 1:
            yield from (parse_block(block, self._book) for block in blocks)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vbatch-evt")
        pending: deque[Future[Parsed]] = deque()
        try:
            for block in blocks:
                pending.append(pool.submit(parse_block, block, self._book))
                # An over-long line is settled before its rest is skipped: under --on-error
                # fail the run stops there, without reading the line to its end.
                while len(pending) > (0 if block.cut_line else 2 * self.workers):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
