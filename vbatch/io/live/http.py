"""An HTTP endpoint as a live source: `POST /events` with lines in the body, `GET /health`.

`202 {"accepted_lines": N}` means the N lines were taken and will be processed, whatever
happens next (a SIGTERM included); any other answer means nothing of the body was taken.
A body is read whole before anything of it is taken: with `Content-Length` (digits only)
or `Transfer-Encoding: chunked`, at most 16 MiB either way.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from vbatch.io.live.ingest import Ingest, Lines, line_bounds, long_lines
from vbatch.io.live.server import (
    STOP_POLL_SECONDS,
    Endpoint,
    Guard,
    GuardedServer,
    listen_error,
)
from vbatch.io.source import MAX_LINE_BYTES

MAX_BODY_BYTES = 16 << 20
MAX_CHUNK_LINE = 1024  # a chunk-size line, or a trailer line
MAX_TRAILERS = 64
MAX_DISCARD_BYTES = 1 << 20  # a refused request's body read (and dropped) so it sees the answer
_DIGITS = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_NOT_FOUND = "not found; POST lines to /events"


class Refusal(Exception):
    """A request answered with an error status; nothing of its body was taken."""

    def __init__(self, status: int, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.close = status, reason, close


class _HttpHandler(BaseHTTPRequestHandler):
    """POST /events with lines in the body; GET /health."""

    server: _HttpServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/health":
            self._reply(404, {"error": _NOT_FOUND})
        elif self.server.ingest.closed:
            self._reply(503, {"status": "stopping"})
        else:
            self._reply(200, {"status": "ok"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        try:
            lines = self._lines()
            ingest = self.server.ingest
            with ingest.held():  # the run does not end between taking the lines and the 202
                if lines.data and not ingest.put(lines):
                    raise Refusal(503, "the run is shutting down; nothing was taken")
                self._reply(
                    202, {"accepted_lines": lines.data.count(b"\n"), "origin": lines.origin}
                )
        except Refusal as refusal:
            self.close_connection = self.close_connection or refusal.close
            self._reply(refusal.status, {"error": refusal.reason})
        except TimeoutError:
            self.close_connection = True
            self._reply(408, {"error": "the body stopped arriving; nothing was taken"})

    def _lines(self) -> Lines:
        """Read and check the body's lines, or raise the Refusal to answer."""
        if self.path != "/events":
            self._refuse_unread(404, _NOT_FOUND)
        if not self.server.guard.admits(_bearer(self.headers.get("Authorization"))):
            self._refuse_unread(401, "a token is required: Authorization: Bearer TOKEN")
        if self.server.ingest.closed:
            self._refuse_unread(503, "the run is shutting down; nothing was taken")
        body = self._body()
        long = long_lines(*line_bounds(body))
        if len(long):
            reason = f"line {long[0] + 1} is longer than {MAX_LINE_BYTES} bytes; nothing was taken"
            raise Refusal(413, reason)
        origin = f"http:{self.client_address[0]}#{self.server.next_request()}"
        data = body if body.endswith(b"\n") or not body else body + b"\n"
        return Lines(origin, 1, data, time.monotonic())

    def _refuse_unread(self, status: int, reason: str) -> None:
        """Refuse before reading the body; a small one is read and dropped first (closing a
        socket with unread data resets it, and the client might not see the answer)."""
        length = (self.headers.get("Content-Length") or "").strip()
        if _DIGITS.fullmatch(length) and int(length) <= MAX_DISCARD_BYTES:
            self.rfile.read(int(length))
        raise Refusal(status, reason, close=True)

    def _body(self) -> bytes:
        """The whole body, delimited by Content-Length or chunked."""
        codings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if codings and lengths:
            raise Refusal(400, "Transfer-Encoding and Content-Length together", close=True)
        if codings:
            if [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
                raise Refusal(501, "only Transfer-Encoding: chunked is understood", close=True)
            return self._chunked()
        if not lengths:
            raise Refusal(411, "a body needs Content-Length or chunked encoding", close=True)
        texts = {text.strip() for text in lengths}
        if len(texts) > 1 or not _DIGITS.fullmatch(text := texts.pop()):
            raise Refusal(400, "Content-Length must be one number of bytes", close=True)
        length = int(text)
        if length > MAX_BODY_BYTES:
            raise Refusal(413, f"body of {length} bytes is over {MAX_BODY_BYTES}", close=True)
        return self._exactly(length)

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while size := self._chunk_size():
            total += size
            if total > MAX_BODY_BYTES:
                raise Refusal(413, f"body over {MAX_BODY_BYTES} bytes", close=True)
            parts.append(self._exactly(size))
            if self._line() != b"":
                raise Refusal(400, "a chunk is longer than its size", close=True)
        for _ in range(MAX_TRAILERS):
            if self._line() == b"":
                return b"".join(parts)
        raise Refusal(400, f"more than {MAX_TRAILERS} trailer lines", close=True)

    def _chunk_size(self) -> int:
        size = self._line().split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size):
            raise Refusal(400, "a chunk size must be hexadecimal digits", close=True)
        return int(size, 16)

    def _line(self) -> bytes:
        """One line of the chunked framing, without its line end."""
        line = self.rfile.readline(MAX_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            ended = len(line) <= MAX_CHUNK_LINE
            raise Refusal(400, _ENDED if ended else "a chunk line is too long", close=True)
        return line.rstrip(b"\r\n")

    def _exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) < length:
            raise Refusal(400, _ENDED, close=True)
        return data

    def _reply(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server finds itself (a bad request line, too many headers), as JSON."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # a request line it could not read
            self.request_version = "HTTP/1.0"  # answer with a status line all the same
        reason = message or HTTPStatus(code).phrase
        self._reply(code, {"error": reason})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: requests are counted in metrics, not logged."""


_FULL = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_ENDED = "the body ended before its announced length; nothing was taken"


def _bearer(header: str | None) -> bytes | None:
    """The token of an `Authorization: Bearer TOKEN` header."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else None


class _HttpServer(GuardedServer):
    _requests = 0
    _lock = threading.Lock()

    def next_request(self) -> int:
        with self._lock:
            self._requests += 1
            return self._requests

    def refuse(self, request: socket.socket) -> None:
        """Tell a plain-HTTP client beyond the cap why it is closed (not waiting to send)."""
        if self.guard.tls is None:
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_FULL)


class HttpSource:
    """Lines from the bodies of `POST /events` requests to `host:port`."""

    ends = False

    def __init__(self, endpoint: Endpoint, guard: Guard) -> None:
        self.endpoint = endpoint
        self.guard = guard
        self.name = f"http {endpoint}"
        self.server: _HttpServer | None = None

    def start(self, ingest: Ingest) -> None:
        """Listen, and serve on a thread of its own."""
        try:
            self.server = _HttpServer(self.endpoint, _HttpHandler, self.guard, ingest, self.name)
        except OSError as err:
            raise listen_error(f"--http {self.endpoint}", err) from None
        serve = self.server.serve_forever
        thread = threading.Thread(target=serve, args=(STOP_POLL_SECONDS,), name="vbatch-http")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop accepting requests."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
