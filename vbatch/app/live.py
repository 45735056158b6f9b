"""`vbatch run`: a live run wired together — sources, micro-batches, runner, outputs, metrics.

Lines arrive on the ingest queue from the live sources (`vbatch/io/live/`); micro-batches
are cut and swept by `runtime/live.py`; each is run and its outputs written (and flushed)
at once. SIGINT / SIGTERM or the end of every source that can end stop the reading;
every open window is then flushed and written.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from vbatch.app.connectors import open_connectors
from vbatch.app.sinks import OutputSink
from vbatch.figures import InputFigures
from vbatch.io.bad_records import BadRecord
from vbatch.io.evt import EvtLineParser
from vbatch.io.live import LiveSource, SourceSpec, open_source
from vbatch.io.live.ingest import Ingest, Refused
from vbatch.io.live.scrape import ScrapeEndpoint
from vbatch.io.live.server import Endpoint, Guard
from vbatch.io.source import InputChunk, ReadOptions, Sweep
from vbatch.io.writers import JsonlWriter
from vbatch.lang.program import Program
from vbatch.metrics import Metrics, MetricsSource
from vbatch.plan.build import plan_program
from vbatch.runtime.live import MicroBatcher, sweep_seconds
from vbatch.runtime.pipeline import Emitted
from vbatch.runtime.runners import make_runner

DEFAULT_BATCH_SIZE = 4096
DEFAULT_LINGER_MS = 5.0
SWITCH_INTERVAL_SECONDS = 0.0005


@dataclass(frozen=True)
class LiveOptions:
    """Everything `vbatch run` was asked to do."""

    program: Program
    read: ReadOptions
    sources: tuple[SourceSpec, ...] = (SourceSpec("stdin"),)
    linger_ms: float = DEFAULT_LINGER_MS
    output: Path | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    contexts: bool = True
    capacity: int | None = None
    notices: tuple[str, ...] = ()  # reported once every endpoint listens
    guard: Guard = field(default_factory=Guard)  # connection cap and idle timeout of /metrics


@dataclass
class LiveSummary:
    """What a live run did, for its closing line."""

    inputs: InputFigures = field(default_factory=InputFigures)
    outputs: int = 0


class LiveRun:
    """One `vbatch run`."""

    def __init__(self, options: LiveOptions, out: BinaryIO, report: Callable[[str], None]) -> None:
        self.options = options
        self.physical = plan_program(options.program, contexts=options.contexts)
        self.plan = self.physical.logical
        self.report = report
        self.summary = LiveSummary()
        self.parser = EvtLineParser(options.read, "<stdin>")
        self.parser.on_skip = self._bad_line
        self.sources: list[LiveSource] = [open_source(spec) for spec in options.sources]
        self.connectors = open_connectors(options.program, report)
        self.sources += self.connectors.sources
        self._by_origin = {f"{f.kind}:{f.name}": f for f in self.connectors.figures}
        self.ingest = Ingest(sources=sum(1 for s in self.sources if s.ends), report=report)
        self.batcher = MicroBatcher(
            self.ingest,
            self.parser,
            batch_size=options.read.batch_size,
            linger_ms=options.linger_ms,
            sweep_every=sweep_seconds(self.plan),
            refused=self._refused,
        )
        self.out = out
        self.sink: OutputSink | None = None
        self.runner = make_runner(self.physical, capacity=options.capacity)
        self.metrics: Metrics | None = None
        self.scrape: ScrapeEndpoint | None = None
        self.stopping = threading.Event()
        self.refused = 0

    def run(self) -> LiveSummary:
        """Serve until the input ends or a signal asks to stop; flush everything."""
        previous = self._install_signals()
        interval = sys.getswitchinterval()
        # Several threads hand batches to each other; a short GIL switch interval keeps each
        # hand-off from waiting out the default 5 ms.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        try:
            # Endpoints first: one that cannot listen stops the run before any output is opened.
            self.metrics = self._metrics()
            for source in self.sources:
                source.start(self.ingest)
            for notice in (*self.options.notices, *self.connectors.notices()):
                self.report(notice)
            self.connectors.start_sinks()
            self.sink = self._sink()
            with self.options.program.errors_point_here():
                self.runner.run(self._counted(), self._deliver)
            self.sink.close()
            self.batcher.processed(float("inf"))  # every event read is processed: acknowledge
        except BaseException:
            if self.sink is not None:
                self.sink.abort()
            raise
        finally:
            sys.setswitchinterval(interval)
            self._restore_signals(previous)
            self.ingest.close()
            for source in self.sources:
                source.stop()
            self.connectors.close_sinks()
            if self.scrape is not None:
                self.scrape.stop()
            self.runner.close()
            self.parser.close()
        return self.summary

    def _sink(self) -> OutputSink:
        """JSON lines to `--output` (written in place, batch by batch) or standard output."""
        output = self.options.output
        writer = JsonlWriter(self.out) if output is None else JsonlWriter(output, in_place=True)
        return OutputSink(self.plan, writer)

    def _counted(self) -> Iterator[InputChunk | Sweep]:
        for item in self.batcher.items():
            if isinstance(item, InputChunk):
                self.summary.inputs.events += item.count
                self._count_bad()
            yield item

    def _count_bad(self) -> None:
        self.summary.inputs.bad_records = self.refused + self.parser.stats.bad_records

    def _bad_line(self, record: BadRecord) -> None:
        figures = self._by_origin.get(record.path)
        if figures is not None:
            figures.bad_records += 1
        self.report(f"{record.path}:{record.line}:{record.column}: {record.reason} (skipped)")

    def _refused(self, item: Refused) -> None:
        self.refused += 1
        figures = self._by_origin.get(item.origin)
        if figures is not None:
            figures.bad_records += 1
        self._count_bad()
        self.report(f"{item.origin}:{item.line}: {item.reason} (refused: {item.preview!r}...)")

    # ---- output ------------------------------------------------------------------

    def _deliver(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        assert self.sink is not None
        self.sink.chunk(chunk, emitted)
        self.sink.writer.flush()
        self.connectors.send(emitted)
        if chunk is not None:
            self.batcher.processed(chunk.first_seq + chunk.count)
        self.summary.outputs = self.sink.rows
        self.summary.inputs.batches += 1
        if chunk is not None and chunk.count:
            started = self.batcher.arrivals.pop(chunk.first_seq, None)
            if started is not None and self.metrics is not None:
                self.metrics.latency.observe(time.monotonic() - started)

    # ---- metrics and signals -------------------------------------------------------

    def _metrics(self) -> Metrics | None:
        if self.options.metrics_port is None:
            return None
        contexts = {s.name: s.context for s in self.plan.streams}
        source = MetricsSource(
            self.runner.counters,
            contexts,
            self.runner.links,
            self.summary.inputs,
            self.runner.heartbeat_ages,
            lambda: self.connectors.figures,
        )
        metrics = Metrics(source)
        endpoint = Endpoint(self.options.metrics_host, self.options.metrics_port)
        self.scrape = ScrapeEndpoint(endpoint, metrics.registry, self.options.guard)
        self.scrape.start(self.ingest)
        return metrics

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
        if self.stopping.is_set():
            raise KeyboardInterrupt
        self.stopping.set()
        self.ingest.close()  # never blocks: the main thread is the one draining the queue
