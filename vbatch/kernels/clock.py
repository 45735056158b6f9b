"""Event-time watermarks: the largest `_ts` seen minus the allowed out-of-orderness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER = -(1 << 62)  # watermark before any event


@dataclass(frozen=True)
class Tick:
    """How the watermark moved over one batch of a stream's source rows (in arrival order)."""

    seq: np.ndarray
    before: np.ndarray
    after: np.ndarray
    start: int

    @property
    def end(self) -> int:
        """The watermark after the whole batch."""
        return int(self.after[-1]) if len(self.after) else self.start

    def before_rows(self, positions: np.ndarray | None) -> np.ndarray:
        """The watermark just before each row arrived; `positions` index the tick's rows."""
        return self.before if positions is None else self.before[positions]

    def trigger_seq(self, thresholds: np.ndarray, *, strict: bool) -> np.ndarray:
        """The seq of the first row after which the watermark reached each threshold.

        `strict` asks for watermark > threshold instead of >=.
        """
        index = np.searchsorted(self.after, thresholds, side="right" if strict else "left")
        return self.seq[np.minimum(index, len(self.seq) - 1)]


class Clock:
    """A stream's watermark, advanced by each batch of its source rows."""

    def __init__(self, out_of_order_ms: int) -> None:
        self.out_of_order = out_of_order_ms
        self.watermark = NEVER

    def advance(self, watermark: int, seq: int) -> Tick:
        """Move the watermark without rows (a live sweep while the input is idle).

        Windows it closes get `seq` (the next arrival) as the arrival that closed them.
        """
        start = self.watermark
        self.watermark = max(start, watermark)
        at = np.array([seq], np.int64)
        return Tick(at, np.array([start], np.int64), np.array([self.watermark], np.int64), start)

    def tick(self, ts: np.ndarray, seq: np.ndarray) -> Tick:
        """Advance over rows in arrival order."""
        start = self.watermark
        if not len(ts):
            return Tick(seq, ts, ts, start)
        after = ts - self.out_of_order
        if not (ts[1:] >= ts[:-1]).all():  # in-order input needs no running maximum
            after = np.maximum.accumulate(after)
        np.maximum(after, start, out=after)
        before = np.empty_like(after)
        before[0] = start
        before[1:] = after[:-1]
        self.watermark = int(after[-1])
        return Tick(seq, before, after, start)
