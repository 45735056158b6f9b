"""The tutorial's expected console output, compared exactly, for every part."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.txt"))


def run_vbatch(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "vbatch", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def golden_case(path: Path) -> tuple[list[str], str]:
    """The command of a golden file (its first line) and the output it expects."""
    first, expected = path.read_text().split("\n", 1)
    assert first.startswith("# vbatch ")
    return shlex.split(first.removeprefix("# vbatch ")), expected


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_tutorial_output_is_exact(path: Path) -> None:
    args, expected = golden_case(path)
    result = run_vbatch(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


EXPLAINED = sorted((ROOT / "tests" / "golden" / "explain").glob("*.txt"))


@pytest.mark.parametrize("path", EXPLAINED, ids=lambda p: p.stem)
def test_explain_output_is_exact(path: Path) -> None:
    args, expected = golden_case(path)
    result = run_vbatch(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_every_example_program_has_its_plan_explained() -> None:
    programs = {p.stem for p in (ROOT / "examples").glob("*.vpl")}
    assert programs == {p.stem for p in EXPLAINED}
