"""EvtLineParser: blocks of lines from a live source, parsed as the `.evt` file reader does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_evt_reader import assert_same_floats, evt_files, read, write

from vbatch.errors import InputError
from vbatch.io.evt import EvtLineParser
from vbatch.io.source import MAX_LINE_BYTES, ErrorPolicy, InputChunk, ReadOptions


def feed(blocks: list[str | bytes], arrivals: list[int | None] | None = None, **options: Any):
    """The parser and its chunks after parsing `blocks` in turn, numbering lines across them."""
    parser = EvtLineParser(ReadOptions(**options), source_name="live")
    arrivals = arrivals or [None] * len(blocks)
    out, line = [], 1
    for block, arrival in zip(blocks, arrivals, strict=True):
        data = block.encode() if isinstance(block, str) else block
        out.append(parser.parse(data, first_line=line, arrival_ms=arrival))
        line += data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    return parser, out


def tables(chunks: list[InputChunk]) -> dict[str, pa.Table]:
    """Every batch of each event type concatenated, in order of first appearance."""
    parts: dict[str, list[pa.RecordBatch]] = {}
    for chunk in chunks:
        for event in chunk.batches:
            parts.setdefault(event.event_type, []).append(event.batch)
    return {name: pa.Table.from_batches(batches) for name, batches in parts.items()}


def rows(chunks: list[InputChunk]) -> dict[str, list[dict[str, object]]]:
    return {name: table.to_pylist() for name, table in tables(chunks).items()}


def fail(blocks: list[str | bytes], **options: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        feed(blocks, **options)
    return caught.value


# ---- state across blocks ----------------------------------------------------------------------


def test_seq_and_schemas_continue_across_blocks() -> None:
    _, chunks = feed(['@1 A { v: 1, s: "x" }\n@2 B { w: true }\n', '@3 A { s: "y", v: 2 }\n'])
    assert [(c.first_seq, c.count) for c in chunks] == [(0, 2), (2, 1)]
    assert chunks[0].batches[0].batch.schema == chunks[1].batches[0].batch.schema
    assert rows(chunks)["A"] == [
        {"_ts": 1, "_seq": 0, "v": 1, "s": "x"},
        {"_ts": 3, "_seq": 2, "v": 2, "s": "y"},
    ]


def test_a_schema_is_fixed_by_the_first_block_of_its_type() -> None:
    error = fail(["@0 A { v: 1 }\n", "@1 A { v: 2.5 }\n"])
    assert (error.record_line, error.column) == (2, 11)
    assert error.hint == "declare the type with `event A: v: float`"


def test_declared_schemas_apply_to_every_block() -> None:
    schema = pa.schema([("v", pa.float64())])
    _, chunks = feed(["@0 A { v: 1 }\n", "@1 A { v: 2.5, x: 1 }\n"], schemas={"A": schema})
    assert [r["v"] for r in rows(chunks)["A"]] == [1.0, 2.5]


def test_blocks_of_comments_give_empty_chunks() -> None:
    _, chunks = feed(["# only a comment\n\n", "@1 A { v: 1 }\n", "// another\n"])
    assert [(len(c.batches), c.first_seq, c.count) for c in chunks] == [
        (0, 0, 0),
        (1, 0, 1),
        (0, 1, 0),
    ]


# ---- time -------------------------------------------------------------------------------------


def test_untimed_lines_take_the_arrival_time() -> None:
    blocks = ["A { v: 1 }\n@50 A { v: 2 }\nA { v: 3 }\n", "A { v: 4 }\n", "A { v: 5 }\n"]
    _, chunks = feed(blocks, arrivals=[10, 20, None])
    assert [r["_ts"] for r in rows(chunks)["A"]] == [10, 50, 50, 20, 20]


def test_without_arrival_times_untimed_lines_carry_the_last_time() -> None:
    _, chunks = feed(["@7 A { v: 1 }\n", "A { v: 2 }\nBATCH 9\nA { v: 3 }\n"])
    assert [r["_ts"] for r in rows(chunks)["A"]] == [7, 7, 9]


def test_json_lines_with_and_without_their_own_time() -> None:
    lines = [
        {"event_type": "J", "x": 1},
        {"event_type": "J", "x": 2, "_ts": 40},
        {"event_type": "J", "x": 3, "timestamp": 41},
    ]
    blocks = ["".join(json.dumps(line) + "\n" for line in lines), json.dumps(lines[0])]
    _, chunks = feed(blocks, arrivals=[30, 60])
    assert rows(chunks)["J"] == [
        {"_ts": 30, "_seq": 0, "x": 1},
        {"_ts": 40, "_seq": 1, "x": 2},
        {"_ts": 41, "_seq": 2, "x": 3},
        {"_ts": 60, "_seq": 3, "x": 1},
    ]


# ---- bad lines --------------------------------------------------------------------------------


def test_a_bad_line_raises_with_its_line_number_across_blocks() -> None:
    error = fail(["@0 A { v: 1 }\n@1 A { v: 2 }\n", "@2 A { v: 3 }\n@3 A { v: oops }\n"])
    assert (error.record_line, error.column, error.path) == (4, 11, "live")
    assert error.render().startswith("live:4:11: unknown value 'oops'")


def test_skip_dead_letters_bad_lines_and_reads_on(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    blocks = ["@0 A { v: 1 }\nbad\n", '@2 A { v: "str" }\n@3 A { v: 2 }\n']
    parser, chunks = feed(blocks, on_error=ErrorPolicy.SKIP, dead_letter=dead)
    letters = [json.loads(line) for line in dead.read_text(encoding="utf-8").splitlines()]
    assert [(d["file"], d["line"], d["column"], d["record"]) for d in letters] == [
        ("live", 2, 4, "bad"),
        ("live", 3, 11, '@2 A { v: "str" }'),
    ]
    assert [(r["_seq"], r["v"]) for r in rows(chunks)["A"]] == [(0, 1), (1, 2)]
    assert (parser.stats.events, parser.stats.bad_records) == (2, 2)


def test_an_over_long_line_is_a_bad_line(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    block = "@0 A { v: 1 }\n" + "y" * (MAX_LINE_BYTES + 10) + "\n@1 A { v: 2 }"
    _, chunks = feed([block], on_error=ErrorPolicy.SKIP, dead_letter=dead)
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (letter["line"], [r["v"] for r in rows(chunks)["A"]]) == (2, [1, 2])
    assert 0 < len(letter["record"]) < MAX_LINE_BYTES


def test_a_failed_block_leaves_the_parser_usable() -> None:
    parser = EvtLineParser(ReadOptions())
    with pytest.raises(InputError):
        parser.parse(b"@0 A { v: 1 }\n@1 A { v: oops }\n", first_line=1)
    chunk = parser.parse(b"@2 A { v: 3 }\n", first_line=3)
    assert (chunk.first_seq, chunk.batches[0].batch.to_pylist()) == (
        0,
        [{"_ts": 2, "_seq": 0, "v": 3}],
    )


# ---- the same as the file reader, for any blocks ----------------------------------------------


def cut(text: str, sizes: list[int]) -> list[str]:
    """`text` in blocks of whole lines, `sizes[i]` lines each (cycling), the last one shorter."""
    *whole, last = text.split("\n")  # not splitlines(): "\x1e" and such are not line ends
    lines = [line + "\n" for line in whole] + ([last] if last else [])
    blocks, i = [], 0
    while i < len(lines):
        size = sizes[len(blocks) % len(sizes)]
        blocks.append("".join(lines[i : i + size]))
        i += size
    return blocks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evt_files(), st.lists(st.integers(1, 8), min_size=1, max_size=4))
def test_any_blocks_give_the_batches_of_the_file_reader(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, dict], sizes: list[int]
) -> None:
    text, expected = case
    from_file = read(write(tmp_path_factory.mktemp("lines"), text))
    _, chunks = feed(cut(text, sizes))
    got = tables(chunks)
    assert got == from_file
    assert {name: table.to_pylist() for name, table in got.items()} == expected
    assert_same_floats(rows(chunks), expected)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_bad_records_are_the_same_as_in_the_file_reader(size: int, tmp_path: Path) -> None:
    text = (
        '@0 A { v: 1 }\n@1 A { v: oops }\n@2 A { v: 2 }\n@3 A { v: "str" }\nA { v: 3 }\n'
        '{"event_type": "B", "w": [1, 2]}\n@5 B { w: [3] }\nBATCH 9\n@x A { v: 4 }\nB { w: [] }\n'
    )
    dead = tmp_path / "dead.jsonl"
    options = {"on_error": ErrorPolicy.SKIP, "dead_letter": dead}
    from_file = read(write(tmp_path, text), **options)
    from_file_letters = dead.read_text()
    dead.unlink()
    _, chunks = feed(cut(text, [size]), **options)
    assert tables(chunks) == from_file
    assert dead.read_text() == from_file_letters.replace(str(tmp_path / "events.evt"), "live")


@st.composite
def timed_blocks(draw: st.DrawFn) -> tuple[list[str], list[int | None], list[int]]:
    """Blocks of timed and untimed lines, an arrival time (or None) per block, and the `_ts`
    of every event computed line by line."""
    blocks, arrivals, expected = [], [], []
    running = 0
    for _ in range(draw(st.integers(1, 5))):
        arrival = draw(st.none() | st.integers(0, 10**6))
        running = running if arrival is None else arrival
        lines = []
        for i in range(draw(st.integers(0, 6))):
            time = draw(st.none() | st.integers(0, 10**6))
            running = running if time is None else time
            lines.append(f"{'' if time is None else f'@{time} '}A {{ i: {i} }}\n")
            expected.append(running)
        blocks.append("".join(lines))
        arrivals.append(arrival)
    return blocks, arrivals, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_blocks())
def test_arrival_times_against_a_line_by_line_reference(case: tuple) -> None:
    blocks, arrivals, expected = case
    _, chunks = feed(blocks, arrivals=arrivals)
    assert [r["_ts"] for r in rows(chunks).get("A", [])] == expected


# ---- JSON lines through learnt shapes --------------------------------------------------------

JSON_STRINGS = st.text(alphabet=st.sampled_from(' ,:{}[]"\\/\t\n\x01é東😀ab'), max_size=6)
JSON_VALUES = (
    JSON_STRINGS
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
# Lines the exact parser refuses or reads its own way; a shape must never take them.
JSON_ODDITIES = [
    '{"event_type": "A", "x": NaN}',
    '{"event_type": "A", "x": 01}',
    '{"event_type": "A", "x": 1e999}',
    '{"event_type": "A", "x": 99999999999999999999}',
    '{"event_type": "A", "x": "a\x01b"}',
    '{"event_type": "A", "x": "\\ud800"}',
    '{"event_type": "A", "x": "\\q"}',
    '{"event_type": "A", "x": 1, "x": 2}',
    '{"event_type": "A", "_ts": -5, "x": 1}',
    '{"event_type": "A", "_ts": 5.0, "x": 1}',
    '{"event_type": "A", "x": 1} // comment',
    '{"event_type": "A", "_seq": 1}',
]


@st.composite
def json_blocks(draw: st.DrawFn) -> str:
    """Many JSON lines of a few layouts (so shapes are learnt), values of every kind, awkward
    strings, escapes written both ways, and lines a shape must leave to the exact parser."""
    layouts = draw(
        st.lists(
            st.lists(st.sampled_from(["x", "y", "z", "_ts", "type"]), unique=True, max_size=4),
            min_size=1,
            max_size=3,
        )
    )
    lines = []
    for _ in range(draw(st.integers(17, 60))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(JSON_ODDITIES)))
            continue
        keys = draw(st.sampled_from(layouts))
        obj: dict[str, Any] = {"event_type": draw(st.sampled_from(["A", "B"]))}
        for key in keys:
            obj[key] = draw(st.integers(0, 10**12)) if key == "_ts" else draw(JSON_VALUES)
        items = list(obj.items())
        if draw(st.booleans()):
            items.reverse()
        separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" , ", " : ")]))
        lines.append(
            json.dumps(dict(items), ensure_ascii=draw(st.booleans()), separators=separators)
        )
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_blocks())
def test_json_lines_read_by_shapes_are_read_as_the_exact_parser_reads_them(text: str) -> None:
    import vbatch.io.evt.parse as parse

    def outcome() -> tuple[Any, list[tuple[int, str]], int]:
        bad: list[tuple[int, str]] = []
        parser = EvtLineParser(ReadOptions(on_error=ErrorPolicy.SKIP), source_name="live")
        parser.on_skip = lambda record: bad.append((record.line, record.reason))
        chunk = parser.parse(text.encode(), first_line=1)
        return rows([chunk]), bad, parser.slow_events

    by_shapes, bad, slow = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "SMALL_BLOCK_LINES", 10**9)  # every line through the exact parser
        exact, exact_bad, _ = outcome()
    assert by_shapes == exact
    assert bad == exact_bad
    lines = sum(1 for line in text.splitlines() if line.strip())
    assert slow < lines or lines == len(exact_bad)  # shapes took some lines


def test_json_messages_of_one_layout_take_the_fast_path() -> None:
    text = "".join(
        json.dumps({"event_type": "S", "id": f"s{i}", "v": i + 0.5, "ok": True, "_ts": i}) + "\n"
        for i in range(3000)
    )
    parser, chunks = feed([text])
    assert sum(chunk.count for chunk in chunks) == 3000 and parser.slow_events <= 1
