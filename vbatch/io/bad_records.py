"""Bad records of tabular inputs: reported (stopping the run) or set aside as dead letters."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np
import pyarrow as pa

from vbatch.errors import InputError
from vbatch.io.columns import TIME_HINT, TYPE_HINT, EventColumns, time_flaws
from vbatch.io.json_text import json_rows
from vbatch.io.source import (
    MAX_TIME_MS,
    ErrorPolicy,
    ReadOptions,
    ReadStats,
)

# --- Bad records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRecord:
    """A malformed record: where it is, why it is bad, and its text."""

    path: str
    line: int
    reason: str
    record: str
    column: int | None = None
    hint: str | None = None

    def error(self) -> InputError:
        """The error that stops the run under `--on-error fail`."""
        return InputError(
            self.reason, path=self.path, line=self.line, column=self.column, hint=self.hint
        )

    def dead_letter(self) -> str:
        """The JSON line written to the dead-letter file under `--on-error skip`."""
        fields = {
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
            "record": self.record,
        }
        return json.dumps(fields, ensure_ascii=False)


class DeadLetters:
    """Applies the error policy: a bad record stops the run, or is counted and set aside.

    The dead-letter file is created (emptied) at the first skipped record of a reader and
    closed with it; `on_skip`, if set, sees every skipped record (a live run reports them).
    """

    def __init__(self, options: ReadOptions, stats: ReadStats) -> None:
        self._options, self._stats = options, stats
        self._out: TextIO | None = None
        self.on_skip: Callable[[BadRecord], None] | None = None

    def report(self, record: BadRecord) -> None:
        """Raise the record's error, or count it and write it to the dead-letter file."""
        if self._options.on_error is ErrorPolicy.FAIL:
            raise record.error()
        self._stats.bad_records += 1
        if self._options.dead_letter is not None:
            with self._writing(self._options.dead_letter):
                if self._out is None:
                    self._out = _created(self._options.dead_letter)
                self._out.write(record.dead_letter() + "\n")
        if self.on_skip is not None:
            self.on_skip(record)

    def flush(self) -> None:
        """Make what was set aside so far visible in the file."""
        if self._out is not None and self._options.dead_letter is not None:
            with self._writing(self._options.dead_letter):
                self._out.flush()

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            self.close()
            msg, hint = f"cannot write dead letters: {err.strerror}", "give --dead-letter a path"
            raise InputError(msg, path=str(path), hint=hint) from err

    def close(self) -> None:
        """Close the dead-letter file."""
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(OSError):
                out.close()

    def __enter__(self) -> DeadLetters:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _created(path: Path) -> TextIO:
    """The dead-letter file, created afresh (with its folder, beside an output not made yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by DeadLetters.close


def invalid_rows(
    batch: pa.RecordBatch, columns: EventColumns, earliest: int = -MAX_TIME_MS
) -> list[tuple[int, str, str | None]]:
    """Rows without an event type or time, or with a time that is not whole milliseconds from
    `earliest` to MAX_TIME_MS, with the reason and a hint (rare: a Python loop)."""
    checks = [(columns.time_column, "event time", TIME_HINT)]
    if columns.type_column is not None:
        checks.insert(0, (columns.type_column, "event type", TYPE_HINT))
    problems: dict[int, tuple[str, str | None]] = {}
    names = batch.schema.names
    for name, what, hint in checks:
        if name not in names:
            rows, missing_hint = np.arange(batch.num_rows), hint
        elif batch.column(name).null_count:
            rows, missing_hint = np.flatnonzero(batch.column(name).is_null()), None
        else:
            continue
        for row in rows.tolist():
            problems.setdefault(row, (f"missing {what} '{name}'", missing_hint))
    if columns.time_column in names:
        for flaw in time_flaws(batch.column(columns.time_column), columns.time_column, earliest):
            for row in flaw.rows.tolist():
                problems.setdefault(row, (flaw.reason, flaw.hint))
    return sorted((row, reason, hint) for row, (reason, hint) in problems.items())


def without_bad_rows(
    batch: pa.RecordBatch, columns: EventColumns, bad: DeadLetters, path: str, first_row: int
) -> pa.RecordBatch:
    """`batch` without its invalid rows, each reported as row `first_row + i + 1` of `path`."""
    problems = invalid_rows(batch, columns)
    for row, reason, hint in problems:
        record = json_rows(batch.slice(row, 1))[0].as_py()
        bad.report(BadRecord(path, first_row + row + 1, reason, record, hint=hint))
    return drop_rows(batch, [p[0] for p in problems]) if problems else batch


def drop_rows(batch: pa.RecordBatch, rows: Sequence[int]) -> pa.RecordBatch:
    """`batch` without `rows`."""
    keep = np.ones(batch.num_rows, bool)
    keep[list(rows)] = False
    return batch.filter(pa.array(keep))
