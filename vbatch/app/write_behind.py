"""Output files written on a thread of their own, so encoding them overlaps the computing.

Turning results into Parquet or CSV (plain strings out of dictionaries, column encoding,
compression) costs as much as computing them; pyarrow releases the GIL while it does it,
so a second thread puts the second core to work. Writes run one at a time, in the order
they were handed over; at most `DEPTH` wait, so memory stays bounded. A failure on the
thread (a full disk) is raised in the caller's thread at its next call, as if the write
had failed there: the writer has already removed what it wrote.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

DEPTH = 16  # writes that may wait for the thread
STOP_SECONDS = 5.0  # how long `stop` waits for a write in progress (a FIFO nobody reads)

Work = Callable[[], None]


class WriteBehind:
    """Runs writes in order on one background thread; `drain` waits for them all."""

    def __init__(self, name: str = "vbatch-write") -> None:
        self._tasks: queue.Queue[Work | None] = queue.Queue(DEPTH)
        self._failure: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Work) -> None:
        """Queue `work` (waits while `DEPTH` writes are waiting); raises an earlier failure."""
        self.raise_failure()
        while True:
            try:
                self._tasks.put(work, timeout=0.1)
                return
            except queue.Full:
                self.raise_failure()

    def drain(self) -> None:
        """Wait until every queued write is done; raise the first failure, if any."""
        self._tasks.join()
        self.raise_failure()

    def stop(self) -> None:
        """Drop what has not started, and end the thread (waiting a little for a write in
        progress). Safe to call more than once."""
        self._stopping.set()
        if self._thread.is_alive():
            while True:  # make room for the end marker among writes that will be skipped
                try:
                    self._tasks.put_nowait(None)
                    break
                except queue.Full:
                    self._discard_one()
            self._thread.join(STOP_SECONDS)

    def raise_failure(self) -> None:
        """Raise the exception a write failed with (every time: nothing after it was written)."""
        if self._failure is not None:
            raise self._failure

    def _discard_one(self) -> None:
        try:
            self._tasks.get_nowait()
            self._tasks.task_done()
        except queue.Empty:
            pass

    def _run(self) -> None:
        while True:
            work = self._tasks.get()
            try:
                if work is None:
                    return
                if not self._stopping.is_set():
                    work()
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                self._failure = err
                self._stopping.set()  # later writes would only fail again
            finally:
                self._tasks.task_done()
