"""Declared event fields the input never gave a value: a replay warns of them.

An `event` declaration types fields; an input that names them otherwise (or nests them
where vbatch does not look) gives events whose declared fields are all null, and a
program that quietly outputs nothing. After a replay, each declared field that had no
value in any event of its type is reported as a warning pointing at the declaration.
"""

from __future__ import annotations

from vbatch.errors import CheckWarning
from vbatch.io.source import InputChunk
from vbatch.lang.program import Program
from vbatch.runtime.pipeline import Emitted


class DeclaredFields:
    """A replay's sink that notes which declared fields had a value."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.declared = {e.name: e for e in program.events if e.fields}
        self.rows: dict[str, int] = {}
        self.seen: dict[str, set[str]] = {}

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        if chunk is None:
            return
        for event in chunk.batches:
            schema = self.declared.get(event.event_type)
            if schema is None:
                continue
            batch, seen = event.batch, self.seen.setdefault(event.event_type, set())
            self.rows[event.event_type] = self.rows.get(event.event_type, 0) + batch.num_rows
            for name, _ in schema.fields:
                if name in seen or name not in batch.schema.names:
                    continue
                if batch.column(name).null_count < batch.num_rows:
                    seen.add(name)

    def warnings(self) -> list[CheckWarning]:
        """One warning per declared field of a type that came, and never with a value."""
        found = []
        for event_type, rows in self.rows.items():
            schema = self.declared[event_type]
            missing = [n for n, _ in schema.fields if n not in self.seen.get(event_type, ())]
            if not missing or not rows:
                continue
            names = ", ".join(f"`{n}`" for n in missing)
            what = "field" if len(missing) == 1 else "fields"
            msg = f"declared {what} {names} of `{event_type}` had no value in its {rows:,} events"
            hint = "check the names in the input (they must match the declaration exactly)"
            warning = CheckWarning(msg, schema.span, hint=hint)
            warning.with_source(self.program.source_name, self.program.text)
            found.append(warning)
        return found
