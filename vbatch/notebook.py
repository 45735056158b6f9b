"""Jupyter support: the `%%vpl` cell magic and the HTML views of programs and results.

`%load_ext vbatch` registers the magic. IPython is imported only when the magic runs, so
`program_html` and `result_html` (behind `_repr_html_`) work in any front end.
"""

from __future__ import annotations

import argparse
import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vbatch.api import CompiledProgram, Result, compile
from vbatch.errors import InputError, VbatchError
from vbatch.io.source import DEFAULT_BATCH_SIZE
from vbatch.lang.parser import format_duration
from vbatch.lang.program import Context, Stream, WindowKind, WindowSpec

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.magic_arguments import MagicArgumentParser

CELL = "cell"  # the file name VPL errors give a %%vpl cell
DEFAULT_NAME = "_vpl"
DEFAULT_ROWS = 10

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


# --- programs ---------------------------------------------------------------------------------


def program_text(program: CompiledProgram) -> str:
    """One line: the program's streams and contexts."""
    contexts = ", ".join(program.contexts) or "none"
    return f"VPL program: streams {', '.join(program.streams)}; contexts {contexts}"


def program_html(program: CompiledProgram) -> str:
    """An HTML table of the streams (source, context, window, keys, emit target) and contexts.

    >>> "<td>Hot</td>" in program_html(compile("stream Hot = SensorReading .where(value > 50)"))
    True
    """
    checked = program.program
    heading = (
        f"<p><strong>VPL program</strong> <code>{_e(checked.source_name)}</code>: "
        f"{_plural(len(checked.streams), 'stream')}, {_contexts_html(checked.contexts)}</p>"
    )
    header = ("stream", "reads", "context", "window", "partition by", "emits to")
    rows = [_stream_cells(s) for s in checked.streams]
    source = f"<details><summary>source</summary><pre>{_e(checked.text)}</pre></details>"
    return f'<div class="vbatch-program">{heading}{_table(header, rows)}{source}</div>'


def _contexts_html(contexts: tuple[Context, ...]) -> str:
    if not contexts:
        return "no contexts"
    names = ", ".join(_e(c.name) + _cores(c) for c in contexts)
    return f"{_plural(len(contexts), 'context')} ({names})"


def _cores(context: Context) -> str:
    if context.cores is None:
        return ""
    return " on cores " + ", ".join(str(core) for core in context.cores)


def _stream_cells(stream: Stream) -> list[str]:
    return [
        stream.name,
        f"{stream.source} ({stream.source_kind.value})",
        stream.context or "",
        window_text(stream.window, stream.watermark_ms),
        ", ".join(stream.partition_keys),
        stream.emit_context or "",
    ]


def window_text(window: WindowSpec | None, watermark_ms: int = 0) -> str:
    """A window as a person reads it: `tumbling 30s`, `sliding 5m every 1m`, `session gap 5s`."""
    if window is None:
        return ""
    text = _WINDOW_TEXT[window.kind](window)
    return text + (f", out of order {format_duration(watermark_ms)}" if watermark_ms else "")


def _time_window(w: WindowSpec) -> str:
    size, every = format_duration(w.size), format_duration(w.slide)
    return f"tumbling {size}" if w.is_tumbling else f"sliding {size} every {every}"


def _count_window(w: WindowSpec) -> str:
    return f"count {w.size}" if w.is_tumbling else f"count {w.size} every {w.slide}"


_WINDOW_TEXT: dict[WindowKind, Callable[[WindowSpec], str]] = {
    WindowKind.TIME: _time_window,
    WindowKind.COUNT: _count_window,
    WindowKind.SESSION: lambda w: f"session gap {format_duration(w.size)}",
}


# --- results ----------------------------------------------------------------------------------


def result_html(result: Result, rows: int = DEFAULT_ROWS) -> str:
    """The run's figures, then per stream its row count and first `rows` rows as a table.

    >>> result = compile("stream Hot = SensorReading .where(value > 50)").simulate(
    ...     "examples/first_context.evt")
    >>> "<strong>Hot</strong>: 3 rows" in result_html(result)
    True
    """
    parts = [f"<p>{_e(summary_text(result))}</p>"]
    parts += [_stream_html(name, table, rows) for name, table in result.items()]
    return f'<div class="vbatch-result">{"".join(parts)}</div>'


def summary_text(result: Result) -> str:
    """`7 events in 0.009 s (778 events/s) · 3 contexts used · 8 cross-context events`."""
    s = result.summary
    rate = f" ({s.rate:,.0f} events/s)" if s.seconds > 0 else ""
    figures = [f"{s.events:,} events in {s.seconds:.3g} s{rate}"]
    optional = [
        (s.contexts_used, "context", " used"),
        (s.cross_context_events, "cross-context event", ""),
        (s.sessions_closed, "session", " closed"),
        (s.late_events, "late event", " dropped"),
        (result.bad_records, "bad record", ""),
    ]
    figures += [_plural(n, noun) + verb for n, noun, verb in optional if n]
    return " · ".join(figures)


def _stream_html(name: str, table: pa.Table, rows: int) -> str:
    heading = f"<p><strong>{_e(name)}</strong>: {_plural(table.num_rows, 'row')}</p>"
    if table.num_rows == 0 or rows == 0:
        return heading
    shown = table.slice(0, rows)
    columns = [column.to_pylist() for column in shown.columns]
    body = [[_value_text(v) for v in row] for row in zip(*columns, strict=True)]
    more = f"<p>first {rows} of {table.num_rows:,} rows</p>" if table.num_rows > rows else ""
    return heading + _table(shown.column_names, body) + more


def _value_text(value: object) -> str:
    return _VALUE_TEXT.get(type(value), str)(value)


_VALUE_TEXT: dict[type, Callable[[Any], str]] = {
    type(None): lambda v: "null",
    bool: lambda v: "true" if v else "false",
    float: lambda v: repr(round(v, 4)),
    list: lambda v: "[" + ", ".join(_value_text(x) for x in v) + "]",
}


# --- HTML -------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
