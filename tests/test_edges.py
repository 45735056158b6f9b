"""Edge cases of replay: empty input, everything filtered, nulls, one event, late events."""

from __future__ import annotations

import time

import pyarrow as pa

import vbatch

STATS = """
stream Hot = E .where(v > 50)
stream Stats = E .partition_by(k) .window(1s) .aggregate(k: k, n: count(), top: max(v))
stream Sessions = E .partition_by(k) .window(session: 1s) .aggregate(k: k, n: count())
"""


def table(rows: list[tuple[int, str | None, float | None]]) -> pa.Table:
    """Events of type E with key k and value v."""
    return pa.table(
        {
            "_ts": pa.array([r[0] for r in rows], pa.int64()),
            "event_type": pa.array(["E"] * len(rows), pa.string()),
            "k": pa.array([r[1] for r in rows], pa.string()),
            "v": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def run(rows: list[tuple[int, str | None, float | None]]) -> vbatch.Result:
    """The program above over the rows, all in this process."""
    return vbatch.compile(STATS).simulate(table(rows), contexts=False)


def test_empty_input_gives_empty_tables_and_a_zero_summary() -> None:
    result = run([])
    assert all(t.num_rows == 0 for t in result.values())
    assert (result.summary.events, result.summary.sessions_closed) == (0, 0)


def test_everything_filtered_still_closes_windows() -> None:
    result = run([(0, "a", 1.0), (500, "a", 2.0)])
    assert result["Hot"].num_rows == 0
    assert result["Stats"].to_pylist()[0]["n"] == 2


def test_null_key_is_a_partition_and_null_values_are_skipped() -> None:
    result = run([(0, None, None), (10, None, 70.0), (20, "a", None)])
    rows = {r["k"]: (r["n"], r["top"]) for r in result["Stats"].to_pylist()}
    assert rows == {None: (2, 70.0), "a": (1, None)}


def test_a_single_event_fills_one_window_and_one_session() -> None:
    result = run([(1500, "a", 99.0)])
    assert result["Hot"].column("v").to_pylist() == [99.0]
    assert result["Stats"].to_pylist()[0]["_window_start"] == 1000
    assert result["Sessions"].to_pylist()[0]["_ts"] == 2500


def test_windows_still_open_at_the_end_are_flushed() -> None:
    result = run([(0, "a", 1.0), (100, "b", 2.0)])
    assert sorted(result["Stats"].column("k").to_pylist()) == ["a", "b"]


def test_late_events_are_dropped_and_counted() -> None:
    result = run([(0, "a", 1.0), (5000, "a", 2.0), (10, "a", 3.0)])
    assert [r["n"] for r in result["Stats"].to_pylist()] == [1, 1]
    assert result.summary.late_events == 2  # one for the window, one for the session


def test_an_error_while_running_points_into_the_program_with_or_without_contexts() -> None:
    program = vbatch.compile("context c\nstream S = E .context(c)\n    .where(s > 1)", "p.vpl")
    table = pa.table({"_ts": [1, 2], "event_type": ["E", "E"], "s": ["a", "b"]})
    for contexts in (True, False):
        try:
            program.simulate(table, contexts=contexts)
        except vbatch.VbatchError as err:
            lines = err.render().splitlines()
        else:
            raise AssertionError("a string compared with an int must fail")
        assert lines[0] == "p.vpl:3:12: `s > 1` compares a string with an int"
        assert lines[1:3] == ["    3 |     .where(s > 1)", "      |            ^^^^^"]


def test_a_paced_replay_shortens_a_jump_in_event_time_to_its_longest_wait() -> None:
    """A jump of 2**61 ms once overflowed time.sleep; now it waits `max_wait`, and the pace
    resumes after it (the next event 10 ms later is not another long wait)."""
    from vbatch.runtime.replay import Pacing

    pacing = Pacing(max_wait=0.05)
    started = time.monotonic()
    for event_ms in (0, 2**61, 2**61 + 10):
        pacing.wait_for(event_ms)
    assert time.monotonic() - started < 5  # years, if the gap were not shortened
