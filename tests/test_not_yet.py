"""Documented VPL that vbatch does not run yet is refused as exactly that, with a caret."""

from __future__ import annotations

import pytest

from vbatch.errors import VplSyntaxError
from vbatch.lang import compile_text

NOT_YET = [
    ("stream S = A as a -> B as b", 1, 14, "sequence patterns (`A as a -> B ...`) are"),
    ("stream S = A\n    -> B", 2, 5, "sequence patterns (`A as a -> B ...`) are"),
    (
        "fn f(n: int):\n    while n > 0:\n        n := n - 1",
        2,
        5,
        "`fn` bodies with loops, `if` blocks or `emit` (imperative functions) are",
    ),
    ("pattern P = SEQ(A a, B b)", 1, 1, "`pattern` (named sequence patterns) is"),
    (
        "event A:\n    x: int\npattern P = SEQ(A a, B b)",
        3,
        1,
        "`pattern` (named sequence patterns) is",
    ),
    (
        "event A:\n    x: int\nfn f(y: int):\n    for i in 0..y:\n        emit B(i: i)",
        4,
        5,
        "`fn` bodies with loops, `if` blocks or `emit` (imperative functions) are",
    ),
    ("stream T = timer(5s)", 1, 17, "`timer(...)` sources are"),
    ("stream S = A .forecast(horizon: 5m)", 1, 15, "`.forecast(...)` is"),
]


@pytest.mark.parametrize(("text", "line", "column", "what"), NOT_YET)
def test_unsupported_vpl_says_what_it_is(text: str, line: int, column: int, what: str) -> None:
    with pytest.raises(VplSyntaxError) as caught:
        compile_text(text, "p.vpl")
    err = caught.value
    assert err.message == f"{what} VPL that vbatch does not run yet"
    assert (err.line, err.column) == (line, column)


def test_typos_are_still_typos() -> None:
    with pytest.raises(VplSyntaxError) as caught:
        compile_text("stream S = A .wher(x > 1)")
    assert caught.value.message == "unknown operation `.wher`"
