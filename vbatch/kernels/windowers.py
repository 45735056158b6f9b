"""Windowers: which windows each row belongs to, and which windows a watermark closes.

A windower turns a batch into steps for the window kernel: `Assign` rows to slots,
`Merge` slots (sessions bridged by an event) and `Close` windows. Tumbling is sliding
with slide == size; count windows and sessions are the two other windowers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vbatch.kernels.clock import Tick
from vbatch.kernels.keys import factorize
from vbatch.kernels.slots import SlotPool, add_counts, grow_array, stable_order

_K_BITS = 31
_K_BIAS = 1 << 30


@dataclass(frozen=True)
class Rows:
    """The rows reaching a window, in arrival order."""

    codes: np.ndarray
    ts: np.ndarray
    seqs: np.ndarray
    wm_before: np.ndarray


@dataclass(frozen=True)
class Assign:
    """Fold rows into `slots`, pairwise: `rows` indexes Rows, None means every row in order."""

    rows: np.ndarray | None
    slots: np.ndarray


@dataclass(frozen=True)
class Merge:
    """Fold the state of slots `src` into `dst`, then free `src`."""

    dst: np.ndarray
    src: np.ndarray


@dataclass(frozen=True)
class Close:
    """Windows that are complete: emit them, then free their slots."""

    slots: np.ndarray
    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    trigger_seqs: np.ndarray


@dataclass(frozen=True)
class Discard:
    """Windows dropped without output (count windows never filled): free their slots."""

    slots: np.ndarray


Step = Assign | Merge | Close | Discard


def _pairs(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row i belongs to windows first[i]..last[i]: one (row, window number) pair for each."""
    counts = last - first + 1
    pair_rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return pair_rows, np.repeat(first - starts, counts) + np.arange(len(pair_rows))


class OpenTable:
    """Open windows keyed by an int64 (partition code and window number), kept sorted."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.slots = np.zeros(0, np.int64)

    def slots_for(self, keys: np.ndarray, pool: SlotPool) -> tuple[np.ndarray, np.ndarray]:
        """Slot of each distinct key, opening new windows as needed; also the 'new' mask."""
        index = np.searchsorted(self.keys, keys)
        found = index < len(self.keys)
        found[found] = self.keys[index[found]] == keys[found]
        slots = np.empty(len(keys), np.int64)
        slots[found] = self.slots[index[found]]
        fresh = np.flatnonzero(~found)
        if len(fresh):
            new_slots = pool.alloc(len(fresh))
            slots[fresh] = new_slots
            self._insert(keys[fresh], new_slots)
        return slots, ~found

    def _insert(self, keys: np.ndarray, slots: np.ndarray) -> None:
        order = np.argsort(keys)
        keys, slots = keys[order], slots[order]
        at = np.searchsorted(self.keys, keys)
        self.keys = np.insert(self.keys, at, keys)
        self.slots = np.insert(self.slots, at, slots)

    def pop(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove the windows selected by `mask`; return their keys and slots."""
        keys, slots = self.keys[mask], self.slots[mask]
        self.keys, self.slots = self.keys[~mask], self.slots[~mask]
        return keys, slots


class _KeyedWindower:
    """Shared bookkeeping: window keys are (code << 31) | (window number + bias)."""

    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool
        self.table = OpenTable()
        self.origin: int | None = None

    def _keys(self, codes: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        if self.origin is None:
            self.origin = int(numbers[0]) if len(numbers) else 0
        offset = numbers - self.origin + _K_BIAS
        if len(offset) and (offset.min() < 0 or offset.max() >= (1 << _K_BITS)):
            raise OverflowError("event times span too many windows")
        return (codes << _K_BITS) | offset

    def _split(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = keys >> _K_BITS
        numbers = (keys & ((1 << _K_BITS) - 1)) - _K_BIAS + (self.origin or 0)
        return codes, numbers

    def _assign(self, codes: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        keys = self._keys(codes, numbers)
        local, distinct = factorize(pa.array(keys))
        slots, _ = self.table.slots_for(distinct.to_numpy(), self.pool)
        return slots[local]


class CurrentWindows:
    """Each partition's latest open window, so most rows find their slot by one lookup."""

    NONE = np.iinfo(np.int64).min

    def __init__(self) -> None:
        self.number = np.zeros(0, np.int64)
        self.slot = np.zeros(0, np.int64)

    def slots(
        self,
        codes: np.ndarray,
        numbers: np.ndarray,
        assign: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """The slot of each (code, window number); `assign` opens or finds the others."""
        top = int(codes.max()) + 1 if len(codes) else 0
        if top > len(self.number):
            self.number = grow_array(self.number, max(top, 2 * len(self.number)), self.NONE)
            self.slot = grow_array(self.slot, len(self.number), -1)
        hit = self.number[codes] == numbers
        if hit.all():
            return self.slot[codes]
        slots = np.empty(len(codes), np.int64)
        slots[hit] = self.slot[codes[hit]]
        miss = np.flatnonzero(~hit)
        found = assign(codes[miss], numbers[miss])
        slots[miss] = found
        self._remember(codes[miss], numbers[miss], found)
        return slots

    def _remember(self, codes: np.ndarray, numbers: np.ndarray, slots: np.ndarray) -> None:
        """Make each code's latest window number (and its slot) current."""
        np.maximum.at(self.number, codes, numbers)
        latest = self.number[codes] == numbers
        self.slot[codes[latest]] = slots[latest]  # rows of one window share its slot

    def forget(self, codes: np.ndarray, numbers: np.ndarray) -> None:
        """Closed windows are no longer current."""
        closing = self.number[codes] == numbers
        self.number[codes[closing]] = self.NONE


class TimeWindower(_KeyedWindower):
    """Epoch-aligned windows `[k·slide, k·slide + size)`; tumbling when slide == size."""

    def __init__(self, pool: SlotPool, size: int, slide: int) -> None:
        super().__init__(pool)
        self.size = size
        self.slide = slide
        self.late_rows = 0
        self.current = CurrentWindows()

    def steps(self, rows: Rows, tick: Tick) -> list[Step]:
        """Assign each row to its windows (dropping late pairs), then close due windows."""
        if self.size == self.slide:
            return self._tumbling_steps(rows, tick)
        n = len(rows.ts)
        pair_rows, numbers = _pairs(
            first=(rows.ts - self.size) // self.slide + 1, last=rows.ts // self.slide
        )
        on_time = numbers * self.slide + self.size > rows.wm_before[pair_rows]
        pair_rows, numbers = pair_rows[on_time], numbers[on_time]
        self.late_rows += n - int(np.count_nonzero(np.bincount(pair_rows, minlength=n)))
        slots = self.current.slots(rows.codes[pair_rows], numbers, self._assign)
        return [Assign(pair_rows, slots), *self.due(tick)]

    def _tumbling_steps(self, rows: Rows, tick: Tick) -> list[Step]:
        """One window per row: late rows are left out by a mask, without expanding pairs."""
        numbers = rows.ts // self.size
        if self._all_on_time(rows):
            slots = self.current.slots(rows.codes, numbers, self._assign)
            return [Assign(None, slots), *self.due(tick)]
        on_time = np.flatnonzero((numbers + 1) * self.size > rows.wm_before)
        self.late_rows += len(rows.ts) - len(on_time)
        slots = self.current.slots(rows.codes[on_time], numbers[on_time], self._assign)
        return [Assign(on_time, slots), *self.due(tick)]

    def _all_on_time(self, rows: Rows) -> bool:
        """True when no row of a tumbling batch is late (the common case, checked cheaply)."""
        if not len(rows.ts):
            return True
        earliest_end = (int(rows.ts.min()) // self.size + 1) * self.size
        return earliest_end > int(rows.wm_before.max())

    def due(self, tick: Tick) -> list[Step]:
        """Close the windows whose end the watermark has reached."""
        ends = self._split(self.table.keys)[1] * self.slide + self.size
        done = ends <= tick.end
        if not done.any():
            return []
        return [self._close(done, tick.trigger_seq(ends[done], strict=False))]

    def finish(self, end_seq: int) -> list[Step]:
        """Close every open window at end of input."""
        n = len(self.table.keys)
        return [self._close(np.ones(n, bool), np.full(n, end_seq))]

    def _close(self, done: np.ndarray, triggers: np.ndarray) -> Close:
        """Close the open windows `done` marks; `triggers` are their trigger seqs."""
        keys, slots = self.table.pop(done)
        codes, numbers = self._split(keys)
        ends = numbers * self.slide + self.size
        return Close(slots, codes, ends - self.size, ends, triggers)


class CountWindower(_KeyedWindower):
    """Windows of `size` arrivals per partition, starting every `slide` arrivals."""

    def __init__(self, pool: SlotPool, size: int, slide: int) -> None:
        super().__init__(pool)
        self.size = size
        self.slide = slide
        self.seen = np.zeros(0, np.int64)
        self.start_ts = np.zeros(0, np.int64)
        self.origin = 0
        self.late_rows = 0

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` slots."""
        self.start_ts = grow_array(self.start_ts, capacity, 0)

    def steps(self, rows: Rows, tick: Tick) -> list[Step]:
        """Assign rows to count windows; close each window at the row that fills it."""
        position = self._positions(rows.codes)
        first = np.maximum(0, -((self.size - 1 - position) // self.slide))
        pair_rows, numbers = _pairs(first, last=position // self.slide)
        slots = self._assign(rows.codes[pair_rows], numbers)
        opening = np.flatnonzero(numbers * self.slide == position[pair_rows])
        self.start_ts[slots[opening]] = rows.ts[pair_rows[opening]]
        filled = position - (self.size - 1)
        closing = np.flatnonzero((filled >= 0) & (filled % self.slide == 0))
        steps: list[Step] = [Assign(pair_rows, slots)]
        if len(closing):
            steps.append(self._close(rows, closing, filled[closing] // self.slide))
        return steps

    def _positions(self, codes: np.ndarray) -> np.ndarray:
        """Each row's 0-based arrival index within its partition."""
        top = int(codes.max()) + 1 if len(codes) else 0
        if top > len(self.seen):
            self.seen = grow_array(self.seen, top, 0)
        order = stable_order(codes)
        sorted_codes = codes[order]
        boundaries = np.flatnonzero(np.diff(sorted_codes)) + 1
        group_start = np.zeros(len(codes), np.int64)
        group_start[boundaries] = boundaries
        np.maximum.accumulate(group_start, out=group_start)
        rank = np.empty(len(codes), np.int64)
        rank[order] = np.arange(len(codes)) - group_start
        position = self.seen[codes] + rank
        add_counts(self.seen, codes)
        return position

    def _close(self, rows: Rows, closing: np.ndarray, numbers: np.ndarray) -> Close:
        codes = rows.codes[closing]
        index = np.searchsorted(self.table.keys, self._keys(codes, numbers))
        slots = self.table.slots[index]
        mask = np.zeros(len(self.table.keys), bool)
        mask[index] = True
        self.table.pop(mask)
        return Close(slots, codes, self.start_ts[slots], rows.ts[closing], rows.seqs[closing])

    def due(self, tick: Tick) -> list[Step]:
        """Count windows ignore the watermark."""
        return []

    def finish(self, end_seq: int) -> list[Step]:
        """A count window that never filled is not emitted."""
        _, slots = self.table.pop(np.ones(len(self.table.keys), bool))
        return [Discard(slots)]
