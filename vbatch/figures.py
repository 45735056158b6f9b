"""Plain figures a run keeps: shared by the runtime, the metrics and the console, owned by none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

COORDINATOR_LABEL = "coordinator"  # how metrics and queue names call the main process


@dataclass
class StreamCounters:
    """Per-stream counts, for the summary and for metrics."""

    rows_in: int = 0
    rows_out: int = 0
    windows_closed: int = 0
    late_rows: int = 0


@dataclass
class InputFigures:
    """What the live input has done so far."""

    events: int = 0
    bad_records: int = 0
    batches: int = 0


@dataclass
class ConnectorFigures:
    """What one connector (a broker client) has done so far; written by its own threads."""

    name: str
    kind: str
    received: int = 0  # messages read
    received_bytes: int = 0
    sent: int = 0  # rows published
    send_failures: int = 0  # rows a sink could not hand to the broker
    reconnects: int = 0
    bad_records: int = 0  # messages that did not parse
    redelivered: int = 0  # copies of messages already held, sent again after a reconnect
    lag: int | None = None  # messages behind the newest, where the broker tells (Kafka)


@dataclass(frozen=True)
class LinkFigures:
    """A queue between two processes, as the metrics see it."""

    source: str
    target: str
    fill: Callable[[], float]
    blocked_seconds: Callable[[], float]


@dataclass(frozen=True)
class Summary:
    """The figures of a replay's closing block."""

    events: int
    streams: int
    contexts_declared: int
    contexts_used: int
    cross_context_events: int | None
    window_counts: tuple[tuple[str, int], ...] = ()  # closed windows by kind: ("session", 12)
    late_events: int = 0
    bad_records: int = 0
    seconds: float = 0.0

    @property
    def sessions_closed(self) -> int | None:
        """Sessions closed (None when the program has no session windows)."""
        return dict(self.window_counts).get("session")

    @property
    def rate(self) -> float:
        """Events per second (0 when the run took no measurable time)."""
        return self.events / self.seconds if self.seconds > 0 else 0.0
