"""Types: ill-typed programs fail at check time, at the right place; output schemas are fixed
by the plan, whatever the batch size or the order of the input."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_engine_properties import as_table, events, programs

import vbatch
from vbatch.errors import CheckError
from vbatch.kernels.expr import _FUNCTIONS, _SPECIAL
from vbatch.plan.expr import Fn
from vbatch.plan.typecheck import _RULES

DECLARED = "event R:\n  name: str\n  value: float\n  n: int\n  ok: bool\n  tags: str\n"
LINE = 7  # the stream's line, after the declaration

NUMBERS_HINT = "convert with to_float(...) or to_int(...), or compare instead"
COMPARE_HINT = "compare values of one kind; convert with to_string(), to_int() or to_float()"
AGGREGATE_HINT = "use first(), last(), collect() or count() instead"
CONDITION_HINT = 'compare the value, e.g. `x > 0` or `s != ""`'

# (stream, column, message, hint): each stream reads the declared event R.
ILL_TYPED = [
    (
        "stream S = R .partition_by(name) .window(1m) .aggregate(t: sum(name))",
        64,
        "`sum(name)` needs numbers, but `name` is a string",
        AGGREGATE_HINT,
    ),
    (
        "stream S = R .window(1m) .aggregate(m: max(name))",
        44,
        "`max(name)` needs numbers, but `name` is a string",
        AGGREGATE_HINT,
    ),
    (
        "stream S = R .window(1m) .aggregate(p: percentile(name, 90))",
        51,
        "`percentile(name, 90)` needs numbers, but `name` is a string",
        AGGREGATE_HINT,
    ),
    (
        "stream S = R .window(1m) .aggregate(s: stddev(name))",
        47,
        "`stddev(name)` needs numbers, but `name` is a string",
        AGGREGATE_HINT,
    ),
    ("stream S = R .where(name > 5)", 21, "`name > 5` compares a string with an int", COMPARE_HINT),
    (
        "stream S = R .where(name == 5)",
        21,
        "`name == 5` compares a string with an int",
        COMPARE_HINT,
    ),
    (
        'stream S = R .where(value == "x")',
        21,
        '`value == "x"` compares a float with a string',
        COMPARE_HINT,
    ),
    (
        "stream S = R .where(ok + 1 > 2)",
        21,
        "`ok + 1` needs numbers, but `ok` is a bool",
        NUMBERS_HINT,
    ),
    (
        "stream S = R .where(-name > 2)",
        21,
        "`-name` needs numbers, but `name` is a string",
        NUMBERS_HINT,
    ),
    (
        "stream S = R .where(value and ok)",
        21,
        "`value and ok` needs true/false values, but `value` is a float",
        CONDITION_HINT,
    ),
    (
        "stream S = R .where(not value)",
        21,
        "`not value` needs true/false values, but `value` is a float",
        CONDITION_HINT,
    ),
    (
        "stream S = R .where(value)",
        21,
        "`.where` needs a condition, but `value` is a float",
        "compare it, e.g. `x > 0`",
    ),
    (
        "stream S = R .emit(x: value * name)",
        23,
        "`value * name` needs numbers, but `name` is a string",
        NUMBERS_HINT,
    ),
    (
        "stream S = R .emit(x: name / 2)",
        23,
        "`name / 2` needs numbers, but `name` is a string",
        NUMBERS_HINT,
    ),
    (
        "stream S = R .emit(x: upper(value))",
        23,
        "`upper(value)` needs strings, but `value` is a float",
        "convert with to_string(...)",
    ),
    (
        "stream S = R .emit(x: len(n))",
        23,
        "`len(n)` needs strings, but `n` is an int",
        "convert with to_string(...)",
    ),
    (
        "stream S = R .emit(x: abs(name))",
        23,
        "`abs(name)` needs numbers, but `name` is a string",
        NUMBERS_HINT,
    ),
    (
        "stream S = R .where(name in [1, 2])",
        21,
        "`name in [1, 2]` looks for a string in a list of ints",
        None,
    ),
    (
        "stream S = R .where(ok < true)",
        21,
        "`ok < true` orders a bool (`ok`)",
        "only numbers and strings have an order",
    ),
    (
        "stream S = R .emit(x: coalesce(name, value))",
        23,
        "`coalesce(name, value)` mixes a string and a float",
        "give coalesce values of one kind",
    ),
    (
        'stream S = R .window(1m) .aggregate(c: count()) .having(c == "many")',
        57,
        '`c == "many"` compares an int with a string',
        COMPARE_HINT,
    ),
    (
        "stream S = R .window(1m) .aggregate(c: count(), l: last(name)) .having(l > 3)",
        72,
        "`l > 3` compares a string with an int",
        COMPARE_HINT,
    ),
    (
        "stream S = R .emit(x: round(value, n))",
        23,
        "`round` takes a constant number of digits",
        None,
    ),
    (
        "stream S = R .where(contains(name, tags))",
        21,
        "the second argument of `contains` must be a constant string",
        None,
    ),
    (
        "stream S = R .window(1m) .aggregate(c: count()) .having(value > 1)",
        57,
        "unknown field `value` in stream `S`",
        None,
    ),
]

# Types travel from stream to stream: the error is in the reader, on line 8.
ACROSS_STREAMS = [
    (
        "stream S = R .emit(x: name)\nstream T = S .where(x > 1)",
        21,
        "`x > 1` compares a string with an int",
    ),
    (
        'stream S = R .window(1m) .aggregate(a: avg(value))\nstream T = S .where(a == "hot")',
        21,
        '`a == "hot"` compares a float with a string',
    ),
    (
        "stream S = merge(R, Q)\nstream T = S .where(name > 1)",
        21,
        "`name > 1` compares a string with an int",
    ),
]


@pytest.mark.parametrize(("stream", "column", "message", "hint"), ILL_TYPED)
def test_an_ill_typed_program_fails_at_check_time(
    stream: str, column: int, message: str, hint: str | None
) -> None:
    with pytest.raises(CheckError) as caught:
        vbatch.compile(DECLARED + stream, "t.vpl")
    err = caught.value
    assert (err.line, err.column, err.message, err.hint) == (LINE, column, message, hint)


@pytest.mark.parametrize(("streams", "column", "message"), ACROSS_STREAMS)
def test_types_are_known_downstream(streams: str, column: int, message: str) -> None:
    with pytest.raises(CheckError) as caught:
        vbatch.compile(DECLARED + streams, "t.vpl")
    assert (caught.value.line, caught.value.column, caught.value.message) == (8, column, message)


def test_an_undeclared_field_is_type_checked_before_any_row_is_computed() -> None:
    program = vbatch.compile("stream S = E .window(1m) .aggregate(t: sum(name))", "t.vpl")
    table = pa.table({"_ts": [1, 2], "event_type": ["E", "E"], "name": ["a", "b"]})
    with pytest.raises(CheckError) as caught:
        program.simulate(table, contexts=False)
    assert caught.value.render().splitlines()[:3] == [
        "t.vpl:1:44: `sum(name)` needs numbers, but `name` is a string",
        "    1 | stream S = E .window(1m) .aggregate(t: sum(name))",
        "      |                                            ^^^^",
    ]


def test_a_partition_key_the_rows_lack_is_named_where_it_is_written() -> None:
    text = "stream S = E .partition_by(zone) .window(1m) .aggregate(n: count())"
    program = vbatch.compile(text, "t.vpl")
    table = pa.table({"_ts": [1], "event_type": ["E"], "value": [1.0]})
    with pytest.raises(CheckError) as caught:
        program.simulate(table, contexts=False)
    assert caught.value.render().splitlines() == [
        "t.vpl:1:15: `.partition_by(zone)`: the rows here have no field `zone`",
        f"    1 | {text}",
        "      |               ^^^^^^^^^^^^^^^^^^",
        "hint: the rows here have: value",
    ]


@pytest.mark.parametrize(
    ("aggregate", "values", "expected"),
    [
        ("sum(x)", [1, 2, None], pa.int64()),
        ("sum(x)", [1.5, None], pa.float64()),
        ("max(x)", [3, 1], pa.int64()),
        ("min(x)", [None, None], pa.int64()),
        ("avg(x)", [1, 2], pa.float64()),
        ("count(x)", [1.0], pa.int64()),
        ("first(x)", ["a"], pa.string()),
        ("collect(x)", [1, 2], pa.list_(pa.int64())),
        ("percentile(x, 50)", [1, 2], pa.float64()),
    ],
)
def test_an_aggregate_has_one_type_from_the_first_window_to_the_last(
    aggregate: str, values: list, expected: pa.DataType
) -> None:
    program = vbatch.compile(f"stream S = E .window(1s) .aggregate(a: {aggregate})")
    x = pa.array(values, type=pa.array([v for v in values if v is not None] or [0]).type)
    ts = [i * 1000 for i in range(len(values))]  # one window per row
    table = pa.table({"_ts": ts, "event_type": ["E"] * len(values), "x": x})
    for batch_size in (1, 100):
        assert (
            program.simulate(table, batch_size=batch_size)["S"].schema.field("a").type == expected
        )


def test_every_function_has_a_type_rule_and_an_implementation() -> None:
    implemented = set(_FUNCTIONS) | set(_SPECIAL)
    assert set(Fn) == set(_RULES) == implemented


@given(programs(), events(), st.sampled_from([1, 3, 64]), st.randoms(use_true_random=False))
def test_output_schemas_never_depend_on_batch_size_or_input_order(
    source: str, rows: list, batch_size: int, random
) -> None:
    program = vbatch.compile(source)
    shuffled = list(rows)
    random.shuffle(shuffled)
    whole = program.simulate(as_table(rows), batch_size=1000, contexts=False)
    other = program.simulate(as_table(shuffled), batch_size=batch_size, contexts=False)
    for stream in whole:
        if whole[stream].num_rows and other[stream].num_rows:
            assert other[stream].schema == whole[stream].schema
