"""A worker's exit is read right however many coordinator threads ask at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.context import ForkServerContext

from vbatch.runtime.forkserver import WorkerProcess, worker_context

THREADS = 4
WORKERS = 12


def _sleep() -> None:
    time.sleep(60)


def test_threads_asking_at_once_all_see_the_signal_that_killed_a_worker() -> None:
    # The forkserver hands a process's exit status over a pipe, once: threads polling the
    # same process at the same moment raced for those bytes and the loser recorded 255.
    context = worker_context()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: the race showed up within 12 runs
    try:
        seen = _exit_codes_seen(context)
    finally:
        sys.setswitchinterval(switch)
    assert seen == [-signal.SIGKILL] * (THREADS * WORKERS)


def _exit_codes_seen(context: ForkServerContext) -> list[int | None]:
    workers = [WorkerProcess(context.Process(target=_sleep, daemon=True)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    seen: list[int | None] = []
    lock = threading.Lock()
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
        start = threading.Barrier(THREADS)

        def ask(worker: WorkerProcess = worker, start: threading.Barrier = start) -> None:
            start.wait()
            while worker.is_alive():
                pass
            with lock:
                seen.append(worker.exitcode)

        threads = [threading.Thread(target=ask) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    return seen


def test_join_waits_for_the_end_and_gives_the_exit_code() -> None:
    worker = WorkerProcess(worker_context().Process(target=_sleep, daemon=True))
    worker.start()
    worker.join(0.05)
    assert worker.is_alive() and worker.exitcode is None
    worker.terminate()
    worker.join(10)
    assert not worker.is_alive() and worker.exitcode == -signal.SIGTERM
