"""Run one workload on one system in this (fresh) process; print its figures as JSON.

    python -m benchmarks.peers.run SYSTEM WORKLOAD INPUT --events N [--threads 2] [--option X]

SYSTEM is a module of benchmarks.peers (duckdb_peer, polars_peer, ...). The clock covers
`compute` only: from the input file to the results in memory (imports are done before).
Peak RSS is this process's high-water mark (see `own_peak_mib`), and separately the sum of
the peaks of the processes it started (vbatch's context workers, PyFlink's JVM), sampled
every 0.1 s while the clock runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from benchmarks.peers.workloads import checksum


def _status(pid: str) -> dict[str, str]:
    """The fields of /proc/PID/status (empty if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {
        k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)
    }


def _mib(field: str) -> float:
    return int(field.split()[0]) / 1024 if field else 0.0


def own_peak_mib() -> float:
    """This process's peak RSS.

    `getrusage(RUSAGE_SELF).ru_maxrss` on Linux keeps the high-water mark of the address space
    a process had before `exec`, which for a child started with vfork is its parent's: the
    figure would be the harness's size, not the system's. VmHWM belongs to the address space
    and starts afresh at `exec`; getrusage is the fallback where /proc is missing.
    """
    found = _status("self").get("VmHWM")
    return _mib(found) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ChildWatch(threading.Thread):
    """Samples the peak RSS (VmHWM) of every descendant process every `interval` seconds."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        """One look at the process table."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                parents[entry.name] = _status(entry.name).get("PPid", "")
        mine: set[str] = set()
        frontier = {str(os.getpid())}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - mine
            mine |= frontier
        for pid in mine:
            peak = _mib(_status(pid).get("VmHWM", ""))
            self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)

    def run(self) -> None:
        """Sample until stopped."""
        while not self.done.wait(self.interval):
            self.sample()

    def stop(self) -> float:
        """Stop; the sum of the descendants' peaks (an upper bound of their joint peak)."""
        self.sample()
        self.done.set()
        return sum(self.peaks.values())


def main() -> None:
    """Time `compute`, then checksum the results; one JSON object on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("system")
    parser.add_argument("workload")
    parser.add_argument("input", type=Path)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--option", action="append", default=[], help="system-specific")
    args = parser.parse_args()
    peer = importlib.import_module(f"benchmarks.peers.{args.system}")
    options = {"threads": args.threads, "options": tuple(args.option)}
    if hasattr(peer, "warm_up"):  # imports a system loads lazily, outside the clock
        peer.warm_up()
    watch = ChildWatch()
    watch.start()
    started = time.perf_counter()
    result = peer.compute(args.workload, args.input, options)
    seconds = time.perf_counter() - started
    children = watch.stop()
    own = own_peak_mib()
    tables = peer.tables(args.workload, result)
    figures = {
        "events": args.events,
        "seconds": seconds,
        "peak_mib": own,
        "child_peak_mib": children,
        "checksum": checksum(args.workload, tables),
    }
    json.dump(figures, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
