"""Where a run's results go: output files (in the global output order) and Python tables."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from vbatch.app.write_behind import WriteBehind
from vbatch.io.json_text import json_rows
from vbatch.io.source import InputChunk
from vbatch.io.writers import JsonlWriter, OutputWriter
from vbatch.kernels.expr import plain
from vbatch.kernels.protocol import EmitKind
from vbatch.plan.logical import LogicalPlan
from vbatch.runtime.order import merge_order, row_keys
from vbatch.runtime.pipeline import Emitted


def machine_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A stream output as users see it: no private columns (`_seq`, `__...`), plain types."""
    names = [n for n in batch.schema.names if n != "_seq" and not n.startswith("__")]
    columns = [plain(batch.column(n)) for n in names]
    return pa.RecordBatch.from_arrays(columns, names=names)


class OutputSink:
    """Writes every stream's output rows; one JSON-lines file interleaves streams in order.

    Files of one stream each (Parquet, CSV) are written behind, on a thread of their own
    (`write_behind.py`); JSON lines are written at once (a live run flushes every batch).
    """

    def __init__(self, plan: LogicalPlan, writer: OutputWriter) -> None:
        self.streams = {s.name: s for s in plan.streams}
        self.writer = writer
        self.interleaved = isinstance(writer, JsonlWriter)
        self.behind = None if self.interleaved else WriteBehind()
        self.rows = 0

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Write the outputs one input chunk caused."""
        outputs = [item for item in emitted if item.kind is EmitKind.OUTPUT]
        self.rows += sum(item.batch.num_rows for item in outputs)
        if self.interleaved and len({item.stream for item in outputs}) > 1:
            self._write_merged(outputs)
            return
        for item in outputs:
            if self.behind is None:
                self.writer.write(item.stream, machine_columns(item.batch))
            else:
                self.behind.submit(_write_work(self.writer, item))

    def _write_merged(self, outputs: list[Emitted]) -> None:
        keys = [row_keys(i.batch, self.streams[i.stream], i.kind) for i in outputs]
        which, rows = merge_order(keys)
        lines = [json_rows(machine_columns(i.batch), stream=i.stream) for i in outputs]
        offsets = _starts([len(part) for part in lines])
        combined = pa.concat_arrays(lines)
        order = pa.array(offsets[which] + rows)
        assert isinstance(self.writer, JsonlWriter)
        self.writer.write_lines(combined.take(order))

    def close(self) -> None:
        """Commit the output files (once every write behind is done); a write that failed
        behind is raised here, and nothing is left."""
        try:
            if self.behind is not None:
                self.behind.drain()
                self.behind.stop()
            self.writer.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove partial output files."""
        if self.behind is not None:
            self.behind.stop()
        self.writer.abort()


def _write_work(writer: OutputWriter, item: Emitted) -> Callable[[], None]:
    def work() -> None:
        writer.write(item.stream, machine_columns(item.batch))

    return work


def _starts(lengths: list[int]) -> np.ndarray:
    """Offset of each part in the concatenation of all parts."""
    return np.cumsum([0, *lengths[:-1]]).astype(np.int64)


class CollectSink:
    """Keeps every stream's outputs in memory, for the Python API."""

    def __init__(self, plan: LogicalPlan) -> None:
        self.batches: dict[str, list[pa.RecordBatch]] = {s.name: [] for s in plan.streams}

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Keep the output batches."""
        for item in emitted:
            if item.kind is EmitKind.OUTPUT:
                self.batches[item.stream].append(machine_columns(item.batch))

    def tables(self, schemas: dict[str, pa.Schema] | None = None) -> dict[str, pa.Table]:
        """One table per stream; a stream without outputs gets an empty table of its
        schema when it is known (else of `_ts` alone)."""
        result = {}
        for name, batches in self.batches.items():
            if batches:
                result[name] = pa.Table.from_batches(batches).combine_chunks()
            elif schemas and name in schemas:
                result[name] = machine_schema(schemas[name]).empty_table()
            else:
                result[name] = pa.table({"_ts": pa.array([], pa.int64())})
        return result


def machine_schema(schema: pa.Schema) -> pa.Schema:
    """The schema `machine_columns` gives rows of `schema`."""
    fields = [f for f in schema if f.name != "_seq" and not f.name.startswith("__")]
    return pa.schema(
        [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in fields]
    )
