"""A real `vbatch run` child process and its endpoints, for the live tests (stdlib only, so
the same tests can be pointed at an older checkout)."""

from __future__ import annotations

import atexit
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

COUNT = "stream Counts = A\n    .window(1h)\n    .aggregate(n: count())\n"
LINE = b"@1 A { v: 1 }\n"  # every line in the one window of COUNT


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def program(tmp_path: Path, text: str = COUNT) -> Path:
    """A program file."""
    path = tmp_path / "live.vpl"
    path.write_text(text)
    return path


_LAUNCHED: list[subprocess.Popen[str]] = []


def launch(path: Path, *args: str, stdin: object = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """`vbatch run --file PATH ARGS...`, stdout and stderr as pipes (killed when the tests
    end if a failing test left it running)."""
    command = [sys.executable, "-m", "vbatch", "run", "--file", str(path), *args]
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _LAUNCHED.append(process)
    return process


@atexit.register
def _kill_leftovers() -> None:
    for process in _LAUNCHED:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Wait until something listens on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


def counted(out: str, stream: str = "Counts") -> int:
    """The events a counting stream counted, over every window it wrote."""
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return sum(row["n"] for row in rows if row["stream"] == stream)


def events_in(err: str) -> int:
    """The closing line's count of events taken in."""
    match = re.search(r"vbatch run: (\d+) events in", err)
    assert match, err
    return int(match.group(1))


def raw_request(port: int, request: bytes, *, half_close: bool = True) -> bytes:
    """Send raw bytes to an endpoint; everything it answers before it closes (or resets)."""
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        try:
            while data := connection.recv(65536):
                reply += data
        except ConnectionResetError:
            pass
    return reply


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP reply (0 if there was none)."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return int(match.group(1)) if match else 0
