"""Accumulators: per-slot aggregate state updated with whole columns.

Every accumulator folds rows into its state in arrival order (`ufunc.at`), so the result
does not depend on how the input was cut into batches. Each has `grow`, `update`,
`merge` (for sessions that join), `finish` and `reset`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import CheckError
from vbatch.kernels.expr import plain
from vbatch.kernels.rowlog import RowLog
from vbatch.kernels.slots import SlotPool, ValueStore, add_counts, grow_array
from vbatch.lang.functions import Aggregate
from vbatch.lang.printer import print_expr
from vbatch.plan.logical import AggregateCall

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def first_occurrences(slots: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct slot, in O(n).

    `scratch` is a per-slot array holding INT64_MAX everywhere; it is left that way.
    """
    positions = np.arange(len(slots))
    np.minimum.at(scratch, slots, positions)
    first = np.flatnonzero(scratch[slots] == positions)
    scratch[slots] = INT64_MAX
    return first


class Accumulator:
    """Base: the per-slot state of one aggregate call."""

    def __init__(self, call: AggregateCall) -> None:
        self.call = call
        self.capacity = 0

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` slots."""
        self.capacity = capacity

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        """Fold rows into their slots; `values` is the argument per row (None for count())."""
        raise NotImplementedError

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        """Fold the state of slots `src` into slots `dst` (sessions bridged by an event)."""
        raise NotImplementedError

    def finish(self, slots: np.ndarray) -> pa.Array:
        """The aggregate's value for each slot."""
        raise NotImplementedError

    def reset(self, slots: np.ndarray) -> None:
        """Clear the state of slots about to be reused."""
        raise NotImplementedError

    def _numbers(
        self, slots: np.ndarray, values: pa.Array
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots, numbers, seqs mask) for the non-null rows; rejects non-numeric input."""
        values = plain(values)
        kind = values.type
        if pa.types.is_boolean(kind):
            values = pc.cast(values, pa.int64())
        elif not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)
        ):
            arg = print_expr(self.call.arg) if self.call.arg is not None else ""
            msg = f"`{self.call.func.value}({arg})` needs numbers, but `{arg}` holds {kind}"
            span = self.call.arg.span if self.call.arg is not None else None
            raise CheckError(msg, span, hint="use first(), last(), collect() or count() instead")
        if values.null_count:
            valid = np.asarray(values.is_valid())
            numbers = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
            return slots[valid], numbers[valid], valid
        return slots, values.to_numpy(zero_copy_only=False), np.ones(len(slots), bool)


class CountAccumulator(Accumulator):
    """count() counts rows; count(x) counts rows where x is not null."""

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.count = np.zeros(0, np.int64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.count = grow_array(self.count, capacity, 0)

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        if values is not None and values.null_count:
            slots = slots[np.asarray(values.is_valid())]
        add_counts(self.count, slots)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        self.count[dst] += self.count[src]

    def finish(self, slots: np.ndarray) -> pa.Array:
        return pa.array(self.count[slots])

    def reset(self, slots: np.ndarray) -> None:
        self.count[slots] = 0


class SumAccumulator(Accumulator):
    """sum(x) and avg(x): a running sum and count of non-null values."""

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.total: np.ndarray | None = None
        self.seen = np.zeros(0, np.int64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seen = grow_array(self.seen, capacity, 0)
        if self.total is not None:
            self.total = grow_array(self.total, capacity, 0)

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        assert values is not None
        slots, numbers, _ = self._numbers(slots, values)
        total = self._state(numbers.dtype)
        if total.dtype.kind == "f" and numbers.dtype.kind != "f":
            numbers = numbers.astype(np.float64)
        np.add.at(total, slots, numbers)
        add_counts(self.seen, slots)

    def _state(self, dtype: np.dtype) -> np.ndarray:
        wanted = np.float64 if dtype.kind == "f" or self.call.func is Aggregate.AVG else np.int64
        if self.total is None:
            self.total = np.zeros(self.capacity, wanted)
        elif self.total.dtype != wanted and wanted == np.float64:
            self.total = self.total.astype(np.float64)
        return self.total

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        if self.total is not None:
            self.total[dst] += self.total[src]
        self.seen[dst] += self.seen[src]

    def finish(self, slots: np.ndarray) -> pa.Array:
        empty = self.seen[slots] == 0
        if self.total is None:
            kind = pa.float64() if self.call.func is Aggregate.AVG else pa.int64()
            return pa.nulls(len(slots), kind)
        total = self.total[slots]
        if self.call.func is Aggregate.AVG:
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / self.seen[slots]
        return pa.array(total, mask=empty)

    def reset(self, slots: np.ndarray) -> None:
        if self.total is not None:
            self.total[slots] = 0
        self.seen[slots] = 0


class ExtremeAccumulator(Accumulator):
    """min(x) / max(x) over numbers."""

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.is_min = call.func is Aggregate.MIN
        self.best: np.ndarray | None = None
        self.seen = np.zeros(0, np.int64)
        self.ufunc = np.minimum if self.is_min else np.maximum

    def _identity(self, dtype: np.dtype) -> float | int:
        if dtype.kind == "f":
            return np.inf if self.is_min else -np.inf
        return INT64_MAX if self.is_min else INT64_MIN

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seen = grow_array(self.seen, capacity, 0)
        if self.best is not None:
            self.best = grow_array(self.best, capacity, self._identity(self.best.dtype))

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        assert values is not None
        slots, numbers, _ = self._numbers(slots, values)
        dtype = np.dtype(np.float64 if numbers.dtype.kind == "f" else np.int64)
        if self.best is None:
            self.best = np.full(self.capacity, self._identity(dtype), dtype)
        elif self.best.dtype != dtype and dtype.kind == "f":
            self.best = np.where(self.seen > 0, self.best, self._identity(dtype)).astype(dtype)
        self.ufunc.at(self.best, slots, numbers.astype(self.best.dtype, copy=False))
        add_counts(self.seen, slots)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        if self.best is not None:
            self.best[dst] = self.ufunc(self.best[dst], self.best[src])
        self.seen[dst] += self.seen[src]

    def finish(self, slots: np.ndarray) -> pa.Array:
        if self.best is None:
            return pa.nulls(len(slots), pa.float64())
        return pa.array(self.best[slots], mask=self.seen[slots] == 0)

    def reset(self, slots: np.ndarray) -> None:
        if self.best is not None:
            self.best[slots] = self._identity(self.best.dtype)
        self.seen[slots] = 0


class SpreadAccumulator(Accumulator):
    """Variance and standard deviation, from sums of values shifted by each slot's first value.

    The shift keeps the sums small (numerically stable) while every update stays a plain
    sequential sum.
    """

    _SAMPLE = {Aggregate.STDDEV_SAMP, Aggregate.VAR_SAMP}
    _ROOT = {Aggregate.STDDEV, Aggregate.STDDEV_POP, Aggregate.STDDEV_SAMP}

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.n = np.zeros(0, np.int64)
        self.shift = np.zeros(0, np.float64)
        self.s1 = np.zeros(0, np.float64)
        self.s2 = np.zeros(0, np.float64)
        self._scratch = np.zeros(0, np.int64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self._scratch = grow_array(self._scratch, capacity, INT64_MAX)
        self.n = grow_array(self.n, capacity, 0)
        self.shift = grow_array(self.shift, capacity, 0.0)
        self.s1 = grow_array(self.s1, capacity, 0.0)
        self.s2 = grow_array(self.s2, capacity, 0.0)

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        assert values is not None
        slots, numbers, _ = self._numbers(slots, values)
        x = numbers.astype(np.float64, copy=False)
        fresh = np.flatnonzero(self.n[slots] == 0)
        if len(fresh):
            first = first_occurrences(slots[fresh], self._scratch)
            self.shift[slots[fresh[first]]] = x[fresh[first]]
        d = x - self.shift[slots]
        add_counts(self.n, slots)
        np.add.at(self.s1, slots, d)
        np.add.at(self.s2, slots, d * d)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        empty = self.n[dst] == 0
        self.shift[dst] = np.where(empty, self.shift[src], self.shift[dst])
        delta = self.shift[src] - self.shift[dst]
        n_src = self.n[src]
        self.s2[dst] += self.s2[src] + 2 * delta * self.s1[src] + n_src * delta * delta
        self.s1[dst] += self.s1[src] + n_src * delta
        self.n[dst] += n_src

    def finish(self, slots: np.ndarray) -> pa.Array:
        n = self.n[slots].astype(np.float64)
        s1 = self.s1[slots]
        s2 = self.s2[slots]
        sample = self.call.func in self._SAMPLE
        denominator = n - 1 if sample else n
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.maximum((s2 - s1 * s1 / n) / denominator, 0.0)
        result = np.sqrt(variance) if self.call.func in self._ROOT else variance
        return pa.array(result, mask=denominator <= 0)

    def reset(self, slots: np.ndarray) -> None:
        self.n[slots] = 0
        self.s1[slots] = 0.0
        self.s2[slots] = 0.0


class EdgeAccumulator(Accumulator):
    """first(x) / last(x): the value of the earliest / latest arrival in the window."""

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.is_first = call.func is Aggregate.FIRST
        self.seq = np.zeros(0, np.int64)
        self.store = ValueStore()
        self.value_type: pa.DataType = pa.null()
        self.ufunc = np.minimum if self.is_first else np.maximum
        self.empty = INT64_MAX if self.is_first else -1

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seq = grow_array(self.seq, capacity, self.empty)
        self.store.grow(capacity)

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        assert values is not None
        self.ufunc.at(self.seq, slots, seqs)
        winners = np.flatnonzero(self.seq[slots] == seqs)
        if len(winners):
            kept = plain(values.take(pa.array(winners)))
            if pa.types.is_null(self.value_type):
                self.value_type = kept.type
            self.store.set(slots[winners], kept)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        take_src = self.ufunc(self.seq[src], self.seq[dst]) == self.seq[src]
        take_src &= self.seq[src] != self.empty
        self.store.copy_slot(dst[take_src], src[take_src])
        self.seq[dst] = self.ufunc(self.seq[dst], self.seq[src])

    def finish(self, slots: np.ndarray) -> pa.Array:
        return self.store.get(slots, self.value_type)

    def reset(self, slots: np.ndarray) -> None:
        self.seq[slots] = self.empty
        self.store.reset(slots)


class LoggedAccumulator(Accumulator):
    """collect, percentile and count(distinct): they keep the window's values in a row log."""

    def __init__(self, call: AggregateCall) -> None:
        super().__init__(call)
        self.log = RowLog()
        self.pool: SlotPool | None = None
        self.value_type: pa.DataType = pa.null()

    def attach(self, pool: SlotPool) -> None:
        """Use the slot pool's generation numbers to tell reused slots apart."""
        self.pool = pool

    @property
    def generation(self) -> np.ndarray:
        """Current generation of every slot."""
        assert self.pool is not None, "attach() the slot pool first"
        return self.pool.generation

    def update(self, slots: np.ndarray, values: pa.Array | None, seqs: np.ndarray) -> None:
        assert values is not None
        values = plain(values)
        if pa.types.is_null(self.value_type):
            self.value_type = values.type
        if self.call.func is Aggregate.PERCENTILE:
            slots, numbers, valid = self._numbers(slots, values)
            values = pa.array(numbers.astype(np.float64, copy=False))
            seqs = seqs[valid]
        self.log.append(slots, self.generation[slots], seqs, values)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        self.log.relabel(src, dst, self.generation)

    def reset(self, slots: np.ndarray) -> None:
        """Entries of reused slots are told apart by generation; nothing to clear."""

    def finish(self, slots: np.ndarray) -> pa.Array:
        groups = self.log.take_groups(slots, self.generation)
        if self.call.func is Aggregate.COLLECT:
            return groups.as_lists(self.value_type)
        if self.call.func is Aggregate.COUNT_DISTINCT:
            return groups.distinct_counts()
        assert self.call.param is not None
        return groups.percentiles(self.call.param)


_ACCUMULATORS: dict[Aggregate, type[Accumulator]] = {
    Aggregate.COUNT: CountAccumulator,
    Aggregate.SUM: SumAccumulator,
    Aggregate.AVG: SumAccumulator,
    Aggregate.MIN: ExtremeAccumulator,
    Aggregate.MAX: ExtremeAccumulator,
    Aggregate.STDDEV: SpreadAccumulator,
    Aggregate.STDDEV_POP: SpreadAccumulator,
    Aggregate.STDDEV_SAMP: SpreadAccumulator,
    Aggregate.VARIANCE: SpreadAccumulator,
    Aggregate.VAR_POP: SpreadAccumulator,
    Aggregate.VAR_SAMP: SpreadAccumulator,
    Aggregate.FIRST: EdgeAccumulator,
    Aggregate.LAST: EdgeAccumulator,
    Aggregate.COLLECT: LoggedAccumulator,
    Aggregate.PERCENTILE: LoggedAccumulator,
    Aggregate.COUNT_DISTINCT: LoggedAccumulator,
}


def make_accumulator(call: AggregateCall) -> Accumulator:
    """The accumulator for one aggregate call."""
    return _ACCUMULATORS[call.func](call)
