"""HTML and text views of programs, plans and results, for Jupyter and any `_repr_html_`.

Pure functions of the objects they show: they import neither the API nor IPython.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vbatch.lang.durations import format_duration
from vbatch.lang.program import Context
from vbatch.plan.logical import StreamPlan
from vbatch.plan.windows import Window

if TYPE_CHECKING:
    from vbatch.api import CompiledProgram, Result

DEFAULT_ROWS = 10


# --- programs ---------------------------------------------------------------------------------


def program_text(program: CompiledProgram) -> str:
    """One line: the program's streams and contexts."""
    contexts = ", ".join(program.contexts) or "none"
    return f"VPL program: streams {', '.join(program.streams)}; contexts {contexts}"


def program_html(program: CompiledProgram) -> str:
    """An HTML table of the streams (source, context, window, keys, emit target) and contexts.

    >>> from vbatch import compile
    >>> "<td>Hot</td>" in program_html(compile("stream Hot = SensorReading .where(value > 50)"))
    True
    """
    checked = program.program
    heading = (
        f"<p><strong>VPL program</strong> <code>{_e(checked.source_name)}</code>: "
        f"{_plural(len(checked.streams), 'stream')}, {_contexts_html(checked.contexts)}</p>"
    )
    header = ("stream", "reads", "context", "window", "partition by", "emits to")
    logical = program.physical.logical
    rows = [_stream_cells(logical.stream(s.name)) for s in checked.streams]
    source = f"<details><summary>source</summary><pre>{_e(checked.text)}</pre></details>"
    plan = f"<details><summary>plan</summary><pre>{_e(program.explain())}</pre></details>"
    return f'<div class="vbatch-program">{heading}{_table(header, rows)}{plan}{source}</div>'


def _contexts_html(contexts: tuple[Context, ...]) -> str:
    if not contexts:
        return "no contexts"
    names = ", ".join(_e(c.name) + _cores(c) for c in contexts)
    return f"{_plural(len(contexts), 'context')} ({names})"


def _cores(context: Context) -> str:
    if context.cores is None:
        return ""
    return " on cores " + ", ".join(str(core) for core in context.cores)


def _stream_cells(stream: StreamPlan) -> list[str]:
    window = stream.window
    return [
        stream.name,
        ", ".join(f"{i.name} ({i.kind.value})" for i in stream.inputs),
        stream.context or "",
        window_text(window.window, window.watermark_ms) if window is not None else "",
        ", ".join(window.keys) if window is not None else "",
        stream.emit_context or "",
    ]


def window_text(window: Window | None, watermark_ms: int = 0) -> str:
    """A window as a person reads it: `tumbling 30s`, `sliding 5m every 1m`, `session gap 5s`."""
    if window is None:
        return ""
    text = window.describe()
    return text + (f", out of order {format_duration(watermark_ms)}" if watermark_ms else "")


# --- results ----------------------------------------------------------------------------------


def result_html(result: Result, rows: int = DEFAULT_ROWS) -> str:
    """The run's figures, then per stream its row count and first `rows` rows as a table.

    >>> from vbatch import compile
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
        *((n, noun, " closed") for noun, n in s.window_counts),
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
