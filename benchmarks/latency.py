"""End-to-end latency of `vbatch run`: from an event entering stdin to its output line leaving.

    python -m benchmarks.latency --seconds 5

Feeds `Ping` events at a steady rate (each carrying the time it was written) into a real
`vbatch run` process and reads the outputs as they come; reports p50 and p99 latency at
10,000 and 100,000 events/s, with and without a context, with the default settings and
with `--linger 1`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = "stream Pong = Ping{context_op} .emit(n: n, sent: sent)\n"
SLICE_SECONDS = 0.002


def feed(process: subprocess.Popen[bytes], rate: int, seconds: float) -> None:
    """Write `rate` events a second for `seconds`, in small slices, then close stdin."""
    assert process.stdin is not None
    per_slice = max(1, int(rate * SLICE_SECONDS))
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * rate)
        if due > sent:
            count = min(due - sent, per_slice * 4)
            lines = "".join(
                f"Ping {{ n: {sent + i}, sent: {time.perf_counter_ns()} }}\n" for i in range(count)
            )
            process.stdin.write(lines.encode())
            process.stdin.flush()
            sent += count
        else:
            time.sleep(SLICE_SECONDS / 2)
    process.stdin.close()


def measure(rate: int, seconds: float, contexts: bool, linger: float | None) -> list[float]:
    """Latencies in milliseconds of every event of one run."""
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "ping.vpl"
        context_op = " .context(c)" if contexts else ""
        header = "context c\n" if contexts else ""
        program.write_text(header + PROGRAM.format(context_op=context_op))
        command = [sys.executable, "-m", "vbatch", "run", "--file", str(program)]
        if linger is not None:
            command += ["--linger", str(linger)]
        process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.5)  # let the program start (and its worker, if any)
        feeder = threading.Thread(target=feed, args=(process, rate, seconds))
        feeder.start()
        latencies = []
        assert process.stdout is not None
        for line in process.stdout:
            received = time.perf_counter_ns()
            latencies.append((received - json.loads(line)["sent"]) / 1e6)
        feeder.join()
        process.wait()
    warm = latencies[len(latencies) // 10 :]  # the first tenth warms caches and learns shapes
    return warm


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if values else 0.0


def main() -> None:
    """Print a table of p50 / p99 latency."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"{'rate':>8} {'contexts':>9} {'setting':>12} {'p50 ms':>8} {'p99 ms':>8} {'events':>8}")
    for rate in (10_000, 100_000):
        for contexts in (False, True):
            for linger in (None, 1.0):
                values = measure(rate, args.seconds, contexts, linger)
                setting = "default" if linger is None else f"--linger {linger:g}"
                print(
                    f"{rate:>8} {'yes' if contexts else 'no':>9} {setting:>12}"
                    f" {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f}"
                    f" {len(values):>8}"
                )


if __name__ == "__main__":
    main()
