"""Random programs over random input: the engine equals the row-at-a-time reference.

Every window kind × aggregates × no, one or several partition keys, random out-of-order input
(some of it late), random batch sizes. Batch size must never change results.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc
from conftest import decoded
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import run_reference

import vbatch
from vbatch.api import CompiledProgram
from vbatch.io.source import ReadOptions
from vbatch.io.table import TableReader
from vbatch.kernels.protocol import EmitKind
from vbatch.runtime.replay import Simulation
from vbatch.runtime.runners import LocalRunner

WINDOWS = st.one_of(
    st.sampled_from(["500ms", "1s", "tumbling 2s"]),
    st.sampled_from(["2s, sliding: 500ms", "1s, sliding: 1s", "1500ms, sliding: 500ms"]),
    st.sampled_from(["3", "5", "4, sliding: 2", "3, sliding: 1"]),
    st.sampled_from(["session: 700ms", "session: 2s"]),
)
AGGREGATES = [
    "n_rows: count()",
    "n_v: count(v)",
    "total: sum(v)",
    "total_n: sum(n)",
    "mean: avg(v)",
    "low: min(v)",
    "high: max(n)",
    "spread: stddev(v)",
    "spread_s: stddev_samp(v)",
    "first_s: first(s)",
    "last_v: last(v)",
    "all_n: collect(n)",
    "p90: percentile(v, 90)",
    "smooth: ema(v, 3)",
    "distinct_s: count(distinct(s))",
    "ratio: sum(v * n) / sum(n)",
    "capped: sum(if v > 1.5 then v else 0.0)",
    'size: if count() > 2 then "many" else "few"',
]


@st.composite
def programs(draw: st.DrawFn) -> str:
    """A program with one windowed stream and a stream reading it."""
    window = draw(WINDOWS)
    keys = draw(st.sampled_from([[], ["k"], ["k", "s"], ["k", "n", "s"]]))
    aggregates = draw(st.lists(st.sampled_from(AGGREGATES), min_size=1, max_size=5, unique=True))
    lines = ["stream W = E"]
    if draw(st.booleans()):
        lines.append(f"    .watermark(out_of_order: {draw(st.sampled_from([0, 300, 1000]))}ms)")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(
            ["    .where(n > 1 or v == null)", "    .where(if n > 2 then v > 0.5 else s != \"b\")",
             "    .where(clamp(v, 0.2, 0.8) > min(v, 0.5) or max(n, 2, 1) == 2)"]
        )))  # fmt: skip
    if keys:
        lines.append(f"    .partition_by({', '.join(keys)})")
        aggregates = [f"{key}: {key}" for key in keys] + aggregates
    lines.append(f"    .window({window})")
    lines.append(f"    .aggregate({', '.join(aggregates)})")
    names = [a.split(":")[0] for a in aggregates]
    if "n_rows" in names and draw(st.booleans()):
        lines.append("    .having(n_rows > 1)")
    if draw(st.booleans()):
        kept = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        lines.append(f"    .emit({', '.join(kept)})")
        names = kept
    lines.append(f"stream D = W .where({names[0]} != null)")
    return "\n".join(lines)


MERGE_ITEMS = ["E", "F", "A", 'stream I = E .where(k == "a")']


@st.composite
def merge_programs(draw: st.DrawFn) -> str:
    """A merge of event types, a named stream and an inline stream, windowed or per event."""
    items = draw(st.lists(st.sampled_from(MERGE_ITEMS), min_size=2, max_size=4, unique=True))
    lines = ["stream A = F .where(n > 2) .emit(k, v, n)"] if "A" in items else []
    lines.append(f"stream M = merge({', '.join(items)})")
    if draw(st.booleans()):
        keys = draw(st.sampled_from([[], ["k"]]))
        aggregates = draw(st.lists(st.sampled_from(AGGREGATES[:10]), min_size=1, max_size=3))
        aggregates = [f"{key}: {key}" for key in keys] + list(dict.fromkeys(aggregates))
        if keys:
            lines.append(f"    .partition_by({', '.join(keys)})")
        lines.append(f"    .window({draw(WINDOWS)})")
        lines.append(f"    .aggregate({', '.join(aggregates)})")
    else:
        lines.append("    .where(n >= 1 or v == null)")
        lines.append("    .emit(k, n, doubled: n * 2)")
    if draw(st.booleans()):
        lines.append("stream B = E .where(n > 3)")  # declared after the merge, read by none
    return "\n".join(lines)


@st.composite
def join_programs(draw: st.DrawFn) -> str:
    """A join of two event types, or of an event type and a stream of another, with its
    window, a condition on both sides and a projection; sometimes read by another stream."""
    other = draw(st.sampled_from(["F", "A"]))
    lines = ["stream A = F .where(n > 2) .emit(k, v, n)"] if other == "A" else []
    key = draw(st.sampled_from(["k", "s"])) if other == "F" else "k"
    window = draw(st.sampled_from([" .window(300ms)", " .window(1s)", " .window(5s)", ""]))
    lines.append(f"stream J = join(E, {other}) .on(E.{key} == {other}.{key}){window}")
    if draw(st.booleans()):
        lines.append(f"    .where(E.n > {other}.n or E.v == null)")
    if draw(st.booleans()):
        lines.append(f"    .emit(k: E.k, n_e: E.n, n_o: {other}.n, both: E.n + {other}.n, v)")
    if draw(st.booleans()):
        lines.append("stream After = J .where(_ts > 1000)")
    return "\n".join(lines)


@st.composite
def events(
    draw: st.DrawFn, types: tuple[str, ...] = ("E",), nulls: bool = True
) -> list[tuple[str, dict]]:
    """Mostly increasing timestamps with jitter, some events far behind (late).

    With several types, `nulls=False`: a mixed table's reader gives a type the columns its
    first rows have values in, so a null-only first row would hide a field.
    """
    values = st.floats(-100, 100, allow_nan=False)
    count = draw(st.integers(min_value=0, max_value=60))
    clock = 0
    rows = []
    for _ in range(count):
        # A coarse grid of times makes ties with window ends and gaps frequent.
        clock += draw(st.sampled_from([0, 0, 100, 300, 500, 700, 700, 1000, 2000, 2700]))
        jitter = draw(st.sampled_from([0, 0, 0, -100, -300, -500, -700, -1000, -2000, -3000]))
        rows.append(
            (
                draw(st.sampled_from(types)),
                {
                    "_ts": max(0, clock + jitter),
                    "k": draw(st.sampled_from(["a", "b", "c"])),
                    "v": draw(st.one_of(st.none(), values) if nulls else values),
                    "n": draw(st.integers(min_value=0, max_value=5)),
                    "s": draw(st.sampled_from(["x", "y", "z", "x y"])),
                },
            )
        )
    return rows


def as_table(rows: list[tuple[str, dict]], encoded: bool = False) -> pa.Table:
    """The events as a table with the conventional `_ts` and `event_type` columns.

    `encoded` dictionary-encodes the string fields, as Parquet files hold them.
    """
    schema = pa.schema(
        [("_ts", pa.int64()), ("event_type", pa.string()), ("k", pa.string()),
         ("v", pa.float64()), ("n", pa.int64()), ("s", pa.string())]
    )  # fmt: skip
    columns = {name: [r[1].get(name) for r in rows] for name in schema.names}
    columns["event_type"] = [r[0] for r in rows]
    table = pa.table(columns, schema=schema)
    if encoded:
        for name in ("k", "s"):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.dictionary_encode(table.column(name)))
    return table


def same(a: object, b: object) -> bool:
    """Equal, with floats compared to a relative 1e-9 (sums may be grouped differently)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    """Row lists equal in order, fields and values."""
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert g.keys() == e.keys(), (g, e)
        assert all(same(g[k], e[k]) for k in g), (g, e)


class _Rows:
    """Collects each stream's output rows with `_seq` (the arrival that caused them)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def chunk(self, chunk: object, emitted: list) -> None:
        for item in emitted:
            if item.kind is EmitKind.OUTPUT:
                rows = decoded(item.batch).to_pylist()
                self.rows.setdefault(item.stream, []).extend(
                    {k: v for k, v in r.items() if not k.startswith("__")} for r in rows
                )


def engine_rows(
    program: CompiledProgram, rows: list, batch_size: int, encoded: bool = False
) -> dict[str, list[dict]]:
    """Every stream's output rows, `_seq` included, as the engine computes them."""
    sink = _Rows()
    runner = LocalRunner(program.physical)
    reader = TableReader(as_table(rows, encoded), ReadOptions(batch_size=batch_size))
    Simulation(program.physical, runner, [sink]).run(reader)
    return sink.rows


@given(programs(), events(), st.sampled_from([1, 1, 2, 3, 5, 8, 13, 64]), st.booleans())
def test_engine_matches_reference(source: str, rows: list, batch_size: int, encoded: bool) -> None:
    program = vbatch.compile(source)
    got = engine_rows(program, rows, batch_size, encoded)
    for stream, wanted in run_reference(program.program, rows).items():
        assert_same_rows(got.get(stream, []), wanted)


@given(programs(), events())
def test_batch_size_never_changes_results(source: str, rows: list) -> None:
    program = vbatch.compile(source)
    whole = program.simulate(as_table(rows), batch_size=1000)
    single = program.simulate(as_table(rows), batch_size=1)
    for stream in whole:
        assert_same_rows(single[stream].to_pylist(), whole[stream].to_pylist())


@given(
    merge_programs(),
    events(types=("E", "F"), nulls=False),
    st.sampled_from([1, 2, 3, 8, 64]),
    st.booleans(),
)
def test_merge_matches_reference(source: str, rows: list, batch_size: int, encoded: bool) -> None:
    program = vbatch.compile(source)
    got = engine_rows(program, rows, batch_size, encoded)
    for stream, wanted in run_reference(program.program, rows).items():
        assert_same_rows(got.get(stream, []), wanted)


@given(
    join_programs(),
    events(types=("E", "F"), nulls=False),
    st.sampled_from([1, 2, 3, 8, 64]),
    st.booleans(),
)
def test_join_matches_reference(source: str, rows: list, batch_size: int, encoded: bool) -> None:
    program = vbatch.compile(source)
    got = engine_rows(program, rows, batch_size, encoded)
    for stream, wanted in run_reference(program.program, rows).items():
        assert_same_rows(got.get(stream, []), wanted)


@settings(max_examples=8, deadline=None)
@given(events(types=("E", "F"), nulls=False), st.sampled_from([1, 7, 64]))
def test_a_join_in_a_context_gives_what_one_process_gives(rows: list, batch_size: int) -> None:
    """The join's sources reach its worker from the coordinator and from another worker; the
    rows still meet in arrival order."""
    program = vbatch.compile(
        "context a\ncontext b\n"
        "stream A = F .context(a) .where(n > 2) .emit(k, v, n)\n"
        "stream J = join(E, A) .context(b) .on(E.k == A.k) .window(1s)\n"
        "    .emit(k: E.k, n_e: E.n, n_a: A.n)\n"
    )
    table = as_table(rows)
    apart = program.simulate(table, batch_size=batch_size)
    together = program.simulate(table, batch_size=batch_size, contexts=False)
    assert {n: t.to_pylist() for n, t in apart.items()} == {
        n: t.to_pylist() for n, t in together.items()
    }
    wanted = [
        {k: v for k, v in row.items() if k != "_seq"}
        for row in run_reference(program.program, rows)["J"]
    ]
    assert_same_rows(together["J"].to_pylist(), wanted)
