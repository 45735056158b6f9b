"""Live micro-batching: lines from the ingest queue become chunks; sweeps while it is quiet.

A micro-batch is cut when it holds `batch_size` lines or its first line has waited
`linger`; whatever else is already waiting joins it, so batches grow under load. While
the input is quiet, a sweep moves every stream's clock on by the wall time that has
passed, so the last session of a quiet user closes without a trailing event.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io.evt import EvtLineParser
from vbatch.io.live.ingest import End, Ingest, Lines, Refused
from vbatch.io.source import EventBatch, InputChunk, Sweep
from vbatch.plan.logical import LogicalPlan

MIN_SWEEP_SECONDS = 0.02
MAX_SWEEP_SECONDS = 1.0


class EventClock:
    """The input's event time now: the latest event time, moved on by wall time since."""

    def __init__(self) -> None:
        self.latest: int | None = None
        self.seen_at = 0.0

    def saw(self, chunk: InputChunk) -> None:
        """Note the latest event time of a chunk."""
        times = [int(pc.max(b.batch.column("_ts")).as_py()) for b in chunk.batches]
        if times and (self.latest is None or max(times) >= self.latest):
            self.latest = max(times)
            self.seen_at = time.monotonic()

    def now(self) -> int | None:
        """Event time now, or None before the first event."""
        if self.latest is None:
            return None
        return self.latest + int((time.monotonic() - self.seen_at) * 1000)


def sweep_seconds(plan: LogicalPlan) -> float:
    """How often idle streams are swept: a quarter of the shortest period a window resolves."""
    periods = [
        p
        for p in (s.window.window.sweep_period_ms for s in plan.streams if s.window is not None)
        if p is not None
    ]
    if not periods:
        return MAX_SWEEP_SECONDS
    return min(max(min(periods) / 4000, MIN_SWEEP_SECONDS), MAX_SWEEP_SECONDS)


def merge_chunks(chunks: list[InputChunk]) -> InputChunk:
    """Consecutive chunks as one: batches of the same type concatenated."""
    by_type: dict[str, list[pa.RecordBatch]] = {}
    for chunk in chunks:
        for item in chunk.batches:
            by_type.setdefault(item.event_type, []).append(item.batch)
    batches = tuple(
        EventBatch(name, parts[0] if len(parts) == 1 else pa.concat_batches(parts))
        for name, parts in by_type.items()
    )
    return InputChunk(batches, chunks[0].first_seq, sum(c.count for c in chunks))


def joined_blocks(pending: list[Lines]) -> list[Lines]:
    """Consecutive blocks of one origin as one block (one parse instead of several)."""
    runs: list[list[Lines]] = []
    next_line = 0
    for lines in pending:
        if runs and runs[-1][-1].origin == lines.origin and lines.first_line == next_line:
            runs[-1].append(lines)
        else:
            runs.append([lines])
        next_line = lines.first_line + lines.data.count(b"\n")
    return [
        run[0] if len(run) == 1 else replace(run[0], data=b"".join(part.data for part in run))
        for run in runs
    ]


class MicroBatcher:
    """Cuts what the ingest queue delivers into chunks and sweeps.

    `refused` hears of input refused at the door; `arrivals` maps each chunk's first seq
    to when its first line arrived (for the latency metric). The acknowledgements of the
    lines in a chunk wait until `processed` says the run is past the chunk's last event.
    """

    def __init__(
        self,
        ingest: Ingest,
        parser: EvtLineParser,
        *,
        batch_size: int,
        linger_ms: float,
        sweep_every: float,
        refused: Callable[[Refused], None],
    ) -> None:
        self.ingest = ingest
        self.parser = parser
        self.batch_size = batch_size
        self.linger = linger_ms / 1000
        self.sweep_every = sweep_every
        self.refused = refused
        self.clock = EventClock()
        self.arrivals: dict[int, float] = {}
        self._dones: list[Callable[[], None]] = []  # of the chunk being formed
        self._waiting_acks: collections.deque[tuple[int, list[Callable[[], None]]]] = (
            collections.deque()
        )

    def items(self) -> Iterator[InputChunk | Sweep]:
        """Chunks and sweeps until every source has ended (or the run was stopped)."""
        pending: list[Lines] = []
        lines, started = 0, 0.0
        next_sweep = time.monotonic() + self.sweep_every
        ended = False
        while not ended:
            deadline = min(started + self.linger if pending else next_sweep, next_sweep)
            item = self.ingest.get(deadline - time.monotonic())
            ended = isinstance(item, End)
            if isinstance(item, Lines) and not pending:
                started = item.arrived
            lines += self._take(item, pending)
            now = time.monotonic()
            if pending and (ended or lines >= self.batch_size or now >= started + self.linger):
                # Whatever else is already waiting joins this batch: under load, batches
                # grow and their fixed cost is shared by more events.
                while lines < self.batch_size and not ended:
                    more = self.ingest.get(0)
                    if more is None:
                        break
                    ended = isinstance(more, End)
                    lines += self._take(more, pending)
                yield self._chunk(pending, started)
                pending, lines = [], 0
            if now >= next_sweep:
                event_time = self.clock.now()
                if event_time is not None:
                    yield Sweep(event_time, self.parser.stats.events)
                next_sweep = now + self.sweep_every

    def _take(self, item: object, pending: list[Lines]) -> int:
        """Add an ingest item to the batch being formed; the number of lines it adds."""
        if isinstance(item, Refused):
            self.refused(item)
        elif isinstance(item, Lines):
            pending.append(item)
            if item.done is not None:
                self._dones.append(item.done)
            return item.data.count(b"\n")
        return 0

    def _chunk(self, pending: list[Lines], started: float) -> InputChunk:
        arrival_ms = int(time.time() * 1000)
        parts = [
            self.parser.parse(
                lines.data,
                first_line=lines.first_line,
                arrival_ms=arrival_ms,
                source_name=lines.origin,
            )
            for lines in joined_blocks(pending)
        ]
        chunk = merge_chunks(parts)
        self.clock.saw(chunk)
        self.arrivals[chunk.first_seq] = started
        if self._dones:
            self._waiting_acks.append((chunk.first_seq + chunk.count, self._dones))
            self._dones = []
        return chunk

    def processed(self, up_to_seq: float) -> None:
        """Every event before `up_to_seq` is processed: acknowledge the lines they came from."""
        while self._waiting_acks and self._waiting_acks[0][0] <= up_to_seq:
            for done in self._waiting_acks.popleft()[1]:
                done()
