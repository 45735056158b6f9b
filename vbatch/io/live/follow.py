"""A growing file as a live source (`--follow`): what is there, then what is appended.

Followed like `tail -F`: when the file is rotated (renamed away and a new one created at
its path) the rest of the old file is read, then the new one from its start; when it is
truncated in place (copytruncate) it is read again from its start, even when it was
written past the old length before the follower looked (the last bytes read differ).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import BinaryIO

from vbatch.io.live.ingest import READ_BYTES, End, Ingest, LineSplitter

FOLLOW_POLL_SECONDS = 0.05


class FollowSource:
    """Lines of a file that keeps growing, from its start, until the run stops."""

    ends = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self._stop = threading.Event()

    def start(self, ingest: Ingest) -> None:
        """Follow the file on a thread of its own."""
        thread = threading.Thread(target=self._follow, args=(ingest,), name="vbatch-follow")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()

    def _follow(self, ingest: Ingest) -> None:
        try:
            self._read(ingest)
        except OSError as err:
            ingest.report(f"{self.name}: cannot read: {err.strerror or err}; no longer followed")
        ingest.put(End())

    def _read(self, ingest: Ingest) -> None:
        followed = _Followed(self.path)
        splitter = LineSplitter(self.name, ingest)
        try:
            while not self._stop.is_set() and splitter.taking:
                if followed.rewritten():  # truncated (and perhaps written again) in place
                    splitter.finish()
                    followed.restart()
                    splitter = LineSplitter(self.name, ingest)
                elif data := followed.read():
                    splitter.feed(data)
                elif (replaced := followed.replaced()) is not None:
                    while splitter.taking and (data := followed.read()):  # the old file's rest
                        splitter.feed(data)
                    splitter.finish()
                    followed.file.close()
                    followed, splitter = replaced, LineSplitter(self.name, ingest)
                else:
                    time.sleep(FOLLOW_POLL_SECONDS)
        finally:
            followed.file.close()


class _Followed:
    """The open file being followed, and the last bytes read from it (to see it rewritten)."""

    TAIL_BYTES = 64

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the follower
        self.tail = b""

    def read(self) -> bytes:
        """What the file holds beyond what was read (b"" at its end)."""
        data = self.file.read(READ_BYTES)
        if data:
            self.tail = (self.tail + data[-self.TAIL_BYTES :])[-self.TAIL_BYTES :]
        return data

    def rewritten(self) -> bool:
        """The file is shorter than what was read, or no longer ends what was read with the
        same bytes: truncated, then perhaps written again past where it was read to."""
        at = self.file.tell()
        if os.fstat(self.file.fileno()).st_size < at:
            return True
        return (
            bool(self.tail)
            and os.pread(self.file.fileno(), len(self.tail), at - len(self.tail)) != self.tail
        )

    def restart(self) -> None:
        """Read again from the start."""
        self.file.seek(0)
        self.tail = b""

    def replaced(self) -> _Followed | None:
        """The new file at the path if the open one was renamed away (or deleted) and
        replaced."""
        try:
            if _identity(os.stat(self.path)) == _identity(os.fstat(self.file.fileno())):
                return None
            return _Followed(self.path)
        except OSError:
            return None  # not created again yet


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino
