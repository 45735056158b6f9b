"""The `vbatch` command line: a thin typer layer; the only place errors become exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from vbatch.errors import InputError, VbatchError
from vbatch.lang import compile_text
from vbatch.lang.ast import dump
from vbatch.lang.parser import parse

app = typer.Typer(
    name="vbatch",
    help="Run VPL (VarpulisQL) stream programs as a vectorised micro-batch engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

ProgramFile = Annotated[
    Path, typer.Argument(help="The VPL program (.vpl) to read.", show_default=False)
]


def read_program_text(path: Path) -> str:
    """The text of a program file, or an InputError (exit 2) naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a program file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read: {err}", path=str(path)) from None


def run_guarded(action: Callable[[], T]) -> T:
    """Run a command body; a VbatchError becomes its message on stderr and its exit code."""
    try:
        return action()
    except VbatchError as err:
        typer.echo(err.render(), err=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


@app.command()
def check(file: ProgramFile) -> None:
    """Check a program: print `Syntax OK` and its statement counts, or the first error.

    Exit codes: 0 valid, 1 syntax or validation error, 2 file missing or unreadable.
    """

    def body() -> None:
        text = read_program_text(file)
        program = compile_text(text, str(file))
        typer.echo("Syntax OK")
        typer.echo(f"Streams:   {len(program.streams)}")
        typer.echo(f"Contexts:  {len(program.contexts)}")
        typer.echo(f"Events:    {len(program.events)}")
        typer.echo(f"Constants: {len(program.constants)}")

    run_guarded(body)


@app.command("parse")
def parse_command(file: ProgramFile) -> None:
    """Print the syntax tree of a program, each node with its line:column.

    Exit codes: 0 parsed, 1 syntax error, 2 file missing or unreadable.
    """

    def body() -> None:
        text = read_program_text(file)
        typer.echo(dump(parse(text, str(file))))

    run_guarded(body)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
