"""User functions: `fn` with `let` lines and one result expression, inlined where called
(so they run over whole columns like any expression); errors located in the function."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vbatch
from vbatch.errors import CheckError, VplSyntaxError
from vbatch.lang import compile_text
from vbatch.lang.parser import parse
from vbatch.lang.printer import print_module

PROGRAM = """\
const SCALE = 100.0

fn score(value: float, weight: float) -> float:
    let normalized = value / SCALE   # a let line
    normalized * weight

fn is_critical(severity: str) -> bool:
    severity == "critical"

fn label(sev: str) -> str:
    return if is_critical(sev) then "!" + sev else sev

event A:
    v: float
    sev: str

stream S = A
    .where(score(v, 2.0) > 1.0 or is_critical(sev))
    .emit(s: score(v, 2.0), l: label(sev))
stream W = A
    .window(2)
    .aggregate(top: max(score(v, 1.0)), n: count())
"""


def test_functions_are_inlined_and_compute_over_columns() -> None:
    table = pa.table(
        {
            "event_type": ["A"] * 4,
            "_ts": [1, 2, 3, 4],
            "v": [80.0, 10.0, 10.0, 300.0],
            "sev": ["low", "critical", "low", "low"],
        }
    )
    result = vbatch.compile(PROGRAM).simulate(table)
    assert result["S"].select(["s", "l"]).to_pylist() == [
        {"s": 1.6, "l": "low"},
        {"s": 0.2, "l": "!critical"},
        {"s": 6.0, "l": "low"},
    ]
    assert result["W"].select(["top", "n"]).to_pylist() == [
        {"top": 0.8, "n": 2},
        {"top": 3.0, "n": 2},
    ]


def test_a_program_with_functions_prints_and_parses_back() -> None:
    module = parse(PROGRAM)
    assert parse(print_module(module)) == module


def test_statements_after_a_function_keep_their_line_numbers() -> None:
    text = "fn f(x: int) -> int:\n    x + 1\n\nstream S = T\n    .where(nosuch(v))\n"
    with pytest.raises(CheckError) as caught:
        compile_text(text)
    assert (caught.value.line, caught.value.column) == (5, 12)


# (program, error class, line, column, message)
ERRORS = [
    (
        "fn f(x: int) -> int:\n    f(x)\nstream S = T .where(f(v) > 1)",
        CheckError, 2, 5, "`fn f` calls itself: f → f",
    ),
    (
        "fn f(x: int) -> int:\n    x + y\nstream S = T .where(f(v) > 1)",
        CheckError, 2, 9, "unknown field `y` in `fn f` (its parameters)",
    ),
    (
        "fn f(x: int) -> int:\n    x\nstream S = T .where(f(v, 1) > 1)",
        CheckError, 3, 21, "`f` takes 1 arguments, not 2",
    ),
    (
        "fn abs(x: int) -> int:\n    x",
        CheckError, 1, 4, "function `abs` has the name of a built-in function",
    ),
    (
        "fn f(x: int) -> int:\n    x\nfn f(y: int) -> int:\n    y",
        CheckError, 3, 4, "function `f` is already declared",
    ),
    (
        "fn f(n: int):\n    for i in 0..n:\n        emit X(i: i)",
        VplSyntaxError, 2, 5,
        "`fn` bodies with loops, `if` blocks or `emit` (imperative functions) are VPL that "
        "vbatch does not run yet",
    ),
    (
        "fn f(x: int) -> int:\n    let y = x\n",
        VplSyntaxError, 2, 5, "a function ends with its result expression, not a `let`",
    ),
    (
        "fn f(x: int) -> int:\n    x\n    x + 1",
        VplSyntaxError, 2, 5, "a function's lines before its result are `let` lines",
    ),
    ("fn f(x) -> int:\n    x", VplSyntaxError, 1, 6, "a parameter is written `name: type`"),
    (
        "fn f(x: int) -> int:\n    x +",
        VplSyntaxError, 2, 8, "unexpected end of input; expected an expression",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "line", "column", "message"), ERRORS)
def test_function_errors_point_into_the_function(
    text: str, kind: type[Exception], line: int, column: int, message: str
) -> None:
    with pytest.raises(kind) as caught:
        compile_text(text)
    err = caught.value
    assert (err.line, err.column, err.message) == (line, column, message)  # type: ignore[attr-defined]


PIECES = [
    "fn f(x: int) -> int:",
    "fn g():",
    "fn h(a: float, b: str)",
    "    let y = x * 2",
    "    return y",
    "    x + ",
    "    if x > 1:",
    "        emit A(x: x)",
    "    f(x)",
    "stream S = T .where(f(v) > 1)",
    "  .emit(v: g())",
    "event T:",
    "    v: int",
    "# a comment",
    "",
    "fn",
    "    for i in 0..3:",
]


@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_any_arrangement_of_function_lines_parses_or_is_a_located_error(lines: list[str]) -> None:
    text = "\n".join(lines)
    try:
        compile_text(text)
    except (VplSyntaxError, CheckError) as err:
        assert err.span is None or 1 <= err.span.line <= max(1, len(lines))
