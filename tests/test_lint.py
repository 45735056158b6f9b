"""The code stays clean: ruff and mypy, configured in pyproject.toml, report nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def tool(name: str) -> list[str]:
    """The command of a linter installed with the test extra (skip where it is not)."""
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return [name]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([*tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_finds_nothing() -> None:
    tool("mypy")
    command = [sys.executable, "-m", "mypy", "vbatch"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout
