"""A growing file as a live source (`--follow`): what is there, then what is appended."""

from __future__ import annotations

import threading
import time
from pathlib import Path

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
        splitter = LineSplitter(self.name, ingest)
        with open(self.path, "rb") as file:
            while not self._stop.is_set():
                data = file.read(READ_BYTES)
                if data:
                    splitter.feed(data)
                else:
                    time.sleep(FOLLOW_POLL_SECONDS)
        ingest.put(End())
