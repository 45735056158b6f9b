"""A TCP endpoint as a live source: each connection sends lines (`nc HOST PORT < f.evt`).

TCP acknowledges nothing: a client cannot know which of its lines were read. What the
run guarantees is that every line it read is processed: once the run stops, each
connection stops reading, hands on the whole lines it has read (an unfinished last line
is dropped) and is closed; the run ends after that.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

from vbatch.io.live.ingest import READ_BYTES, Connection, Ingest, LineSplitter
from vbatch.io.live.server import (
    STOP_POLL_SECONDS,
    Endpoint,
    Guard,
    GuardedServer,
    listen_error,
)

MAX_TOKEN_LINE = 4098  # a token of 4096 characters, CR LF


class _Reader:
    """What a connection sends, block by block, until the peer ends, the connection is idle
    too long, or the run stops."""

    def __init__(self, request: socket.socket, connection: Connection, server: _TcpServer):
        self.request, self.connection = request, connection
        self.idle_seconds = server.guard.idle_seconds
        request.settimeout(min(server.poll_seconds, self.idle_seconds))
        self.ended = False  # the peer closed its side: everything it sent was read

    def blocks(self) -> Iterator[bytes]:
        quiet_since = time.monotonic()
        while self.connection.open:
            try:
                data = self.request.recv(READ_BYTES)
            except TimeoutError:
                if time.monotonic() - quiet_since >= self.idle_seconds:
                    return
                continue
            if not data:
                self.ended = True
                return
            quiet_since = time.monotonic()
            yield data

    def first_line(self) -> tuple[bytes | None, bytes]:
        """The first line (without its line end) and what came after it; None if the
        connection ended or sent too much first."""
        head = b""
        for data in self.blocks():
            head += data
            line, newline, rest = head.partition(b"\n")
            if newline:
                return line.removesuffix(b"\r"), rest
            if len(head) > MAX_TOKEN_LINE:
                break
        return None, b""


class _TcpHandler(socketserver.BaseRequestHandler):
    """One connection: its token line when one is required, then lines until the end."""

    server: _TcpServer

    def handle(self) -> None:
        origin = f"tcp:{Endpoint(*self.client_address[:2])}"
        with self.server.ingest.connection() as connection:
            reader = _Reader(self.request, connection, self.server)
            splitter = LineSplitter(origin, connection)
            if self.server.guard.token is not None:
                token, rest = reader.first_line()
                if not self.server.guard.admits(token):
                    return  # closed without a word
                splitter.line = 2
                splitter.feed(rest)
            for data in reader.blocks():
                splitter.feed(data)
            if reader.ended:  # else the run stopped: an unfinished last line is not a line
                splitter.finish()


class _TcpServer(GuardedServer):
    pass


class TcpSource:
    """Lines from every connection to `host:port`."""

    ends = False

    def __init__(self, endpoint: Endpoint, guard: Guard) -> None:
        self.endpoint = endpoint
        self.guard = guard
        self.name = f"tcp {endpoint}"
        self.server: _TcpServer | None = None

    def start(self, ingest: Ingest) -> None:
        """Listen, and serve on a thread of its own."""
        try:
            self.server = _TcpServer(self.endpoint, _TcpHandler, self.guard, ingest, self.name)
        except OSError as err:
            raise listen_error(f"--tcp {self.endpoint}", err) from None
        serve = self.server.serve_forever
        thread = threading.Thread(target=serve, args=(STOP_POLL_SECONDS,), name="vbatch-tcp")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop accepting connections."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
