"""Stopping a live run loses nothing it accepted: SIGTERM under a full ingest queue, HTTP and
TCP clients sending while the signal arrives, and output that survives kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from live_run import LINE, counted, events_in, free_port, launch, program, wait_for_port

LINES = 3_000_000  # about 60 MB: standard input is read faster than it is processed


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three million events in one hour-long window."""
    path = tmp_path_factory.mktemp("big") / "big.evt"
    path.write_text("".join(f"@{i} A {{ v: 1 }}\n" for i in range(LINES)))
    return path


def read_so_far(process: subprocess.Popen[str]) -> int:
    """How far the child has read its standard input (a file)."""
    fdinfo = Path(f"/proc/{process.pid}/fdinfo/0").read_text()
    return int(fdinfo.split("pos:", 1)[1].split()[0])


def reading(process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait until the child has started reading standard input (its signals are set), and
    a little more: the ingest queue is full by then."""
    if not Path(f"/proc/{process.pid}/fdinfo/0").exists():
        pytest.skip("needs /proc to see how far the run has read")
    deadline = time.monotonic() + timeout
    while read_so_far(process) == 0:
        assert time.monotonic() < deadline and process.poll() is None, "the run never read"
        time.sleep(0.02)
    time.sleep(0.1)


def still_reading(process: subprocess.Popen[str], size: int) -> None:
    """Skip unless the child is far from the end of its input (a machine this fast would
    have read everything before the signal: nothing would be queued)."""
    if read_so_far(process) > size - (4 << 20):
        pytest.skip("the run read nearly all its input before the signal could be sent")


def test_sigterm_with_input_queued_flushes_every_window_and_exits_0(
    tmp_path: Path, big_input: Path
) -> None:
    with open(big_input, "rb") as stdin:
        run = launch(program(tmp_path), "--no-contexts", stdin=stdin)
        reading(run)
        still_reading(run, big_input.stat().st_size)
        run.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = run.communicate(timeout=60)
    assert (run.returncode, time.monotonic() - signalled < 10) == (0, True), err
    taken = events_in(err)
    assert 0 < taken < LINES  # the signal stopped the reading while input was queued
    assert counted(out) == taken  # and every event taken in was counted and flushed


def test_a_second_signal_stops_at_once_with_130(tmp_path: Path, big_input: Path) -> None:
    with open(big_input, "rb") as stdin:
        run = launch(program(tmp_path), "--no-contexts", "--batch-size", "1024", stdin=stdin)
        reading(run)
        still_reading(run, big_input.stat().st_size)
        run.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err


BY_ORIGIN = (
    "stream ByHttp = A\n    .window(1h)\n    .aggregate(n: count())\n"
    "stream ByTcp = B\n    .window(1h)\n    .aggregate(n: count())\n"
)
TCP_LINE = b"@1 B { v: 1 }\n"


class HttpClient(threading.Thread):
    """POSTs bodies of lines until refused; counts the lines acknowledged (202)."""

    def __init__(self, port: int, lines: int = 200) -> None:
        super().__init__(daemon=True)
        self.port, self.body, self.acknowledged, self.refusals = port, LINE * lines, 0, 0

    def run(self) -> None:
        url = f"http://127.0.0.1:{self.port}/events"
        while self.refusals < 3:
            request = urllib.request.Request(url, data=self.body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self.acknowledged += json.loads(response.read())["accepted_lines"]
            except urllib.error.HTTPError as err:
                assert err.code == 503, err
                self.refusals += 1
            except OSError:  # the endpoint is gone
                self.refusals += 1
                time.sleep(0.05)


class TcpClient(threading.Thread):
    """Writes lines on one connection until the server closes it; counts the lines written."""

    def __init__(self, port: int, lines: int = 200) -> None:
        super().__init__(daemon=True)
        self.port, self.block, self.lines, self.written = port, TCP_LINE * lines, lines, 0

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
                while True:
                    connection.sendall(self.block)
                    self.written += self.lines
        except OSError:  # closed by the server
            pass


def send_all_and_wait_for_close(port: int, lines: int) -> None:
    """Send every line, end the connection, and wait for the server to close it: by then it
    read them all."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(TCP_LINE * lines)
        connection.shutdown(socket.SHUT_WR)
        assert connection.recv(1) == b""


def test_nothing_acknowledged_is_lost_when_sigterm_arrives_under_load(tmp_path: Path) -> None:
    http, tcp = free_port(), free_port()
    run = launch(program(tmp_path, BY_ORIGIN), "--http", str(http), "--tcp", str(tcp),
                 "--no-contexts")  # fmt: skip
    wait_for_port(http)
    wait_for_port(tcp)
    send_all_and_wait_for_close(tcp, 5000)
    posters = [HttpClient(http) for _ in range(4)]
    writers = [TcpClient(tcp) for _ in range(2)]
    for client in [*posters, *writers]:
        client.start()
    time.sleep(1.0)
    run.send_signal(signal.SIGTERM)
    for client in [*posters, *writers]:
        client.join(timeout=30)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    by_http, by_tcp = counted(out, "ByHttp"), counted(out, "ByTcp")
    assert by_http + by_tcp == events_in(err)
    assert by_http == sum(c.acknowledged for c in posters)  # HTTP: 202 means processed
    assert 5000 <= by_tcp <= 5000 + sum(c.written for c in writers)  # TCP: what was read
    assert not any(c.is_alive() for c in [*posters, *writers])


def rows_in(path: Path, count: int, timeout: float = 30.0) -> list[dict]:
    """The JSON lines of `path` once it holds `count` of them."""
    deadline = time.monotonic() + timeout
    while len(lines := (path.read_text() if path.exists() else "").splitlines()) < count:
        assert time.monotonic() < deadline, f"{path} holds {len(lines)} of {count} rows"
        time.sleep(0.02)
    return [json.loads(line) for line in lines]


def test_live_output_holds_every_finished_batch_after_kill_9(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    passing = "stream Seen = A\n    .where(v > 0)\n"
    run = launch(program(tmp_path, passing), "--no-contexts", "-o", str(output),
                 stdin=subprocess.PIPE)  # fmt: skip
    assert run.stdin is not None
    for i in range(3):  # one batch each: the file has its rows before the next is sent
        run.stdin.write(f"@{i} A {{ v: {i + 1} }}\n")
        run.stdin.flush()
        rows_in(output, i + 1)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    assert [r["v"] for r in rows_in(output, 3)] == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["live.vpl", "out.jsonl"]  # no temporary file
