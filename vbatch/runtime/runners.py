"""Runners: the streams of a physical plan, in this process or across context workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from vbatch.figures import LinkFigures, StreamCounters
from vbatch.io.source import InputChunk, Sweep
from vbatch.plan.physical import PhysicalPlan
from vbatch.runtime.engine import Engine
from vbatch.runtime.pipeline import Deliver

if TYPE_CHECKING:
    from vbatch.runtime.sources import SourceLayout


class Runner(Protocol):
    """Runs the streams of a plan: in this process, or across context workers."""

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Run every chunk (or sweep), then the end-of-input flush; hand results to `deliver`."""
        ...

    def counters(self) -> dict[str, StreamCounters]:
        """Per-stream counters, complete once `run` returns."""
        ...

    def links(self) -> list[LinkFigures]:
        """The queues between processes (none in one process)."""
        ...

    def schemas(self) -> dict[str, pa.Schema]:
        """Output schemas of the streams of this process that rows have reached."""
        ...

    def heartbeat_ages(self) -> dict[str, float]:
        """Seconds since each worker process last showed a sign of life (none here)."""
        ...

    def close(self) -> None:
        """Release processes and queues."""
        ...


class LocalRunner:
    """Every stream in this process."""

    def __init__(self, physical: PhysicalPlan) -> None:
        self.engine = Engine(physical.logical)

    def run(self, chunks: Iterable[InputChunk | Sweep], deliver: Deliver) -> None:
        """Run the chunks one after the other."""
        events = 0
        for item in chunks:
            if isinstance(item, Sweep):
                deliver(item.as_chunk(), self.engine.advance(item.event_time, item.next_seq))
                continue
            deliver(item, self.engine.step((b.event_type, b.batch) for b in item.batches))
            events += item.count
        deliver(None, self.engine.finish(events))

    def counters(self) -> dict[str, StreamCounters]:
        """Per-stream counters."""
        return {name: p.counters for name, p in self.engine.pipelines.items()}

    def links(self) -> list[LinkFigures]:
        """No queues in one process."""
        return []

    def schemas(self) -> dict[str, pa.Schema]:
        """Output schemas of the streams rows have reached."""
        return self.engine.schemas()

    def heartbeat_ages(self) -> dict[str, float]:
        """No worker processes."""
        return {}

    def close(self) -> None:
        """Nothing to release."""


def make_runner(
    physical: PhysicalPlan,
    *,
    send_rows: bool = True,
    capacity: int | None = None,
    layout: SourceLayout | None = None,
    stall_seconds: float | None = None,
) -> Runner:
    """Worker processes for the plan's contexts, or everything in this process.

    With a `layout` the workers read the input themselves (`runtime/sources.py`).
    """
    if not physical.uses_processes:
        return LocalRunner(physical)
    from vbatch.runtime.coordinator import ContextRunner

    extra: dict[str, float] = {} if capacity is None else {"capacity": capacity}
    if stall_seconds is not None:
        extra["stall_seconds"] = stall_seconds
    return ContextRunner(physical, send_rows=send_rows, layout=layout, **extra)  # type: ignore[arg-type]


def prestart() -> None:
    """Start what worker processes are forked from, ahead of the run that needs them."""
    from vbatch.runtime.forkserver import prestart as start_fork_server

    start_fork_server()
