"""A log of (slot, value) rows for aggregates that need every value of a window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.slots import owned_array


@dataclass(frozen=True)
class Groups:
    """Values grouped by output position, each group in arrival order."""

    position: np.ndarray
    values: pa.Array
    n_groups: int

    def counts(self) -> np.ndarray:
        """Number of values in each group."""
        return np.bincount(self.position, minlength=self.n_groups)

    def as_lists(self, value_type: pa.DataType) -> pa.Array:
        """One list per group."""
        offsets = np.concatenate([[0], np.cumsum(self.counts())]).astype(np.int32)
        values = self.values if len(self.values) else pa.array([], value_type)
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    def distinct_counts(self) -> pa.Array:
        """Number of distinct non-null values in each group."""
        table = pa.table({"p": self.position, "v": self.values}).filter(pc.is_valid(self.values))
        pairs = table.group_by(["p", "v"]).aggregate([])
        counts = np.bincount(pairs["p"].to_numpy(), minlength=self.n_groups)
        return pa.array(counts.astype(np.int64))

    def emas(self, alpha: float) -> pa.Array:
        """The exponential moving average of each group's values in arrival order: the first
        value, then `alpha * x + (1 - alpha) * previous` for each next one; a weighted sum
        over whole arrays (the weight of a value is `alpha * (1 - alpha) ** later`, the
        first one's `(1 - alpha) ** later`), null for an empty group."""
        numbers = self.values.to_numpy(zero_copy_only=False).astype(np.float64)
        order = np.argsort(self.position, kind="stable")
        position, ordered = self.position[order], numbers[order]
        counts = self.counts()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        index = np.arange(len(ordered)) - starts[position]
        later = counts[position] - 1 - index
        weights = np.power(1.0 - alpha, later.astype(np.float64))
        weights = np.where(index == 0, weights, alpha * weights)
        sums = np.bincount(position, weights=weights * ordered, minlength=self.n_groups)
        return pa.array(sums.astype(np.float64), mask=counts == 0, type=pa.float64())

    def percentiles(self, p: float) -> pa.Array:
        """The p-th percentile of each group, interpolating linearly between ranks."""
        numbers = self.values.to_numpy(zero_copy_only=False).astype(np.float64)
        order = np.lexsort((numbers, self.position))
        ordered = numbers[order]
        counts = self.counts()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = (counts - 1) * (p / 100.0)
        low = np.floor(rank).astype(np.int64)
        high = np.ceil(rank).astype(np.int64)
        empty = counts == 0
        safe = np.where(empty, 0, starts)
        lo_values = ordered[np.minimum(safe + low, len(ordered) - 1)] if len(ordered) else rank
        hi_values = ordered[np.minimum(safe + high, len(ordered) - 1)] if len(ordered) else rank
        result = lo_values + (hi_values - lo_values) * (rank - low)
        return pa.array(result, mask=empty)


class RowLog:
    """Rows kept for open windows: slot, slot generation, arrival seq and value."""

    def __init__(self, value_type: pa.DataType | None = None) -> None:
        self.value_type = value_type or pa.null()
        self._slots: list[np.ndarray] = []
        self._gens: list[np.ndarray] = []
        self._seqs: list[np.ndarray] = []
        self._values: list[pa.Array] = []

    def append(
        self, slots: np.ndarray, gens: np.ndarray, seqs: np.ndarray, values: pa.Array
    ) -> None:
        """Add rows (one per slot entry); the values are copied."""
        if values.type != self.value_type and pa.types.is_null(self.value_type):
            # Values of a field no row had shown yet (a merge's input): nulls so far.
            self.value_type = values.type
            self._values = [v.cast(values.type) for v in self._values]
        self._slots.append(slots)
        self._gens.append(gens)
        self._seqs.append(seqs)
        self._values.append(owned_array(values))

    def _combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        if len(self._slots) != 1:
            self._slots = [np.concatenate(self._slots)] if self._slots else [np.zeros(0, np.int64)]
            self._gens = [np.concatenate(self._gens)] if self._gens else [np.zeros(0, np.int64)]
            self._seqs = [np.concatenate(self._seqs)] if self._seqs else [np.zeros(0, np.int64)]
            empty = pa.array([], self.value_type)
            self._values = [pa.concat_arrays(self._values)] if self._values else [empty]
        return self._slots[0], self._gens[0], self._seqs[0], self._values[0]

    def relabel(self, src: np.ndarray, dst: np.ndarray, generation: np.ndarray) -> None:
        """Move the current rows of slots `src` to slots `dst`."""
        slots, gens, seqs, values = self._combined()
        target = np.full(len(generation), -1, np.int64)
        target[src] = dst
        moving = (target[slots] >= 0) & (gens == generation[slots])
        slots = slots.copy()
        gens = gens.copy()
        slots[moving] = target[slots[moving]]
        gens[moving] = generation[slots[moving]]
        self._slots, self._gens = [slots], [gens]

    def take_groups(self, wanted: np.ndarray, generation: np.ndarray) -> Groups:
        """Remove and return the current rows of `wanted` slots, grouped by their position."""
        slots, gens, seqs, values = self._combined()
        position = np.full(len(generation), -1, np.int64)
        position[wanted] = np.arange(len(wanted))
        current = gens == generation[slots]
        pos = position[slots]
        chosen = np.flatnonzero(current & (pos >= 0))
        keep = np.flatnonzero(current & (pos < 0))
        order = chosen[np.lexsort((seqs[chosen], pos[chosen]))]
        groups = Groups(pos[order], values.take(pa.array(order)), len(wanted))
        self._slots = [slots[keep]]
        self._gens = [gens[keep]]
        self._seqs = [seqs[keep]]
        self._values = [values.take(pa.array(keep))]
        return groups
