"""Packaging: every vbatch package ships, the grammar with it; imports run one way."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "vbatch"


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert found | {"vbatch.grammar"} == listed


def imports_of(path: Path) -> set[str]:
    """Modules a source file imports at run time (absolute, vbatch ones): imports under
    `if TYPE_CHECKING:` are for the type checker only and do not count."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("vbatch")}


def test_the_language_front_end_never_imports_arrow_or_the_engine() -> None:
    for path in (PACKAGE / "lang").glob("*.py"):
        source = path.read_text()
        assert "import pyarrow" not in source, path
        assert not {
            m for m in imports_of(path) if m.startswith(("vbatch.runtime", "vbatch.kernels"))
        }, path


def imports_in(folder: str) -> dict[Path, set[str]]:
    """The vbatch imports of every module of a package (or of one module)."""
    target = PACKAGE / folder
    paths = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
    return {path: imports_of(path) for path in paths}


def offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    """Modules of `folder` importing any of `forbidden`, with what they import."""
    found = {}
    for path, modules in imports_in(folder).items():
        bad = {m for m in modules if m.startswith(forbidden)}
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


# DESIGN.md: imports run one way, lang → plan → kernels → runtime → app → cli.
LAYER_RULES = [
    (
        "kernels",
        ("vbatch.lang", "vbatch.runtime", "vbatch.app", "vbatch.render", "vbatch.plan.build"),
    ),
    ("plan", ("vbatch.kernels", "vbatch.runtime", "vbatch.app", "vbatch.io", "vbatch.render")),
    ("runtime", ("vbatch.render", "vbatch.app", "vbatch.plan.build", "vbatch.cli", "vbatch.api")),
    ("metrics.py", ("vbatch.runtime", "vbatch.app", "vbatch.kernels", "vbatch.plan")),
    ("figures.py", ("vbatch.",)),
    ("html.py", ("vbatch.api", "vbatch.notebook", "vbatch.runtime", "vbatch.app")),
    ("io", ("vbatch.runtime", "vbatch.app", "vbatch.kernels", "vbatch.plan", "vbatch.render")),
]


@pytest.mark.parametrize(("folder", "forbidden"), LAYER_RULES, ids=[r[0] for r in LAYER_RULES])
def test_imports_run_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert offending(folder, forbidden) == {}


def test_the_plan_never_imports_arrow() -> None:
    for path in (PACKAGE / "plan").glob("*.py"):
        assert "import pyarrow" not in path.read_text(), path


def test_checking_a_program_never_loads_arrow_or_the_engine() -> None:
    """`vbatch check` / `parse` start fast: the CLI loads Arrow and the engine only to run."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vbatch.cli import app\n"
        "for command in ('check', 'parse'):\n"
        "    result = CliRunner().invoke(app, [command, 'examples/first_context.vpl'])\n"
        "    assert result.exit_code == 0, result.output\n"
        "heavy = ('pyarrow', 'numpy', 'pandas', 'vbatch.runtime', 'vbatch.kernels')\n"
        "print(sorted({m.split('.')[0] if m.split('.')[0] != 'vbatch' else m"
        " for m in sys.modules if m.startswith(heavy)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
