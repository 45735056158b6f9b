"""The Python API: compile a program, replay events, get one Arrow table per stream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from vbatch.errors import InputError
from vbatch.io import open_events
from vbatch.io.source import DEFAULT_BATCH_SIZE, InputChunk, ReadOptions
from vbatch.lang import compile_text
from vbatch.lang.program import Program
from vbatch.plan.build import plan_program
from vbatch.plan.logical import LogicalPlan
from vbatch.render import Summary
from vbatch.runtime.outputs import machine_columns
from vbatch.runtime.pipeline import EmitKind, Emitted, TraceOptions
from vbatch.runtime.simulate import Simulation, make_runner


class CollectSink:
    """Keeps every stream's outputs in memory, for the Python API."""

    def __init__(self, plan: LogicalPlan) -> None:
        self.batches: dict[str, list[pa.RecordBatch]] = {s.name: [] for s in plan.streams}

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Keep the output batches."""
        for item in emitted:
            if item.kind is EmitKind.OUTPUT:
                self.batches[item.stream].append(machine_columns(item.batch))

    def tables(self) -> dict[str, pa.Table]:
        """One table per stream (a stream without outputs gets an empty `_ts` table)."""
        result = {}
        for name, batches in self.batches.items():
            if batches:
                result[name] = pa.Table.from_batches(batches).combine_chunks()
            else:
                result[name] = pa.table({"_ts": pa.array([], pa.int64())})
        return result


@dataclass(frozen=True)
class Result(Mapping[str, pa.Table]):
    """The outputs of a replay: `result["ZoneStats"]` is that stream's pyarrow Table."""

    tables: dict[str, pa.Table]
    summary: Summary
    bad_records: int = 0

    def __getitem__(self, stream: str) -> pa.Table:
        try:
            return self.tables[stream]
        except KeyError:
            known = ", ".join(self.tables)
            raise KeyError(f"no stream {stream!r}; streams: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def to_pandas(self, stream: str):  # noqa: ANN201 - pandas is optional
        """One stream's outputs as a pandas DataFrame."""
        return self[stream].to_pandas()

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}: {t.num_rows} rows" for n, t in self.tables.items())
        return f"Result({counts})"

    def _repr_html_(self) -> str:
        from vbatch.notebook import result_html

        return result_html(self)


@dataclass(frozen=True)
class CompiledProgram:
    """A checked and planned VPL program."""

    program: Program
    plan: LogicalPlan = field(repr=False)

    def _repr_html_(self) -> str:
        from vbatch.notebook import program_html

        return program_html(self)

    @property
    def streams(self) -> tuple[str, ...]:
        """Stream names in declaration order."""
        return tuple(s.name for s in self.program.streams)

    @property
    def contexts(self) -> tuple[str, ...]:
        """Declared context names."""
        return tuple(c.name for c in self.program.contexts)

    def simulate(
        self,
        events: object,
        *,
        event_type: str | None = None,
        time_column: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        contexts: bool = True,
    ) -> Result:
        """Replay events (a path, a pyarrow Table/RecordBatchReader or a pandas DataFrame).

        With `contexts=True` each declared context runs in its own worker process; the
        results are the same either way.

        >>> program = compile('stream Hot = SensorReading .where(value > 50)')
        >>> program.simulate("examples/first_context.evt")["Hot"].num_rows
        3
        """
        options = ReadOptions(
            batch_size=batch_size,
            event_type=event_type,
            time_column=time_column,
            schemas=declared_schemas(self.program),
        )
        reader = open_events(events, options)
        collect = CollectSink(self.plan)
        runner = make_runner(self.program, self.plan, TraceOptions(), contexts=contexts)
        try:
            summary = Simulation(self.program, self.plan, runner, [collect]).run(reader)
        finally:
            runner.close()
        return Result(collect.tables(), summary, reader.stats.bad_records)


def compile(source: str, name: str = "<string>") -> CompiledProgram:  # noqa: A001
    """Compile VPL source text.

    >>> compile("context c\\nstream S = E .context(c) .where(x > 1)").contexts
    ('c',)
    """
    program = compile_text(source, name)
    return CompiledProgram(program, plan_program(program))


def load(path: str | Path) -> CompiledProgram:
    """Compile the VPL program in a file.

    >>> load("examples/pipeline.vpl").streams
    ('ValidReadings', 'ZoneStats', 'OverheatAlerts')
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", path=str(path)) from None
    return compile(text, str(path))


_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.int64(),
}


def declared_schemas(program: Program) -> dict[str, pa.Schema]:
    """Arrow schemas of the program's `event` declarations."""
    return {
        event.name: pa.schema([(name, _ARROW_TYPES[kind.value]) for name, kind in event.fields])
        for event in program.events
    }
