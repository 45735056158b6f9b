"""Dense state slots for open windows, a store for values kept per slot, and the per-slot
array helpers the windowers and accumulators share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

_INITIAL_CAPACITY = 1024


class SlotPool:
    """Hands out integer slot ids for open windows and recycles them when windows close.

    Each slot has a generation number, bumped when it is released, so logs that refer to
    a slot can tell old entries from new ones.
    """

    def __init__(self, on_grow: Callable[[int], None]) -> None:
        self.capacity = 0
        self.generation = np.zeros(0, np.int64)
        self._free = np.zeros(0, np.int64)
        self._next = 0
        self._on_grow = on_grow

    def alloc(self, n: int) -> np.ndarray:
        """`n` fresh slot ids."""
        reused = self._free[-n:] if n else self._free[:0]
        self._free = self._free[: len(self._free) - len(reused)]
        fresh_count = n - len(reused)
        fresh = np.arange(self._next, self._next + fresh_count, dtype=np.int64)
        self._next += fresh_count
        if self._next > self.capacity:
            self._grow(self._next)
        return np.concatenate([reused[::-1], fresh])

    def release(self, slots: np.ndarray) -> None:
        """Give slots back; their state must be reset by the owner before reuse."""
        self.generation[slots] += 1
        self._free = np.concatenate([self._free, slots])

    def _grow(self, needed: int) -> None:
        capacity = max(_INITIAL_CAPACITY, self.capacity)
        while capacity < needed:
            capacity *= 2
        self.generation = np.concatenate(
            [self.generation, np.zeros(capacity - self.capacity, np.int64)]
        )
        self.capacity = capacity
        self._on_grow(capacity)


def owned_array(array: pa.Array) -> pa.Array:
    """A copy of `array` (dictionary included) that no input buffer backs.

    Batches read from a context queue live in shared memory that is reused once the next
    batch is read, so state kept across batches must hold copies.
    """
    if pa.types.is_dictionary(array.type):
        indices = pa.concat_arrays([array.indices])
        return pa.DictionaryArray.from_arrays(indices, pa.concat_arrays([array.dictionary]))
    return pa.concat_arrays([array])


def grow_array(array: np.ndarray, capacity: int, fill: object) -> np.ndarray:
    """`array` extended to `capacity` entries, new ones set to `fill`."""
    extra = np.full(capacity - len(array), fill, dtype=array.dtype)
    return np.concatenate([array, extra])


def add_counts(counts: np.ndarray, slots: np.ndarray) -> None:
    """counts[slot] += 1 for every entry of `slots` (integers: the order does not matter)."""
    if len(counts) <= 4 * len(slots):
        counts += np.bincount(slots, minlength=len(counts))
    else:
        np.add.at(counts, slots, 1)


def stable_order(codes: np.ndarray) -> np.ndarray:
    """Positions sorted by code, arrival order kept within a code (radix sort on 16-bit parts)."""
    if not len(codes):
        return np.zeros(0, np.int64)
    top = int(codes.max())
    if top < 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    if top < 1 << 32:
        low = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
        high = np.argsort((codes[low] >> 16).astype(np.uint16), kind="stable")
        return low[high]
    return np.argsort(codes, kind="stable")


class ValueStore:
    """One Arrow value per slot (e.g. a window's first or last value), copied out of batches.

    Values are appended to a log and each slot points into it; the log is compacted when
    it grows well past the number of live slots, so memory follows open windows only.
    """

    def __init__(self) -> None:
        self.ref = np.zeros(0, np.int64)
        self._chunks: list[pa.Array] = []
        self._length = 0
        self._combined: pa.Array | None = None
        self._live = 0

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` slots."""
        self.ref = grow_array(self.ref, capacity, -1)

    def set(self, slots: np.ndarray, values: pa.Array) -> None:
        """Point each slot at the matching value (slots must be distinct)."""
        if not len(slots):
            return
        self._live += int(np.count_nonzero(self.ref[slots] < 0))
        self.ref[slots] = self._length + np.arange(len(slots))
        self._chunks.append(values)
        self._length += len(values)
        self._combined = None
        if self._length > 4 * self._live + 65_536:
            self._compact()

    def get(self, slots: np.ndarray, value_type: pa.DataType) -> pa.Array:
        """The values of `slots` (null where a slot has none)."""
        refs = self.ref[slots]
        if not self._chunks:
            return pa.nulls(len(slots), value_type)
        combined = self._all()
        indices = pa.array(refs, mask=refs < 0)
        return combined.take(indices)

    def copy_slot(self, dst: np.ndarray, src: np.ndarray) -> None:
        """Make `dst` slots point at the values of `src` slots."""
        self._live += int(np.count_nonzero(self.ref[dst] < 0))
        self.ref[dst] = self.ref[src]

    def reset(self, slots: np.ndarray) -> None:
        """Forget the values of `slots`."""
        self._live -= int(np.count_nonzero(self.ref[slots] >= 0))
        self.ref[slots] = -1

    def _all(self) -> pa.Array:
        if self._combined is None:
            chunks = self._chunks
            if len({c.type for c in chunks}) > 1:  # nulls of a field no row had shown yet
                kind = next(c.type for c in chunks if not pa.types.is_null(c.type))
                chunks = [c.cast(kind) if pa.types.is_null(c.type) else c for c in chunks]
            self._combined = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)
            self._chunks = [self._combined]
        return self._combined

    def _compact(self) -> None:
        live = np.flatnonzero(self.ref >= 0)
        values = self._all().take(pa.array(self.ref[live]))
        self.ref[live] = np.arange(len(live))
        self._chunks = [values]
        self._combined = values
        self._length = len(values)
        self._live = len(live)
