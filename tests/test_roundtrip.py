"""Printing a tree and parsing it again gives the same tree; bad text never escapes as a crash."""

from __future__ import annotations

import random

from conftest import EXAMPLES
from hypothesis import given
from hypothesis import strategies as st
from strategies import exprs, modules

from vbatch.errors import VbatchError
from vbatch.lang import ast, compile_text
from vbatch.lang.parser import parse
from vbatch.lang.printer import print_expr, print_module


@given(modules)
def test_printed_module_parses_back_to_the_same_tree(module: ast.Module) -> None:
    assert parse(print_module(module)) == module


@given(exprs)
def test_printed_expression_parses_back(expr: ast.Expr) -> None:
    module = parse(f"const value = {print_expr(expr)}")
    assert module.statements[0].value == expr


def test_examples_round_trip() -> None:
    for path in EXAMPLES.glob("*.vpl"):
        module = parse(path.read_text())
        assert parse(print_module(module)) == module


def _check_never_crashes(text: str) -> None:
    try:
        compile_text(text, "fuzz.vpl")
    except VbatchError as err:
        assert err.render().startswith("fuzz.vpl")


@given(st.text(max_size=200))
def test_arbitrary_text_gives_a_clean_error(text: str) -> None:
    _check_never_crashes(text)


_CORPUS = [p.read_text() for p in sorted(EXAMPLES.glob("*.vpl"))]


@given(st.integers(min_value=0, max_value=len(_CORPUS) - 1), st.randoms(use_true_random=False))
def test_mutated_programs_give_a_clean_error(which: int, rng: random.Random) -> None:
    text = list(_CORPUS[which])
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(text))
        action = rng.choice(["delete", "insert", "swap"])
        if action == "delete":
            del text[position]
        elif action == "insert":
            text.insert(position, rng.choice("(){}[].,:=<>!\"'#/*-+ \n_az09"))
        else:
            text[position] = rng.choice('()x.:,"1')
    _check_never_crashes("".join(text))
