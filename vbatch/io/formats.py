"""The file formats vbatch reads and writes, known by suffix.

Kept free of Arrow: the command line declares its options with these before it loads the
engine.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
# Any other file is read as `.evt` text.


class OutputFormat(Enum):
    """The machine-readable output formats."""

    JSONL = "jsonl"
    PARQUET = "parquet"
    CSV = "csv"


def output_format_for(path: Path) -> OutputFormat:
    """A path without a suffix is a folder of Parquet files; anything else a JSON-lines file."""
    return OutputFormat.PARQUET if not path.suffix else OutputFormat.JSONL
