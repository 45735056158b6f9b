"""Standard input as a live source: lines until end of file."""

from __future__ import annotations

import os
import threading

from vbatch.io.live.ingest import READ_BYTES, End, Ingest, LineSplitter


class StdinSource:
    """Lines from a file descriptor (standard input) until end of file."""

    ends = True

    def __init__(self, fd: int = 0, name: str = "<stdin>") -> None:
        self.fd = fd
        self.name = name

    def start(self, ingest: Ingest) -> None:
        """Read on a thread of its own."""
        thread = threading.Thread(target=self._read, args=(ingest,), name="vbatch-stdin")
        thread.daemon = True
        thread.start()

    def stop(self) -> None:
        """Nothing to stop: the run stops waiting for it."""

    def _read(self, ingest: Ingest) -> None:
        splitter = LineSplitter(self.name, ingest)
        try:
            while (data := os.read(self.fd, READ_BYTES)) and splitter.feed(data):
                pass
        except OSError as err:
            ingest.report(f"{self.name}: cannot read: {err.strerror or err}; taken as its end")
        if splitter.taking:  # else the run is stopping: what is left is not read
            splitter.finish()
            ingest.put(End())
