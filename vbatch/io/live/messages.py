"""Broker messages as lines: one message is one line, many messages make one block.

A broker client's callback thread only appends each payload to a buffer (no parsing, no
dict per message); a pump thread of the source's own joins whatever has arrived into one
block of lines and puts it on the run's ingest queue, so the parser sees a whole batch of
messages at once. Each block carries an acknowledgement that the run calls once every
event of the block has been processed (MQTT QoS 1 messages are acknowledged then).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from vbatch.figures import ConnectorFigures
from vbatch.io.live.ingest import Ingest, Lines, Refused
from vbatch.io.source import MAX_LINE_BYTES

MAX_WAITING = 100_000  # messages buffered before the client's thread is held up
PUMP_POLL_SECONDS = 0.05
_TYPE_KEY = b'"event_type"'


def message_line(payload: bytes, event_type: str | None) -> bytes:
    """The line(s) a message's payload stands for, each ended by a newline.

    A JSON object becomes one line (newlines in it are JSON whitespace); one without an
    `"event_type"` key takes `event_type`, the type its subscription reads. Any other
    payload is `.evt` text and keeps its lines.
    """
    body = payload.strip()
    if body.startswith(b"{"):
        body = body.replace(b"\r", b" ").replace(b"\n", b" ")
        if event_type is not None and _TYPE_KEY not in body:
            rest = body[1:].lstrip()
            comma = b"" if rest.startswith(b"}") else b","
            body = b'{"event_type":"' + event_type.encode() + b'"' + comma + rest
    return body + b"\n" if body else b""


class MessageLines:
    """The messages of one source on their way to the ingest queue, block by block.

    `add` is called on the client's thread; `ack` (optional) is handed each message's
    acknowledgement token and called, for a whole block, once the block is processed.
    """

    def __init__(
        self,
        origin: str,
        figures: ConnectorFigures,
        ack: Callable[[list[object]], None] | None = None,
    ) -> None:
        self.origin = origin
        self.figures = figures
        self.ack = ack
        self.line = 1  # messages are numbered like lines: errors say `origin:N`
        self._waiting: collections.deque[tuple[bytes, object]] = collections.deque()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, ingest: Ingest) -> None:
        """Pump what arrives into `ingest`, on a thread of its own."""
        self._thread = threading.Thread(
            target=self._pump, args=(ingest,), name=f"vbatch-{self.origin}", daemon=True
        )
        self._thread.start()

    def add(self, line: bytes, token: object = None) -> None:
        """Take one message's line(s) (on the client's thread); waits while the run is far
        behind, so a slow run holds the broker back instead of filling memory."""
        if len(self._waiting) >= MAX_WAITING:
            with self._room:
                while len(self._waiting) >= MAX_WAITING and not self._stopped.is_set():
                    self._room.wait(PUMP_POLL_SECONDS)
        self._waiting.append((line, token))
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        """Stop pumping (what is still waiting is not read)."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2)

    def _pump(self, ingest: Ingest) -> None:
        while not self._stopped.is_set():
            self._wake.wait(PUMP_POLL_SECONDS)
            self._wake.clear()
            taken = [self._waiting.popleft() for _ in range(len(self._waiting))]
            if not taken:
                continue
            with self._room:
                self._room.notify_all()
            if not self._hand_on(ingest, taken):
                return

    def _hand_on(self, ingest: Ingest, taken: list[tuple[bytes, object]]) -> bool:
        """Put the block of `taken` (refusing over-long messages); False once refused."""
        lines: list[bytes] = []
        first = number = self.line
        for line, _ in taken:
            if len(line) > MAX_LINE_BYTES:
                if not self._put_block(ingest, lines, first, None):
                    return False
                preview = line[:80].decode("utf-8", "replace")
                reason = f"message longer than {MAX_LINE_BYTES} bytes"
                if not ingest.put(Refused(self.origin, number, reason, preview)):
                    return False
                lines, first = [], number + 1
                number += 1
            else:
                lines.append(line or b"\n")  # an empty message is a blank line
                number += max(line.count(b"\n"), 1)
        self.line = number
        done = None
        if self.ack is not None:
            ack, tokens = self.ack, [token for _, token in taken if token is not None]
            done = lambda: ack(tokens)  # noqa: E731
        return self._put_block(ingest, lines, first, done)

    def _put_block(
        self, ingest: Ingest, lines: list[bytes], first: int, done: Callable[[], None] | None
    ) -> bool:
        if not lines:
            if done is not None:
                done()
            return True
        data = b"".join(lines)
        return ingest.put(Lines(self.origin, first, data, time.monotonic(), done))
