"""The comparison benchmark still runs and every installed system agrees with vbatch.

`python -m benchmarks.compare --smoke` on 20k events: vbatch (Parquet, .evt, with and without
contexts), the plain Python loop, and whichever optional peers (DuckDB, Polars, Bytewax) are
installed; none of them is required.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

WORKLOADS = {"W1", "W2", "W3", "W4", "W5"}


def test_compare_smoke_runs_and_systems_agree(tmp_path) -> None:
    figures = tmp_path / "compare.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", "--smoke", "--data", str(tmp_path),
         "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(figures.read_text())["rows"]
    systems = {(r["workload"], r["system"]) for r in rows}
    for workload in WORKLOADS:
        assert (workload, "vbatch") in systems
        assert (workload, "python loop") in systems
    assert ("W5", "vbatch --no-contexts") in systems
    assert {("W1", "vbatch .evt"), ("W2", "vbatch .evt")} <= systems
    for row in rows:
        assert row["error"] is None, row
        assert row["agrees"] is True, row
        assert row["rate"] > 0
    assert "events/s" in done.stdout
