"""`vbatch run` as a real process: outputs while input is open, sweeps, signals, metrics, ingest."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT

from vbatch.io.live.ingest import Ingest, Lines, LineSplitter, Refused
from vbatch.io.source import MAX_LINE_BYTES
from vbatch.runtime.live import joined_blocks

SESSIONS = """
stream UserSessions = UserActivity
    .partition_by(user_id)
    .window(session: 500ms)
    .aggregate(user_id: user_id, event_count: count(), last_action: last(action))
"""


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Run(subprocess.Popen):
    """A `vbatch run` child whose output lines are read as they come, on a thread."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def communicate(self, input=None, timeout=None):  # noqa: A002, ANN001, ANN201
        """Wait for the end; the stdout lines not read yet, and stderr."""
        self.wait(timeout=timeout)
        rest = []
        while (line := self.lines.get(timeout=timeout)) is not None:
            rest.append(line)
        return "".join(rest), self.stderr.read()


def start(tmp_path: Path, program: str, *args: str) -> Run:
    """`vbatch run` on a program, stdin and stdout as pipes."""
    path = tmp_path / "live.vpl"
    path.write_text(program)
    return Run([sys.executable, "-m", "vbatch", "run", "--file", str(path), *args])


def read_line(process: Run, timeout: float = 20.0) -> dict:
    """The next JSON line the run writes, waiting at most `timeout` seconds."""
    try:
        line = process.lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no output in time") from None
    assert line is not None, "the run ended"
    return json.loads(line)


def end_input(process: Run) -> tuple[str, str]:
    """Close standard input and wait for the run to end; its remaining stdout and stderr."""
    assert process.stdin is not None
    process.stdin.close()
    return process.communicate(timeout=30)


def send(process: Run, *lines: str) -> None:
    """Write lines to the run's standard input, keeping it open."""
    assert process.stdin is not None
    process.stdin.write("".join(line + "\n" for line in lines))
    process.stdin.flush()


def test_outputs_arrive_while_the_input_is_still_open(tmp_path: Path) -> None:
    run = start(tmp_path, (ROOT / "examples" / "first_context.vpl").read_text())
    try:
        send(run, '@0 SensorReading { sensor_id: "S1", value: 72.5 }')
        assert read_line(run) == {
            "stream": "HighReadings",
            "_ts": 0,
            "sensor_id": "S1",
            "value": 72.5,
        }
        send(run, '@100 SensorReading { sensor_id: "S2", value: 88.0 }')
        assert read_line(run)["sensor_id"] == "S2"
    finally:
        end_input(run)
    assert run.returncode == 0


def test_quiet_input_closes_the_last_session_without_a_trailing_event(tmp_path: Path) -> None:
    run = start(tmp_path, SESSIONS, "--no-contexts")
    try:
        send(run, 'UserActivity { user_id: "alice", action: "login" }',
             'UserActivity { user_id: "alice", action: "click" }')  # fmt: skip
        started = time.monotonic()
        row = read_line(run, timeout=10)
        assert row["user_id"] == "alice" and row["event_count"] == 2
        assert time.monotonic() - started < 5  # the sweep, not the end of input
    finally:
        end_input(run)


def test_sigterm_flushes_every_open_window_across_contexts(tmp_path: Path) -> None:
    program = (ROOT / "examples" / "pipeline.vpl").read_text()
    run = start(tmp_path, program)
    send(run, *(ROOT / "examples" / "pipeline.evt").read_text().splitlines())
    for _ in range(6):  # the six valid readings, forwarded at once
        assert read_line(run)["stream"] == "ValidReadings"
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["stream"] for r in rows] == [
        "ZoneStats",
        "OverheatAlerts",
        "ZoneStats",
        "OverheatAlerts",
    ]
    assert {r["zone"]: r["max_value"] for r in rows if r["stream"] == "ZoneStats"} == {
        "north": 170.2,
        "south": 155.0,
    }


def scrape(port: int) -> str:
    """The text of /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def metric(text: str, name: str) -> dict[tuple[str, str], float]:
    """Values of a per-stream metric by (context, stream)."""
    pattern = re.compile(rf'^{name}\{{context="([^"]*)",stream="([^"]*)"\}} (\S+)$', re.M)
    return {(c, s): float(v) for c, s, v in pattern.findall(text)}


def test_metrics_add_up_across_contexts(tmp_path: Path) -> None:
    port = free_port()
    program = (ROOT / "examples" / "parallel_contexts.vpl").read_text()
    run = start(tmp_path, program, "--metrics", "--metrics-port", str(port))
    try:
        events = (ROOT / "examples" / "parallel_contexts.evt").read_text().splitlines()
        send(run, *events)
        for _ in range(5):  # five readings pass the filters
            read_line(run)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            processed = metric(scrape(port), "vbatch_events_processed_total")
            if sum(processed.values()) >= 8:
                break
            time.sleep(0.2)
        assert processed == {
            ("pressure_ctx", "HighPressure"): 4.0,
            ("temperature_ctx", "HighTemps"): 4.0,
        }
        text = scrape(port)
        assert (
            'vbatch_context_channel_utilization{source="coordinator",target="pressure_ctx"}' in text
        )
        assert "vbatch_batch_latency_seconds_count" in text
    finally:
        end_input(run)


def post(port: int, body: bytes) -> tuple[int, dict]:
    """POST /events; the status and the JSON reply."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/events", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_http_ingest_refuses_bad_and_oversized_input_and_goes_on(tmp_path: Path) -> None:
    port = free_port()
    program = (ROOT / "examples" / "first_context.vpl").read_text()
    run = start(tmp_path, program, "--http", str(port), "--no-contexts")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        status, reply = post(port, b"x" * (1 << 21) + b"\n")
        assert status == 413 and "longer than" in reply["error"]
        status, _ = post(port, b"not an event\n")
        assert status == 202
        status, reply = post(port, b'@5 SensorReading { sensor_id: "S9", value: 99.0 }\n')
        assert (status, reply["accepted_lines"]) == (202, 1)
        assert read_line(run) == {
            "stream": "HighReadings",
            "_ts": 5,
            "sensor_id": "S9",
            "value": 99.0,
        }
    finally:
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=20)
    assert run.returncode == 0
    assert re.search(r"http:127\.0\.0\.1#\d+:1:\d+: .* \(skipped\)", err)


def test_tcp_ingest_refuses_an_over_long_line_and_goes_on(tmp_path: Path) -> None:
    port = free_port()
    program = (ROOT / "examples" / "first_context.vpl").read_text()
    run = start(tmp_path, program, "--tcp", f"127.0.0.1:{port}", "--no-contexts")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with connection:
            connection.sendall(b"y" * (1 << 21) + b"\n")
            connection.sendall(b'@7 SensorReading { sensor_id: "S3", value: 77.0 }\n')
        assert read_line(run)["sensor_id"] == "S3"
    finally:
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=20)
    assert run.returncode == 0
    assert "line longer than" in err


def test_line_splitter_refuses_an_over_long_line_inside_one_read() -> None:
    ingest = Ingest(sources=1)
    splitter = LineSplitter("stdin", ingest)
    long = b"z" * (MAX_LINE_BYTES + 1)
    splitter.feed(b"a\nb\n" + long + b"\nc\n" + long + b"\nd")
    splitter.finish()
    items = []
    while (item := ingest.get(timeout=0)) is not None:
        items.append(item)
    assert [(type(i).__name__, i.line if isinstance(i, Refused) else i.first_line) for i in items] == [
        ("Lines", 1), ("Refused", 3), ("Lines", 4), ("Refused", 5), ("Lines", 6),
    ]  # fmt: skip
    assert [i.data for i in items if isinstance(i, Lines)] == [b"a\nb\n", b"c\n", b"d\n"]
    assert splitter.line == 7


def test_consecutive_blocks_of_one_origin_are_parsed_as_one() -> None:
    blocks = [
        Lines("stdin", 1, b"a\nb\n", 0.0), Lines("stdin", 3, b"c\n", 0.1),
        Lines("tcp", 1, b"x\n", 0.2), Lines("stdin", 4, b"d\n", 0.3),
        Lines("stdin", 9, b"e\n", 0.4), Lines("stdin", 10, b"f\ng\n", 0.5),
    ]  # fmt: skip
    assert joined_blocks(blocks) == [
        Lines("stdin", 1, b"a\nb\nc\n", 0.0), Lines("tcp", 1, b"x\n", 0.2),
        Lines("stdin", 4, b"d\n", 0.3), Lines("stdin", 9, b"e\nf\ng\n", 0.4),
    ]  # fmt: skip


def test_an_endless_line_on_stdin_is_refused_at_the_limit_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    run = start(tmp_path, (ROOT / "examples" / "first_context.vpl").read_text(), "--no-contexts")
    errors: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: errors.put(run.stderr.readline()), daemon=True).start()
    try:
        assert run.stdin is not None
        run.stdin.write("z" * (MAX_LINE_BYTES + 4096))  # no newline: the line has not ended
        run.stdin.flush()
        reported = errors.get(timeout=20)
        send(run, "", '@9 SensorReading { sensor_id: "S4", value: 99.0 }')
        assert read_line(run)["sensor_id"] == "S4"
    finally:
        end_input(run)
    assert reported.startswith("<stdin>:1: line longer than 1048576 bytes (refused:")
    assert run.returncode == 0
