"""The queue live sources feed, and how a byte stream becomes blocks of whole lines.

Each source runs on its own thread and puts blocks of whole lines on one bounded queue
(a full queue slows the sources down: backpressure). Over-long lines are refused at the
door with a clear message; they never reach memory whole.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

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
    done: Callable[[], None] | None = None  # called once the lines' events are processed


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


class Feed(Protocol):
    """Where a LineSplitter hands its items: the Ingest, or one connection's hold on it."""

    def put(self, item: Item) -> bool:
        """Hand over an item; False once it is refused (the run is stopping)."""
        ...


class Ingest:
    """The queue every source feeds; the live loop drains it.

    `close` (shutdown, or the end of every source that can end) never blocks: from then on
    sources are refused (`put` returns False), what was already accepted is still handed
    out, then `End`. Accepting and closing share one lock, so an item `put` accepted is
    always handed out. A connection (`connection()`) is never refused: it stops reading
    once `closed`, and `End` waits until every connection has handed on what it read (and
    every `held` answer is given).
    """

    WAIT_SECONDS = 0.05

    def __init__(
        self, sources: int, capacity: int = 256, report: Callable[[str], None] | None = None
    ) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(capacity)
        self._open = sources
        self._closed = False
        self._holds = 0
        self._space = threading.Condition()
        self.report = report or (lambda message: None)  # one line for the operator, from any thread

    @property
    def closed(self) -> bool:
        """True once the run is shutting down."""
        return self._closed

    def put(self, item: Item) -> bool:
        """Hand over an item, waiting while the queue is full; False once closed (refused)."""
        return self._put(item, held=False)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold off `End` while something handed over is still being answered for (a
        connection reading, an HTTP request's 202 being written)."""
        with self._space:
            self._holds += 1
        try:
            yield
        finally:
            with self._space:
                self._holds -= 1

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """Hold the input open while a connection hands on what it has read."""
        with self.held():
            yield Connection(self)

    def _put(self, item: Item, *, held: bool) -> bool:
        with self._space:
            while (held or not self._closed) and self._queue.full():
                self._space.wait(self.WAIT_SECONDS)
            if self._closed and not held:
                return False
            self._queue.put_nowait(item)
            return True

    def get(self, timeout: float) -> Item | None:
        """The next item, or None after `timeout` seconds; End once the input is closed (by
        `close` or by the end of every source that can end) and everything is handed out."""
        if self._drained():
            return End()
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return End() if self._drained() else None
        with self._space:
            self._space.notify()
        if isinstance(item, End):
            self._open -= 1
            if self._open <= 0:
                self.close()
            return None
        return item

    def _drained(self) -> bool:
        with self._space:
            return self._closed and self._queue.empty() and self._holds == 0

    def close(self) -> None:
        """End the input (shutdown): refuse new items, hand out the accepted ones, then End."""
        with self._space:
            self._closed = True
            self._space.notify_all()


class Connection:
    """One connection's hold on the Ingest: what it reads is taken even while the run stops."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    @property
    def open(self) -> bool:
        """False once the run stops: read no more."""
        return not self.ingest.closed

    def put(self, item: Item) -> bool:
        """Hand over an item (never refused while the connection is held)."""
        return self.ingest._put(item, held=True)


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
    """Cuts a byte stream into blocks of whole lines, refusing lines over the limit.

    The unfinished last line is kept as a list of pieces, so a line sent a byte at a time
    costs linear time, not quadratic.
    """

    def __init__(self, origin: str, feed: Feed, first_line: int = 1) -> None:
        self.origin = origin
        self.feed_to = feed
        self.line = first_line
        self.taking = True  # False once the feed refused an item: the run is stopping
        self._carry: list[bytes] = []
        self._carried = 0
        self._skipping = False

    def feed(self, data: bytes) -> bool:
        """Take more bytes; hand on the whole lines they complete. False once refused."""
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return self.taking
            data, self._skipping = data[end + 1 :], False
            self.line += 1
        cut = data.rfind(b"\n") + 1
        if cut:
            self._hand_on(b"".join([*self._carry, data[:cut]]))
            self._carry, self._carried = [], 0
        if cut < len(data):
            self._carry.append(data[cut:])
            self._carried += len(data) - cut
        if self._carried > MAX_LINE_BYTES:
            self._refuse_at(b"".join(self._carry)[:80], self.line)
            self._carry, self._carried, self._skipping = [], 0, True
        return self.taking

    def finish(self) -> None:
        """The stream ended: hand on a last line without a newline."""
        if self._carry and not self._skipping:
            self._hand_on(b"".join([*self._carry, b"\n"]))
        self._carry, self._carried = [], 0

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
            self._put(Lines(self.origin, first_line, data, time.monotonic()))

    def _refuse_at(self, text: bytes, line: int) -> None:
        reason = f"line longer than {MAX_LINE_BYTES} bytes"
        preview = text[:80].decode("utf-8", "replace")
        self._put(Refused(self.origin, line, reason, preview))

    def _put(self, item: Item) -> None:
        if self.taking and not self.feed_to.put(item):
            self.taking = False
