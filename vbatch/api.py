"""The Python API: compile a program, replay events, get one Arrow table per stream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from vbatch.app.simulate import workers_read
from vbatch.app.sinks import CollectSink
from vbatch.figures import Summary
from vbatch.io import open_events
from vbatch.io.source import DEFAULT_BATCH_SIZE, ReadOptions
from vbatch.lang import compile_text
from vbatch.lang.files import read_program_text
from vbatch.lang.program import Program
from vbatch.plan.build import plan_program
from vbatch.plan.explain import explain
from vbatch.plan.logical import LogicalPlan
from vbatch.plan.physical import PhysicalPlan
from vbatch.runtime.replay import Simulation
from vbatch.runtime.runners import make_runner


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
        from vbatch.html import result_html

        return result_html(self)


@dataclass(frozen=True)
class CompiledProgram:
    """A checked, typed and placed VPL program."""

    program: Program
    physical: PhysicalPlan = field(repr=False)

    def _repr_html_(self) -> str:
        from vbatch.html import program_html

        return program_html(self)

    @property
    def plan(self) -> LogicalPlan:
        """The logical plan: every stream's ports and operators."""
        return self.physical.logical

    def explain(self) -> str:
        """The physical plan as text: per process its streams, then the queues between them.

        >>> print(compile("stream S = E .where(x > 1)", "p.vpl").explain().splitlines()[0])
        Plan of p.vpl: 1 stream, 1 process
        """
        return explain(self.physical, self.program.source_name)

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
        physical = self.physical if contexts else plan_program(self.program, contexts=False)
        reader = open_events(events, options)
        collect = CollectSink(physical.logical)
        layout = workers_read(physical, events, options, paced=False, traced=False)
        runner = make_runner(physical, layout=layout)
        simulation = Simulation(physical, runner, [collect], None, len(self.program.contexts))
        try:
            with self.program.errors_point_here():
                summary = simulation.run(reader)
        finally:
            runner.close()
        return Result(collect.tables(runner.schemas()), summary, reader.stats.bad_records)


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
    return compile(read_program_text(Path(path)), str(path))


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
