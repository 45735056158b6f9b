"""Runs a set of stream pipelines in one process, feeding each stream's output to its readers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from vbatch.kernels.protocol import EmitKind
from vbatch.plan.logical import LogicalPlan, StreamPlan
from vbatch.runtime.pipeline import Emitted, Port, StreamPipeline

Inputs = Iterable[tuple[str, pa.RecordBatch]]
Clocks = dict[str, pa.RecordBatch]  # source → `_ts`, `_seq` of all its rows of a step
Pending = dict[str, list[tuple[Port, pa.RecordBatch]]]


class Engine:
    """The streams of one process (the coordinator or a context), in topological order.

    Inputs are (source, batch) pairs where source is an event type or a stream that runs
    elsewhere; outputs of a stream are handed to the streams of this engine that read it.
    Each stream gets all of a step's inputs at once, so a merge sees them in arrival order.
    """

    def __init__(self, plan: LogicalPlan, streams: Iterable[str] | None = None) -> None:
        wanted = set(streams) if streams is not None else {s.name for s in plan.streams}
        self.plans: list[StreamPlan] = [s for s in plan.streams if s.name in wanted]
        self.pipelines = {s.name: StreamPipeline(s) for s in self.plans}
        self.readers: dict[str, list[tuple[str, Port]]] = {}
        for s in self.plans:
            for port, source in enumerate(s.inputs):
                self.readers.setdefault(source.name, []).append((s.name, port))

    def schemas(self) -> dict[str, pa.Schema]:
        """Output schemas of the streams rows have reached."""
        found = {name: p.output_schema for name, p in self.pipelines.items()}
        return {name: schema for name, schema in found.items() if schema is not None}

    def sources(self) -> set[str]:
        """Every event type or stream this engine's streams read."""
        return set(self.readers)

    def step(self, inputs: Inputs, clocks: Clocks | None = None) -> list[Emitted]:
        """Run input batches through every stream that reads them, downstream included.

        `clocks` gives, per source, `_ts` and `_seq` of all its rows of the step when the
        batches hold only some of them (a shard's keys): watermarks move with all rows.
        """
        return self._drain(self._pending(inputs), None, clocks or {})

    def advance(self, event_time: int, seq: int, inputs: Inputs = ()) -> list[Emitted]:
        """Let idle windowed streams close what their clock has passed (live sweeps)."""
        return self._drain(self._pending(inputs), lambda p: p.advance(event_time, seq))

    def finish(self, end_seq: int, inputs: Inputs = ()) -> list[Emitted]:
        """Flush every stream in order (end of input); `end_seq` is the closing seq."""
        return self._drain(self._pending(inputs), lambda p: p.finish(end_seq))

    def _pending(self, inputs: Inputs) -> Pending:
        pending: Pending = {s.name: [] for s in self.plans}
        for source, batch in inputs:
            for reader, port in self.readers.get(source, ()):
                pending[reader].append((port, batch))
        return pending

    def _drain(
        self,
        pending: Pending,
        then: Callable[[StreamPipeline], list[Emitted]] | None,
        clocks: Clocks | None = None,
    ) -> list[Emitted]:
        """Run each stream's pending inputs (then `then`), feeding outputs to its readers."""
        emitted: list[Emitted] = []
        for plan in self.plans:
            pipeline = self.pipelines[plan.name]
            clock = _clock_of(plan, clocks) if clocks else None
            if pending[plan.name] or clock is not None:
                produced = pipeline.process(pending[plan.name], clock)
            else:
                produced = []
            if then is not None:
                produced += then(pipeline)
            for item in produced:
                if item.kind is EmitKind.OUTPUT:
                    for reader, port in self.readers.get(plan.name, ()):
                        pending[reader].append((port, item.batch))
            emitted += produced
        return emitted


def _clock_of(plan: StreamPlan, clocks: Clocks) -> pa.RecordBatch | None:
    """The clock of a stream's ports (several: their rows in arrival order)."""
    found = [clocks[i.name] for i in plan.inputs if i.name in clocks]
    if len(found) <= 1:
        return found[0] if found else None
    table = pa.Table.from_batches(found)
    return table.sort_by("_seq").combine_chunks().to_batches()[0]
