"""The union kernel: a stream with several input ports sees their rows as one, in arrival order.

Each step's batches from every port are concatenated and ordered by `_seq` (ties — window
rows of two ports closed by the same arrival — by port, then position), so a merged
stream computes exactly what it would if the rows came one at a time.

Fields: every port's fields, one type each (ints and floats meet as floats); a field a
port lacks is null in that port's rows. The fields the stream reads but no row has shown
yet are null columns until they appear.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import SchemaError


class UnionKernel:
    """Combines a step's input batches from several ports."""

    def __init__(self, stream: str, reads: set[str] | None) -> None:
        self.stream = stream
        self.reads = reads or set()
        self.schema: pa.Schema | None = None

    def combine(self, parts: list[tuple[int, pa.RecordBatch]]) -> pa.RecordBatch | None:
        """The parts as one batch in arrival order (None when they hold no rows)."""
        ordered = [b for _, b in sorted(parts, key=lambda part: part[0]) if b.num_rows]
        if not ordered:
            return None
        tables = [pa.Table.from_batches([b]) for b in ordered]
        if self.schema is not None:
            tables.insert(0, self.schema.empty_table())
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise self._clash(tables) from err
        table = self._with_read_fields(table)
        self._check_widening(table.schema)
        self.schema = table.schema
        if len(ordered) > 1:
            table = table.take(pc.sort_indices(table, [("_seq", "ascending")]))
        return table.combine_chunks().to_batches()[0]

    def _with_read_fields(self, table: pa.Table) -> pa.Table:
        """Null columns for the fields the stream reads that no input has shown yet."""
        for name in sorted(self.reads - set(table.schema.names)):
            table = table.append_column(name, pa.nulls(table.num_rows))
        return table

    def _check_widening(self, schema: pa.Schema) -> None:
        """Once a field holds ints, a later input's floats would change what was computed."""
        if self.schema is None:
            return
        for old in self.schema:
            new = schema.field(old.name)
            if pa.types.is_integer(old.type) and pa.types.is_floating(new.type):
                msg = (
                    f"the inputs of `{self.stream}` disagree on `{old.name}`: "
                    "ints in the first rows, floats later"
                )
                hint = f"declare `{old.name}: float` in the `event` declarations"
                raise SchemaError(msg, hint=hint)

    def _clash(self, tables: list[pa.Table]) -> SchemaError:
        types: dict[str, set[str]] = {}
        for table in tables:
            for f in table.schema:
                types.setdefault(f.name, set()).add(str(f.type))
        clashing = sorted(n for n, found in types.items() if len(found) > 1)
        name = clashing[0] if clashing else "a field"
        kinds = " and ".join(sorted(types.get(name, ())))
        msg = f"the inputs of `{self.stream}` disagree on `{name}`: {kinds}"
        return SchemaError(msg, hint="convert the field in each input, or declare its type")
