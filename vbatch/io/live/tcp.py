"""A TCP endpoint as a live source: each connection sends lines (`nc HOST PORT < f.evt`)."""

from __future__ import annotations

import socketserver
import threading

from vbatch.io.live.ingest import READ_BYTES, Ingest, LineSplitter


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


class TcpSource:
    """Lines from every connection to `host:port`."""

    ends = False

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.name = f"tcp:{host}:{port}"
        self.server: _TcpServer | None = None

    def start(self, ingest: Ingest) -> None:
        """Listen, and serve on a thread of its own."""
        self.server = _TcpServer((self.host, self.port), _TcpHandler)
        self.server.ingest = ingest
        thread = threading.Thread(target=self.server.serve_forever, name="vbatch-tcp")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop accepting connections."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
