"""Contexts as real worker processes: same results, pinned cores, backpressure, failures."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pytest
from conftest import EXAMPLES, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from test_golden import GOLDEN, golden_case, run_vbatch

import vbatch
import vbatch.datasets

CONTEXT_PROGRAMS = ["pipeline", "parallel_contexts", "parallel_windows", "session_contexts"]
EVENTS = {"session_pipeline": "session_contexts"}


def shm_segments() -> set[str]:
    """The queue segments currently in /dev/shm."""
    return {p.name for p in Path("/dev/shm").glob("vbq_*")}


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_tutorial_output_is_the_same_in_one_process(path: Path) -> None:
    args, expected = golden_case(path)
    result = run_vbatch(*args, "--no-contexts")
    assert (result.returncode, result.stdout) == (0, expected)


def strip_contexts(text: str) -> str:
    """The program with every context declaration and use removed."""
    text = re.sub(r"^context .*$", "", text, flags=re.M)
    text = re.sub(r"\.context\(\w+\)", "", text)
    return re.sub(r"context:\s*\w+,?\s*", "", text)


@pytest.mark.parametrize("name", [*CONTEXT_PROGRAMS, "session_pipeline"])
def test_program_without_contexts_gives_the_same_tables(name: str) -> None:
    text = (EXAMPLES / f"{name}.vpl").read_text()
    events = EXAMPLES / f"{EVENTS.get(name, name)}.evt"
    with_contexts = vbatch.compile(text).simulate(events)
    stripped = vbatch.compile(strip_contexts(text)).simulate(events)
    assert dict(with_contexts) == dict(stripped)


STAGES = st.tuples(
    st.sampled_from(["v > 0", "v > 50", 'k != "b"']),
    st.sampled_from(["500ms", "2s, sliding: 1s", "3", "session: 700ms"]),
    st.sampled_from(["ctx_b", None]),
)


@settings(max_examples=6, deadline=None)
@given(STAGES, st.integers(min_value=0, max_value=2**32 - 1), st.sampled_from([7, 64, 1000]))
def test_random_pipelines_match_with_and_without_processes(stage, seed, batch_size) -> None:  # noqa: ANN001
    where, window, second = stage
    program = vbatch.compile(
        f"""
        context ctx_a
        context ctx_b
        stream F = E .context(ctx_a) .where({where}) .emit(k: k, v: v)
        stream W = F {f".context({second})" if second else ""} .partition_by(k)
            .window({window}) .aggregate(k: k, n: count(), total: sum(v), top: max(v))
        stream A = W .where(n > 1)
        """
    )
    import random

    rng = random.Random(seed)
    clock = 0
    rows = {"_ts": [], "event_type": [], "k": [], "v": []}
    for _ in range(300):
        clock += rng.choice([0, 100, 300, 700])
        rows["_ts"].append(clock)
        rows["event_type"].append("E")
        rows["k"].append(rng.choice("abc"))
        rows["v"].append(rng.uniform(-50, 100))
    table = pa.table(rows)
    processes = program.simulate(table, batch_size=batch_size)
    local = program.simulate(table, batch_size=batch_size, contexts=False)
    assert dict(processes) == dict(local)


def test_tiny_queues_block_but_lose_nothing(tmp_path: Path) -> None:
    events = tmp_path / "sensors.parquet"
    vbatch.datasets.generate("sensors", 50_000, events)
    args = ["-p", "examples/pipeline.vpl", "-e", str(events), "--immediate", "-q"]
    small = run_vbatch("simulate", *args, "--channel-capacity", "1", "--batch-size", "1000",
                       "--output", str(tmp_path / "small.jsonl"))  # fmt: skip
    local = run_vbatch(
        "simulate", *args, "--no-contexts", "--output", str(tmp_path / "local.jsonl")
    )
    assert small.returncode == 0, small.stderr
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "small.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def slow_run(tmp_path: Path, program: str, seconds: int = 30) -> subprocess.Popen[str]:
    """A paced replay that lasts about `seconds`, in a child process."""
    events = tmp_path / "slow.evt"
    lines = [f'@{i * 100} SensorReading {{ sensor_id: "S{i % 7}", value: {i % 200}.5, zone: "z{i % 3}" }}'
             for i in range(seconds * 10)]  # fmt: skip
    events.write_text("\n".join(lines) + "\n")
    prog = tmp_path / "p.vpl"
    prog.write_text(program)
    command = [sys.executable, "-m", "vbatch", "simulate", "-p", str(prog), "-e", str(events), "-q"]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def workers_of(process: subprocess.Popen[str], count: int) -> list[psutil.Process]:
    """The context workers of a vbatch run (waits until `count` of them run).

    Workers are forked by a fork server, itself a direct child of the run (as is the
    resource tracker): the workers are the fork server's children.
    """
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = []
        for server in parent.children():
            try:
                if "forkserver" in " ".join(server.cmdline()):
                    found += server.children()
            except psutil.NoSuchProcess:
                continue
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError("workers did not start")


PINNED = """
context first (cores: [0])
context second (cores: [1])
stream Hot = SensorReading .context(first) .where(value > 50) .emit(context: second, zone: zone, value: value)
stream Stats = Hot .context(second) .partition_by(zone) .window(1s) .aggregate(zone: zone, n: count())
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_each_context_is_a_process_pinned_to_its_cores(tmp_path: Path) -> None:
    run = slow_run(tmp_path, PINNED, seconds=20)
    try:
        workers = workers_of(run, 2)
        deadline = time.monotonic() + 20  # a worker pins itself once it has started
        while time.monotonic() < deadline:
            pinned = sorted(tuple(w.cpu_affinity()) for w in workers)
            if pinned == [(0,), (1,)]:
                break
            time.sleep(0.1)
        assert pinned == [(0,), (1,)]
        assert len({w.pid for w in workers} | {run.pid}) == 3
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=30)


def test_killed_worker_ends_the_run_with_exit_4_and_no_leak(tmp_path: Path) -> None:
    before = shm_segments()
    run = slow_run(tmp_path, PINNED.replace(" (cores: [0])", "").replace(" (cores: [1])", ""))
    workers = workers_of(run, 2)
    time.sleep(1.0)
    workers[0].kill()
    started = time.monotonic()
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 4, stderr
    assert time.monotonic() - started < 10
    assert re.search(r"context `(first|second)` died \(killed by signal 9\)", stderr), stderr
    assert shm_segments() <= before
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)


def test_ctrl_c_stops_every_process_cleanly(tmp_path: Path) -> None:
    before = shm_segments()
    run = slow_run(tmp_path, PINNED.replace(" (cores: [0])", "").replace(" (cores: [1])", ""))
    workers = workers_of(run, 2)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    time.sleep(0.5)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
    assert shm_segments() <= before


def test_error_in_a_worker_is_reported_like_in_one_process(tmp_path: Path) -> None:
    program = tmp_path / "p.vpl"
    program.write_text(
        "context c\nstream S = SensorReading\n    .context(c)\n    .where(valu > 1)\n"
    )
    result = run_vbatch(
        "simulate", "-p", str(program), "-e", "examples/first_context.evt", "--immediate"
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{program}:4:12: unknown field `valu`"


def test_a_core_the_machine_lacks_is_a_configuration_error(tmp_path: Path) -> None:
    program = tmp_path / "p.vpl"
    program.write_text("context c (cores: [4096])\nstream S = SensorReading .context(c)\n")
    result = run_vbatch(
        "simulate", "-p", str(program), "-e", "examples/first_context.evt", "--immediate"
    )
    assert result.returncode == 3
    assert "context `c` asks for core 4096" in result.stderr


def test_a_script_without_a_main_guard_runs_with_contexts(tmp_path: Path) -> None:
    """Workers never import the user's script again (no `if __name__ == "__main__":`)."""
    script = tmp_path / "plain.py"
    script.write_text(
        "import vbatch\n"
        f"program = vbatch.load({str(EXAMPLES / 'pipeline.vpl')!r})\n"
        f"result = program.simulate({str(EXAMPLES / 'pipeline.evt')!r})\n"
        "print('rows', result['ZoneStats'].num_rows)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "rows 2\n", "")


def busy_loops() -> list[subprocess.Popen[bytes]]:
    """One busy process pinned to each core: a loaded machine."""
    cores = sorted(os.sched_getaffinity(0))
    loops = []
    for core in cores:
        loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        os.sched_setaffinity(loop.pid, {core})
        loops.append(loop)
    return loops


RACE = """
context light
context heavy
stream Idle = SensorReading .context(light) .where(zone == "nowhere")
stream Busy = SensorReading .context(heavy)
    .partition_by(sensor_id)
    .window(30s, sliding: 1s)
    .aggregate(p: percentile(value, 90), all: collect(value), n: count(distinct(value)))
"""


def test_a_worker_that_finished_never_makes_a_live_one_look_dead(tmp_path: Path) -> None:
    """On a loaded machine, the light context finishes and exits while the coordinator still
    waits for room in the heavy one's full queue: that once ended the run with "context
    `heavy` died (exit code None)" although it was working."""
    events, program = tmp_path / "sensors.parquet", tmp_path / "race.vpl"
    vbatch.datasets.generate("sensors", 150_000, events)
    program.write_text(RACE)
    args = ["-p", str(program), "-e", str(events), "--immediate", "-q", "--batch-size", "20000"]
    loops = busy_loops()
    try:
        runs = [run_vbatch("simulate", *args)]
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert [(r.returncode, r.stderr) for r in runs] == [(0, "")]


def test_sigterm_stops_a_replay_like_ctrl_c(tmp_path: Path) -> None:
    before = shm_segments()
    run = slow_run(tmp_path, PINNED.replace(" (cores: [0])", "").replace(" (cores: [1])", ""))
    workers = workers_of(run, 2)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    time.sleep(0.5)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
    assert shm_segments() <= before


def test_a_stopped_worker_ends_the_run_naming_its_context(tmp_path: Path) -> None:
    """SIGSTOP: the worker is alive but shows no sign of life; the run must not hang."""
    before = shm_segments()
    program = PINNED.replace(" (cores: [0])", "").replace(" (cores: [1])", "")
    events = tmp_path / "slow.evt"
    lines = [f'@{i * 100} SensorReading {{ sensor_id: "S{i % 7}", value: {i}.5, zone: "z" }}'
             for i in range(300)]  # fmt: skip
    events.write_text("\n".join(lines) + "\n")
    prog = tmp_path / "p.vpl"
    prog.write_text(program)
    command = [sys.executable, "-m", "vbatch", "simulate", "-p", str(prog), "-e", str(events),
               "-q", "--stall-timeout", "2"]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    workers = workers_of(run, 2)
    time.sleep(0.5)
    workers[0].suspend()
    started = time.monotonic()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 4, stderr
    assert time.monotonic() - started < 20
    assert re.search(r"context `(first|second)` stopped making progress", stderr), stderr
    time.sleep(0.5)
    assert shm_segments() <= before
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
