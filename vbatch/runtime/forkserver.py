"""How worker processes start: forked from a server that has imported the engine once.

This module imports nothing heavy, so the command line can start the fork server before
it imports Arrow itself: the two imports then run side by side on two cores.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def worker_context() -> multiprocessing.context.ForkServerContext:
    """How workers start: forked from a server that has already imported the engine.

    The fork server starts once per coordinator process (importing vbatch once), so each
    worker then starts in milliseconds instead of importing Python, Arrow and numpy again;
    workers are never forked from the coordinator itself.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vbatch.runtime.worker"])
    return context


@contextmanager
def main_hidden() -> Iterator[None]:
    """While processes start, the user's `__main__` module is out of multiprocessing's sight.

    Multiprocessing would otherwise import the main script again in the fork server and
    in every worker: a script calling `program.simulate(...)` without an
    `if __name__ == "__main__":` guard would then run again in each process (and fail).
    Workers run only vbatch's own code, so they never need the script.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, object] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__spec__ = None  # multiprocessing reads it; None means "nothing to import"
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def prestart() -> None:
    """Start the fork server now, so it imports the engine while this process gets on with
    its own imports, the program and the input (its workers then start at once)."""
    from multiprocessing import forkserver

    worker_context()
    with main_hidden():
        forkserver.ensure_running()


class WorkerProcess:
    """A started worker process that any of the coordinator's threads may ask about.

    A forkserver process's exit status arrives once, over a pipe, and the first poll after
    the end reads it. Two threads polling together raced for those bytes: the loser read
    nothing and multiprocessing recorded exit code 255, so a worker killed by a signal was
    reported as "exit code 255". Every question here is asked under one lock.
    """

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        with self._lock:
            return self._process.exitcode

    def start(self) -> None:
        self._process.start()

    def is_alive(self) -> bool:
        with self._lock:
            return self._process.is_alive()

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the end, without holding other threads up."""
        multiprocessing.connection.wait([self._process.sentinel], timeout)
        with self._lock:
            self._process.join(0)

    def terminate(self) -> None:
        with self._lock:
            self._process.terminate()

    def kill(self) -> None:
        with self._lock:
            self._process.kill()
