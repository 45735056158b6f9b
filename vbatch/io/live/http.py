"""An HTTP endpoint as a live source: `POST /events` with lines in the body, `GET /health`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vbatch.io.live.ingest import Ingest, Lines, line_bounds, long_lines
from vbatch.io.source import MAX_LINE_BYTES

MAX_BODY_BYTES = 16 << 20


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
        if data and not self.server.ingest.put(Lines(origin, 1, data, time.monotonic())):
            self._reply(503, {"error": "the run is shutting down; nothing was taken"})
            return
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


class HttpSource:
    """Lines from the bodies of `POST /events` requests to `host:port`."""

    ends = False

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.name = f"http:{host}:{port}"
        self.server: _HttpServer | None = None

    def start(self, ingest: Ingest) -> None:
        """Listen, and serve on a thread of its own."""
        self.server = _HttpServer((self.host, self.port), _HttpHandler)
        self.server.ingest = ingest
        thread = threading.Thread(target=self.server.serve_forever, name="vbatch-http")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop accepting requests."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
