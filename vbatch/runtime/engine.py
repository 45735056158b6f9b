"""Runs a set of stream pipelines in one process, feeding each stream's output to its readers."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from vbatch.plan.logical import LogicalPlan, StreamPlan
from vbatch.runtime.pipeline import EmitKind, Emitted, StreamPipeline, TraceOptions


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

    def step(self, inputs: Iterable[tuple[str, pa.RecordBatch]]) -> list[Emitted]:
        """Run input batches through every stream that reads them, downstream included."""
        pending = self._pending()
        for source, batch in inputs:
            for reader in self.readers.get(source, ()):
                pending[reader].append(batch)
        return self._drain(pending, end_seq=None)

    def finish(
        self, end_seq: int, inputs: Iterable[tuple[str, pa.RecordBatch]] = ()
    ) -> list[Emitted]:
        """Flush every stream in order (end of input); `end_seq` is the closing seq."""
        pending = self._pending()
        for source, batch in inputs:
            for reader in self.readers.get(source, ()):
                pending[reader].append(batch)
        return self._drain(pending, end_seq=end_seq)

    def _pending(self) -> dict[str, list[pa.RecordBatch]]:
        return {s.name: [] for s in self.plans}

    def _drain(
        self, pending: dict[str, list[pa.RecordBatch]], end_seq: int | None
    ) -> list[Emitted]:
        emitted: list[Emitted] = []
        for plan in self.plans:
            pipeline = self.pipelines[plan.name]
            produced: list[Emitted] = []
            for batch in pending[plan.name]:
                produced += pipeline.process(batch)
            if end_seq is not None:
                produced += pipeline.finish(end_seq)
            for item in produced:
                if item.kind is EmitKind.OUTPUT:
                    for reader in self.readers.get(plan.name, ()):
                        pending[reader].append(item.batch)
            emitted += produced
        return emitted
