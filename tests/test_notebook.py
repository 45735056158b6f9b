"""The `%%vpl` cell magic in a real IPython shell, and the HTML views of programs and results."""

from __future__ import annotations

import importlib
import os

import pandas as pd
import pyarrow as pa
import pytest
from conftest import EXAMPLES

import vbatch
from vbatch.html import program_html, result_html, window_text
from vbatch.lang.durations import format_duration


def _require(module: str):  # noqa: ANN202 - a module
    """Import `module`; skip without it, except in CI, where the test extra must provide it."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


_require("IPython")
from IPython.core.error import UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402
from traitlets.config import Config  # noqa: E402

HOT = "stream Hot = SensorReading\n    .where(value > 50)\n"
PIPELINE = (EXAMPLES / "pipeline.vpl").read_text()


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ipython = InteractiveShell.instance(config=config)
    ipython.run_line_magic("load_ext", "vbatch")
    return ipython


def run(shell: InteractiveShell, line: str, body: str):  # noqa: ANN201
    """Run a `%%vpl` cell; the execution result and what it printed and displayed."""
    with capture_output() as captured:
        outcome = shell.run_cell(f"%%vpl {line}\n{body}")
    return outcome, captured


# --- the magic --------------------------------------------------------------------------------


def test_runs_a_program_on_an_example_file_and_binds_the_result(shell) -> None:
    outcome, captured = run(shell, f"{EXAMPLES / 'pipeline.evt'} --as zones", PIPELINE)

    assert outcome.success
    assert shell.user_ns["zones"]["ZoneStats"].column("zone").to_pylist() == ["north", "south"]
    html = captured.outputs[0].data["text/html"]
    assert "<strong>OverheatAlerts</strong>: 2 rows" in html


def test_binds_the_result_to_vpl_by_default(shell) -> None:
    run(shell, str(EXAMPLES / "first_context.evt"), HOT)

    assert shell.user_ns["_vpl"]["Hot"].column("value").to_pylist() == [72.5, 88.3, 91.7]


def test_expands_notebook_variables_in_the_line(shell) -> None:
    shell.user_ns["examples"] = str(EXAMPLES)

    run(shell, "{examples}/first_context.evt --as expanded", HOT)

    assert shell.user_ns["expanded"]["Hot"].num_rows == 3


def test_reads_a_dataframe_variable(shell) -> None:
    shell.user_ns["frame"] = pd.DataFrame(
        {
            "timestamp": [0, 100, 200],
            "event_type": ["SensorReading"] * 3,
            "sensor_id": ["S1", "S2", "S3"],
            "value": [60.0, 10.0, 70.0],
        }
    )

    run(shell, "frame --as from_frame", HOT)

    assert shell.user_ns["from_frame"]["Hot"].column("sensor_id").to_pylist() == ["S1", "S3"]


def test_reads_an_arrow_table_with_event_type_and_time_column(shell) -> None:
    shell.user_ns["table"] = pa.table(
        {"t": [5, 6], "sensor_id": ["S1", "S2"], "value": [99.0, 1.0]}
    )

    run(shell, "table --event-type SensorReading --time-column t --as from_table", HOT)

    assert shell.user_ns["from_table"]["Hot"].column("_ts").to_pylist() == [5]


def test_without_events_checks_the_program_and_binds_it(shell) -> None:
    outcome, captured = run(shell, "--as checked", PIPELINE)

    assert shell.user_ns["checked"].contexts == ("ingest", "compute", "alert")
    assert "<td>ZoneStats</td>" in captured.outputs[0].data["text/html"]


def test_program_option_also_binds_the_compiled_program(shell) -> None:
    run(shell, f"{EXAMPLES / 'first_context.evt'} --program hot_program --quiet", HOT)

    assert shell.user_ns["hot_program"].streams == ("Hot",)


def test_quiet_shows_nothing(shell) -> None:
    outcome, captured = run(shell, f"{EXAMPLES / 'first_context.evt'} --quiet", HOT)

    assert outcome.success
    assert (captured.outputs, captured.stdout, captured.stderr) == ([], "", "")


def test_rows_limits_the_rows_shown(shell) -> None:
    outcome, captured = run(shell, f"{EXAMPLES / 'first_context.evt'} --rows 1", HOT)

    assert "first 1 of 3 rows" in captured.outputs[0].data["text/html"]


def test_a_syntax_error_shows_the_cell_line_and_a_caret_without_a_traceback(shell) -> None:
    outcome, captured = run(shell, str(EXAMPLES / "pipeline.evt"), HOT.replace("50", ""))

    assert isinstance(outcome.error_in_exec, UsageError)
    assert captured.stderr.splitlines() == [
        "UsageError: cell:3:20: unexpected `)`; expected an expression",
        "    3 |     .where(value > )",
        "      |                    ^",
    ]
    assert "Traceback" not in captured.stdout


def test_a_check_error_counts_lines_from_the_magic_line_and_shows_the_hint(shell) -> None:
    body = "stream S = SensorReading\n    .window(1m)\n    .aggregate(n: count(), s: sensor_id)\n"

    outcome, captured = run(shell, str(EXAMPLES / "pipeline.evt"), body)

    assert captured.stderr.splitlines() == [
        "UsageError: cell:4:31: `sensor_id` is not a partition key, so it needs an aggregate here",
        "    4 |     .aggregate(n: count(), s: sensor_id)",
        "      | " + " " * 30 + "^" * 9,
        "hint: use `first(sensor_id)` or `last(sensor_id)`, or add it to `.partition_by(...)`",
    ]
    assert "Traceback" not in captured.stdout


def test_a_missing_events_file_is_a_clear_message(shell) -> None:
    outcome, captured = run(shell, "no/such/events.evt", HOT)

    assert isinstance(outcome.error_in_exec, UsageError)
    assert captured.stderr.startswith(
        "UsageError: no/such/events.evt: no such file, folder or notebook variable"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x.evt --as 2x", "argument --as: '2x' is not a Python variable name"),
        ("x.evt --rows -1", "argument --rows: expected a whole number >= 0, not '-1'"),
        ("x.evt --batch-size 0", "argument --batch-size: expected a whole number >= 1, not '0'"),
    ],
)
def test_bad_options_are_usage_errors(shell, line: str, message: str) -> None:
    outcome, captured = run(shell, line, HOT)

    assert captured.stderr.strip() == f"UsageError: {message}"


# --- HTML views -------------------------------------------------------------------------------

ESCAPING = 'stream Odd = SensorReading\n    .where(value < 60)\n    .emit(tag: "<b>x</b>")\n'


def test_program_html_lists_streams_contexts_and_windows() -> None:
    html = program_html(vbatch.load(EXAMPLES / "pipeline.vpl"))

    assert "3 contexts (ingest, compute, alert)" in html
    row = "<td>ZoneStats</td><td>ValidReadings (stream)</td><td>compute</td><td>tumbling 1m</td>"
    assert row + "<td>zone</td><td>alert</td>" in html


def test_program_html_escapes_the_source() -> None:
    html = program_html(vbatch.compile(ESCAPING))

    assert "<b>" not in html
    assert "value &lt; 60" in html and "&quot;&lt;b&gt;x&lt;/b&gt;&quot;" in html


def test_result_html_shows_counts_and_escaped_rows() -> None:
    result = vbatch.compile(ESCAPING).simulate(EXAMPLES / "first_context.evt")

    html = result_html(result)

    assert "<strong>Odd</strong>: 2 rows" in html
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in html and "<b>" not in html


def test_result_html_shows_the_first_rows_and_says_how_many_there_are() -> None:
    program = vbatch.compile(
        "stream Valid = SensorReading .where(value > 0)\n"
        'stream North = SensorReading .where(zone == "north")\n'
    )

    html = result_html(program.simulate(EXAMPLES / "pipeline.evt"), rows=2)

    assert html.count("<tr><td>") == 2 + 2
    assert "first 2 of 6 rows" in html and "first 2 of 4 rows" in html


def test_a_program_shows_itself_as_program_html() -> None:
    program = vbatch.load(EXAMPLES / "first_context.vpl")

    assert program._repr_html_() == program_html(program)


def test_a_result_shows_itself_as_result_html() -> None:
    result = vbatch.load(EXAMPLES / "first_context.vpl").simulate(EXAMPLES / "first_context.evt")

    assert result._repr_html_() == result_html(result)


@pytest.mark.parametrize(
    ("program", "text"),
    [
        ("E .window(30s)", "tumbling 30s"),
        ("E .window(tumbling 1m)", "tumbling 1m"),
        ("E .window(5m, sliding: 1m)", "sliding 5m every 1m"),
        ("E .window(100)", "count 100"),
        ("E .window(100, sliding: 25)", "count 100 every 25"),
        ("E .partition_by(k) .window(session: 5s)", "session gap 5s"),
        ("E .watermark(out_of_order: 2s) .window(1500ms)", "tumbling 1500ms, out of order 2s"),
    ],
)
def test_window_text(program: str, text: str) -> None:
    stream = vbatch.compile(f"stream S = {program} .aggregate(n: count())").plan.streams[0]
    window = stream.window

    assert window is not None
    assert window_text(window.window, window.watermark_ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0ms"), (250, "250ms"), (5_000, "5s"), (90_000, "90s"), (7_200_000, "2h"),
     (86_400_000, "1d"), (90_000_000, "25h")],
)  # fmt: skip
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text
