"""Every program of the tutorial lives in examples/ and passes `vbatch check`."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

from vbatch.lang import compile_text

PROGRAMS = sorted(EXAMPLES.glob("*.vpl"))
TUTORIAL = {
    "first_context",
    "parallel_contexts",
    "pipeline",
    "parallel_windows",
    "parallel_windows_single",
    "session_contexts",
    "session_pipeline",
}


def test_every_tutorial_program_is_in_examples() -> None:
    assert {p.stem for p in PROGRAMS} >= TUTORIAL


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_example_checks(path) -> None:  # noqa: ANN001
    program = compile_text(path.read_text(), str(path))
    assert program.streams
