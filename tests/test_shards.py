"""Sources read by the workers, and contexts with several cores run as shards: the same
output as one process, always; shards are real pinned processes that fail cleanly."""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from test_contexts import shm_segments, slow_run, workers_of
from test_golden import run_vbatch

import vbatch
import vbatch.datasets
from vbatch.app.simulate import workers_read
from vbatch.io.source import ReadOptions

TWO_CORES = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")

SHARDED_SESSIONS = """
context s (cores: [0, 1])
stream UserSessions = UserActivity
    .context(s)
    .partition_by(user_id)
    .window(session: 5s)
    .aggregate(user_id: user_id, event_count: count(), first_action: first(action),
               last_action: last(action))
stream Long = UserSessions .where(event_count > 3)
"""


def many_row_groups(kind: str, events: int, folder: Path) -> Path:
    """A seeded data set written in small row groups, so several workers share it."""
    whole = folder / f"{kind}.parquet"
    vbatch.datasets.generate(kind, events, whole)
    path = folder / f"{kind}-groups.parquet"
    pq.write_table(pq.read_table(whole), path, row_group_size=3_000)
    return path


CASES = [
    ("pipeline.vpl", "sensors"),
    ("parallel_windows.vpl", "sensors"),
    ("session_contexts.vpl", "users"),
    ("session_pipeline.vpl", "users"),
]


@TWO_CORES
@pytest.mark.parametrize(("program", "kind"), CASES, ids=[c[0] for c in CASES])
def test_workers_reading_the_input_give_the_same_output(
    tmp_path: Path, program: str, kind: str
) -> None:
    events = many_row_groups(kind, 30_000, tmp_path)
    compiled = vbatch.load(EXAMPLES / program)
    assert workers_read(compiled.physical, str(events), ReadOptions(), paced=False, traced=False)
    outputs = []
    for extra in ([], ["--no-contexts"]):
        out = tmp_path / f"out{len(outputs)}.jsonl"
        args = [
            "-p",
            str(EXAMPLES / program),
            "-e",
            str(events),
            "--immediate",
            "-q",
            "-o",
            str(out),
        ]
        done = run_vbatch("simulate", *args, *extra)
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@TWO_CORES
def test_a_sharded_context_gives_the_same_output_read_either_way(tmp_path: Path) -> None:
    events = many_row_groups("users", 40_000, tmp_path)
    program = vbatch.compile(SHARDED_SESSIONS)
    assert [w.name for w in program.physical.workers] == ["s#0", "s#1"]
    alone = program.simulate(events, contexts=False)
    read_by_workers = program.simulate(events)
    dispatched = program.simulate(pq.read_table(events))
    assert dict(read_by_workers) == dict(alone) == dict(dispatched)
    assert read_by_workers.summary.sessions_closed == alone.summary.sessions_closed


WINDOWS = st.sampled_from(["500ms", "2s, sliding: 1s", "3", "4, sliding: 2", "session: 700ms"])


@TWO_CORES
@settings(max_examples=5, deadline=None)
@given(WINDOWS, st.integers(0, 2**32 - 1), st.sampled_from([7, 64, 1000]), st.booleans())
def test_random_sharded_programs_match_one_process(window, seed, batch_size, late) -> None:  # noqa: ANN001
    program = vbatch.compile(
        f"""
        context shards (cores: [0, 1])
        context after
        stream W = E .context(shards) .where(v > -20)
            .watermark(out_of_order: {300 if late else 0}ms)
            .partition_by(k) .window({window})
            .aggregate(k: k, n: count(), total: sum(v), top: max(v), last_v: last(v))
        stream A = W .context(after) .where(n > 1)
        """
    )
    rng = random.Random(seed)
    clock, rows = 0, {"_ts": [], "event_type": [], "k": [], "v": []}
    for _ in range(400):
        clock += rng.choice([0, 100, 300, 700])
        rows["_ts"].append(max(0, clock - (rng.choice([0, 0, 0, 500]) if late else 0)))
        rows["event_type"].append("E")
        rows["k"].append(rng.choice("abcdefg"))
        rows["v"].append(rng.uniform(-50, 100))
    table = pa.table(rows)
    sharded = program.simulate(table, batch_size=batch_size)
    local = program.simulate(table, batch_size=batch_size, contexts=False)
    assert dict(sharded) == dict(local)


@TWO_CORES
@settings(max_examples=6, deadline=None)
@given(WINDOWS, WINDOWS, st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_leading_filters_pushed_into_the_readers_match_one_process(  # noqa: ANN001
    tmp_path_factory, window, other, seed, late, unfiltered
) -> None:
    """Workers that read the input drop, right after decoding, the rows no stream of theirs
    keeps (with the clock of all rows sent along): windows of every kind, late rows, two
    streams of one context filtering differently, and a context where one stream does not
    filter (nothing is dropped there) give exactly what one process gives."""
    folder = tmp_path_factory.mktemp("prefilter")
    extra = (
        "stream U = E .context(b) .partition_by(k) .window(3) .aggregate(n: count())" * unfiltered
    )
    program = vbatch.compile(
        f"""
        context a
        context b
        stream X = E .context(a) .where(k == "a" or v > 80)
            .watermark(out_of_order: {300 if late else 0}ms)
            .partition_by(k) .window({window})
            .aggregate(k: k, n: count(), total: sum(v), last_v: last(v))
        stream Y = E .context(a) .where(v < 10) .emit(k: k, v: v)
        stream Z = E .context(b) .where(k == "b") .where(v > 0) .window({other})
            .aggregate(n: count(), top: max(v))
        {extra}
        """
    )
    rng = random.Random(seed)
    clock, rows = 0, {"_ts": [], "event_type": [], "k": [], "v": []}
    for _ in range(3000):
        clock += rng.choice([0, 100, 300, 700])
        rows["_ts"].append(max(0, clock - (rng.choice([0, 0, 0, 500]) if late else 0)))
        rows["event_type"].append("E")
        rows["k"].append(rng.choice("abcdefg"))
        rows["v"].append(rng.uniform(-50, 100))
    path = folder / "e.parquet"
    pq.write_table(pa.table(rows), path, row_group_size=rng.choice([100, 450, 1000]))
    assert workers_read(program.physical, str(path), ReadOptions(), paced=False, traced=False)
    pushed = program.simulate(path)
    local = program.simulate(path, contexts=False)
    assert dict(pushed) == dict(local)
    assert pushed.summary.late_events == local.summary.late_events


SLOW_SHARDS = """
context s (cores: [0, 1])
stream W = SensorReading .context(s) .partition_by(sensor_id) .window(1s)
    .aggregate(sensor_id: sensor_id, n: count())
"""


@TWO_CORES
def test_each_shard_is_a_process_pinned_to_its_core(tmp_path: Path) -> None:
    run = slow_run(tmp_path, SLOW_SHARDS, seconds=20)
    try:
        workers = workers_of(run, 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pinned = sorted(tuple(w.cpu_affinity()) for w in workers)
            if pinned == [(0,), (1,)]:
                break
            time.sleep(0.1)
        assert pinned == [(0,), (1,)]
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=30)


@TWO_CORES
def test_a_killed_shard_ends_the_run_with_exit_4_and_its_name(tmp_path: Path) -> None:
    before = shm_segments()
    run = slow_run(tmp_path, SLOW_SHARDS)
    workers = workers_of(run, 2)
    time.sleep(1.0)
    workers[1].kill()
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 4, stderr
    assert re.search(r"context `s` \(shard [12] of 2\) died \(killed by signal 9\)", stderr)
    assert shm_segments() <= before
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
