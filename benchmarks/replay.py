"""Run one replay in this process and print its figures as JSON (used by the benchmarks).

python -m benchmarks.replay PROGRAM EVENTS [--batch-size N] [--no-contexts]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.peers.run import own_peak_mib
from vbatch.api import declared_schemas, load
from vbatch.app.simulate import SimulateOptions, run_simulate
from vbatch.io.source import DEFAULT_BATCH_SIZE, ReadOptions


def main() -> None:
    """Replay quietly; print events, seconds and this process's peak RSS (VmHWM)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("events")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--no-contexts", action="store_true")
    args = parser.parse_args()
    program = load(args.program).program
    options = SimulateOptions(
        program=program,
        events=args.events,
        read=ReadOptions(batch_size=args.batch_size, schemas=declared_schemas(program)),
        quiet=True,
        contexts=not args.no_contexts,
    )
    started = time.perf_counter()
    summary = run_simulate(options, lambda text: None)
    seconds = time.perf_counter() - started
    figures = {"events": summary.events, "seconds": seconds, "peak_mib": own_peak_mib()}
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
