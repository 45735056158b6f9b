"""The `.evt` reader: golden parses, a random round trip, errors and dead letters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vbatch.errors import InputError
from vbatch.io.evt import EvtReader
from vbatch.io.evt.parse import failing_rows
from vbatch.io.source import MAX_LINE_BYTES, ErrorPolicy, InputChunk, ReadOptions

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write(tmp_path: Path, text: str | bytes, name: str = "events.evt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def chunks(path: Path, workers: int = 1, **options: Any) -> list[InputChunk]:
    return list(EvtReader(path, ReadOptions(**options), workers=workers))  # type: ignore[arg-type]


def read(path: Path, workers: int = 1, **options: Any) -> dict[str, pa.Table]:
    """Every batch of each event type concatenated, in order of first appearance."""
    tables: dict[str, list[pa.RecordBatch]] = {}
    for chunk in chunks(path, workers, **options):
        for event_batch in chunk.batches:
            tables.setdefault(event_batch.event_type, []).append(event_batch.batch)
    return {name: pa.Table.from_batches(batches) for name, batches in tables.items()}


def rows(path: Path, **options: Any) -> dict[str, list[dict[str, object]]]:
    return {name: table.to_pylist() for name, table in read(path, **options).items()}


def one(text: str | bytes, tmp_path: Path, **options: Any) -> list[dict[str, object]]:
    """The rows of the only event type in `text`."""
    (only,) = rows(write(tmp_path, text), **options).values()
    return only


def fail(text: str | bytes, tmp_path: Path, **options: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        chunks(write(tmp_path, text), **options)
    return caught.value


# ---- the tutorial's files ---------------------------------------------------------------------

S, T, P, U = "SensorReading", "TemperatureReading", "PressureReading", "UserActivity"
GOLDEN: dict[str, list[tuple[str, int, dict[str, object]]]] = {
    "first_context.evt": [
        (S, 0, {"sensor_id": "S1", "value": 72.5}),
        (S, 100, {"sensor_id": "S2", "value": 31.0}),
        (S, 200, {"sensor_id": "S1", "value": 88.3}),
        (S, 300, {"sensor_id": "S3", "value": 45.0}),
        (S, 400, {"sensor_id": "S2", "value": 91.7}),
    ],
    "parallel_contexts.evt": [
        (T, 0, {"sensor_id": "T1", "temperature": 85.0}),
        (P, 50, {"sensor_id": "P1", "pressure": 110.0}),
        (T, 100, {"sensor_id": "T2", "temperature": 72.0}),
        (P, 150, {"sensor_id": "P2", "pressure": 95.0}),
        (T, 200, {"sensor_id": "T1", "temperature": 91.2}),
        (P, 250, {"sensor_id": "P1", "pressure": 120.5}),
        (T, 300, {"sensor_id": "T3", "temperature": 65.0}),
        (P, 350, {"sensor_id": "P3", "pressure": 108.0}),
    ],
    "parallel_windows.evt": [
        (S, 0, {"sensor_id": "A1", "value": 72.0, "zone": "A"}),
        (S, 100, {"sensor_id": "B1", "value": 65.0, "zone": "B"}),
        (S, 200, {"sensor_id": "A1", "value": 75.5, "zone": "A"}),
        (S, 300, {"sensor_id": "B1", "value": 68.0, "zone": "B"}),
        (S, 400, {"sensor_id": "A2", "value": 80.0, "zone": "A"}),
        (S, 500, {"sensor_id": "B2", "value": 71.0, "zone": "B"}),
        (S, 600, {"sensor_id": "A1", "value": 78.0, "zone": "A"}),
        (S, 700, {"sensor_id": "B1", "value": 67.5, "zone": "B"}),
        (S, 800, {"sensor_id": "A2", "value": 82.5, "zone": "A"}),
        (S, 900, {"sensor_id": "B2", "value": 73.0, "zone": "B"}),
    ],
    "pipeline.evt": [
        (S, 0, {"sensor_id": "S1", "value": 140.0, "zone": "north"}),
        (S, 100, {"sensor_id": "S2", "value": 160.5, "zone": "north"}),
        (S, 200, {"sensor_id": "S3", "value": 95.0, "zone": "south"}),
        (S, 300, {"sensor_id": "S4", "value": 170.2, "zone": "north"}),
        (S, 400, {"sensor_id": "S5", "value": 88.0, "zone": "south"}),
        (S, 500, {"sensor_id": "S6", "value": -5.0, "zone": "north"}),
        (S, 600, {"sensor_id": "S7", "value": 155.0, "zone": "south"}),
    ],
    "merge.evt": [
        (S, 0, {"sensor_id": "S1", "value": 20.5, "zone": "1"}),
        (S, 100, {"sensor_id": "S2", "value": 22.0, "zone": "2"}),
        ("CalibrationCheck", 200, {"sensor_id": "C1", "value": 21.0}),
        (S, 300, {"sensor_id": "S3", "value": 99.0, "zone": "3"}),
        (S, 400, {"sensor_id": "S4", "value": 23.5, "zone": "1"}),
        (S, 60100, {"sensor_id": "S5", "value": 24.0, "zone": "2"}),
    ],
    "join.evt": [
        ("Quote", 1000, {"symbol": "A", "bid": 10.0}),
        ("Trade", 1500, {"symbol": "A", "price": 11.0}),
        ("Trade", 2000, {"symbol": "B", "price": 5.0}),
        ("Quote", 3000, {"symbol": "B", "bid": 4.0}),
        ("Trade", 9000, {"symbol": "A", "price": 12.0}),
        ("Quote", 9500, {"symbol": "A", "bid": 9.0}),
        ("Trade", 9600, {"symbol": "A", "price": 8.0}),
    ],
    "session_contexts.evt": [
        (U, 0, {"user_id": "alice", "action": "login"}),
        (U, 1000, {"user_id": "alice", "action": "view_page"}),
        (U, 2000, {"user_id": "bob", "action": "login"}),
        (U, 3000, {"user_id": "alice", "action": "click"}),
        (U, 4000, {"user_id": "bob", "action": "view_page"}),
        (U, 6000, {"user_id": "bob", "action": "click"}),
        (U, 8000, {"user_id": "bob", "action": "purchase"}),
        (U, 15000, {"user_id": "alice", "action": "login"}),
        (U, 16000, {"user_id": "alice", "action": "view_page"}),
        (U, 17000, {"user_id": "alice", "action": "logout"}),
    ],
}


def expected_tables(events: list[tuple[str, int, dict[str, object]]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for seq, (name, ts, fields) in enumerate(events):
        out.setdefault(name, []).append({"_ts": ts, "_seq": seq, **fields})
    return out


def test_every_tutorial_file_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.evt")) == sorted(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
@pytest.mark.parametrize("batch_size", [2, 65_536])
def test_tutorial_files(name: str, batch_size: int) -> None:
    assert rows(EXAMPLES / name, batch_size=batch_size) == expected_tables(GOLDEN[name])


def test_tutorial_schema() -> None:
    (chunk,) = chunks(EXAMPLES / "pipeline.evt")
    assert chunk.batches[0].batch.schema == pa.schema(
        [
            ("_ts", pa.int64()),
            ("_seq", pa.int64()),
            ("sensor_id", pa.string()),
            ("value", pa.float64()),
            ("zone", pa.string()),
        ]
    )


def test_mixed_types_come_in_order_of_first_appearance(tmp_path: Path) -> None:
    (chunk,) = chunks(EXAMPLES / "parallel_contexts.evt")
    assert [b.event_type for b in chunk.batches] == [T, P]
    assert (chunk.first_seq, chunk.count) == (0, 8)


# ---- times ------------------------------------------------------------------------------------

TIME_FORMS = [
    ("@1500", 1500),
    ("@500ms", 500),
    ("@1.5s", 1500),
    ("@0.25s", 250),
    ("@2m", 120_000),
    ("@1.5m", 90_000),
    ("@1h", 3_600_000),
    ("@1d", 86_400_000),
    ("@0.001s", 1),
    ("@007", 7),
]
# the first line teaches the reader a shape; an escape keeps the second line off it
PATHS = {"fast": "", "slow": ', e: "\\t"'}


@pytest.mark.parametrize(("prefix", "ms"), TIME_FORMS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_time_forms(prefix: str, ms: int, path: str, tmp_path: Path) -> None:
    extra = PATHS[path]
    text = f"@3 A {{ x: 0{extra} }}\n{prefix} A {{ x: 1{extra} }}\n"
    assert [r["_ts"] for r in one(text, tmp_path)] == [3, ms]


def test_running_time_batch_lines_and_missing_prefix(tmp_path: Path) -> None:
    text = (
        "A { x: 1 }\n"  # no time yet: 0
        "@100 A { x: 2 }\n"
        "A { x: 3 }\n"  # the time of the event before it
        "BATCH 2000\n"
        "A { x: 4 }\n"
        "@2500 A { x: 5 }\n"
        "BATCH 3s # comment\n"
        "A { x: 6 }\n"
    )
    assert [r["_ts"] for r in one(text, tmp_path)] == [0, 100, 100, 2000, 2500, 3000]


def test_running_time_crosses_chunks(tmp_path: Path) -> None:
    lines = ["@50 A { x: 0 }"] + [f"A {{ x: {i} }}" for i in range(1, 300)] + ["BATCH 70"]
    lines += [f"A {{ x: {i} }}" for i in range(300, 400)]
    got = one("\n".join(lines) + "\n", tmp_path, batch_size=7)
    assert [r["_ts"] for r in got] == [50] * 300 + [70] * 100
    assert [r["_seq"] for r in got] == list(range(400))


# ---- values -----------------------------------------------------------------------------------

VALUES = [
    ('"plain"', "plain", pa.string()),
    ("'single'", "single", pa.string()),
    ('"a, b: {c} \\"d\\" #e // f"', 'a, b: {c} "d" #e // f', pa.string()),
    ("'it\\'s \"quoted\"'", 'it\'s "quoted"', pa.string()),
    ('"tab\\there\\nnew\\rret\\\\back\\/sl"', "tab\there\nnew\rret\\back/sl", pa.string()),
    ('"\\u00e9t\\u00E9 \\ud83d\\ude00"', "été 😀", pa.string()),
    ('"zürich ☃ 東京 😀"', "zürich ☃ 東京 😀", pa.string()),
    ('""', "", pa.string()),
    ("42", 42, pa.int64()),
    ("-7", -7, pa.int64()),
    ("0", 0, pa.int64()),
    ("9223372036854775807", 2**63 - 1, pa.int64()),
    ("-9223372036854775808", -(2**63), pa.int64()),
    ("72.5", 72.5, pa.float64()),
    ("-5.0", -5.0, pa.float64()),
    ("1.5e-3", 0.0015, pa.float64()),
    ("2E10", 2e10, pa.float64()),
    ("-1.25e+2", -125.0, pa.float64()),
    ("0.1", 0.1, pa.float64()),
    ("true", True, pa.bool_()),
    ("false", False, pa.bool_()),
    ("[1, 2, 3]", [1, 2, 3], pa.list_(pa.int64())),
    ('["a", "b"]', ["a", "b"], pa.list_(pa.string())),
    ("[1, 2.5]", [1.0, 2.5], pa.list_(pa.float64())),
    ("[ ]", [], pa.list_(pa.null())),
    ("[[1], [2, null]]", [[1], [2, None]], pa.list_(pa.list_(pa.int64()))),
]


@pytest.mark.parametrize(("written", "value", "arrow_type"), VALUES)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_values(
    written: str, value: object, arrow_type: pa.DataType, path: str, tmp_path: Path
) -> None:
    extra = PATHS[path]
    text = f"@0 A {{ v: {written}{extra} }}\n@1 A {{ v: {written}{extra} }}\n"
    table = read(write(tmp_path, text))["A"]
    assert table.schema.field("v").type == arrow_type
    assert table.column("v").to_pylist() == [value, value]


def test_null_and_missing_fields(tmp_path: Path) -> None:
    text = '@0 A { a: 1, b: "x" }\n@1 A { a: null, b: "y" }\n@2 A { b: "z" }\n'
    assert [(r["a"], r["b"]) for r in one(text, tmp_path)] == [(1, "x"), (None, "y"), (None, "z")]


def test_fields_in_any_order_keep_first_appearance_order(tmp_path: Path) -> None:
    text = "@0 A { a: 1, b: 2 }\n@1 A { b: 3, a: 4 }\n@2 A { c: 5, a: 6 }\n@3 A { a: 7, b: 8 }\n"
    table = read(write(tmp_path, text))["A"]
    assert table.schema.names == ["_ts", "_seq", "a", "b", "c"]
    assert table.select(["a", "b", "c"]).to_pylist() == [
        {"a": 1, "b": 2, "c": None},
        {"a": 4, "b": 3, "c": None},
        {"a": 6, "b": None, "c": 5},
        {"a": 7, "b": 8, "c": None},
    ]


def test_int_and_float_widen_to_float(tmp_path: Path) -> None:
    table = read(write(tmp_path, "@0 A { v: 1 }\n@1 A { v: 2.5 }\n@2 A { v: -3 }\n"))["A"]
    assert table.schema.field("v").type == pa.float64()
    assert table.column("v").to_pylist() == [1.0, 2.5, -3.0]


def test_int_in_an_established_float_field(tmp_path: Path) -> None:
    text = "@0 A { v: 1.5 }\n" * 50 + "@1 A { v: 2 }\n"
    got = one(text, tmp_path, batch_size=5)
    assert got[-1]["v"] == 2.0


def test_comments_blank_lines_and_whitespace(tmp_path: Path) -> None:
    text = (
        "# header\n\n   \n// another\n"
        "\t@1  A{x:1}   # trailing\n"
        "  @2\tA  {  x :  2  }// trailing\n"
        "@3 A { x: 3 } #\n"
        "@4 A {}\n"
    )
    assert [(r["_ts"], r["x"]) for r in one(text, tmp_path)] == [(1, 1), (2, 2), (3, 3), (4, None)]


def test_crlf_line_endings(tmp_path: Path) -> None:
    text = b'@1 A { s: "x" }\r\n@2 A { s: "y" } # c\r\n@3 A { s: "z\\n" }\r\n'
    assert [r["s"] for r in one(text.decode(), tmp_path)] == ["x", "y", "z\n"]


def test_last_line_without_newline(tmp_path: Path) -> None:
    assert [r["x"] for r in one("@1 A { x: 1 }\n@2 A { x: 2 }", tmp_path)] == [1, 2]


def test_json_lines(tmp_path: Path) -> None:
    text = (
        "@100 A { x: 1 }\n"
        '{"event_type": "A", "x": 2}\n'
        '{"event_type": "B", "_ts": 500, "tags": ["a"], "ok": true}\n'
        '  {"event_type": "A", "timestamp": 700.0, "x": 3.5, "note": null}\n'
        "A { x: 4 }\n"
    )
    got = rows(write(tmp_path, text))
    assert [(r["_ts"], r["_seq"], r["x"]) for r in got["A"]] == [
        (100, 0, 1.0),
        (100, 1, 2.0),
        (700, 3, 3.5),
        (700, 4, 4.0),
    ]
    assert got["B"] == [{"_ts": 500, "_seq": 2, "tags": ["a"], "ok": True}]


def test_json_line_with_a_time_prefix(tmp_path: Path) -> None:
    text = '@5s {"event_type": "A", "x": 1}\n@6s {"event_type": "A", "x": 2, "_ts": 9}\n'
    assert [(r["_ts"], r["x"]) for r in one(text, tmp_path)] == [(5000, 1), (9, 2)]


def test_declared_schema_casts_drops_and_fills(tmp_path: Path) -> None:
    schema = pa.schema([("value", pa.float64()), ("zone", pa.string()), ("n", pa.int32())])
    text = '@0 A { value: 1, extra: "x", zone: "n" }\n@1 A { value: 2.5 }\n'
    table = read(write(tmp_path, text), schemas={"A": schema})["A"]
    assert table.schema == pa.schema([("_ts", pa.int64()), ("_seq", pa.int64()), *schema])
    assert table.select(["value", "zone", "n"]).to_pylist() == [
        {"value": 1.0, "zone": "n", "n": None},
        {"value": 2.5, "zone": None, "n": None},
    ]


def test_declared_schema_lets_a_float_follow_ints_across_chunks(tmp_path: Path) -> None:
    text = "@0 A { v: 1 }\n" * 40 + "@1 A { v: 1.5 }\n"
    got = one(text, tmp_path, batch_size=4, schemas={"A": pa.schema([("v", pa.float64())])})
    assert got[-1]["v"] == 1.5


def test_result_is_the_same_with_two_workers(tmp_path: Path) -> None:
    lines = [f'@{i} {"AB"[i % 2]} {{ x: {i}, s: "{"q" * (i % 5)}" }}' for i in range(3000)]
    lines[1234] = '{"event_type": "A", "x": -1, "s": "json"}'
    path = write(tmp_path, "\n".join(lines))
    one_worker = read(path, workers=1, batch_size=100)
    assert read(path, workers=2, batch_size=100) == one_worker
    assert read(path, workers=2, batch_size=7) == one_worker


def test_chunks_are_bounded_and_sequenced(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"@{i} A {{ x: {i} }}\n" for i in range(5000)))
    got = chunks(path, batch_size=500)
    assert len(got) >= 5
    assert max(chunk.count for chunk in got) < 2000
    ends = [sum(chunk.count for chunk in got[: i + 1]) for i in range(len(got))]
    assert [chunk.first_seq for chunk in got] == [0, *ends[:-1]]


def test_uniform_lines_take_the_fast_path(tmp_path: Path) -> None:
    text = "".join(f'@{i} S {{ id: "s{i}", v: {i}.5, ok: true, n: null }}\n' for i in range(3000))
    reader = EvtReader(write(tmp_path, text), ReadOptions(batch_size=1000), workers=1)
    assert sum(chunk.count for chunk in reader) == 3000
    assert reader.slow_events == 0


def test_many_ways_of_writing_one_type(tmp_path: Path) -> None:
    orders = [
        "a: {i}, b: 'x{i}'",
        "b: 'x{i}', a: {i}",
        'a: {i}, b: "x{i}"',
        'b: "x{i}", a: {i}',
        "a: {i}",
        "b: 'x{i}'",
        "a: {i}, b: null",
    ]
    lines = [f"@{i} A {{ {orders[i % len(orders)].format(i=i)} }}" for i in range(700)]
    got = one("\n".join(lines), tmp_path, batch_size=100)
    assert [r["a"] for r in got] == [None if i % 7 == 5 else i for i in range(700)]
    assert [r["b"] for r in got] == [None if i % 7 in (4, 6) else f"x{i}" for i in range(700)]


def test_stats(tmp_path: Path) -> None:
    reader = EvtReader(write(tmp_path, "# c\n@1 A { x: 1 }\nBATCH 5\n@2 B {}\n"), ReadOptions())
    list(reader)
    assert (reader.stats.events, reader.stats.bad_records) == (2, 0)


# ---- round trip: random events written as text read back exactly ------------------------------

AWKWARD = " ,:{}[]\"'#/\\@\t\r\n\x00é東😀"
strings = st.text(alphabet=st.sampled_from(AWKWARD), max_size=8) | st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), max_size=8
)
floats = st.floats(allow_nan=False, allow_infinity=False)
ints = st.integers(-(2**63), 2**63 - 1) | st.integers(-1000, 1000)
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int": ints,
    "float": floats,
    "str": strings,
    "bool": st.booleans(),
    "ints": st.lists(ints, min_size=1, max_size=3),
    "strs": st.lists(strings, min_size=1, max_size=3),
}
ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def evt_string(text: str, quote: str, use_unicode: bool) -> str:
    out = []
    for char in text:
        if char == quote:
            out.append("\\" + quote)
        elif char in ESCAPES:
            out.append(ESCAPES[char])
        elif use_unicode and ord(char) > 127:
            out.append("".join(f"\\u{unit:04x}" for unit in utf16_units(char)))
        else:
            out.append(char)
    return quote + "".join(out) + quote


def utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@st.composite
def evt_values(draw: st.DrawFn, value: object) -> str:
    """One way of writing `value` in `.evt` syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return evt_string(value, draw(st.sampled_from("\"'")), draw(st.booleans()))
    assert isinstance(value, list)
    return "[" + ", ".join(draw(evt_values(item)) for item in value) + "]"


@st.composite
def time_prefixes(draw: st.DrawFn) -> tuple[str, int | None]:
    """A time prefix and the milliseconds it means (None: no prefix)."""
    ms = draw(st.integers(0, 10**12))
    forms = ["", f"@{ms}", f"@{ms}ms", f"@{ms // 1000}.{ms % 1000:03d}s"]
    forms += [f"@{ms // f}{u}" for u, f in (("m", 60_000), ("h", 3_600_000)) if ms % f == 0]
    form = draw(st.sampled_from(forms))
    return form, ms if form else None


@st.composite
def evt_files(draw: st.DrawFn) -> tuple[str, dict[str, list[dict[str, object]]]]:
    """A random `.evt` text and, per event type, the rows a reader must give back."""
    names = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
    type_names = draw(
        st.lists(
            st.from_regex(r"[A-Z][A-Za-z0-9_]{0,5}", fullmatch=True),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    specs = {
        t: draw(st.dictionaries(names, st.sampled_from(sorted(KINDS)), max_size=4))
        for t in type_names
    }
    lines: list[str] = []
    expected: dict[str, list[dict[str, object]]] = {}
    orders: dict[str, list[str]] = {}
    time = 0
    for seq in range(draw(st.integers(1, 25))):
        extra = draw(st.sampled_from(["", "", "", "# comment", "", "BATCH", "   "]))
        if extra == "BATCH":
            time = draw(st.integers(0, 10**9))
            lines.append(f"BATCH {time}")
        elif extra:
            lines.append(extra)
        event_type = draw(st.sampled_from(type_names))
        spec = specs[event_type]
        first = event_type not in orders
        some = st.lists(st.sampled_from(list(spec)), unique=True) if spec else st.just([])
        chosen = list(spec) if first else draw(some)
        chosen = draw(st.permutations(chosen))
        values: dict[str, Any] = {}
        for name in chosen:
            value = draw(KINDS[spec[name]] if first else st.none() | KINDS[spec[name]])
            if spec[name] == "float" and not first and draw(st.booleans()) and value is not None:
                value = int(value) if abs(value) < 2**62 else value
            values[name] = value
        orders.setdefault(event_type, list(chosen))
        prefix, ms = draw(time_prefixes())
        time = time if ms is None else ms
        if draw(st.integers(0, 5)) == 0:
            obj = {"event_type": event_type, **values, **({"_ts": ms} if ms is not None else {})}
            lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
        else:
            body = ", ".join(f"{name}: {draw(evt_values(v))}" for name, v in values.items())
            lines.append(f"{prefix} {event_type} {{ {body} }}".lstrip())
        row = {
            name: float(v) if spec[name] == "float" and v is not None else v
            for name, v in values.items()
        }
        full = {name: row.get(name) for name in orders[event_type]}
        expected.setdefault(event_type, []).append({"_ts": time, "_seq": seq, **full})
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"])), expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evt_files())
def test_round_trip_does_not_depend_on_batch_size(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, dict]
) -> None:
    text, expected = case
    path = write(tmp_path_factory.mktemp("rt"), text)
    for batch_size, workers in ((65_536, 1), (1, 1), (3, 2), (10, 1)):
        got = rows(path, batch_size=batch_size, workers=workers)
        assert got == expected, (batch_size, workers)
        assert_same_floats(got, expected)


def assert_same_floats(got: dict, expected: dict) -> None:
    """== treats -0.0 and 0.0 alike: compare signs of zeros too."""
    for name, table in expected.items():
        for got_row, want_row in zip(got[name], table, strict=True):
            for key, want in want_row.items():
                if isinstance(want, float) and want == 0:
                    assert math.copysign(1, got_row[key]) == math.copysign(1, want)


# ---- errors -----------------------------------------------------------------------------------

BAD_LINES = [
    ("@5x A { a: 1 }", 3, "unknown time unit 'x'"),
    ("@5 ms A { a: 1 }", 7, "expected '{' after the event type"),
    ("@-5 A { a: 1 }", 2, "expected a time after '@'"),
    ("@1.0005s A { a: 1 }", 2, "not a whole number of milliseconds"),
    ("@5A { a: 1 }", 3, "unknown time unit 'A'"),
    ("@5", 3, "expected an event after the time"),
    ('A { a: "open }', 8, "unterminated string"),
    ("A { a: 'open }", 8, "unterminated string"),
    ('A { a: "ends with \\" }', 8, "unterminated string"),
    ('A { a: "bad \\q escape" }', 13, "unknown escape '\\q'"),
    ('A { a: "\\u12" }', 9, "four hex digits"),
    ('A { a: "\\ud800" }', 9, "lone surrogate"),
    ("A { a: 1.2.3 }", 8, "bad number '1.2.3'"),
    ("A { a: 12abc }", 8, "bad number '12abc'"),
    ("A { a: - }", 8, "bad number '-'"),
    ("A { a: 1e }", 8, "bad number '1e'"),
    ("A { a: 99999999999999999999 }", 8, "does not fit in 64 bits"),
    ("A { a: 1", 9, "missing '}'"),
    ("A { a: 1 b: 2 }", 10, "expected ',' or '}', found 'b'"),
    ("A { a: 1, }", 11, "expected a field name, found '}'"),
    ("A { a 1 }", 7, "expected ':' after field name 'a'"),
    ("A { a: }", 8, "expected a value, found '}'"),
    ("A { a:", 7, "missing value"),
    ("A { a: tru }", 8, "unknown value 'tru'"),
    ("A { a: [1, 2 }", 14, "expected ',' or ']'"),
    ("A { a: [1, 2", 13, "missing ']'"),
    ('A { a: [1, "x"] }', 8, "a list mixes int and str"),
    ("A { a: 1, a: 2 }", 11, "field 'a' appears twice"),
    ("A { _seq: 1 }", 5, "field name '_seq' is reserved"),
    ("A { a: 1 } trailing", 12, "unexpected text after '}'"),
    ("A a: 1 }", 3, "expected '{' after the event type"),
    ("A", 2, "expected '{' after the event type, found the end of the line"),
    ("= A { a: 1 }", 1, "expected an event type"),
    ("BATCH 5x", 8, "unknown time unit 'x'"),
    ("BATCH 5 x", 9, "unexpected text after the BATCH time"),
    ('{"event_type": "A", "a": 1', 27, "bad JSON"),
    ('{"a": 1}', 1, '"event_type" string'),
    ('{"event_type": "A", "a": {"b": 1}}', 1, "nested JSON objects"),
    ('{"event_type": "A", "_ts": 1.5}', 1, "whole number of milliseconds"),
    ('{"event_type": "A", "_seq": 1}', 1, "reserved"),
    ("[1, 2]", 1, "expected an event type, a comment or a JSON object"),
    ("@1 [1, 2]", 4, "expected an event type"),
    ('@1 {"event_type": "A", "a": 1} x', 32, "bad JSON: Extra data"),
]


@pytest.mark.parametrize(("line", "column", "reason"), BAD_LINES)
def test_bad_lines(line: str, column: int, reason: str, tmp_path: Path) -> None:
    error = fail(f"@0 A {{ a: 1 }}\n{line}\n@9 A {{ a: 2 }}\n", tmp_path)
    assert (error.record_line, error.column) == (2, column)
    assert reason in error.message
    assert error.render().startswith(f"{tmp_path / 'events.evt'}:2:{column}: ")


def test_float_in_an_established_int_field(tmp_path: Path) -> None:
    text = "@0 A { v: 1 }\n" * 30 + "@1 A { v: 2.5 }\n"
    error = fail(text, tmp_path, batch_size=4)
    assert (error.record_line, error.column) == (31, 11)
    assert "field 'v' of A" in error.message
    assert error.hint == "declare the type with `event A: v: float`"


def test_string_where_a_number_was_established(tmp_path: Path) -> None:
    error = fail('@0 A { v: 1, s: "x" }\n@1 A { s: "y", v: "two" }\n', tmp_path)
    assert (error.record_line, error.column) == (2, 19)
    assert "field 'v' of A holds a str value" in error.message


def test_field_first_seen_after_the_schema_was_fixed(tmp_path: Path) -> None:
    text = "@0 A { v: 1 }\n" * 30 + "@1 A { v: 2, w: true }\n"
    error = fail(text, tmp_path, batch_size=4)
    assert (error.record_line, error.column) == (31, 17)
    assert "field 'w' of A" in error.message
    assert "event A: w: bool" in (error.hint or "")


def test_declared_schema_value_that_cannot_be_cast(tmp_path: Path) -> None:
    schema = pa.schema([("v", pa.int64())])
    error = fail("@0 A { v: 1 }\n@1 A { v: 1.5 }\n", tmp_path, schemas={"A": schema})
    assert (error.record_line, error.column) == (2, 11)
    assert "declared int" in error.message


def test_invalid_utf8_is_a_bad_record(tmp_path: Path) -> None:
    error = fail(b'@0 A { s: "ok" }\n@1 A { s: "\xff" }\n', tmp_path)
    assert (error.record_line, error.column) == (2, 12)
    assert "invalid UTF-8" in error.message


@pytest.mark.parametrize("batch_size", [1, 65_536])
def test_over_long_line(batch_size: int, tmp_path: Path) -> None:
    text = '@0 A { s: "ok" }\n@1 A { s: "' + "x" * MAX_LINE_BYTES + '" }\n@2 A { s: "ok" }\n'
    error = fail(text, tmp_path, batch_size=batch_size)
    assert error.record_line == 2
    assert "longer than" in error.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.evt", tmp_path):
        with pytest.raises(InputError) as caught:
            list(EvtReader(path, ReadOptions()))
        assert caught.value.record_line is None
        assert caught.value.path == str(path)


def test_the_first_bad_line_of_a_chunk_is_raised(tmp_path: Path) -> None:
    error = fail("@0 A { v: 1 }\n@1 A { v: 2.5x }\n@2 A { v: \n", tmp_path)
    assert error.record_line == 2


def test_good_chunks_before_an_error_are_yielded(tmp_path: Path) -> None:
    path = write(tmp_path, "@0 A { v: 1 }\n" * 50 + "@1 A { v: oops }\n")
    reader = iter(EvtReader(path, ReadOptions(batch_size=5), workers=1))
    assert next(reader).count > 0
    with pytest.raises(InputError):
        list(reader)


# ---- skipping bad records ---------------------------------------------------------------------


def test_skip_writes_dead_letters_and_reads_on(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    text = (
        b'@0 A { v: 1 }\n@1 A { v: oops }\n@2 A { v: 2 }\n@3 A { v: "str" }\n@4 A { v: 3 }\n'
    ) + b'@5 A { v: "\xfe" }\n@6 B { w: 1 }\n'
    path = write(tmp_path, text)
    reader = EvtReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead), workers=1)
    got = [chunk for chunk in reader]
    assert [(b.event_type, b.batch.to_pylist()) for c in got for b in c.batches] == [
        (
            "A",
            [
                {"_ts": 0, "_seq": 0, "v": 1},
                {"_ts": 2, "_seq": 1, "v": 2},
                {"_ts": 4, "_seq": 2, "v": 3},
            ],
        ),
        ("B", [{"_ts": 6, "_seq": 3, "w": 1}]),
    ]
    assert (reader.stats.events, reader.stats.bad_records) == (4, 3)
    letters = [json.loads(line) for line in dead.read_text(encoding="utf-8").splitlines()]
    assert [(d["line"], d["column"]) for d in letters] == [(2, 11), (4, 11), (6, 12)]
    assert letters[0] == {
        "file": str(path),
        "line": 2,
        "column": 11,
        "reason": "unknown value 'oops'",
        "record": "@1 A { v: oops }",
    }
    assert "holds a str value" in letters[1]["reason"]
    assert letters[2]["record"] == '@5 A { v: "\ufffd" }'


def test_skip_without_a_dead_letter_file_still_counts(tmp_path: Path) -> None:
    reader = EvtReader(
        write(tmp_path, "@0 A { v: 1 }\nbad\n"), ReadOptions(on_error=ErrorPolicy.SKIP)
    )
    assert sum(chunk.count for chunk in reader) == 1
    assert reader.stats.bad_records == 1


@given(st.lists(st.booleans(), max_size=300))
def test_failing_rows_finds_each_row_a_row_check_would(good: list[bool]) -> None:
    found = failing_rows(pa.array(good, pa.bool_()), lambda part: pc.all(part).as_py() is not False)
    assert found.tolist() == [row for row, ok in enumerate(good) if not ok]


def test_skip_sets_aside_only_the_rows_that_cannot_be_cast(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    values = ["1.0", "2.5", "3.0", "4.0", "5.5", "6.0", "7.25"]
    text = "".join(f"@{i} A {{ v: {v} }}\n" for i, v in enumerate(values))
    options = {"on_error": ErrorPolicy.SKIP, "dead_letter": dead}
    got = one(text, tmp_path, schemas={"A": pa.schema([("v", pa.int64())])}, **options)
    assert [r["v"] for r in got] == [1, 3, 4, 6]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [d["line"] for d in letters] == [2, 5, 7]


def test_skip_sets_aside_each_line_with_invalid_utf8(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    good = [f'@{i} A {{ s: "x{i}" }}\n'.encode() for i in range(200)]
    for bad in (3, 4, 150, 199):
        good[bad] = f'@{bad} A {{ s: "'.encode() + b"\xc3(" + b'" }\n'
    options = {"on_error": ErrorPolicy.SKIP, "dead_letter": dead}
    assert len(one(b"".join(good), tmp_path, **options)) == 196
    letters = [json.loads(line) for line in dead.read_text(encoding="utf-8").splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == [
        (line + 1, "invalid UTF-8 byte 0xc3") for line in (3, 4, 150, 199)
    ]


def test_skip_over_long_line_keeps_a_preview(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    text = "@0 A { v: 1 }\n" + "y" * (MAX_LINE_BYTES + 10) + "\n@1 A { v: 2 }\n"
    options = {"on_error": ErrorPolicy.SKIP, "dead_letter": dead, "batch_size": 1}
    assert [r["v"] for r in one(text, tmp_path, **options)] == [1, 2]
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letter["line"] == 2
    assert 0 < len(letter["record"]) < MAX_LINE_BYTES


@pytest.mark.parametrize("batch_size", [1, 65_536])
def test_a_block_whose_shaped_lines_all_fail_to_decode(batch_size: int, tmp_path: Path) -> None:
    error = fail('A { s: "x" }\nA { s: "bad \\q" }\n', tmp_path, batch_size=batch_size)
    assert (error.record_line, error.column) == (2, 13)
    assert "unknown escape" in error.message


def test_a_rerun_replaces_the_dead_letter_file_as_other_formats_do(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    dead.write_text('{"stale": true}\n')
    path = write(tmp_path, "@0 A { v: 1 }\nbad\n@1 A { v: 2 }\nworse\n", name="e.evt")
    options = ReadOptions(on_error=ErrorPolicy.SKIP, dead_letter=dead, batch_size=2)
    assert sum(chunk.count for chunk in EvtReader(path, options, workers=1)) == 2
    assert [json.loads(line)["line"] for line in dead.read_text().splitlines()] == [2, 4]
