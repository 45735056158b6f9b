"""vbatch: replays the workload's VPL program and keeps the compared streams' outputs in memory.

The same path as `vbatch.load(program).simulate(path)`, with a sink that keeps only the
streams the workload compares (the pipeline's `ValidReadings` rows are dropped as they come).
`--option no-contexts` runs every stream in this process. Reads Parquet or `.evt`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from benchmarks.peers.workloads import SESSION_GAP_MS, WORKLOADS


def missing() -> str | None:
    """vbatch is always here."""
    return None


def warm_up() -> None:
    """Import the engine and its kernels before the clock starts."""
    import vbatch.app.simulate  # noqa: F401


class KeepSink:
    """Keeps the output batches of some streams."""

    def __init__(self, streams: tuple[str, ...]) -> None:
        self.batches: dict[str, list[pa.RecordBatch]] = {s: [] for s in streams}

    def chunk(self, chunk: object, emitted: list) -> None:
        """Keep the wanted streams' output batches."""
        from vbatch.app.sinks import machine_columns
        from vbatch.kernels.protocol import EmitKind

        for item in emitted:
            if item.kind is EmitKind.OUTPUT and item.stream in self.batches:
                self.batches[item.stream].append(machine_columns(item.batch))


def compute(workload: str, path: Path, options: dict) -> dict[str, list[pa.RecordBatch]]:
    """Replay the program over the input; the compared streams' batches."""
    from vbatch.api import declared_schemas, load
    from vbatch.io import open_events
    from vbatch.io.source import ReadOptions
    from vbatch.plan.build import plan_program
    from vbatch.runtime.replay import Simulation
    from vbatch.runtime.runners import make_runner

    work = WORKLOADS[workload]
    compiled = load(work.program)
    contexts = "no-contexts" not in options["options"]
    reader = open_events(path, ReadOptions(schemas=declared_schemas(compiled.program)))
    sink = KeepSink(tuple(work.streams))
    physical = plan_program(compiled.program, contexts=contexts)
    runner = make_runner(physical)
    try:
        Simulation(physical, runner, [sink]).run(reader)
    finally:
        runner.close()
    return sink.batches


def tables(workload: str, result: dict[str, list[pa.RecordBatch]]) -> dict[str, pa.Table]:
    """vbatch's output columns renamed to the canonical ones."""
    out = {}
    for stream, batches in result.items():
        table = pa.Table.from_batches(batches) if batches else None
        if table is None:
            raise ValueError(f"{workload}: vbatch produced no {stream} rows")
        names = {"_ts": "timestamp", "_window_start": "window_start"}
        table = table.rename_columns([names.get(n, n) for n in table.column_names])
        if workload == "W3":
            table = table.rename_columns(
                ["session_start" if n == "window_start" else n for n in table.column_names]
            )
            last = pa.compute.subtract(table.column("_window_end"), SESSION_GAP_MS)
            table = table.append_column("session_last", last)
        out[stream] = table
    return out
