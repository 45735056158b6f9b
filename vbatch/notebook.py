"""Jupyter support: the `%%vpl` cell magic (the HTML views are in `vbatch/html.py`).

`%load_ext vbatch` registers the magic. IPython is imported only when the magic runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vbatch.api import CompiledProgram, Result, compile
from vbatch.errors import InputError, VbatchError
from vbatch.html import DEFAULT_ROWS, program_html, program_text, result_html
from vbatch.io.source import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.magic_arguments import MagicArgumentParser

CELL = "cell"  # the file name VPL errors give a %%vpl cell
DEFAULT_NAME = "_vpl"

USAGE = """\
%%vpl [EVENTS] [--as NAME] [--program NAME] [--event-type TYPE] [--time-column COLUMN]
      [--batch-size N] [--rows N] [--quiet]

Compile the VPL program in the cell, replay EVENTS through it, show each stream's
outputs and bind the Result (a Mapping stream -> pyarrow.Table) to NAME.

EVENTS is a path (.evt, Parquet file or folder, JSON lines) or the name of a notebook
variable holding a pandas DataFrame, a pyarrow Table or a path. `{var}` and `$var` in
the line are expanded first. Without EVENTS the cell is only checked and its program
is shown and bound to NAME.

  --as NAME             variable for the Result (default _vpl)
  --program NAME        also bind the CompiledProgram to NAME
  --event-type TYPE     event type of every row (tables without an event_type column)
  --time-column COLUMN  column holding event time in ms (default: timestamp)
  --batch-size N        rows per batch (default 65536)
  --rows N              rows shown per stream (default 10; 0 shows only the counts)
  --quiet               show nothing, only bind
"""


# --- the magic --------------------------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%%vpl` cell magic on an IPython shell (what `%load_ext vbatch` calls)."""

    def vpl(line: str, cell: str) -> None:
        run_cell(ipython, line, cell)

    vpl.__doc__ = USAGE
    ipython.register_magic_function(vpl, magic_kind="cell", magic_name="vpl")


def run_cell(shell: InteractiveShell, line: str, cell: str) -> Result | CompiledProgram:
    """Run one `%%vpl` cell in `shell`: compile, replay, bind and show; returns what it bound.

    >>> shell = get_ipython()  # doctest: +SKIP
    >>> run_cell(shell, "examples/first_context.evt --as hot --quiet",
    ...          "stream Hot = SensorReading .where(value > 50)")["Hot"].num_rows  # doctest: +SKIP
    3
    """
    args = _parser().parse_argstring(line)
    text = "\n" + cell  # line numbers then count the %%vpl line, as the notebook editor does
    with _reported(text):
        program = compile(text, CELL)
        outcome = program if args.events is None else _replay(program, args, shell.user_ns)
    if args.program:
        shell.user_ns[args.program] = program
    shell.user_ns[args.name] = outcome
    if not args.quiet:
        _show(outcome, args.rows)
    return outcome


def _usage_error(message: str) -> Exception:
    """A UsageError: IPython shows its message alone, without a traceback, and fails the cell."""
    from IPython.core.error import UsageError

    return UsageError(message)


@contextmanager
def _reported(text: str) -> Iterator[None]:
    """Turn a vbatch error into `cell:line:col: message`, the cell line, a caret and a hint."""
    try:
        yield
    except VbatchError as err:
        raise _usage_error(err.with_source(CELL, text).render()) from None


def _replay(
    program: CompiledProgram, args: argparse.Namespace, namespace: Mapping[str, object]
) -> Result:
    return program.simulate(
        resolve_events(args.events, namespace),
        event_type=args.event_type,
        time_column=args.time_column,
        batch_size=args.batch_size,
    )


def resolve_events(name: str, namespace: Mapping[str, object]) -> object:
    """The notebook variable called `name` if there is one, else `name` as an existing path."""
    if name.isidentifier() and name in namespace:
        return namespace[name]
    path = Path(name).expanduser()
    if not path.exists():
        hint = "give a path to .evt, Parquet or JSON-lines events, or a DataFrame variable"
        raise InputError("no such file, folder or notebook variable", path=name, hint=hint)
    return path


def _show(outcome: Result | CompiledProgram, rows: int) -> None:
    from IPython.display import display

    if isinstance(outcome, Result):
        data = {"text/html": result_html(outcome, rows), "text/plain": repr(outcome)}
    else:
        data = {"text/html": program_html(outcome), "text/plain": program_text(outcome)}
    display(data, raw=True)


def _parser() -> MagicArgumentParser:
    from IPython.core.magic_arguments import MagicArgumentParser

    parser = MagicArgumentParser(prog="%%vpl", usage=USAGE)
    parser.add_argument("events", nargs="?")
    parser.add_argument("--as", dest="name", type=_identifier, default=DEFAULT_NAME)
    parser.add_argument("--program", type=_identifier)
    parser.add_argument("--event-type")
    parser.add_argument("--time-column")
    parser.add_argument("--batch-size", type=_at_least(1), default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--rows", type=_at_least(0), default=DEFAULT_ROWS)
    parser.add_argument("--quiet", action="store_true")
    return parser


def _identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    return text


def _at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than `least`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, not {text!r}")
        return value

    return parse
