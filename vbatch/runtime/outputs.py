"""Machine outputs of a run: stream results handed to a writer, in the global output order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vbatch.io.json_text import json_rows
from vbatch.io.source import InputChunk
from vbatch.io.writers import JsonlWriter, OutputWriter
from vbatch.kernels.expr import plain
from vbatch.plan.logical import LogicalPlan
from vbatch.runtime.order import merge_order, row_keys
from vbatch.runtime.pipeline import EmitKind, Emitted


def machine_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A stream output as users see it: no private columns (`_seq`, `__...`), plain types."""
    names = [n for n in batch.schema.names if n != "_seq" and not n.startswith("__")]
    columns = [plain(batch.column(n)) for n in names]
    return pa.RecordBatch.from_arrays(columns, names=names)


class OutputSink:
    """Writes every stream's output rows; one JSON-lines file interleaves streams in order."""

    def __init__(self, plan: LogicalPlan, writer: OutputWriter) -> None:
        self.streams = {s.name: s for s in plan.streams}
        self.writer = writer
        self.interleaved = isinstance(writer, JsonlWriter)
        self.rows = 0

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Write the outputs one input chunk caused."""
        outputs = [item for item in emitted if item.kind is EmitKind.OUTPUT]
        self.rows += sum(item.batch.num_rows for item in outputs)
        if self.interleaved and len({item.stream for item in outputs}) > 1:
            self._write_merged(outputs)
            return
        for item in outputs:
            self.writer.write(item.stream, machine_columns(item.batch))

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
        """Commit the output files."""
        self.writer.close()

    def abort(self) -> None:
        """Remove partial output files."""
        self.writer.abort()


def _starts(lengths: list[int]) -> np.ndarray:
    """Offset of each part in the concatenation of all parts."""
    return np.cumsum([0, *lengths[:-1]]).astype(np.int64)
