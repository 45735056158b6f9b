"""Every notebook runs top to bottom in a fresh kernel, on small data, and is saved executed.

The notebooks read `VBATCH_NOTEBOOK_EVENTS` (events per generated data set),
`VBATCH_NOTEBOOK_REPEATS` (timed runs per figure) and `VBATCH_NOTEBOOK_DATA` (where generated
files go): small values keep the three runs well within a minute. Each cell may take at most
CELL_TIMEOUT seconds.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from conftest import ROOT


def _require(module: str):  # noqa: ANN202 - a module
    """Import `module`; skip without it, except in CI, where the test extra must provide it."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


nbformat = _require("nbformat")
nbclient = _require("nbclient")
_require("ipykernel")
_require("matplotlib")

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SMALL_EVENTS = 20_000
CELL_TIMEOUT = 60
MAX_BYTES = 1_000_000


def test_the_notebooks_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == [
        "01_tutorial",
        "02_historical_replay",
        "03_contexts_throughput",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_an_error(path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VBATCH_NOTEBOOK_EVENTS", str(SMALL_EVENTS))
    monkeypatch.setenv("VBATCH_NOTEBOOK_REPEATS", "1")
    monkeypatch.setenv("VBATCH_NOTEBOOK_DATA", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )

    client.execute()  # raises CellExecutionError at the first failing cell

    assert not [output for output in _outputs(notebook, tagged=False) if _is_error(output)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_executed_in_order_and_small(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)

    counts = [cell.execution_count for cell in _code_cells(notebook)]

    assert counts == list(range(1, len(counts) + 1))
    assert not [output for output in _outputs(notebook, tagged=False) if _is_error(output)]
    assert path.stat().st_size < MAX_BYTES


@pytest.mark.parametrize("name", ["02_historical_replay", "03_contexts_throughput"])
def test_plots_are_saved_as_png(name: str) -> None:
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)

    assert any("image/png" in output.get("data", {}) for output in _outputs(notebook))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_code_cell_holds_the_parameters(path: Path) -> None:
    first = next(_code_cells(nbformat.read(path, as_version=4)))

    assert "parameters" in first.metadata.get("tags", [])


def _code_cells(notebook):  # noqa: ANN001, ANN202 - nbformat nodes
    return (cell for cell in notebook.cells if cell.cell_type == "code")


def _outputs(notebook, tagged: bool = True):  # noqa: ANN001, ANN202 - nbformat nodes
    """Outputs of the code cells; without `tagged`, not those of `raises-exception` cells."""
    for cell in _code_cells(notebook):
        if not tagged and "raises-exception" in cell.metadata.get("tags", []):
            continue
        yield from cell.outputs


def _is_error(output) -> bool:  # noqa: ANN001 - an nbformat output
    return output.output_type == "error" or (
        output.output_type == "stream" and output.name == "stderr" and "Error" in output.text
    )
