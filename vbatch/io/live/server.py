"""What the TCP and HTTP endpoints share: where they listen, and how they guard the door.

Every connection runs on a thread of its own, at most `max_connections` at a time (one
more is closed at once); a connection silent for `idle_seconds` is closed; with a token a
client must present it (HTTP: `Authorization: Bearer TOKEN`, TCP: its first line); with a
certificate and key the endpoint speaks TLS only. A client that misbehaves (resets, times
out, fails the TLS handshake) costs its own connection and never a traceback.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import re
import socket
import socketserver
import ssl
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vbatch.errors import ConfigError
from vbatch.io.live.ingest import Ingest

MAX_CONNECTIONS = 64
IDLE_SECONDS = 30.0
BACKLOG = 128
STOP_POLL_SECONDS = 0.1  # how soon a server sees it is asked to stop
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # printable ASCII, no spaces: fits a header


@dataclass(frozen=True)
class Endpoint:
    """An address to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Only this machine can reach it."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class Guard:
    """How endpoints guard the door: the connection cap, idle timeout, token and TLS."""

    max_connections: int = MAX_CONNECTIONS
    idle_seconds: float = IDLE_SECONDS
    token: str | None = field(default=None, repr=False)  # never shown
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def admits(self, presented: bytes | None) -> bool:
        """Whether a client presenting `presented` may send events."""
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented, self.token.encode())


def read_token(text: str | None, path: Path | None) -> str | None:
    """The shared secret from `--token` or the first line of `--token-file`."""
    if text is not None and path is not None:
        raise ConfigError("give --token or --token-file, not both")
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"--token-file {path}: cannot read: {reason}") from None
    if text is not None and not _TOKEN.fullmatch(text):
        msg = "the token must be 1 to 4096 printable ASCII characters without spaces"
        raise ConfigError(msg, hint="e.g. openssl rand -hex 32 > token.txt; --token-file token.txt")
    return text


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server-side TLS context from `--tls-cert` and `--tls-key` (both or neither)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--tls-cert and --tls-key go together", hint="give both, PEM files")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err)
        msg = f"cannot load the TLS certificate {cert} and key {key}: {reason}"
        raise ConfigError(msg, hint="both must be PEM files; the key must match the cert") from None
    return context


def listen_error(name: str, err: OSError) -> ConfigError:
    """The message for an endpoint that cannot listen (exit 3)."""
    if isinstance(err, socket.gaierror):
        return ConfigError(f"{name}: cannot resolve the host: {err.strerror}")
    hints = {
        errno.EADDRINUSE: "another process listens there; choose another port",
        errno.EACCES: "ports below 1024 need privileges; choose a port above 1024",
        errno.EADDRNOTAVAIL: "the host is not an address of this machine",
    }
    reason = err.strerror or str(err)
    return ConfigError(f"{name}: cannot listen: {reason}", hint=hints.get(err.errno or 0))


class GuardedServer(socketserver.ThreadingTCPServer):
    """A threading server with a connection cap, idle timeout and optional TLS."""

    daemon_threads = True
    block_on_close = False  # stopping never waits for a slow client
    allow_reuse_address = True
    request_queue_size = BACKLOG
    poll_seconds = 0.25  # how often a connection waiting for data looks whether the run stops

    def __init__(
        self,
        endpoint: Endpoint,
        handler: type[socketserver.BaseRequestHandler],
        guard: Guard,
        ingest: Ingest,
        name: str,
    ) -> None:
        infos = socket.getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, address = min(infos, key=lambda info: info[0] != socket.AF_INET)
        self.address_family = family
        self.guard, self.ingest, self.name = guard, ingest, name
        self._slots = threading.BoundedSemaphore(guard.max_connections)
        self._warned_full = False
        super().__init__((str(address[0]), int(address[1])), handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Serve on a thread of its own, or close at once when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            self._full()
            self.refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # type: ignore[arg-type]
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            self._slots.release()

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Time the connection out when idle; speak TLS if configured."""
        request.settimeout(self.guard.idle_seconds)
        if self.guard.tls is None:
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
            return
        try:
            secure = self.guard.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # a failed handshake: the client's problem
        with secure:
            self.RequestHandlerClass(secure, client_address, self)  # type: ignore[arg-type]

    def refuse(self, request: socket.socket) -> None:
        """What a connection beyond the cap is told before it is closed (nothing, here)."""

    def handle_error(self, request: object, client_address: object) -> None:
        """A client going away (reset, timeout, broken TLS) is no error; anything else is
        one line for the operator, never a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        self.ingest.report(f"{self.name}: a connection failed: {type(error).__name__}: {error}")

    def _full(self) -> None:
        if not self._warned_full:
            self._warned_full = True
            limit = self.guard.max_connections
            self.ingest.report(
                f"{self.name}: {limit} connections open, the most allowed; more are closed at once"
            )
