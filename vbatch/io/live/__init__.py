"""Live sources for `vbatch run`: one protocol, one module per source, one registry.

A source runs on threads of its own and puts blocks of whole lines (`.evt` or JSON
lines, mixed freely) on the run's `Ingest` queue. Sources that can end (standard input)
put `End` when they do; servers (TCP, HTTP, guarded as `server.py` says) run until the
run stops them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vbatch.io.live.ingest import Ingest


class LiveSource(Protocol):
    """A live input."""

    name: str  # how messages and metrics call it
    ends: bool  # True when the source can run out (its End counts toward the end of input)

    def start(self, ingest: Ingest) -> None:
        """Begin feeding `ingest` (on threads of the source's own)."""
        ...

    def stop(self) -> None:
        """Stop taking input (the run is ending)."""
        ...


@dataclass(frozen=True)
class SourceSpec:
    """A live source as the command line names it: a kind and its target."""

    kind: str  # a key of SOURCES
    target: object = None  # a path, or (Endpoint, Guard) for a server


def _registry() -> dict[str, Callable[[object], LiveSource]]:
    from vbatch.io.live.follow import FollowSource
    from vbatch.io.live.http import HttpSource
    from vbatch.io.live.stdin import StdinSource
    from vbatch.io.live.tcp import TcpSource

    return {
        "stdin": lambda target: StdinSource(),
        "follow": lambda target: FollowSource(target),  # type: ignore[arg-type]
        "tcp": lambda target: TcpSource(*target),  # type: ignore[misc]
        "http": lambda target: HttpSource(*target),  # type: ignore[misc]
    }


def open_source(spec: SourceSpec) -> LiveSource:
    """The source a spec names."""
    return _registry()[spec.kind](spec.target)


__all__ = ["Ingest", "LiveSource", "SourceSpec", "open_source"]
