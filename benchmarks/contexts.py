"""Contexts as worker processes against the same programs in one process, on hold-out data.

    python -m benchmarks.contexts --events 20000000 --repeat 2

Rows (each a whole `vbatch` process, best of `repeat`, start-up included):
1. Part 4 with its two contexts pinned to cores 0 and 1 against `parallel_windows_single.vpl`;
2. Part 3's pipeline with its three contexts against `--no-contexts`;
3. a per-user 5 s session stream in `context s (cores: [0, 1])` (two shards) against the
   same stream without a context;
4. wall time of the tutorial's Part 3 example (7 events, 3 contexts), and `--no-contexts`;
5. how long `vbatch run --file examples/pipeline.vpl` takes to print its first output line;
6. live p99 with one context at 10,000 events/s with `--linger 1` (benchmarks/latency.py).

Data: `benchmarks/holdout.py` (plain-string Parquet, `ts` in ms, 1M-row row groups).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.holdout import dataset
from benchmarks.latency import measure, percentile

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "benchmarks" / "programs"
EXAMPLES = ROOT / "examples"
SENSORS = ["--event-type", "SensorReading", "--time-column", "ts"]
USERS = ["--event-type", "UserActivity", "--time-column", "ts"]
SESSIONS_ALONE = """
stream UserSessions = UserActivity
    .partition_by(user_id)
    .window(session: 5s)
    .aggregate(user_id: user_id, event_count: count(), first_action: first(action),
               last_action: last(action))
"""


def wall(args: list[str], repeat: int) -> float:
    """Best wall time of `vbatch ARGS` over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "vbatch", *args], cwd=ROOT, capture_output=True
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode())
        best = min(best, time.perf_counter() - started)
    return best


def replay(program: Path, events: Path, extra: list[str], repeat: int, *flags: str) -> float:
    """Best wall time of one quiet replay."""
    args = ["simulate", "-p", str(program), "-e", str(events), "--immediate", "--quiet", *extra]
    return wall([*args, *flags], repeat)


def first_output_seconds(repeat: int) -> float:
    """Seconds from starting `vbatch run --file examples/pipeline.vpl` to its first line."""
    lines = (EXAMPLES / "pipeline.evt").read_bytes()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        command = [sys.executable, "-m", "vbatch", "run", "--file", str(EXAMPLES / "pipeline.vpl")]
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(lines)
        process.stdin.flush()
        process.stdout.readline()
        best = min(best, time.perf_counter() - started)
        process.stdin.close()
        process.wait(timeout=60)
    return best


def main() -> None:
    """Print one line per row of the issue's table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--latency-seconds", type=float, default=4.0)
    args = parser.parse_args()
    sensors = dataset("sensors", args.events, args.data)
    users = dataset("users", args.events, args.data)
    sessions = args.data / "sessions_alone.vpl"
    sessions.write_text(SESSIONS_ALONE)

    rows = [
        (
            "Part 4, pinned contexts vs one process",
            replay(PROGRAMS / "parallel_windows_pinned.vpl", sensors, SENSORS, args.repeat),
            replay(EXAMPLES / "parallel_windows_single.vpl", sensors, SENSORS, args.repeat),
        ),
        (
            "Part 3 pipeline vs --no-contexts",
            replay(EXAMPLES / "pipeline.vpl", sensors, SENSORS, args.repeat),
            replay(EXAMPLES / "pipeline.vpl", sensors, SENSORS, args.repeat, "--no-contexts"),
        ),
        (
            "sessions, 2 shards vs no context",
            replay(PROGRAMS / "sessions_sharded.vpl", users, USERS, args.repeat),
            replay(sessions, users, USERS, args.repeat),
        ),
    ]
    print(f"{'what':<40} {'contexts':>9} {'one proc':>9} {'speed-up':>9}")
    for name, with_contexts, alone in rows:
        speed = args.events / with_contexts / 1e6, args.events / alone / 1e6
        print(f"{name:<40} {speed[0]:>7.1f}M {speed[1]:>7.1f}M {alone / with_contexts:>8.2f}x")
    example = ["-p", str(EXAMPLES / "pipeline.vpl"), "-e", str(EXAMPLES / "pipeline.evt")]
    tutorial = ["simulate", *example, "--immediate"]
    print(f"{'Part 3 example (7 events), wall':<40} {wall(tutorial, 5):>8.2f}s "
          f"{wall([*tutorial, '--no-contexts'], 5):>8.2f}s")  # fmt: skip
    print(f"{'vbatch run: first output line':<40} {first_output_seconds(3):>8.2f}s")
    latencies = measure(10_000, args.latency_seconds, contexts=True, linger=1.0)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"{'live, 1 context, 10K/s, --linger 1':<40} p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
