"""Output files written behind, on a thread: in order, failures raised in the caller's thread,
nothing left behind, no hang."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vbatch.app.sinks import OutputSink
from vbatch.app.write_behind import DEPTH, WriteBehind
from vbatch.errors import EngineError
from vbatch.io.writers import ParquetWriter
from vbatch.kernels.protocol import EmitKind
from vbatch.lang import compile_text
from vbatch.plan.build import plan_program
from vbatch.runtime.pipeline import Emitted


def test_writes_run_in_the_order_they_were_handed_over() -> None:
    done: list[int] = []
    behind = WriteBehind()
    for i in range(200):
        behind.submit(lambda i=i: done.append(i))
    behind.drain()
    behind.stop()
    assert done == list(range(200))


def test_a_failure_is_raised_at_the_next_call_and_later_writes_are_skipped() -> None:
    done: list[int] = []
    behind = WriteBehind()

    def fail() -> None:
        raise OSError(28, "No space left on device")

    behind.submit(fail)
    with pytest.raises(OSError, match="No space"):
        behind.drain()
    with pytest.raises(OSError, match="No space"):  # every call, not just the first
        behind.submit(lambda: done.append(1))
    behind.stop()
    assert done == []


def test_stop_drops_waiting_writes_and_does_not_wait_forever_on_a_stuck_one() -> None:
    release, started, done = threading.Event(), threading.Event(), []

    def stuck() -> None:  # a write into a FIFO nobody reads
        started.set()
        release.wait(30)

    behind = WriteBehind()
    behind.submit(stuck)
    started.wait(5)
    for i in range(DEPTH):  # the queue is full behind the stuck write
        behind.submit(lambda i=i: done.append(i))
    began = time.monotonic()
    stopping = threading.Thread(target=behind.stop)
    stopping.start()
    time.sleep(0.2)
    release.set()
    stopping.join(10)
    assert not stopping.is_alive() and time.monotonic() - began < 10
    assert done == []


def _sink(tmp_path: Path) -> OutputSink:
    program = compile_text("stream S = A\n    .where(x > 0)\n", "p.vpl")
    return OutputSink(plan_program(program, contexts=False).logical, ParquetWriter(tmp_path / "o"))


def _rows(x: list[object]) -> Emitted:
    batch = pa.record_batch({"_ts": list(range(len(x))), "_seq": list(range(len(x))), "x": x})
    return Emitted("S", EmitKind.OUTPUT, batch)


def test_the_sink_writes_every_batch_behind_and_commits_on_close(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    for start in range(0, 1000, 10):
        sink.chunk(None, [_rows(list(range(start, start + 10)))])
    sink.close()
    assert pq.read_table(tmp_path / "o" / "S.parquet").column("x").to_pylist() == list(range(1000))


def test_a_write_failing_behind_fails_close_and_leaves_nothing(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    sink.chunk(None, [_rows([1, 2])])
    sink.chunk(None, [_rows(["a"])])  # a type no widening reaches: fails on the thread
    with pytest.raises(EngineError, match="stream S"):
        sink.close()
    assert list(tmp_path.rglob("*")) == []
