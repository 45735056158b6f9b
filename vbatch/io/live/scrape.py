"""The `/metrics` endpoint of a live run: Prometheus text, served like the other endpoints.

It shares their connection cap, idle timeout and quiet handling of clients that reset or
stall (`server.py`); it has no token or TLS (keep it on loopback).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vbatch.io.live.ingest import Ingest
from vbatch.io.live.server import STOP_POLL_SECONDS, Endpoint, Guard, GuardedServer, listen_error


class _ScrapeHandler(BaseHTTPRequestHandler):
    """GET /metrics."""

    server: _ScrapeServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"not found; metrics are at /metrics\n", "text/plain")
        else:
            self._reply(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: a scrape is not news."""


class _ScrapeServer(GuardedServer):
    registry: CollectorRegistry


class ScrapeEndpoint:
    """`/metrics` on `host:port`, until the run stops."""

    def __init__(self, endpoint: Endpoint, registry: CollectorRegistry, guard: Guard) -> None:
        self.endpoint, self.registry = endpoint, registry
        self.guard = Guard(guard.max_connections, guard.idle_seconds)  # no token, no TLS
        self.server: _ScrapeServer | None = None

    def start(self, ingest: Ingest) -> None:
        """Listen, and serve on a thread of its own; exit 3 if it cannot listen."""
        name = f"--metrics {self.endpoint}"
        try:
            self.server = _ScrapeServer(self.endpoint, _ScrapeHandler, self.guard, ingest, name)
        except OSError as err:
            raise listen_error(name, err) from None
        self.server.registry = self.registry
        serve = self.server.serve_forever
        thread = threading.Thread(target=serve, args=(STOP_POLL_SECONDS,), name="vbatch-metrics")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
