"""Live inputs: lines from standard input, a growing file, a TCP or an HTTP endpoint.

Each source runs on its own thread and puts blocks of whole lines on one bounded queue
(a full queue slows the sources down: backpressure). Over-long lines and oversized HTTP
bodies are refused at the door with a clear message; they never reach memory whole.
"""

from __future__ import annotations

import json
import os
import queue
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from vbatch.io.source import MAX_LINE_BYTES

MAX_BODY_BYTES = 16 << 20
READ_BYTES = 1 << 16
FOLLOW_POLL_SECONDS = 0.05


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
    """The queue every source feeds; the live loop drains it."""

    def __init__(self, sources: int, capacity: int = 256) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(capacity)
        self._open = sources

    def put(self, item: Item) -> None:
        """Hand over an item (waits while the queue is full)."""
        self._queue.put(item)

    def get(self, timeout: float) -> Item | None:
        """The next item, or None after `timeout` seconds; End once every source has ended."""
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if isinstance(item, End):
            self._open -= 1
            return item if self._open <= 0 else None
        return item

    def close(self) -> None:
        """End the input now (shutdown), whatever the sources are doing."""
        self._open = 0
        self._queue.put(End())


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


class StreamSource(threading.Thread):
    """Lines from a file descriptor (standard input) until end of file."""

    def __init__(self, ingest: Ingest, fd: int = 0, origin: str = "<stdin>") -> None:
        super().__init__(name="vbatch-stdin", daemon=True)
        self.fd = fd
        self.splitter = LineSplitter(origin, ingest)
        self.ingest = ingest

    def run(self) -> None:
        """Read until end of file."""
        while data := os.read(self.fd, READ_BYTES):
            self.splitter.feed(data)
        self.splitter.finish()
        self.ingest.put(End())


class FollowSource(threading.Thread):
    """Lines of a file that keeps growing (`--follow`), from its start."""

    def __init__(self, ingest: Ingest, path: Path, stop: threading.Event) -> None:
        super().__init__(name="vbatch-follow", daemon=True)
        self.path = path
        self.stop = stop
        self.splitter = LineSplitter(str(path), ingest)
        self.ingest = ingest

    def run(self) -> None:
        """Read what is there, then poll for more until stopped."""
        with open(self.path, "rb") as file:
            while not self.stop.is_set():
                data = file.read(READ_BYTES)
                if data:
                    self.splitter.feed(data)
                else:
                    time.sleep(FOLLOW_POLL_SECONDS)
        self.ingest.put(End())


class _TcpHandler(socketserver.BaseRequestHandler):
    """One connection: lines until the peer closes."""

    server: _TcpServer

    def handle(self) -> None:
        host, port = self.client_address[:2]
        splitter = LineSplitter(f"tcp:{host}:{port}", self.server.ingest)
        while data := self.request.recv(READ_BYTES):
            splitter.feed(data)
        splitter.finish()


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    ingest: Ingest


def tcp_source(ingest: Ingest, host: str, port: int) -> _TcpServer:
    """A TCP endpoint taking lines (`nc 127.0.0.1 PORT < events.evt`); serve_forever on a thread."""
    server = _TcpServer((host, port), _TcpHandler)
    server.ingest = ingest
    threading.Thread(target=server.serve_forever, name="vbatch-tcp", daemon=True).start()
    return server


class _HttpHandler(BaseHTTPRequestHandler):
    """POST /events with lines in the body; GET /health."""

    server: _HttpServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found; POST lines to /events"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/events":
            self._reply(404, {"error": "not found; POST lines to /events"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, {"error": f"body of {length} bytes is over {MAX_BODY_BYTES}"})
            self.close_connection = True
            return
        body = self.rfile.read(length)
        long = long_lines(*line_bounds(body))
        if len(long):
            reason = f"line {long[0] + 1} is longer than {MAX_LINE_BYTES} bytes; nothing was taken"
            self._reply(413, {"error": reason})
            return
        origin = f"http:{self.client_address[0]}#{self.server.next_request()}"
        data = body if body.endswith(b"\n") or not body else body + b"\n"
        if data:
            self.server.ingest.put(Lines(origin, 1, data, time.monotonic()))
        self._reply(202, {"accepted_lines": data.count(b"\n"), "origin": origin})

    def _reply(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: requests are counted in metrics, not logged."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    ingest: Ingest
    _requests = 0
    _lock = threading.Lock()

    def next_request(self) -> int:
        with self._lock:
            self._requests += 1
            return self._requests


def http_source(ingest: Ingest, host: str, port: int) -> _HttpServer:
    """An HTTP endpoint: POST /events with .evt or JSON lines; serve_forever on a thread."""
    server = _HttpServer((host, port), _HttpHandler)
    server.ingest = ingest
    threading.Thread(target=server.serve_forever, name="vbatch-http", daemon=True).start()
    return server
