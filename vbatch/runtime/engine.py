"""Runs a set of stream pipelines in one process, feeding each stream's output to its readers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from vbatch.plan.logical import LogicalPlan, StreamPlan
from vbatch.runtime.pipeline import EmitKind, Emitted, StreamPipeline, TraceOptions

Inputs = Iterable[tuple[str, pa.RecordBatch]]


class Engine:
    """The streams of one process (the coordinator or a context), in topological order.

    Inputs are (source, batch) pairs where source is an event type or a stream that runs
    elsewhere; outputs of a stream are handed to the streams of this engine that read it.
    """

    def __init__(
        self,
        plan: LogicalPlan,
        streams: Iterable[str] | None = None,
        trace: TraceOptions | None = None,
    ) -> None:
        wanted = set(streams) if streams is not None else {s.name for s in plan.streams}
        self.plans: list[StreamPlan] = [s for s in plan.streams if s.name in wanted]
        self.pipelines = {s.name: StreamPipeline(s, trace) for s in self.plans}
        self.readers: dict[str, list[str]] = {}
        for s in self.plans:
            self.readers.setdefault(s.source, []).append(s.name)

    def sources(self) -> set[str]:
        """Every event type or stream this engine's streams read."""
        return set(self.readers)

    def step(self, inputs: Inputs) -> list[Emitted]:
        """Run input batches through every stream that reads them, downstream included."""
        return self._drain(self._pending(inputs), None)

    def advance(self, event_time: int, seq: int, inputs: Inputs = ()) -> list[Emitted]:
        """Let idle windowed streams close what their clock has passed (live sweeps)."""
        return self._drain(self._pending(inputs), lambda p: p.advance(event_time, seq))

    def finish(self, end_seq: int, inputs: Inputs = ()) -> list[Emitted]:
        """Flush every stream in order (end of input); `end_seq` is the closing seq."""
        return self._drain(self._pending(inputs), lambda p: p.finish(end_seq))

    def _pending(self, inputs: Inputs) -> dict[str, list[pa.RecordBatch]]:
        pending: dict[str, list[pa.RecordBatch]] = {s.name: [] for s in self.plans}
        for source, batch in inputs:
            for reader in self.readers.get(source, ()):
                pending[reader].append(batch)
        return pending

    def _drain(
        self,
        pending: dict[str, list[pa.RecordBatch]],
        then: Callable[[StreamPipeline], list[Emitted]] | None,
    ) -> list[Emitted]:
        """Run each stream's pending inputs (then `then`), feeding outputs to its readers."""
        emitted: list[Emitted] = []
        for plan in self.plans:
            pipeline = self.pipelines[plan.name]
            produced: list[Emitted] = []
            for batch in pending[plan.name]:
                produced += pipeline.process(batch)
            if then is not None:
                produced += then(pipeline)
            for item in produced:
                if item.kind is EmitKind.OUTPUT:
                    for reader in self.readers.get(plan.name, ()):
                        pending[reader].append(item.batch)
            emitted += produced
        return emitted
