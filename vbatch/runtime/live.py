"""`vbatch run`: live streaming — micro-batches by size or linger time, sweeps while idle.

Lines arrive on the ingest queue from stdin, a followed file, or TCP/HTTP endpoints. A
micro-batch is cut when it holds `batch_size` lines or its first line has waited `linger`;
each is parsed, run, and its outputs written (and flushed) at once. While the input is
quiet, a sweep moves every stream's clock on by the wall time that has passed, so the
last session of a quiet user closes without a trailing event. SIGINT / SIGTERM or the end
of standard input stop the reading; every open window is then flushed and written.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from vbatch.io.bad_records import BadRecord
from vbatch.io.evt import EvtLineParser
from vbatch.io.ingest import (
    End,
    FollowSource,
    Ingest,
    Lines,
    Refused,
    StreamSource,
    http_source,
    tcp_source,
)
from vbatch.io.source import EventBatch, InputChunk, ReadOptions, Sweep
from vbatch.io.writers import JsonlWriter
from vbatch.lang.program import Program, WindowKind
from vbatch.metrics import InputFigures, LinkFigures, Metrics, MetricsSource
from vbatch.plan.build import plan_program
from vbatch.plan.logical import LogicalPlan
from vbatch.runtime.outputs import OutputSink
from vbatch.runtime.pipeline import Emitted, TraceOptions
from vbatch.runtime.simulate import make_runner

DEFAULT_BATCH_SIZE = 4096
DEFAULT_LINGER_MS = 5.0
MIN_SWEEP_SECONDS = 0.02
MAX_SWEEP_SECONDS = 1.0
SWITCH_INTERVAL_SECONDS = 0.0005


@dataclass(frozen=True)
class LiveOptions:
    """Everything `vbatch run` was asked to do."""

    program: Program
    read: ReadOptions
    stdin: bool = True
    follow: Path | None = None
    tcp: tuple[str, int] | None = None
    http: tuple[str, int] | None = None
    linger_ms: float = DEFAULT_LINGER_MS
    output: Path | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    contexts: bool = True
    capacity: int | None = None


@dataclass
class LiveSummary:
    """What a live run did, for its closing line."""

    inputs: InputFigures = field(default_factory=InputFigures)
    outputs: int = 0


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
    """How often idle streams are swept: a quarter of the shortest gap or slide."""
    periods = [
        w.window.size if w.window.kind is WindowKind.SESSION else w.window.slide
        for w in (s.window for s in plan.streams)
        if w is not None and w.window.kind is not WindowKind.COUNT
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


class LiveRun:
    """One `vbatch run`."""

    def __init__(self, options: LiveOptions, out: BinaryIO, report: Callable[[str], None]) -> None:
        self.options = options
        self.plan = plan_program(options.program)
        self.report = report
        self.summary = LiveSummary()
        self.parser = EvtLineParser(options.read, "<stdin>")
        self.parser.on_skip = self._bad_line
        self.clock = EventClock()
        self.stop = threading.Event()
        self.ingest = Ingest(sources=int(options.stdin) + int(options.follow is not None))
        writer = JsonlWriter(options.output if options.output is not None else out)
        self.sink = OutputSink(self.plan, writer)
        self.runner = make_runner(
            options.program, self.plan, TraceOptions(), contexts=options.contexts,
            capacity=options.capacity,
        )  # fmt: skip
        self.metrics = self._metrics()
        self._arrivals: dict[int, float] = {}

    def run(self) -> LiveSummary:
        """Serve until the input ends or a signal asks to stop; flush everything."""
        self._start_sources()
        previous = self._install_signals()
        interval = sys.getswitchinterval()
        # Several threads hand batches to each other; a short GIL switch interval keeps each
        # hand-off from waiting out the default 5 ms.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        try:
            with self.options.program.errors_point_here():
                self.runner.run(self._items(), self._deliver)
            self.sink.close()
        except BaseException:
            self.sink.abort()
            raise
        finally:
            sys.setswitchinterval(interval)
            self._restore_signals(previous)
            self.runner.close()
            self.parser.close()
        return self.summary

    # ---- input -------------------------------------------------------------------

    def _start_sources(self) -> None:
        options = self.options
        if options.stdin:
            StreamSource(self.ingest).start()
        if options.follow is not None:
            FollowSource(self.ingest, options.follow, self.stop).start()
        if options.tcp is not None:
            tcp_source(self.ingest, *options.tcp)
        if options.http is not None:
            http_source(self.ingest, *options.http)

    def _items(self) -> Iterator[InputChunk | Sweep]:
        batch_size = self.options.read.batch_size
        linger = self.options.linger_ms / 1000
        interval = sweep_seconds(self.plan)
        pending: list[Lines] = []
        lines, started = 0, 0.0
        next_sweep = time.monotonic() + interval
        ended = False
        while not ended:
            deadline = min(started + linger if pending else next_sweep, next_sweep)
            item = self.ingest.get(deadline - time.monotonic())
            ended = isinstance(item, End)
            if isinstance(item, Lines) and not pending:
                started = item.arrived
            lines += self._take(item, pending)
            now = time.monotonic()
            if pending and (ended or lines >= batch_size or now >= started + linger):
                # Whatever else is already waiting joins this batch: under load, batches
                # grow and their fixed cost is shared by more events.
                while lines < batch_size and not ended:
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
                next_sweep = now + interval

    def _take(self, item: object, pending: list[Lines]) -> int:
        """Add an ingest item to the batch being formed; the number of lines it adds."""
        if isinstance(item, Refused):
            self._refused(item)
        elif isinstance(item, Lines):
            pending.append(item)
            return item.data.count(b"\n")
        return 0

    def _chunk(self, pending: list[Lines], started: float) -> InputChunk:
        arrival_ms = int(time.time() * 1000)
        bad_before = self.parser.stats.bad_records
        parts = []
        for lines in joined_blocks(pending):
            parsed = self.parser.parse(
                lines.data,
                first_line=lines.first_line,
                arrival_ms=arrival_ms,
                source_name=lines.origin,
            )
            parts.append(parsed)
        chunk = merge_chunks(parts)
        self.clock.saw(chunk)
        self._arrivals[chunk.first_seq] = started
        figures = self.summary.inputs
        figures.events += chunk.count
        figures.bad_records += self.parser.stats.bad_records - bad_before
        return chunk

    def _bad_line(self, record: BadRecord) -> None:
        self.report(f"{record.path}:{record.line}:{record.column}: {record.reason} (skipped)")

    def _refused(self, item: Refused) -> None:
        self.summary.inputs.bad_records += 1
        self.report(f"{item.origin}:{item.line}: {item.reason} (refused: {item.preview!r}...)")

    # ---- output ------------------------------------------------------------------

    def _deliver(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        self.sink.chunk(chunk, emitted)
        self.sink.writer.flush()
        self.summary.outputs = self.sink.rows
        self.summary.inputs.batches += 1
        if chunk is not None and chunk.count:
            started = self._arrivals.pop(chunk.first_seq, None)
            if started is not None and self.metrics is not None:
                self.metrics.latency.observe(time.monotonic() - started)

    # ---- metrics and signals -------------------------------------------------------

    def _metrics(self) -> Metrics | None:
        if self.options.metrics_port is None:
            return None
        contexts = {s.name: s.context for s in self.plan.streams}
        source = MetricsSource(self.runner.counters, contexts, self._links, self.summary.inputs)
        metrics = Metrics(source)
        metrics.serve(self.options.metrics_port, self.options.metrics_host)
        return metrics

    def _links(self) -> list[LinkFigures]:
        links = getattr(self.runner, "links", None)
        return [] if links is None else links()

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _on_signal(self, number: int, frame: object) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        self.ingest.close()
