"""`import "file.vpl"`: statements of other files, paths relative to the importing file,
each file once, errors shown in the file they are in, cycles refused."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from test_golden import run_vbatch

import vbatch
from vbatch.errors import CheckError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_imported_streams_and_events_are_used_as_if_written_here(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "types.vpl", "event T:\n    v: float\n")
    write(tmp_path / "lib" / "base.vpl", 'import "types.vpl"\nstream Base = T .where(v > 1)\n')
    main = write(
        tmp_path / "main.vpl",
        'import "lib/base.vpl"\nimport "lib/types.vpl"\nstream Top = Base .where(v > 2)\n',
    )
    program = vbatch.load(main)
    assert [s.name for s in program.program.streams] == ["Base", "Top"]
    assert [e.name for e in program.program.events] == ["T"]  # included once
    table = pa.table({"event_type": ["T"] * 3, "_ts": [1, 2, 3], "v": [0.5, 1.5, 2.5]})
    assert program.simulate(table)["Top"]["v"].to_pylist() == [2.5]


def test_an_error_in_an_imported_file_is_shown_in_that_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "lib" / "bad.vpl", "stream B = T\n    .where(nosuch(v))\n")
    main = write(tmp_path / "main.vpl", 'import "lib/bad.vpl"\n')
    done = run_vbatch("check", str(main))
    assert done.returncode == 1
    assert done.stderr.splitlines()[:3] == [
        f"{bad.resolve()}:2:12: unknown function `nosuch`",
        "    2 |     .where(nosuch(v))",
        "      |            ^^^^^^^^^",
    ]


def test_a_syntax_error_in_an_imported_file_is_shown_in_that_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.vpl", "stream B = T .where(v >)\n")
    main = write(tmp_path / "main.vpl", 'event T:\n    v: int\nimport "bad.vpl"\n')
    done = run_vbatch("check", str(main))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{bad.resolve()}:1:24: unexpected `)`")


def test_a_missing_file_and_a_cycle_are_refused_at_the_import(tmp_path: Path) -> None:
    main = write(tmp_path / "main.vpl", 'stream S = T\nimport "nope.vpl"\n')
    with pytest.raises(CheckError) as caught:
        vbatch.load(main)
    assert (caught.value.line, caught.value.column) == (2, 1)
    assert caught.value.message == 'cannot import "nope.vpl": no such file'
    write(tmp_path / "a.vpl", 'import "b.vpl"\n')
    write(tmp_path / "b.vpl", 'import "a.vpl"\n')
    with pytest.raises(CheckError) as caught:
        vbatch.load(tmp_path / "a.vpl")
    assert caught.value.message == "imports form a cycle: a.vpl → b.vpl → a.vpl"
