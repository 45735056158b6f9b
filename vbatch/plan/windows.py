"""Windows in a plan, and the one registry of what each kind of window is.

A window is an assigner (which windows a row belongs to) × a trigger (when a window is
complete) × the accumulators of its aggregates. The kernels provide the assigners and
triggers (`kernels/window.py` maps each kind to its windower); every other fact about a
kind — how the console labels it, what the summary counts, how often a live run sweeps
it, whether a partial window is emitted at the end — lives in `KINDS` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from vbatch.lang.durations import format_duration


class WindowKind(Enum):
    """What a window counts: event time (tumbling = sliding with slide == size), arrivals,
    or gaps of inactivity."""

    TIME = "time"
    COUNT = "count"
    SESSION = "session"


@dataclass(frozen=True)
class Window:
    """A window: sizes in milliseconds (time, session gap) or in events (count)."""

    kind: WindowKind
    size: int
    slide: int

    @property
    def facts(self) -> KindFacts:
        """What this kind of window is."""
        return KINDS[self.kind]

    @property
    def is_tumbling(self) -> bool:
        """True when windows do not overlap."""
        return self.kind is not WindowKind.SESSION and self.slide == self.size

    def describe(self) -> str:
        """`tumbling 30s`, `sliding 5m every 1m`, `count 100`, `session gap 5s`..."""
        return self.facts.describe(self)

    @property
    def sweep_period_ms(self) -> int | None:
        """How much event time a live sweep must be able to resolve (None: never swept)."""
        return self.facts.sweep_period(self)


@dataclass(frozen=True)
class KindFacts:
    """Everything outside the kernels that depends on the kind of a window."""

    label: str  # the console's `[window]` / `[session]`
    counted: str | None  # the summary counts closed windows of this kind: "3 sessions closed"
    watermark_closes: bool  # the watermark (and so a live sweep) closes these windows
    partial_at_end: bool  # a window still open at the end of input is emitted
    describe: Callable[[Window], str]
    sweep_period: Callable[[Window], int | None]


def _time(window: Window) -> str:
    size = format_duration(window.size)
    if window.is_tumbling:
        return f"tumbling {size}"
    return f"sliding {size} every {format_duration(window.slide)}"


def _count(window: Window) -> str:
    if window.is_tumbling:
        return f"count {window.size}"
    return f"count {window.size} every {window.slide}"


KINDS: dict[WindowKind, KindFacts] = {
    WindowKind.TIME: KindFacts(
        label="window",
        counted=None,
        watermark_closes=True,
        partial_at_end=True,
        describe=_time,
        sweep_period=lambda w: w.slide,
    ),
    WindowKind.COUNT: KindFacts(
        label="window",
        counted=None,
        watermark_closes=False,
        partial_at_end=False,
        describe=_count,
        sweep_period=lambda w: None,
    ),
    WindowKind.SESSION: KindFacts(
        label="session",
        counted="session",
        watermark_closes=True,
        partial_at_end=True,
        describe=lambda w: f"session gap {format_duration(w.size)}",
        sweep_period=lambda w: w.size,
    ),
}
