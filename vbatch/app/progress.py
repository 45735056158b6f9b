"""A progress line for long replays on a terminal: events so far and events per second."""

from __future__ import annotations

import time
from typing import TextIO

from vbatch.io.source import InputChunk
from vbatch.runtime.pipeline import Emitted

SHOW_AFTER_SECONDS = 1.0  # short runs never show it
EVERY_SECONDS = 0.25


class ProgressSink:
    """Rewrites one line of `stream` (a terminal) as chunks are done; `close` clears it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.shown_at = 0.0
        self.events = 0
        self.outputs = 0
        self.shown = False

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Count what a chunk did; redraw the line now and then."""
        if chunk is not None:
            self.events += chunk.count
        self.outputs += sum(e.batch.num_rows for e in emitted)
        now = time.perf_counter()
        if now - self.started < SHOW_AFTER_SECONDS or now - self.shown_at < EVERY_SECONDS:
            return
        rate = self.events / (now - self.started)
        self.stream.write(
            f"\r  {self.events:,} events, {rate:,.0f} events/s, {self.outputs:,} rows out "
        )
        self.stream.flush()
        self.shown_at, self.shown = now, True

    def close(self) -> None:
        """Clear the line (the summary follows on standard output)."""
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
