"""Programs machines write: thousands of streams and long chains check and plan in linear time.

Not a timing assertion: the bound is a generous timeout that only a superlinear checker
(the old one was cubic in the number of streams) could exceed.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

PROBE = """
from vbatch.lang import compile_text
from vbatch.plan.build import plan_program
many = "\\n".join(f"stream S{i} = E{i % 7} .where(x > {i})" for i in range(20_000))
chain = "stream C0 = E .where(x > 0)\\n" + "\\n".join(
    f"stream C{i} = C{i - 1} .where(x > {i})" for i in range(1, 2_000)
)
for text in (many, chain):
    plan = plan_program(compile_text(text))
    print(len(plan.logical.streams), max(s.depth for s in plan.logical.streams))
"""


def test_thousands_of_streams_and_long_chains_check_in_linear_time() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20000", "0", "2000", "1999"]
