"""The session windower: per partition, events closer than the gap share a session.

A batch is first handled as a whole: the rows and the open sessions of their partitions
are sorted by (partition, time) and joined into sessions where neighbours are at most
`gap` apart. That equals event-at-a-time processing unless a session would have closed
(or been bridged) in the middle of the batch; the batch is checked for exactly that, and
if it happens the batch is cut into pieces, each handled in turn, closing in between the
sessions the watermark closed there. Cutting ends at single rows, which are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vbatch.kernels.clock import Tick
from vbatch.kernels.slots import SlotPool, stable_order
from vbatch.kernels.windowers import Assign, Close, Merge, Rows, Step

_LIMIT = 1 << 62
SPLIT = 16  # pieces a run is cut into when it cannot be handled at once


def segmented_cummax(values: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Running maximum restarting where `starts` is True; None if it cannot be done in int64."""
    if not len(values):
        return values.copy()
    segment = np.cumsum(starts) - 1
    base = int(values.min())
    spread = int(values.max()) - base + 1
    if int(segment[-1]) * spread >= _LIMIT:
        return None
    shifted = (values - base) + segment * spread
    return np.maximum.accumulate(shifted) - segment * spread + base


@dataclass(frozen=True)
class _Plan:
    """How one run of rows joins the open sessions."""

    rows: np.ndarray
    open_items: np.ndarray
    item_code: np.ndarray  # items: the open sessions the run touches, then its rows
    item_lo: np.ndarray
    item_hi: np.ndarray
    group: np.ndarray
    late: np.ndarray
    n_groups: int
    sorted_items: np.ndarray
    group_starts: np.ndarray


class SessionWindower:
    """Sessions per partition; a session ends `gap` after its last event."""

    def __init__(self, pool: SlotPool, gap: int) -> None:
        self.pool = pool
        self.gap = gap
        self.code = np.zeros(0, np.int64)
        self.start = np.zeros(0, np.int64)
        self.last = np.zeros(0, np.int64)
        self.slot = np.zeros(0, np.int64)
        self.late_rows = 0

    def steps(self, rows: Rows, tick: Tick) -> list[Step]:
        """Assign rows to sessions, then close the sessions the watermark has passed."""
        steps: list[Step] = []
        if len(rows.ts):
            # Rows filtered out before the window may already have moved the watermark.
            steps += self._close_before(int(rows.wm_before[0]), tick)
        if not self._in_order(rows, steps):
            self._run(rows, np.arange(len(rows.ts)), tick, steps)
        return steps + self.due(tick)

    def _in_order(self, rows: Rows, steps: list[Step]) -> bool:
        """The common case, without merging: each partition's rows arrive in time order.

        Handles the batch and returns True when, per partition, rows come in time order
        after its one open session, no row joins a session the watermark already closed,
        and no row is late; otherwise changes nothing and returns False.
        """
        order = stable_order(rows.codes)
        codes, ts, wb = rows.codes[order], rows.ts[order], rows.wm_before[order]
        n = len(codes)
        first = np.ones(n, bool)
        first[1:] = codes[1:] != codes[:-1]
        previous = np.empty(n, np.int64)
        previous[1:] = ts[:-1]
        top = int(max(codes.max(), self.code.max(initial=-1))) + 1
        where = np.full(top, -1, np.int64)
        where[self.code] = np.arange(len(self.code))
        if len(self.code) and (np.bincount(self.code, minlength=top)[codes[first]] > 1).any():
            return False
        open_at = where[codes[first]]
        has_open = open_at >= 0
        open_last = np.zeros(len(open_at), np.int64)
        open_last[has_open] = self.last[open_at[has_open]]
        if (has_open & (ts[first] < open_last)).any():
            return False
        previous[first] = open_last
        known = ~first
        known[first] = has_open
        if (known & (ts < previous)).any():
            return False
        joins = known & (ts - previous <= self.gap)
        if (joins & (wb > previous + self.gap)).any():
            return False
        starts = ~joins
        if (starts & (ts + self.gap < wb)).any():
            return False
        self._apply_in_order(rows, order, codes, ts, first, joins, open_at, steps)
        return True

    def _apply_in_order(
        self,
        rows: Rows,
        order: np.ndarray,
        codes: np.ndarray,
        ts: np.ndarray,
        first: np.ndarray,
        joins: np.ndarray,
        open_at: np.ndarray,
        steps: list[Step],
    ) -> None:
        segment_start = np.flatnonzero(~joins | first)
        segment = np.cumsum(~joins | first) - 1
        continues = joins[segment_start]  # the segment extends the code's open session
        slot = np.empty(len(segment_start), np.int64)
        prior = open_at[np.cumsum(first)[segment_start] - 1]
        slot[continues] = self.slot[prior[continues]]
        fresh = np.flatnonzero(~continues)
        if len(fresh):
            slot[fresh] = self.pool.alloc(len(fresh))
        in_arrival_order = np.empty(len(order), np.int64)
        in_arrival_order[order] = slot[segment]
        steps.append(Assign(None, in_arrival_order))
        seg_codes = codes[segment_start]
        seg_start = ts[segment_start]
        seg_last = np.maximum.reduceat(ts, segment_start)
        seg_start[continues] = self.start[prior[continues]]
        keep = np.ones(len(self.code), bool)
        keep[prior[continues]] = False
        self._replace(keep, seg_codes, seg_start, seg_last, slot)

    def due(self, tick: Tick) -> list[Step]:
        """Close sessions whose `last + gap` the watermark has passed."""
        return self._close_before(tick.end, tick)

    def finish(self, end_seq: int) -> list[Step]:
        """Close every open session at end of input."""
        everything = np.ones(len(self.code), bool)
        return self._close(everything, lambda ends: np.full(len(ends), end_seq))

    def _close_before(self, watermark: int, tick: Tick) -> list[Step]:
        """Close the sessions a watermark of `watermark` has passed."""
        return self._close(
            self.last + self.gap < watermark, lambda ends: tick.trigger_seq(ends, strict=True)
        )

    def _close(self, mask: np.ndarray, triggers) -> list[Step]:  # noqa: ANN001
        if not mask.any():
            return []
        ends = self.last[mask] + self.gap
        step = Close(self.slot[mask], self.code[mask], self.start[mask], ends, triggers(ends))
        self._replace(~mask)
        return [step]

    def _replace(self, keep: np.ndarray, *new: np.ndarray) -> None:
        """Keep the open sessions `keep` marks, then add the `new` (code, start, last, slot)."""
        kept = [c[keep] for c in (self.code, self.start, self.last, self.slot)]
        if new:
            kept = [np.concatenate([k, n]) for k, n in zip(kept, new, strict=True)]
        self.code, self.start, self.last, self.slot = kept

    def _run(self, rows: Rows, index: np.ndarray, tick: Tick, steps: list[Step]) -> None:
        """Handle rows `index` (consecutive arrivals) at once, or else piece by piece.

        Any cut of the arrivals into consecutive pieces, closing between two pieces the
        sessions the watermark closed there, is exact; a piece that is not handled at once
        is cut again. Pieces are a sixteenth of the run: on data with a late row every few
        hundred (the usual case), halving would plan the same rows at four more levels.
        """
        if not len(index):
            return
        plan = self._plan(rows, index)
        if plan is not None:
            self._apply(rows, plan, steps)
            return
        pieces = np.array_split(index, min(SPLIT, len(index)))
        for i, piece in enumerate(pieces):
            if i:
                steps += self._close_before(int(rows.wm_before[piece[0]]), tick)
            self._run(rows, piece, tick, steps)

    def _plan(self, rows: Rows, index: np.ndarray) -> _Plan | None:
        codes, ts = rows.codes[index], rows.ts[index]
        top = int(max(codes.max(), self.code.max(initial=-1))) + 1
        present = np.zeros(top, bool)
        present[codes] = True
        open_items = np.flatnonzero(present[self.code])
        m = len(open_items)
        item_code = np.concatenate([self.code[open_items], codes])
        item_lo = np.concatenate([self.start[open_items], ts])
        item_hi = np.concatenate([self.last[open_items], ts])
        order = np.lexsort((item_lo, item_code))
        code_s, lo_s, hi_s = item_code[order], item_lo[order], item_hi[order]
        new_code = np.ones(len(order), bool)
        new_code[1:] = code_s[1:] != code_s[:-1]
        running = segmented_cummax(hi_s, new_code)
        if running is None:
            return None
        starts = new_code.copy()
        starts[1:] |= lo_s[1:] > running[:-1] + self.gap
        group_sorted = np.cumsum(starts) - 1
        group = np.empty(len(order), np.int64)
        group[order] = group_sorted
        n_groups = int(group_sorted[-1]) + 1
        arrival = np.concatenate([np.full(m, -1), np.arange(len(index))])
        wb = rows.wm_before[index]
        sizes = np.bincount(group, minlength=n_groups)
        # Rows alone in their group whose own session the watermark has already passed.
        late = (sizes[group[m:]] == 1) & (ts + self.gap < wb)
        if len(index) > 1 and not self._sequential_equivalent(
            group, arrival, item_lo, item_hi, wb, sizes
        ):
            return None
        return _Plan(
            index, open_items, item_code, item_lo, item_hi,
            group, late, n_groups, order, np.flatnonzero(starts),
        )  # fmt: skip

    def _sequential_equivalent(
        self,
        group: np.ndarray,
        arrival: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        wb: np.ndarray,
        sizes: np.ndarray,
    ) -> bool:
        """True when handling the run at once equals handling its rows one at a time."""
        is_row = arrival >= 0
        if (np.bincount(group[~is_row], minlength=len(sizes)) > 1).any():
            return False
        order = np.lexsort((arrival, group))
        g, a = group[order], arrival[order]
        first = np.ones(len(order), bool)
        first[1:] = g[1:] != g[:-1]
        hi_run = segmented_cummax(hi[order], first)
        lo_run = segmented_cummax(-lo[order], first)
        if hi_run is None or lo_run is None:
            return False
        later = np.flatnonzero(~first & (a >= 0))
        hi_before = hi_run[later - 1]
        lo_before = -lo_run[later - 1]
        t = lo[order][later]
        w = wb[a[later]]
        extends = (t >= lo_before - self.gap) & (t <= hi_before + self.gap)
        still_open = w <= hi_before + self.gap
        if not (extends & still_open).all():
            return False
        leaders = np.flatnonzero(first & (a >= 0))
        leader_rows = a[leaders]
        t_lead = lo[order][leaders]
        lead_late = t_lead + self.gap < wb[leader_rows]
        return not (lead_late & (sizes[g[leaders]] > 1)).any()

    def _apply(self, rows: Rows, plan: _Plan, steps: list[Step]) -> None:
        m = len(plan.open_items)
        open_group = plan.group[:m]
        open_slots = self.slot[plan.open_items]
        target = np.full(plan.n_groups, -1, np.int64)
        if m:
            first_of_group = np.unique(open_group, return_index=True)[1]
            target[open_group[first_of_group]] = open_slots[first_of_group]
            extra = np.setdiff1d(np.arange(m), first_of_group)
            if len(extra):
                steps.append(Merge(target[open_group[extra]], open_slots[extra]))
        row_group = plan.group[m:]
        late_groups = np.zeros(plan.n_groups, bool)
        late_groups[row_group[plan.late]] = True
        fresh = np.flatnonzero((target < 0) & ~late_groups)
        if len(fresh):
            target[fresh] = self.pool.alloc(len(fresh))
        self.late_rows += int(np.count_nonzero(plan.late))
        on_time = ~plan.late
        steps.append(Assign(plan.rows[on_time], target[row_group[on_time]]))
        self._store(rows, plan, target, late_groups)

    def _store(self, rows: Rows, plan: _Plan, target: np.ndarray, late_groups: np.ndarray) -> None:
        order = plan.sorted_items
        starts = plan.group_starts
        group_ids = plan.group[order][starts]
        keep_groups = ~late_groups[group_ids]
        new_code = plan.item_code[order][starts][keep_groups]
        new_start = np.minimum.reduceat(plan.item_lo[order], starts)[keep_groups]
        new_last = np.maximum.reduceat(plan.item_hi[order], starts)[keep_groups]
        new_slot = target[group_ids][keep_groups]
        keep = np.ones(len(self.code), bool)
        keep[plan.open_items] = False
        self._replace(keep, new_code, new_start, new_last, new_slot)
