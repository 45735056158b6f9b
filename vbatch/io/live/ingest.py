"""The queue live sources feed, and how a byte stream becomes blocks of whole lines.

Each source runs on its own thread and puts blocks of whole lines on one bounded queue
(a full queue slows the sources down: backpressure). Over-long lines are refused at the
door with a clear message; they never reach memory whole.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from vbatch.io.source import MAX_LINE_BYTES

READ_BYTES = 1 << 16


@dataclass(frozen=True)
class Lines:
    """Whole lines from one origin; `first_line` numbers the first of them (from 1)."""

    origin: str
    first_line: int
    data: bytes
    arrived: float


@dataclass(frozen=True)
class Refused:
    """Input refused before parsing (an over-long line), to report and count."""

    origin: str
    line: int
    reason: str
    preview: str


class End:
    """A source has no more input."""


Item = Lines | Refused | End


class Ingest:
    """The queue every source feeds; the live loop drains it.

    `close` (shutdown) never blocks: from then on sources are refused (`put` returns
    False), what was already accepted is still handed out, then `End`. Accepting and
    closing share one lock, so an item `put` accepted is always handed out.
    """

    WAIT_SECONDS = 0.05

    def __init__(self, sources: int, capacity: int = 256) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(capacity)
        self._open = sources
        self._closed = False
        self._space = threading.Condition()

    @property
    def closed(self) -> bool:
        """True once the run is shutting down."""
        return self._closed

    def put(self, item: Item) -> bool:
        """Hand over an item, waiting while the queue is full; False once closed (refused)."""
        with self._space:
            while not self._closed and self._queue.full():
                self._space.wait(self.WAIT_SECONDS)
            if self._closed:
                return False
            self._queue.put_nowait(item)
            return True

    def get(self, timeout: float) -> Item | None:
        """The next item, or None after `timeout` seconds; End once every source has ended
        (or the queue is closed and drained)."""
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            with self._space:
                drained = self._closed and self._queue.empty()
            return End() if drained else None
        with self._space:
            self._space.notify()
        if isinstance(item, End):
            self._open -= 1
            return item if self._open <= 0 else None
        return item

    def close(self) -> None:
        """End the input (shutdown): refuse new items, hand out the accepted ones, then End."""
        with self._space:
            self._closed = True
            self._space.notify_all()


def line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where each line of `data` starts and ends (before its newline); a last line without a
    newline counts."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    return np.concatenate([[0], ends[:-1] + 1]), ends


def long_lines(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indices of the lines longer than MAX_LINE_BYTES."""
    return np.flatnonzero(ends - starts > MAX_LINE_BYTES)


class LineSplitter:
    """Cuts a byte stream into blocks of whole lines, refusing lines over the limit."""

    def __init__(self, origin: str, ingest: Ingest) -> None:
        self.origin = origin
        self.ingest = ingest
        self.line = 1
        self._carry = b""
        self._skipping = False

    def feed(self, data: bytes) -> None:
        """Take more bytes; hand on the whole lines they complete."""
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return
            data, self._skipping = data[end + 1 :], False
            self.line += 1
        buffer = self._carry + data
        cut = buffer.rfind(b"\n") + 1
        whole, self._carry = buffer[:cut], buffer[cut:]
        if whole:
            self._hand_on(whole)
        if len(self._carry) > MAX_LINE_BYTES:
            self._refuse(self._carry)
            self._carry, self._skipping = b"", True

    def finish(self) -> None:
        """The stream ended: hand on a last line without a newline."""
        if self._carry and not self._skipping:
            self._hand_on(self._carry + b"\n")
        self._carry = b""

    def _hand_on(self, whole: bytes) -> None:
        """Hand on whole lines, refusing the over-long ones (found from the newline positions)."""
        starts, ends = line_bounds(whole)
        start = 0
        for i in long_lines(starts, ends).tolist():
            self._send(whole[starts[start] : starts[i]], self.line + start)
            self._refuse_at(whole[starts[i] : ends[i]], self.line + i)
            start = i + 1
        self._send(whole[starts[start] :] if start < len(starts) else b"", self.line + start)
        self.line += len(starts)

    def _send(self, data: bytes, first_line: int) -> None:
        if data:
            self.ingest.put(Lines(self.origin, first_line, data, time.monotonic()))

    def _refuse(self, head: bytes) -> None:
        self._refuse_at(head, self.line)

    def _refuse_at(self, text: bytes, line: int) -> None:
        reason = f"line longer than {MAX_LINE_BYTES} bytes"
        preview = text[:80].decode("utf-8", "replace")
        self.ingest.put(Refused(self.origin, line, reason, preview))
