"""Event inputs and result outputs: readers into Arrow batches, writers out of them."""

from __future__ import annotations

from pathlib import Path

from vbatch.errors import InputError
from vbatch.io.formats import JSONL_SUFFIXES, PARQUET_SUFFIXES
from vbatch.io.source import EventReader, ReadOptions


def open_events(source: object, options: ReadOptions) -> EventReader:
    """A reader for a path (.evt, Parquet file or folder, JSON lines) or an Arrow table.

    >>> from vbatch.io.source import ReadOptions
    >>> reader = open_events("examples/pipeline.evt", ReadOptions())
    >>> sum(chunk.count for chunk in reader)
    7
    """
    import pyarrow as pa  # here, not at the top: the command line imports this package

    if isinstance(source, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        from vbatch.io.table import TableReader

        return TableReader(source, options)
    if not isinstance(source, str | Path):
        return _from_dataframe(source, options)
    path = Path(source)
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in PARQUET_SUFFIXES:
        from vbatch.io.parquet import ParquetReader

        return ParquetReader(path, options)
    if suffix in JSONL_SUFFIXES:
        from vbatch.io.jsonl import JsonlReader

        return JsonlReader(path, options)
    from vbatch.io.evt import EvtReader

    return EvtReader(path, options)


def _from_dataframe(frame: object, options: ReadOptions) -> EventReader:
    import pyarrow as pa

    to_arrow = getattr(pa.Table, "from_pandas", None)
    if to_arrow is None or type(frame).__name__ != "DataFrame":
        msg = f"cannot read events from a {type(frame).__name__}"
        raise InputError(msg, hint="pass a path, a pyarrow Table or a pandas DataFrame")
    from vbatch.io.table import TableReader

    return TableReader(to_arrow(frame, preserve_index=False), options)
