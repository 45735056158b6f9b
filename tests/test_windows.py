"""Window boundaries, drawn: each case shows the events on a time line above its assertion."""

from __future__ import annotations

import pyarrow as pa

import vbatch


def run(program: str, events: list[tuple[int, str, float]], stream: str = "W") -> list[dict]:
    """Outputs of `stream` for events (ts, key, value) of type E."""
    table = pa.table(
        {
            "_ts": [e[0] for e in events],
            "event_type": ["E"] * len(events),
            "k": [e[1] for e in events],
            "v": [e[2] for e in events],
        }
    )
    rows = vbatch.compile(program).simulate(table, batch_size=1)[stream].to_pylist()
    return [{k: v for k, v in r.items() if not k.startswith("_window")} for r in rows]


TUMBLING = "stream W = E .window(1s) .aggregate(n: count(), total: sum(v))"


def test_event_at_window_end_opens_the_next_window() -> None:
    #  [0s ........ 1s)[1s ........ 2s)
    #   x                x
    assert run(TUMBLING, [(0, "a", 1.0), (1000, "a", 2.0)]) == [
        {"_ts": 1000, "n": 1, "total": 1.0},
        {"_ts": 2000, "n": 1, "total": 2.0},
    ]


def test_event_behind_a_closed_window_is_late() -> None:
    #  [0s ........ 1s)[1s ........ 2s)
    #   x                x     then x at 999ms: its window closed when 1000 arrived
    assert run(TUMBLING, [(0, "a", 1.0), (1000, "a", 2.0), (999, "a", 4.0)]) == [
        {"_ts": 1000, "n": 1, "total": 1.0},
        {"_ts": 2000, "n": 1, "total": 2.0},
    ]


def test_out_of_order_allowance_keeps_the_window_open() -> None:
    program = TUMBLING.replace(".window", ".watermark(out_of_order: 500ms) .window")
    #  with 500ms allowed, 1000 moves the watermark to 500 only: 999 still counts
    assert run(program, [(0, "a", 1.0), (1000, "a", 2.0), (999, "a", 4.0)]) == [
        {"_ts": 1000, "n": 2, "total": 5.0},
        {"_ts": 2000, "n": 1, "total": 2.0},
    ]


def test_sliding_window_counts_each_event_size_over_slide_times() -> None:
    program = "stream W = E .window(2s, sliding: 1s) .aggregate(n: count())"
    #  [-1s .. 1s) [0s .. 2s) [1s .. 3s)
    #       x@500     x@500
    #                 x@1500     x@1500
    assert run(program, [(500, "a", 1.0), (1500, "a", 1.0)]) == [
        {"_ts": 1000, "n": 1},
        {"_ts": 2000, "n": 2},
        {"_ts": 3000, "n": 1},
    ]


def test_count_window_emits_when_full_and_drops_the_partial_one() -> None:
    program = "stream W = E .partition_by(k) .window(2) .aggregate(k: k, total: sum(v))"
    #  a: [1 2] [3 .]   b: [10 .]   → only a's first window is full
    events = [(0, "a", 1.0), (1, "b", 10.0), (2, "a", 2.0), (3, "a", 3.0)]
    assert run(program, events) == [{"_ts": 2, "k": "a", "total": 3.0}]


def test_sliding_count_window() -> None:
    program = "stream W = E .window(3, sliding: 1) .aggregate(total: sum(v))"
    #  [1 2 3] then [2 3 4] — each closes at the event that fills it
    events = [(0, "a", 1.0), (1, "a", 2.0), (2, "a", 3.0), (3, "a", 4.0)]
    assert run(program, events) == [{"_ts": 2, "total": 6.0}, {"_ts": 3, "total": 9.0}]


SESSION = "stream W = E .partition_by(k) .window(session: 700ms) .aggregate(k: k, n: count())"


def test_event_exactly_gap_later_joins_the_session() -> None:
    #  a: x@0 ....... x@700   (700 - 0 = gap: same session)
    #  b:             x@700   (moves the watermark to 700, which does not pass 0 + 700)
    events = [(0, "a", 1.0), (700, "b", 1.0), (700, "a", 1.0)]
    assert run(SESSION, events) == [
        {"_ts": 1400, "k": "a", "n": 2},
        {"_ts": 1400, "k": "b", "n": 1},
    ]


def test_session_closes_once_the_watermark_passes_last_plus_gap() -> None:
    #  a: x@0                 x@701  → two sessions; the first closes at b@701
    #  b:             x@701
    events = [(0, "a", 1.0), (701, "b", 1.0), (701, "a", 1.0)]
    assert run(SESSION, events) == [
        {"_ts": 700, "k": "a", "n": 1},
        {"_ts": 1401, "k": "a", "n": 1},
        {"_ts": 1401, "k": "b", "n": 1},
    ]


def test_lone_event_exactly_gap_behind_the_watermark_is_not_late() -> None:
    #  b: x@1400 (watermark 1400);  a: x@700 — its own session ends at 1400, not passed
    events = [(1400, "b", 1.0), (700, "a", 1.0)]
    assert run(SESSION, events) == [
        {"_ts": 1400, "k": "a", "n": 1},
        {"_ts": 2100, "k": "b", "n": 1},
    ]


def test_lone_event_further_behind_is_late() -> None:
    events = [(1401, "b", 1.0), (700, "a", 1.0)]
    assert run(SESSION, events) == [{"_ts": 2101, "k": "b", "n": 1}]


def test_out_of_order_event_bridges_two_open_sessions() -> None:
    program = SESSION.replace(".window", ".watermark(out_of_order: 5s) .window")
    #  a: x@0 ........................ x@1000   two sessions (1000 > 700)
    #  a:              x@500                    within 700 of both: one session
    events = [(0, "a", 1.0), (1000, "a", 1.0), (500, "a", 1.0)]
    assert run(program, events) == [{"_ts": 1700, "k": "a", "n": 3}]


def test_allowed_lateness_lets_rows_behind_the_watermark_join_their_window() -> None:
    """`.allowed_lateness(2s)` after `.watermark(out_of_order: 1s)`: a row 2.5 s behind the
    newest is still counted in its window (each window is emitted once, when the watermark
    has passed its end by the lateness too); without it, the row is late and dropped."""
    table = pa.table(
        {"event_type": ["E"] * 4, "_ts": [0, 6500, 4000, 9000], "v": [1.0, 2.0, 3.0, 4.0]}
    )
    text = "stream C = E .watermark(out_of_order: 1s){} .window(5s) .aggregate(n: count())"
    tolerant = vbatch.compile(text.format(" .allowed_lateness(2s)")).simulate(table)
    strict = vbatch.compile(text.format("")).simulate(table)
    assert tolerant["C"]["n"].to_pylist() == [2, 2]
    assert strict["C"]["n"].to_pylist() == [1, 2]
    assert tolerant.summary.late_events == 0 and strict.summary.late_events == 1
