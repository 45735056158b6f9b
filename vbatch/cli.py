"""The `vbatch` command line: a thin typer layer; the only place errors become exit codes."""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer

from vbatch.errors import ConfigError, InputError, OutputClosed, VbatchError, printable
from vbatch.io.formats import OutputFormat, output_format_for
from vbatch.io.source import DEFAULT_BATCH_SIZE, ErrorPolicy
from vbatch.lang import compile_text
from vbatch.lang.ast import dump
from vbatch.lang.files import read_program_text
from vbatch.lang.parser import parse
from vbatch.lang.program import Program
from vbatch.lean import without_pandas
from vbatch.plan.build import plan_program

if TYPE_CHECKING:
    from vbatch.io.live.server import Endpoint, Guard
    from vbatch.io.source import ReadOptions

# Arrow and the engine are imported inside `simulate` and `run`, so `check` and `parse`
# start in a fraction of the time.

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


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)


def _prestart_workers(program: Program, contexts: bool) -> None:
    """Start the fork server before Arrow is imported here, so both imports overlap."""
    if contexts and program.used_contexts():
        from vbatch.runtime.forkserver import prestart

        prestart()


def _terminate_as_interrupt() -> None:
    """SIGTERM stops a replay like Ctrl-C: workers stopped, queues removed, no partial output,
    exit code 130."""

    def interrupt(number: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def compile_program(path: Path) -> Program:
    """Read, parse and check a program file; its warnings go to stderr."""
    program = compile_text(read_program_text(path), str(path))
    for warning in program.warnings:
        typer.echo(warning.render(), err=True)
    return program


def run_guarded(action: Callable[[], T]) -> T:
    """Run a command body; a VbatchError becomes its message on stderr and its exit code."""
    try:
        return action()
    except OutputClosed:
        raise BrokenPipeError from None  # main() exits quietly
    except VbatchError as err:
        sys.stdout.flush()
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
        program = compile_program(file)
        plan_program(program)
        typer.echo("Syntax OK")
        typer.echo(f"Streams:   {len(program.streams)}")
        typer.echo(f"Contexts:  {len(program.contexts)}")
        typer.echo(f"Events:    {len(program.events)}")
        typer.echo(f"Constants: {len(program.constants)}")

    run_guarded(body)


@app.command("explain")
def explain_command(file: ProgramFile) -> None:
    """Print the physical plan: per process its streams and operators, then the queues
    between processes with the event types, streams and fields that cross them.

    Exit codes: 0 ok, 1 syntax or validation error, 2 file missing or unreadable.
    """

    def body() -> None:
        from vbatch.plan.explain import explain

        program = compile_program(file)
        typer.echo(explain(plan_program(program), str(file)), nl=False)

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


datasets_app = typer.Typer(
    help="Generate large seeded synthetic data sets for the tutorial's event types.",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def datasets_list() -> None:
    """List the data sets `generate` can write."""
    from vbatch.datasets import DATASETS

    for kind, description in DATASETS.items():
        typer.echo(f"{kind:<8} {description}")


@datasets_app.command("generate")
def datasets_generate(
    kind: Annotated[str, typer.Argument(help="sensors, climate or users (see `datasets list`).")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="File to write: .parquet or .evt.", show_default=False),
    ],
    events: Annotated[
        int, typer.Option("--events", "-n", min=1, help="How many events.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same events.")] = 42,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-P",
            help="A data set parameter as NAME=VALUE, e.g. -P zones=A,B,C -P jitter_ms=200.",
        ),
    ] = None,
) -> None:
    """Write a synthetic data set (see datasets/README.md for columns and parameters).

    Exit codes: 0 written, 2 cannot write the file, 3 unknown data set or parameter.
    """

    def body() -> None:
        from vbatch.datasets import generate

        params: dict[str, Any] = dict(_parameter(p) for p in param or [])
        path = generate(kind, events, out, seed=seed, **params)
        typer.echo(f"wrote {events:,} {kind} events to {path}")

    run_guarded(body)


def _parameter(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"bad --param {text!r}", hint="write NAME=VALUE, e.g. jitter_ms=200")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            continue
    return name, value


DEAD_LETTER_SUFFIX = ".dead-letter.jsonl"
DeadLetterOption = Annotated[
    str | None,
    typer.Option(
        "--dead-letter",
        help=f"Where skipped records go (default: beside --output, <output>{DEAD_LETTER_SUFFIX}).",
    ),
]
ContextsOption = Annotated[
    bool,
    typer.Option(
        "--contexts/--no-contexts",
        help="Run each declared context in its own worker process (or all in one process).",
    ),
]
CapacityOption = Annotated[
    int | None,
    typer.Option(
        "--channel-capacity",
        min=1,
        help="Events a queue between processes may hold before its producer waits.",
    ),
]

StallOption = Annotated[
    float,
    typer.Option(
        "--stall-timeout",
        min=0.1,
        help="End the run (exit 4) when a worker shows no sign of life for this many seconds.",
    ),
]


@app.command()
def simulate(
    program: Annotated[
        Path, typer.Option("--program", "-p", help="The VPL program to run.", show_default=False)
    ],
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            "-e",
            help="Events to replay: a .evt file, a Parquet file or folder, or JSON lines.",
            show_default=False,
        ),
    ],
    immediate: Annotated[
        bool,
        typer.Option("--immediate", help="Replay as fast as possible, not at the recorded pace."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show each input event (or each chunk) and why events were filtered.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only the summary block (use with --output)."),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results: a .jsonl file, or a folder of <Stream>.parquet / .csv files.",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format; by default parquet for a folder (no suffix), else jsonl.",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per micro-batch.")
    ] = DEFAULT_BATCH_SIZE,
    event_type: Annotated[
        str | None,
        typer.Option(
            "--event-type",
            help="Type of every row, for Parquet/JSON input without an event_type column.",
        ),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column", help="Column holding event time (default: _ts, else timestamp)."
        ),
    ] = None,
    on_error: Annotated[
        ErrorPolicy,
        typer.Option(
            "--on-error",
            help="fail: stop at the first bad record (exit 2); skip: set it aside and go on.",
        ),
    ] = ErrorPolicy.FAIL,
    dead_letter: DeadLetterOption = None,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            min=0.001,
            help="Without --immediate: replay this many times faster than recorded.",
        ),
    ] = 1.0,
    stats: Annotated[
        bool, typer.Option("--stats", help="Add the run's duration and event rate to the summary.")
    ] = False,
    contexts: ContextsOption = True,
    channel_capacity: CapacityOption = None,
    stall_timeout: StallOption = 30.0,
    sinks: Annotated[
        bool,
        typer.Option(
            "--sinks",
            help="Also publish the rows of streams with .to(...) to their connectors "
            "(MQTT, NATS, Kafka), as a live run does.",
        ),
    ] = False,
) -> None:
    """Replay recorded events through a program and print what every stream produces.

    Exit codes: 0 ok, 1 invalid program, 2 bad input or unreadable file, 3 bad
    configuration, 4 runtime failure.
    """

    def body() -> None:
        _terminate_as_interrupt()
        checked = compile_program(program)
        _prestart_workers(checked, contexts)
        from vbatch.app.simulate import SimulateOptions, run_simulate

        out, dead = _path_option(output, "--output"), _path_option(dead_letter, "--dead-letter")
        fmt = output_format or (output_format_for(out) if out else OutputFormat.JSONL)
        dead = _dead_letter_path(on_error, dead, out)
        check_paths(checked, {"the program": program, "the events": events}, out, fmt, dead)
        read = _read_options(
            checked, on_error, dead,
            batch_size=batch_size, event_type=event_type, time_column=time_column,
        )  # fmt: skip
        options = SimulateOptions(
            program=checked,
            events=events,
            read=read,
            immediate=immediate,
            speed=speed,
            verbose=verbose,
            quiet=quiet,
            output=out,
            output_format=fmt,
            contexts=contexts,
            capacity=channel_capacity,
            stall_seconds=stall_timeout,
            progress=sys.stderr if sys.stderr.isatty() else None,
            connector_sinks=sinks,
        )
        summary = run_simulate(options, _write_stdout)
        if summary.bad_records and dead is not None:
            typer.echo(f"Dead letters:     {dead}")
        if stats:
            typer.echo(f"Duration:         {summary.seconds * 1000:.1f} ms")
            typer.echo(f"Event rate:       {summary.rate:,.0f} events/s")

    run_guarded(body)


def _read_options(
    program: Program, on_error: ErrorPolicy, dead_letter: Path | None, **settings: Any
) -> ReadOptions:
    """How to read events for `program`: its declared schemas, and where skipped records go."""
    from vbatch.api import declared_schemas
    from vbatch.io.source import ReadOptions

    return ReadOptions(
        on_error=on_error,
        dead_letter=dead_letter,
        schemas=declared_schemas(program),
        **settings,
    )


def _path_option(text: str | None, option: str) -> Path | None:
    """The path an option names; an empty one is refused (it would mean the current folder)."""
    if text is None:
        return None
    if not text.strip():
        raise ConfigError(f"{option} needs a path, not {text!r}", hint=f"e.g. {option} out/")
    return Path(text)


def _dead_letter_path(
    on_error: ErrorPolicy, given: Path | None, output: Path | None
) -> Path | None:
    """Where skipped records go: `--dead-letter`, else beside a file or folder `--output`;
    None when nothing is skipped."""
    if on_error is not ErrorPolicy.SKIP:
        return None
    if given is not None:
        return given
    if output is not None and (output.is_file() or not output.exists()):
        return output.with_name(output.stem + DEAD_LETTER_SUFFIX)
    if output is not None and output.is_dir():
        return output.with_name(output.name + DEAD_LETTER_SUFFIX)
    where = "there is no --output to put them beside" if output is None else f"{output} is a device"
    msg = f"--on-error skip needs --dead-letter PATH: {where}"
    raise ConfigError(msg, hint="e.g. --dead-letter bad-records.jsonl")


def check_paths(
    program: Program,
    inputs: dict[str, Path],
    output: Path | None,
    fmt: OutputFormat,
    dead_letter: Path | None,
) -> None:
    """Before anything is opened for writing: refuse outputs that would overwrite an input or
    each other (exit 3), and outputs that cannot be written (exit 2)."""
    from vbatch.io.targets import check_file_target, check_folder_target, refuse_inputs

    targets: list[tuple[str, Path]] = []
    folder = output is not None and fmt is not OutputFormat.JSONL
    names = [f"{s.name}.{fmt.value}" for s in program.streams] if folder else []
    if output is not None:
        targets += [("--output", output), *(("--output", output / n) for n in names)]
    if dead_letter is not None:
        targets.append(("--dead-letter", dead_letter))
    refuse_inputs(targets, inputs)
    if output is not None and folder:
        check_folder_target(output, names, "output")
    elif output is not None:
        check_file_target(output, "output")
    if dead_letter is not None:
        check_file_target(dead_letter, "dead-letter file")


_ENDPOINT = re.compile(r"(?:(?:\[(?P<v6>[^\[\]]+)\]|(?P<host>[^:\[\]]*)):)?(?P<port>[0-9]{1,5})")
_ENDPOINT_HINT = "write PORT, HOST:PORT or [IPV6]:PORT, e.g. 7000, 127.0.0.1:7000 or [::1]:7000"


def _endpoint(text: str | None, option: str) -> Endpoint | None:
    """`PORT`, `HOST:PORT` or `[IPV6]:PORT` (host defaults to 127.0.0.1)."""
    from vbatch.io.live.server import Endpoint

    if text is None:
        return None
    match = _ENDPOINT.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"bad {option} {text!r}", hint=_ENDPOINT_HINT)
    host = match["v6"] or match["host"] or "127.0.0.1"
    return Endpoint(host, _port(match["port"], f"{option} {text!r}"))


def _port(text: str, what: str) -> int:
    """A TCP port, 1 to 65535."""
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ConfigError(f"bad {what}: a port is a number from 1 to 65535")
    return int(text)


def _metrics_endpoint(host: str, port: int) -> Endpoint:
    """Where /metrics listens: --metrics-host (an IPv6 address with or without brackets)
    and --metrics-port."""
    from vbatch.io.live.server import Endpoint

    return Endpoint(host.strip().strip("[]"), _port(str(port), f"--metrics-port {port}"))


def _guard(
    endpoints: list[Endpoint | None],
    token: str | None,
    token_file: Path | None,
    tls: tuple[Path | None, Path | None],
    max_connections: int,
    idle_timeout: float,
) -> Guard:
    """How --tcp and --http guard the door; a guard option without either is refused."""
    from vbatch.io.live.server import Guard, read_token, tls_context

    options = {
        "--token": token,
        "--token-file": token_file,
        "--tls-cert": tls[0],
        "--tls-key": tls[1],
    }
    given = [name for name, value in options.items() if value is not None]
    if given and not any(endpoints):
        msg = f"{given[0]} guards --tcp and --http, and neither is given"
        raise ConfigError(msg, hint="add --tcp PORT or --http PORT, or drop it")
    if max_connections < 1:
        raise ConfigError(f"bad --max-connections {max_connections}: at least 1")
    if not 0 < idle_timeout <= 86_400:
        raise ConfigError(f"bad --idle-timeout {idle_timeout}: seconds, above 0 and up to a day")
    return Guard(max_connections, idle_timeout, read_token(token, token_file), tls_context(*tls))


def _exposure_warnings(listening: dict[str, Endpoint | None], guard: Guard) -> list[str]:
    """A warning for every endpoint other machines can reach, saying what guards it."""
    warnings = []
    for option, endpoint in listening.items():
        if endpoint is None or endpoint.loopback:
            continue
        risks = []
        if option == "--metrics":
            risks.append("anyone who can reach it can read the metrics (no token or TLS there)")
        if option != "--metrics" and guard.token is None:
            risks.append("without --token anyone who can reach it can send events")
        if option != "--metrics" and guard.tls is None:
            risks.append("without --tls-cert/--tls-key lines travel in clear text")
        why = "; ".join(risks) or "clients need the token, over TLS"
        warnings.append(
            f"vbatch run: warning: {option} {endpoint} is open beyond this machine: {why}"
        )
    return warnings


@app.command()
def run(
    file: Annotated[
        Path, typer.Option("--file", "-p", help="The VPL program to run.", show_default=False)
    ],
    follow: Annotated[
        Path | None,
        typer.Option("--follow", help="Read a file that keeps growing, from its start."),
    ] = None,
    tcp: Annotated[
        str | None,
        typer.Option("--tcp", help="Also take lines on a TCP endpoint: PORT or HOST:PORT."),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http", help="Also take POST /events on an HTTP endpoint: PORT or HOST:PORT."
        ),
    ] = None,
    stdin: Annotated[
        bool | None,
        typer.Option(
            "--stdin/--no-stdin",
            help="Read standard input (default: yes unless --follow, --tcp or --http is given).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Cut a micro-batch at this many lines.")
    ] = 4096,
    linger: Annotated[
        float,
        typer.Option(
            "--linger", min=0.0, help="Cut a micro-batch once its first line waited this many ms."
        ),
    ] = 5.0,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write JSON lines here instead of stdout.")
    ] = None,
    on_error: Annotated[
        ErrorPolicy,
        typer.Option(
            "--on-error",
            help="Bad records never stop a live run: fail reports them on stderr;"
            " skip also keeps them in --dead-letter.",
        ),
    ] = ErrorPolicy.FAIL,
    dead_letter: DeadLetterOption = None,
    metrics: Annotated[
        bool, typer.Option("--metrics", help="Serve Prometheus metrics on /metrics.")
    ] = False,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of /metrics.")] = 9090,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address /metrics binds to.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="A shared secret --tcp and --http clients must present (visible in ps:"
            " prefer --token-file).",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="Read the shared secret from the first line of a file."),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate: --tcp and --http speak TLS only."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections", help="Connections each endpoint serves at once; more are closed."
        ),
    ] = 64,
    idle_timeout: Annotated[
        float,
        typer.Option("--idle-timeout", help="Close a connection silent for this many seconds."),
    ] = 30.0,
    contexts: ContextsOption = True,
    channel_capacity: CapacityOption = None,
) -> None:
    """Run a program live: read events continuously and write outputs as JSON lines at once.

    Lines are `.evt` events (`@<ms> Type {...}`, or without a time: arrival time) or JSON
    objects (`{"event_type": ..., ...}`). A program whose streams read MQTT, NATS or Kafka
    connectors (`.from(...)`) subscribes to them (standard input is then read only with
    --stdin), and `.to(...)` publishes rows. Stops on end of standard input, SIGINT or
    SIGTERM, after flushing every open window. Exit codes: 0 ok, 1 invalid program,
    2 unreadable input file, 3 bad configuration (an endpoint that cannot listen),
    4 runtime failure, 130 a second SIGINT / SIGTERM, or one before the run has started.
    """

    def body() -> None:
        _terminate_as_interrupt()  # until the run installs its own handlers, as in a replay
        checked = compile_program(file)
        _prestart_workers(checked, contexts)
        from vbatch.app.connectors import reads_brokers
        from vbatch.app.live import LiveOptions, LiveRun
        from vbatch.io.live import SourceSpec

        out, dead = _path_option(output, "--output"), _path_option(dead_letter, "--dead-letter")
        dead = _dead_letter_path(on_error, dead, out)
        endpoints = [_endpoint(tcp, "--tcp"), _endpoint(http, "--http")]
        tls = (tls_cert, tls_key)
        guard = _guard(endpoints, token, token_file, tls, max_connections, idle_timeout)
        metrics_at = _metrics_endpoint(metrics_host, metrics_port)
        quiet = follow is None and not any(endpoints) and not reads_brokers(checked)
        use_stdin = stdin if stdin is not None else quiet
        if follow is not None and not follow.is_file():
            raise InputError("no such file to follow", path=str(follow))
        inputs = {"the program": file} | ({"the followed file": follow} if follow else {})
        check_paths(checked, inputs, out, OutputFormat.JSONL, dead)
        # A live run never stops on bad input; --on-error skip adds the dead-letter file.
        read = replace(
            _read_options(checked, on_error, dead, batch_size=batch_size),
            on_error=ErrorPolicy.SKIP,
        )
        listening = {"--tcp": endpoints[0], "--http": endpoints[1]}
        listening |= {"--metrics": metrics_at} if metrics else {}
        specs = [SourceSpec("stdin")] if use_stdin else []
        specs += [SourceSpec("follow", follow)] if follow is not None else []
        servers = zip(("tcp", "http"), endpoints, strict=True)
        specs += [SourceSpec(kind, (at, guard)) for kind, at in servers if at is not None]
        options = LiveOptions(
            program=checked,
            read=read,
            sources=tuple(specs),
            linger_ms=linger,
            output=out,
            metrics_port=metrics_port if metrics else None,
            metrics_host=metrics_at.host,
            contexts=contexts,
            capacity=channel_capacity,
            notices=tuple(_exposure_warnings(listening, guard)),
            guard=guard,
        )
        report = lambda line: typer.echo(printable(line), err=True)  # noqa: E731
        summary = LiveRun(options, sys.stdout.buffer, report).run()
        figures = summary.inputs
        kept = f" (dead letters in {dead})" if figures.bad_records and dead is not None else ""
        report(
            f"vbatch run: {figures.events} events in, {summary.outputs} outputs,"
            f" {figures.bad_records} bad records{kept}"
        )

    run_guarded(body)


def main() -> None:
    """Console-script entry point."""
    without_pandas()  # the command line never uses pandas (see vbatch/lean.py)
    # A bad option (unknown, out of range, missing) is a configuration error: exit code 3,
    # as docs/cli.md says, not click's default 2, which here means a bad input.
    click.exceptions.UsageError.exit_code = 3
    try:
        app()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
