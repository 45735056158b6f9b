"""Fuzzing the edges a user's bytes reach: program files through `check` and `parse`, and
`.evt` / JSON lines mutated byte by byte through a replay and through a live TCP run.

What must hold whatever the bytes: no traceback, an exit code docs/cli.md lists, every
unmutated line's event in the output, and bad records only ever blamed on mutated lines.
The examples are few (the whole file runs in about a minute); `--hypothesis-profile
thorough` runs more.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_run import free_port, launch, wait_for_port
from typer.testing import CliRunner

from vbatch.cli import app

PROGRAM = "stream Out = A\n    .where(v >= 0)\n"
PROGRAM_EXIT_CODES = {0, 1, 2}  # ok, a located program error, an unreadable file
FEW = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

# Bytes a mutation inserts or writes over: the syntax of both line formats, escapes, bytes
# that are not UTF-8, control characters. Never a newline: a mutated line stays one line.
NOISE = st.sampled_from(
    [bytes([b]) for b in b"{}[]():,\"'\\@#/ -+.eE019azZ_\t\r\x00\x1b"]
    + [b"\xff", b"\xc3", b"\xe2\x80", "é".encode(), b"\\u", b"\\ud800", b"9" * 30, b"1e999"]
)


@st.composite
def mutated(draw: st.DrawFn, line: bytes) -> bytes:
    """`line` with one to four bytes deleted, inserted or written over."""
    text = bytearray(line)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        if action == "delete" and text:
            del text[at]
        elif action == "insert":
            text[at:at] = draw(NOISE)
        else:
            text[at : at + 1] = draw(NOISE)
    return bytes(text)


@dataclass
class Lines:
    """A file's lines, and which of them were left as they were (1-based numbers)."""

    lines: list[bytes]
    good: dict[int, int]  # line number -> the id its event carries

    def data(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines)


def good_line(suffix: str, ident: int) -> bytes:
    if suffix == ".evt":
        return f"@{ident} A {{ v: {ident}, id: {ident} }}".encode()
    return json.dumps({"event_type": "A", "_ts": ident, "v": ident, "id": ident}).encode()


@st.composite
def lines(draw: st.DrawFn, suffix: str) -> Lines:
    """Ten to forty lines in time order, about a third of them mutated."""
    result = Lines([], {})
    for number in range(1, draw(st.integers(10, 40)) + 1):
        line = good_line(suffix, number)
        if draw(st.integers(0, 2)) == 0:
            result.lines.append(draw(mutated(line)))
        else:
            result.lines.append(line)
            result.good[number] = number
    return result


def ids_in(rows: Iterator[str]) -> set[int]:
    """The ids of the output rows that are a good line's event: `id` and `v` the same whole
    number (a mutated line like `id: 1.0` widens the column to floats, and the good lines'
    ids then come out as `4.0`: the same number, not a lost line)."""
    ids = set()
    for text in rows:
        row = json.loads(text)
        ident, v = row.get("id"), row.get("v")
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (ident, v))
        if numbers and ident == v and float(ident).is_integer():
            ids.add(int(ident))
    return ids


# --- program files -----------------------------------------------------------------------

_CORPUS = [path.read_bytes() for path in sorted(EXAMPLES.glob("*.vpl"))]


def _command_on(tmp_path: Path, data: bytes, command: str) -> None:
    path = tmp_path / "fuzz.vpl"
    path.write_bytes(data)
    result = CliRunner().invoke(app, [command, str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in PROGRAM_EXIT_CODES, result.output


@FEW
@given(data=st.binary(max_size=300), command=st.sampled_from(["check", "parse"]))
def test_random_bytes_as_a_program_give_a_clean_answer(
    tmp_path: Path, data: bytes, command: str
) -> None:
    _command_on(tmp_path, data, command)


@FEW
@given(st.data(), st.sampled_from(["check", "parse"]))
def test_mutated_example_programs_give_a_clean_answer(
    tmp_path: Path, data: st.DataObject, command: str
) -> None:
    program = data.draw(st.sampled_from(_CORPUS))
    changed = program
    for _ in range(data.draw(st.integers(1, 3))):  # several mutations anywhere in the file
        changed = data.draw(mutated(changed))
    _command_on(tmp_path, changed, command)


# --- replay ------------------------------------------------------------------------------


def replay(tmp_path: Path, case: Lines, suffix: str, policy: str) -> subprocess.CompletedProcess:
    program, events = tmp_path / "p.vpl", tmp_path / f"in{suffix}"
    program.write_text(PROGRAM)
    events.write_bytes(case.data())
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    for stale in (out, dead):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "vbatch", "simulate", "-p", str(program), "-e", str(events),
               "--immediate", "-q", "--on-error", policy, "--dead-letter", str(dead),
               "-o", str(out), "-f", "jsonl"]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@FEW
@given(suffix=st.sampled_from([".evt", ".jsonl"]), data=st.data())
def test_mutated_lines_replayed_with_skip_lose_no_good_line(
    tmp_path: Path, suffix: str, data: st.DataObject
) -> None:
    case = data.draw(lines(suffix))
    result = replay(tmp_path, case, suffix, "skip")
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out.jsonl"
    assert set(case.good.values()) <= ids_in(iter(out.read_text().splitlines()))
    dead = tmp_path / "dead.jsonl"
    letters = dead.read_text().splitlines() if dead.exists() else []
    blamed = {json.loads(letter)["line"] for letter in letters}
    assert not blamed & set(case.good), f"good lines blamed: {blamed & set(case.good)}"
    assert f"Bad records skipped: {len(letters)}" in result.stdout or not letters


@FEW
@given(suffix=st.sampled_from([".evt", ".jsonl"]), data=st.data())
def test_mutated_lines_replayed_with_fail_stop_at_a_mutated_line(
    tmp_path: Path, suffix: str, data: st.DataObject
) -> None:
    case = data.draw(lines(suffix))
    result = replay(tmp_path, case, suffix, "fail")
    assert "Traceback" not in result.stderr
    assert result.returncode in {0, 2}, result.stderr
    if result.returncode == 2:
        location = result.stderr.split(": ", 1)[0]  # FILE:LINE:COL
        line = int(location.rsplit(":", 2)[1])
        assert line not in case.good, result.stderr
        assert not (tmp_path / "out.jsonl").exists()  # a failed run writes no output
    else:
        out = (tmp_path / "out.jsonl").read_text().splitlines()
        assert set(case.good.values()) <= ids_in(iter(out))


# --- a live TCP run ----------------------------------------------------------------------


@dataclass
class LiveRun:
    process: subprocess.Popen[str]
    port: int
    output: Path
    idents: Iterator[int]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """One `vbatch run` with a TCP endpoint every example sends to; stopped with SIGTERM at
    the end, which must exit 0 without a traceback."""
    root = tmp_path_factory.mktemp("live")
    program, output, port = root / "p.vpl", root / "out.jsonl", free_port()
    program.write_text(PROGRAM)
    process = launch(program, "--tcp", str(port), "-o", str(output), "--no-contexts")
    wait_for_port(port)
    yield LiveRun(process, port, output, itertools.count(1_000_000, 1000))
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err
    assert process.returncode == 0, err


def live_lines(base: int) -> st.SearchStrategy[Lines]:
    """Untimed `.evt` and JSON lines (a live run stamps them on arrival), ids from `base`."""

    @st.composite
    def draw_lines(draw: st.DrawFn) -> Lines:
        result = Lines([], {})
        for number in range(1, draw(st.integers(5, 30)) + 1):
            ident = base + number
            line = draw(
                st.sampled_from(
                    [
                        f"A {{ v: {ident}, id: {ident} }}".encode(),
                        json.dumps({"event_type": "A", "v": ident, "id": ident}).encode(),
                    ]
                )
            )
            if draw(st.integers(0, 2)) == 0:
                result.lines.append(draw(mutated(line)))
            else:
                result.lines.append(line)
                result.good[number] = ident
        return result

    return draw_lines()


@FEW
@given(data=st.data())
def test_mutated_lines_sent_to_a_live_run_lose_no_good_line(
    live: LiveRun, data: st.DataObject
) -> None:
    case = data.draw(live_lines(next(live.idents)))
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as connection:
        connection.sendall(case.data())
    wanted = set(case.good.values())
    deadline = time.monotonic() + 30
    while True:
        assert live.process.poll() is None, live.process.communicate()[1]
        text = live.output.read_text() if live.output.exists() else ""
        missing = wanted - ids_in(line for line in text.splitlines() if line.endswith("}"))
        if not missing:
            break
        assert time.monotonic() < deadline, f"never written: {sorted(missing)}"
        time.sleep(0.05)
