"""Nothing crashes, nothing is lost, nothing is destroyed: hostile inputs, programs and paths.

Each bad input is an ordinary bad record (located, counted, dead-lettered under
`--on-error skip`, exit 2 under `--on-error fail`); each bad program or path is a located
error with a documented exit code; never a traceback.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from test_golden import run_vbatch

from vbatch.io.evt import EvtReader
from vbatch.io.source import ErrorPolicy, ReadOptions

# ---- 14, 30: over-long lines --------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [7, 100, 4096])
def test_a_10_mb_line_is_a_bad_record_read_in_bounded_memory(
    tmp_path: Path, batch_size: int
) -> None:
    path = tmp_path / "long.evt"
    path.write_text(f'@1 A {{ v: 1 }}\n@2 A {{ s: "{"x" * 10_000_000}" }}\n@3 A {{ v: 3 }}\n')
    read = EvtReader(path, ReadOptions(on_error=ErrorPolicy.SKIP, batch_size=batch_size))
    tracemalloc.start()
    try:
        events = sum(chunk.count for chunk in read)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (events, read.stats.bad_records) == (2, 1)
    assert peak < 64 << 20


def test_an_endless_line_is_reported_at_the_limit_under_fail() -> None:
    started = time.monotonic()
    result = run_vbatch("simulate", "-p", "examples/pipeline.vpl", "-e", "/dev/zero", "--immediate")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        "/dev/zero:1:1048577: line is longer than 1048576 bytes",
    )
    assert time.monotonic() - started < 60
