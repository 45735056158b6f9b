"""`vbatch simulate`: a replay wired together — reader, plan, runner, console and output files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from vbatch.app.declared import DeclaredFields
from vbatch.app.progress import ProgressSink
from vbatch.app.sinks import OutputSink
from vbatch.figures import Summary
from vbatch.io import open_events
from vbatch.io.formats import PARQUET_SUFFIXES
from vbatch.io.parquet import parquet_units, single_type
from vbatch.io.source import ErrorPolicy, ReadOptions
from vbatch.io.writers import OutputFormat, open_writer
from vbatch.lang.program import Program
from vbatch.plan.build import plan_program
from vbatch.plan.physical import PhysicalPlan
from vbatch.plan.trace import TraceOptions, traced
from vbatch.render import ConsoleRenderer
from vbatch.runtime.heartbeat import STALL_SECONDS
from vbatch.runtime.replay import Pacing, Simulation, Sink
from vbatch.runtime.runners import make_runner, prestart
from vbatch.runtime.sources import SourceLayout, source_layout


@dataclass(frozen=True)
class SimulateOptions:
    """Everything `vbatch simulate` was asked to do."""

    program: Program
    events: object
    read: ReadOptions
    immediate: bool = True
    speed: float = 1.0
    verbose: bool = False
    quiet: bool = False
    output: Path | None = None
    output_format: OutputFormat = OutputFormat.JSONL
    contexts: bool = True
    capacity: int | None = None
    stall_seconds: float = STALL_SECONDS
    progress: TextIO | None = None  # a terminal for the progress line of a long replay
    connector_sinks: bool = False  # publish `.to(...)` rows to their connectors (--sinks)


def placed(program: Program, *, contexts: bool, trace: TraceOptions) -> PhysicalPlan:
    """The program's physical plan, with the console's taps when `trace` asks for them."""
    physical = plan_program(program, contexts=contexts)
    return replace(physical, logical=traced(physical.logical, trace))


def workers_read(
    physical: PhysicalPlan, events: object, read: ReadOptions, *, paced: bool, traced: bool
) -> SourceLayout | None:
    """How the context workers read the input themselves, when they can; None: the
    coordinator reads it and sends each worker its rows.

    Workers read a Parquet input of one event type, replayed as fast as possible, when
    every stream reading events runs in a context and nothing needs the input rows here
    (the `--verbose` trace shows them; `--on-error skip` keeps a single dead-letter file).
    """
    if not physical.uses_processes or paced or traced:
        return None
    if read.on_error is not ErrorPolicy.FAIL or not isinstance(events, str | Path):
        return None
    path = Path(events)
    if not (path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES):
        return None
    local = [physical.logical.stream(name) for name in physical.feeders]
    if any(s.reads_events for s in local) or not single_type(path, read):
        return None
    return source_layout(physical, parquet_units(path), read)


def run_simulate(options: SimulateOptions, write: Callable[[str], None]) -> Summary:
    """Replay the events through the program, rendering to `write` and writing outputs."""
    program = options.program
    # With an output, rows go there; the console shows them only when asked (--verbose).
    rows_shown = not options.quiet and (options.output is None or options.verbose)
    trace = TraceOptions(window_rows=rows_shown, filter_reasons=options.verbose)
    physical = placed(program, contexts=options.contexts, trace=trace)
    if physical.uses_processes:
        prestart()
    plan = physical.logical
    reader = open_events(options.events, options.read)
    console = ConsoleRenderer(plan, write, verbose=options.verbose, quiet=not rows_shown)
    sinks: list[Sink] = [console] if rows_shown else []
    progress = ProgressSink(options.progress) if options.progress is not None else None
    if progress is not None:
        sinks.append(progress)
    output = None
    if options.output is not None:
        output = OutputSink(plan, open_writer(options.output_format, options.output))
        sinks.append(output)
    connectors = None
    if options.connector_sinks:
        from vbatch.app.connectors import open_connectors

        connectors = open_connectors(program, _warn, command="vbatch simulate", sources=False)
        sinks.append(connectors)
        for notice in connectors.notices():
            _warn(notice)
    rows_wanted = bool(sinks)
    declared = DeclaredFields(program) if program.events else None
    if declared is not None:
        sinks.append(declared)
    layout = workers_read(
        physical, options.events, options.read, paced=not options.immediate, traced=options.verbose
    )
    runner = make_runner(
        physical,
        send_rows=rows_wanted,
        capacity=options.capacity,
        layout=layout,
        stall_seconds=options.stall_seconds,
    )
    pacing = None if options.immediate else Pacing(speed=options.speed)
    console.start(len(program.contexts))
    simulation = Simulation(physical, runner, sinks, pacing, len(program.contexts))
    try:
        if connectors is not None:
            connectors.start_sinks()
        with program.errors_point_here():
            summary = simulation.run(reader)
    except BaseException:
        if output is not None:
            output.abort()
        raise
    finally:
        runner.close()
        if connectors is not None:
            connectors.close_sinks()
        if progress is not None:
            progress.close()
    if output is not None:
        output.close()
    summary = replace(summary, bad_records=reader.stats.bad_records)
    for warning in declared.warnings() if declared is not None else ():
        print(warning.render(), file=sys.stderr, flush=True)
    console.finish(summary)
    return summary


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
