"""Heartbeats: how the coordinator tells a stopped or wedged worker from a busy one.

Each worker ticks a counter in shared memory from a thread of its own a few times a
second. A worker that is stopped (SIGSTOP), or stuck holding the interpreter, stops
ticking; once a worker has not ticked for `stall_seconds` while the run waits on it,
the run ends (exit 4) naming the context, instead of hanging.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.context import BaseContext
from typing import Any

BEAT_SECONDS = 0.2
STALL_SECONDS = 30.0  # the default; `--stall-timeout` sets it


def make_counter(context: BaseContext) -> Any:
    """A counter in shared memory (read by the coordinator, ticked by one worker)."""
    return context.RawValue("q", 0)


def start_beating(counter: Any) -> threading.Thread:
    """In a worker: tick `counter` every BEAT_SECONDS on a daemon thread."""

    def beat() -> None:
        while True:
            counter.value += 1
            time.sleep(BEAT_SECONDS)

    thread = threading.Thread(target=beat, name="vbatch-heartbeat", daemon=True)
    thread.start()
    return thread


class Watch:
    """In the coordinator: when each worker's counter last moved."""

    def __init__(self, counters: dict[str, Any]) -> None:
        self.counters = counters
        now = time.monotonic()
        self.seen = {name: (c.value, now) for name, c in counters.items()}

    def age(self, name: str) -> float:
        """Seconds since worker `name` last ticked."""
        value, at = self.seen[name]
        now = time.monotonic()
        current = self.counters[name].value
        if current != value:
            self.seen[name] = (current, now)
            return 0.0
        return now - at

    def ages(self) -> dict[str, float]:
        """Seconds since each worker last ticked."""
        return {name: self.age(name) for name in self.counters}
