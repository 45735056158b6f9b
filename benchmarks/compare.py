"""vbatch against the engines a Python user would pick instead, on the tutorial's workloads.

    python -m benchmarks.compare --events 10000000            # the full comparison
    python -m benchmarks.compare --smoke                      # 20k events, seconds (the test suite)
    python -m benchmarks.compare --systems vbatch,duckdb --workloads W2,W3 --repeat 1

Generates the seeded data sets once under data/bench/ (Parquet; `.evt` for vbatch's extra
rows; a CSV copy for PyFlink), runs every workload on every system in a fresh process
(`python -m benchmarks.peers.run`), and checks that all systems agree with vbatch: the same
row counts and the same checksum of every output column over rows sorted by their keys
(see benchmarks/peers/workloads.py). vbatch, DuckDB and Polars run on `--events` events and
report the best of `--repeat` runs; the slow peers (PyFlink, Bytewax, the Python loop) run
once on the first `--peer-events` events of the same data set (vbatch also runs once on that
sample, as their reference for the agreement check). A system that is not installed is
skipped with a note. Exits 1 when a system disagrees or fails.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers.workloads import ROOT, WORKLOADS, differences, rounded

ALL = tuple(WORKLOADS)
PYFLINK_VENV = ROOT / "data" / "bench" / "pyflink-venv"
SMOKE_EVENTS = 20_000
# --smoke: 100 sensor events per second of event time, so that 20k events span several windows
SMOKE_PARAMS: dict[str, dict[str, Any]] = {"sensors": {"rate": 100.0}, "users": {}}


@dataclass(frozen=True)
class System:
    """One row kind of the table: a peer module, which workloads, on which input."""

    label: str
    module: str
    workloads: tuple[str, ...] = ALL
    slow: bool = False  # runs once, on the --peer-events sample
    fmt: str = "parquet"  # parquet | evt | csv
    options: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The name `--systems` selects it by."""
        return self.label.split()[0]


SYSTEMS = (
    System("vbatch", "vbatch_peer"),
    System("vbatch .evt", "vbatch_peer", ("W1", "W2"), fmt="evt"),
    System("vbatch --no-contexts", "vbatch_peer", ("W4", "W5"), options=("no-contexts",)),
    System("duckdb", "duckdb_peer"),
    System("polars", "polars_peer"),
    System("polars group_by_dynamic", "polars_peer", ("W2",), options=("dynamic",)),
    System("pyflink", "pyflink_peer", slow=True, fmt="csv"),
    System("bytewax", "bytewax_peer", slow=True),
    System("python loop", "python_loop", slow=True),
)
FAMILIES = tuple(dict.fromkeys(s.family for s in SYSTEMS))


@dataclass
class Row:
    """The figures of one system on one workload."""

    workload: str
    system: str
    fmt: str
    events: int
    sample: bool
    runs: int = 0
    seconds: float | None = None
    peak_mib: float | None = None
    child_peak_mib: float | None = None
    checksum: dict | None = None
    error: str | None = None
    agrees: bool | None = None
    disagreement: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """Events per second of the best run."""
        return self.events / self.seconds if self.seconds else None


# --- data sets ---------------------------------------------------------------------------------


def dataset(kind: str, events: int, fmt: str, folder: Path, smoke: bool) -> Path:
    """The seeded data set in `fmt`, generated (or converted from Parquet) on first use."""
    from vbatch.datasets import generate

    stem = f"{kind}-{events}" + ("-smoke" if smoke else "")
    params = SMOKE_PARAMS[kind] if smoke else {}
    parquet = folder / f"{stem}.parquet"
    if not parquet.exists():
        generate(kind, events, parquet, **params)
    if fmt == "parquet":
        return parquet
    path = folder / f"{stem}.{fmt}"
    if path.exists():
        return path
    if fmt == "evt":
        return generate(kind, events, path, **params)
    if fmt == "csv":  # PyFlink's copy: no header, plus the arrival index
        import pyarrow as pa
        import pyarrow.csv as csv
        import pyarrow.parquet as pq

        table = pq.read_table(parquet)
        table = table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))
        partial = path.with_suffix(".csv.partial")
        csv.write_csv(table, partial, csv.WriteOptions(include_header=False))
        partial.rename(path)
        return path
    raise ValueError(f"unknown input format {fmt}")


# --- running -----------------------------------------------------------------------------------


def interpreter(system: System, pyflink_python: Path | None) -> tuple[str | None, str | None]:
    """The Python to run the system under, or None and why it is skipped."""
    if system.module == "pyflink_peer":
        if pyflink_python is not None and pyflink_python.exists():
            return str(pyflink_python), None
        if importlib.util.find_spec("pyflink") is not None:
            return sys.executable, None
        return None, (
            "apache-flink is not installed (it pins pyarrow<21 and pandas<2.3, so it goes in"
            f" its own virtualenv: {PYFLINK_VENV.relative_to(ROOT)}, see benchmarks/README.md)"
        )
    peer = importlib.import_module(f"benchmarks.peers.{system.module}")
    reason = peer.missing()
    return (None, reason) if reason else (sys.executable, None)


def run_once(
    python: str, system: System, workload: str, path: Path, events: int, args: argparse.Namespace
) -> dict:
    """One run in a fresh process; its JSON figures (or an `error`)."""
    command = [
        python,
        "-m",
        "benchmarks.peers.run",
        system.module,
        workload,
        str(path),
        "--events",
        str(events),
        "--threads",
        str(args.threads),
        *(f"--option={option}" for option in system.options),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    python: str,
    system: System,
    workload: str,
    events: int,
    repeat: int,
    args: argparse.Namespace,
    sample: bool,
) -> Row:
    """The best of `repeat` fresh-process runs (largest peak RSS of them)."""
    work = WORKLOADS[workload]
    path = dataset(work.dataset, events, system.fmt, args.data, args.smoke)
    row = Row(workload, system.label, system.fmt, events, sample)
    for _ in range(repeat):
        figures = run_once(python, system, workload, path, events, args)
        if "error" in figures:
            row.error = figures["error"]
            return row
        row.runs += 1
        if row.seconds is None or figures["seconds"] < row.seconds:
            row.seconds = figures["seconds"]
            row.checksum = figures["checksum"]
        row.peak_mib = max(row.peak_mib or 0.0, figures["peak_mib"])
        row.child_peak_mib = max(row.child_peak_mib or 0.0, figures["child_peak_mib"])
    return row


def check(rows: list[Row], references: dict[tuple[str, int], Row]) -> None:
    """Mark each row as agreeing (or not) with vbatch's result on the same workload and data."""
    for row in rows:
        reference = references.get((row.workload, row.events))
        if row.checksum is None or reference is None or reference.checksum is None:
            continue
        row.disagreement = differences(row.checksum, reference.checksum)
        row.agrees = not row.disagreement


def merge(rows: list[Row], earlier: Path, notes: list[str]) -> None:
    """Keep, for each row, the faster of this run and an earlier run's JSON (best-of runs)."""
    record = json.loads(earlier.read_text())
    found = {
        (r["workload"], r["system"], r["events"]): r
        for r in record["rows"]
        if r.get("seconds") and r.get("agrees") is not False and not r.get("error")
    }
    used = 0
    for row in rows:
        other = found.get((row.workload, row.system, row.events))
        if other is None or (row.seconds is not None and row.seconds <= other["seconds"]):
            continue
        used += 1
        row.runs += other["runs"]
        row.seconds = other["seconds"]
        row.peak_mib = max(row.peak_mib or 0.0, other["peak_mib"])
        row.child_peak_mib = max(row.child_peak_mib or 0.0, other["child_peak_mib"] or 0.0)
    notes.append(f"best of this run and {earlier} ({used} rows faster there)")


# --- reporting ---------------------------------------------------------------------------------


def millions(value: float) -> str:
    """12.3M, 0.25M, 0.004M."""
    if value >= 10e6:
        return f"{value / 1e6:.0f}M"
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    digits = max(2, 1 - math.floor(math.log10(value / 1e6)))
    return f"{value / 1e6:.{digits}f}M"


def cells(row: Row, vbatch_rate: float | None) -> list[str]:
    """The table cells of a row."""
    size = millions(row.events).removesuffix("M") + "M" + (" sample" if row.sample else "")
    fmt = {"evt": ".evt", "csv": "CSV copy"}.get(row.fmt, "Parquet")
    if row.error is not None:
        return [row.workload, row.system, fmt, size, "failed", "", "", row.error[:60]]
    rate = row.rate or 0.0
    rss = f"{row.peak_mib:.0f}"
    if row.child_peak_mib and row.child_peak_mib > 1:
        rss += f" + {row.child_peak_mib:.0f}"
    ratio = ""
    if vbatch_rate and row.system != "vbatch":
        ratio = (
            f"{vbatch_rate / rate:.2f}x"
            if vbatch_rate / rate < 10
            else f"{vbatch_rate / rate:.0f}x"
        )
    agrees = {True: "yes", False: "NO", None: "—"}[row.agrees]
    return [row.workload, row.system, fmt, size, millions(rate), rss, ratio, agrees]


HEADER = [
    "workload",
    "system",
    "input",
    "events",
    "events/s",
    "peak RSS MiB",
    "vbatch/it",
    "agrees",
]


def table(rows: list[Row], markdown: bool) -> str:
    """The results as a plain-text or Markdown table."""
    rates = {(r.workload, r.events): r.rate for r in rows if r.system == "vbatch"}
    body = [cells(r, rates.get((r.workload, r.events))) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join([*lines, *("| " + " | ".join(c) + " |" for c in body)])
    widths = [max(len(x) for x in column) for column in zip(HEADER, *body, strict=True)]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 4 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [HEADER, *body]
    )


def chart(rows: list[Row], path: Path, title: str) -> None:
    """Events/s per workload per system, log scale; hatched bars ran on the sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    known = [s.label for s in SYSTEMS]
    systems = sorted(
        {r.system for r in rows if r.rate},
        key=lambda s: (s not in known, known.index(s) if s in known else 0, s),
    )
    workloads = list(dict.fromkeys(r.workload for r in rows))
    palette = iter(plt.get_cmap("tab10")(i) for i in (1, 2, 3, 4, 5, 6, 7, 8, 9))
    shades = {"vbatch": "#1f4e9c", "vbatch .evt": "#7fa6e0", "vbatch --no-contexts": "#3d7fd9"}
    colours = {s: shades[s] if s in shades else next(palette, "grey") for s in systems}
    figure, axes = plt.subplots(figsize=(12, 5.5))
    labelled: set[str] = set()
    for j, workload in enumerate(workloads):
        here = {}  # system → its row at the full size (else on the sample)
        for row in rows:
            if row.workload == workload and row.rate and row.system not in here:
                here[row.system] = row
        width = 0.84 / max(1, len(here))
        for i, (system, row) in enumerate(here.items()):
            axes.bar(
                j + (i - (len(here) - 1) / 2) * width,
                row.rate or 0.0,
                width * 0.92,
                color=colours[system],
                hatch="///" if row.sample else None,
                edgecolor="white",
                label=None if system in labelled else system,
            )
            labelled.add(system)
    axes.set_yscale("log")
    axes.set_xticks(range(len(workloads)))
    axes.set_xticklabels([f"{w}: {WORKLOADS[w].short}" for w in workloads])
    axes.set_ylabel("events/s (log scale)")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="y", which="both", alpha=0.25)
    axes.legend(
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="hatched: on the peer sample",
        title_fontsize=7,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# --- main --------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line; `--smoke` sets small sizes and one run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    slow = "sample size for PyFlink, Bytewax and the Python loop"
    parser.add_argument("--peer-events", type=int, default=1_000_000, help=slow)
    parser.add_argument("--repeat", type=int, default=3, help="runs of vbatch/DuckDB/Polars")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--systems", help=f"comma-separated, of {', '.join(FAMILIES)}")
    parser.add_argument("--workloads", default=",".join(ALL), help="comma-separated")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--pyflink-python", type=Path, default=PYFLINK_VENV / "bin" / "python")
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="an earlier run's --json: keep the faster figures of each row (best-of runs)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="write every figure (default: in --data)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    parser.add_argument("--chart", type=Path, help="draw events/s per workload to this PNG")
    smoke = f"{SMOKE_EVENTS} events, 1 run, every installed system but PyFlink"
    parser.add_argument("--smoke", action="store_true", help=smoke)
    args = parser.parse_args(argv)
    if args.smoke:
        args.events = args.peer_events = SMOKE_EVENTS
        args.repeat = 1
    if args.systems is None:
        args.systems = ",".join(f for f in FAMILIES if not (args.smoke and f == "pyflink"))
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [s for s in args.systems if s not in FAMILIES]
    unknown += [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}; systems: {', '.join(FAMILIES)}")
    if "vbatch" not in args.systems:
        parser.error("vbatch is the reference of the agreement check: keep it in --systems")
    args.peer_events = min(args.peer_events, args.events)
    args.data.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print the table; 1 if a system disagreed or failed."""
    args = parse(argv)
    started = time.perf_counter()
    notes: list[str] = []
    chosen: list[tuple[System, str]] = []
    for system in SYSTEMS:
        if system.family not in args.systems:
            continue
        python, reason = interpreter(system, args.pyflink_python)
        if python is None:
            notes.append(f"skipped {system.label}: {reason}")
            continue
        chosen.append((system, python))
    rows: list[Row] = []
    references: dict[tuple[str, int], Row] = {}
    vbatch = next(s for s in SYSTEMS if s.label == "vbatch")
    for workload in args.workloads:
        for system, python in chosen:
            if workload not in system.workloads:
                continue
            sample = system.slow and args.peer_events < args.events
            events = args.peer_events if system.slow else args.events
            if (workload, events) not in references:  # vbatch on the sample, as reference
                print(f"  {workload} vbatch on {events:,} events ...", file=sys.stderr)
                runs = args.repeat if events == args.events else 1
                reference = measure(sys.executable, vbatch, workload, events, runs, args, sample)
                references[(workload, events)] = reference
                rows.append(reference)
            if system is vbatch:
                continue
            repeat = 1 if system.slow else args.repeat
            print(f"  {workload} {system.label} on {events:,} events ...", file=sys.stderr)
            rows.append(measure(python, system, workload, events, repeat, args, sample))
    check(rows, references)
    for earlier in args.merge:
        merge(rows, earlier, notes)
    title = (
        f"vbatch vs peers: {args.events:,} events ({args.peer_events:,} for the slow peers),"
        f" {os.cpu_count()} cores"
    )
    print(title)
    print(table(rows, markdown=False))
    for note in notes:
        print(f"note: {note}")
    slow = sorted({r.system for r in rows if r.sample} - {"vbatch"})
    if slow and args.peer_events < args.events:
        print(
            f"note: {', '.join(slow)} ran once on the first {args.peer_events:,} events (a"
            " 'sample' row), and so did vbatch as their reference; their events/s is measured"
            " on that sample, and vbatch/it compares them with vbatch's run on it"
        )
    print(
        "note: vbatch/it = vbatch's events/s ÷ the row's (above 1: vbatch is faster);"
        " peak RSS is the measuring process's, '+ N' the sum of its child processes' peaks"
        " (vbatch context workers, PyFlink's JVM)"
    )
    bad = [r for r in rows if r.error or r.agrees is False]
    for row in bad:
        detail = row.error or "; ".join(row.disagreement[:4])
        print(f"PROBLEM {row.workload} {row.system}: {detail}")
    record = {
        "command": " ".join(sys.argv),
        "events": args.events,
        "peer_events": args.peer_events,
        "repeat": args.repeat,
        "seconds_total": time.perf_counter() - started,
        "notes": notes,
        "rows": [
            {
                **asdict(r),
                "rate": r.rate,
                "checksum": {k: rounded(v) for k, v in (r.checksum or {}).items()},
            }
            for r in rows
        ],
    }
    out = args.json or args.data / ("compare-smoke.json" if args.smoke else "compare-latest.json")
    out.write_text(json.dumps(record, indent=1))
    if args.markdown:
        args.markdown.write_text(table(rows, markdown=True) + "\n")
    if args.chart:
        chart(rows, args.chart, title)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
