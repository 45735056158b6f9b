"""The command line: exit codes, messages and help, run as real processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_golden import run_vbatch


def test_check_prints_syntax_ok_and_counts() -> None:
    result = run_vbatch("check", "examples/pipeline.vpl")
    assert (result.returncode, result.stdout.splitlines()[:3]) == (
        0,
        ["Syntax OK", "Streams:   3", "Contexts:  3"],
    )


def test_check_syntax_error_exits_1_with_caret(tmp_path) -> None:  # noqa: ANN001
    program = tmp_path / "bad.vpl"
    program.write_text("stream X = Y\n  .wher(a > 1)\n")
    result = run_vbatch("check", str(program))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{program}:2:4: unknown operation `.wher`",
        "    2 |   .wher(a > 1)",
        "      |    ^^^^",
        "hint: did you mean `where`?",
    ]


def test_check_missing_file_exits_2() -> None:
    result = run_vbatch("check", "no/such/file.vpl")
    assert (result.returncode, result.stderr.strip()) == (2, "no/such/file.vpl: no such file")


def test_check_directory_exits_2() -> None:
    assert run_vbatch("check", "examples").returncode == 2


def test_parse_prints_the_tree_with_positions() -> None:
    result = run_vbatch("parse", "examples/first_context.vpl")
    assert result.returncode == 0
    assert "StreamDecl @6:1" in result.stdout and "name: 'HighReadings'" in result.stdout


@pytest.mark.parametrize("command", ["check", "parse", "simulate"])
def test_every_command_has_help(command: str) -> None:
    result = run_vbatch(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_simulate_runtime_field_error_points_into_the_program(tmp_path) -> None:  # noqa: ANN001
    program = tmp_path / "p.vpl"
    program.write_text("stream S = SensorReading\n    .where(valu > 1)\n")
    result = run_vbatch(
        "simulate", "-p", str(program), "-e", "examples/first_context.evt", "--immediate"
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{program}:2:12: unknown field `valu`"


@pytest.mark.parametrize(
    "command", [["check"], ["parse"], ["simulate", "-e", "x.evt", "-p"], ["run", "--file"]]
)
def test_a_missing_program_file_exits_2(command: list[str]) -> None:
    result = run_vbatch(*command, "no/such.vpl")
    assert (result.returncode, result.stderr.strip()) == (2, "no/such.vpl: no such file")


def test_contexts_feeding_each_other_are_refused(tmp_path) -> None:  # noqa: ANN001
    program = tmp_path / "cycle.vpl"
    program.write_text(
        "context a\ncontext b\n"
        "stream S = E .context(a) .emit(context: b, x: x)\n"
        "stream T = S .context(b) .emit(context: a, x: x)\n"
        "stream U = T .context(a)\n"
    )
    result = run_vbatch("check", str(program))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{program}:3:1: rows of `S` would go from context `a` back to a context it depends on"
    )


def test_simulate_missing_events_file_exits_2() -> None:
    result = run_vbatch("simulate", "-p", "examples/pipeline.vpl", "-e", "no/such.evt")
    assert result.returncode == 2
    assert result.stderr.startswith("no/such.evt")


def test_a_declared_field_the_input_never_gives_is_warned_about(tmp_path: Path) -> None:
    """Events whose declared fields are all null (the input names them otherwise) are not a
    silent empty result: the replay warns, pointing at the declaration, and still exits 0."""
    program = tmp_path / "p.vpl"
    program.write_text("event T:\n    v: float\n    s: str\nstream S = T .where(v > 1)\n")
    renamed = tmp_path / "renamed.evt"
    renamed.write_text('T { value: 2.0, s: "a" }\nT { value: 3.0, s: "b" }\n')
    done = run_vbatch("simulate", "-p", str(program), "-e", str(renamed), "--immediate")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"{program}:1:1: warning: declared field `v` of `T` had no value in its 2 events"
    )
    named = tmp_path / "named.evt"
    named.write_text('T { v: 2.0, s: "a" }\n')
    done = run_vbatch("simulate", "-p", str(program), "-e", str(named), "--immediate")
    assert done.returncode == 0 and "warning" not in done.stderr
