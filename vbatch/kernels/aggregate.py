"""Accumulators: per-slot aggregate state updated with whole columns.

Every accumulator folds rows into its state in arrival order (`ufunc.at`), so the result
does not depend on how the input was cut into batches. Each has `grow`, `update`,
`merge` (for sessions that join), `finish` and `reset`. Its output type is fixed when it
is made, from the plan's result type and its argument's Arrow type.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.expr import plain
from vbatch.kernels.rowlog import RowLog
from vbatch.kernels.slots import SlotPool, ValueStore, add_counts, grow_array
from vbatch.kernels.types import arrow_type, vtype_of
from vbatch.plan.aggregates import AggFunc, AggregateCall, result_type
from vbatch.plan.types import VType

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
    """Base: the per-slot state of one aggregate call over arguments of `arg_type`."""

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        self.call = call
        self.capacity = 0
        self.arg_type = plain_type(arg_type) if arg_type is not None else None
        arg = vtype_of(self.arg_type) if self.arg_type is not None else None
        result = result_type(call, arg)
        if result is VType.LIST:
            self.output_type = pa.list_(self.arg_type or pa.null())
        else:
            self.output_type = arrow_type(result, self.arg_type)
        self.ints = self.output_type == pa.int64()

    def grow(self, capacity: int) -> None:
        """Make room for `capacity` slots."""
        self.capacity = capacity

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
        """Fold rows into their slots; `values` is the argument per row (None for count()).

        `ranks` number the rows in arrival order, uniquely over the whole run (rows of one
        arrival, such as windows an event closed, still differ), so first/last are exact.
        """
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
        """(slots, numbers, valid mask) for the non-null rows (the plan checked the type)."""
        if pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
            values = pc.cast(values, pa.int64())
        if values.null_count:
            valid = np.asarray(values.is_valid())
            numbers = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
            return slots[valid], numbers[valid], valid
        return slots, values.to_numpy(zero_copy_only=False), np.ones(len(slots), bool)


def plain_type(dtype: pa.DataType) -> pa.DataType:
    """Dictionary-encoded values are kept decoded in window state."""
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


class CountAccumulator(Accumulator):
    """count() counts rows; count(x) counts rows where x is not null."""

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
        self.count = np.zeros(0, np.int64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.count = grow_array(self.count, capacity, 0)

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
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

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
        self.dtype = np.dtype(np.int64 if self.ints else np.float64)
        self.total = np.zeros(0, self.dtype)
        self.seen = np.zeros(0, np.int64)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seen = grow_array(self.seen, capacity, 0)
        self.total = grow_array(self.total, capacity, 0)

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
        assert values is not None
        slots, numbers, _ = self._numbers(slots, values)
        np.add.at(self.total, slots, numbers.astype(self.dtype, copy=False))
        add_counts(self.seen, slots)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        self.total[dst] += self.total[src]
        self.seen[dst] += self.seen[src]

    def finish(self, slots: np.ndarray) -> pa.Array:
        empty = self.seen[slots] == 0
        total = self.total[slots]
        if self.call.func is AggFunc.AVG:
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / self.seen[slots]
        return pa.array(total, type=self.output_type, mask=empty)

    def reset(self, slots: np.ndarray) -> None:
        self.total[slots] = 0
        self.seen[slots] = 0


class ExtremeAccumulator(Accumulator):
    """min(x) / max(x) over numbers."""

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
        self.is_min = call.func is AggFunc.MIN
        self.dtype = np.dtype(np.int64 if self.ints else np.float64)
        self.identity = self._identity(self.dtype)
        self.best = np.zeros(0, self.dtype)
        self.seen = np.zeros(0, np.int64)
        self.ufunc = np.minimum if self.is_min else np.maximum

    def _identity(self, dtype: np.dtype) -> float | int:
        if dtype.kind == "f":
            return np.inf if self.is_min else -np.inf
        return INT64_MAX if self.is_min else INT64_MIN

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seen = grow_array(self.seen, capacity, 0)
        self.best = grow_array(self.best, capacity, self.identity)

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
        assert values is not None
        slots, numbers, _ = self._numbers(slots, values)
        self.ufunc.at(self.best, slots, numbers.astype(self.dtype, copy=False))
        add_counts(self.seen, slots)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        self.best[dst] = self.ufunc(self.best[dst], self.best[src])
        self.seen[dst] += self.seen[src]

    def finish(self, slots: np.ndarray) -> pa.Array:
        return pa.array(self.best[slots], type=self.output_type, mask=self.seen[slots] == 0)

    def reset(self, slots: np.ndarray) -> None:
        self.best[slots] = self.identity
        self.seen[slots] = 0


class SpreadAccumulator(Accumulator):
    """Variance and standard deviation, from sums of values shifted by each slot's first value.

    The shift keeps the sums small (numerically stable) while every update stays a plain
    sequential sum.
    """

    _SAMPLE = {AggFunc.STDDEV_SAMP, AggFunc.VAR_SAMP}
    _ROOT = {AggFunc.STDDEV, AggFunc.STDDEV_POP, AggFunc.STDDEV_SAMP}

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
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

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
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
        return pa.array(result, type=pa.float64(), mask=denominator <= 0)

    def reset(self, slots: np.ndarray) -> None:
        self.n[slots] = 0
        self.s1[slots] = 0.0
        self.s2[slots] = 0.0


class EdgeAccumulator(Accumulator):
    """first(x) / last(x): the value of the earliest / latest arrival in the window."""

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
        self.is_first = call.func is AggFunc.FIRST
        self.seq = np.zeros(0, np.int64)
        self.store = ValueStore()
        self.value_type: pa.DataType = self.arg_type or pa.null()
        self.ufunc = np.minimum if self.is_first else np.maximum
        self.empty = INT64_MAX if self.is_first else -1

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.seq = grow_array(self.seq, capacity, self.empty)
        self.store.grow(capacity)

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
        assert values is not None
        self.ufunc.at(self.seq, slots, ranks)
        winners = np.flatnonzero(self.seq[slots] == ranks)
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
    """collect, percentile, ema and count(distinct): they keep the window's values in a row
    log."""

    def __init__(self, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(call, arg_type)
        self.pool: SlotPool | None = None
        self.value_type: pa.DataType = self.arg_type or pa.null()
        self.numbers = call.func in (AggFunc.PERCENTILE, AggFunc.EMA)
        self.log = RowLog(pa.float64() if self.numbers else self.value_type)

    def attach(self, pool: SlotPool) -> None:
        """Use the slot pool's generation numbers to tell reused slots apart."""
        self.pool = pool

    @property
    def generation(self) -> np.ndarray:
        """Current generation of every slot."""
        assert self.pool is not None, "attach() the slot pool first"
        return self.pool.generation

    def update(self, slots: np.ndarray, values: pa.Array | None, ranks: np.ndarray) -> None:
        assert values is not None
        values = plain(values)
        if pa.types.is_null(self.value_type):
            self.value_type = values.type
        if self.numbers:
            slots, numbers, valid = self._numbers(slots, values)
            values = pa.array(numbers.astype(np.float64, copy=False))
            ranks = ranks[valid]
        self.log.append(slots, self.generation[slots], ranks, values)

    def merge(self, dst: np.ndarray, src: np.ndarray) -> None:
        self.log.relabel(src, dst, self.generation)

    def reset(self, slots: np.ndarray) -> None:
        """Entries of reused slots are told apart by generation; nothing to clear."""

    def finish(self, slots: np.ndarray) -> pa.Array:
        groups = self.log.take_groups(slots, self.generation)
        if self.call.func is AggFunc.COLLECT:
            return groups.as_lists(self.value_type)
        if self.call.func is AggFunc.COUNT_DISTINCT:
            return groups.distinct_counts()
        assert self.call.param is not None
        if self.call.func is AggFunc.EMA:
            return groups.emas(2.0 / (self.call.param + 1.0))
        return groups.percentiles(self.call.param)


_ACCUMULATORS: dict[AggFunc, type[Accumulator]] = {
    AggFunc.COUNT: CountAccumulator,
    AggFunc.SUM: SumAccumulator,
    AggFunc.AVG: SumAccumulator,
    AggFunc.MIN: ExtremeAccumulator,
    AggFunc.MAX: ExtremeAccumulator,
    AggFunc.STDDEV: SpreadAccumulator,
    AggFunc.STDDEV_POP: SpreadAccumulator,
    AggFunc.STDDEV_SAMP: SpreadAccumulator,
    AggFunc.VARIANCE: SpreadAccumulator,
    AggFunc.VAR_POP: SpreadAccumulator,
    AggFunc.VAR_SAMP: SpreadAccumulator,
    AggFunc.FIRST: EdgeAccumulator,
    AggFunc.LAST: EdgeAccumulator,
    AggFunc.COLLECT: LoggedAccumulator,
    AggFunc.PERCENTILE: LoggedAccumulator,
    AggFunc.COUNT_DISTINCT: LoggedAccumulator,
    AggFunc.EMA: LoggedAccumulator,
}


def make_accumulator(call: AggregateCall, arg_type: pa.DataType | None) -> Accumulator:
    """The accumulator for one aggregate call over arguments of `arg_type`."""
    return _ACCUMULATORS[call.func](call, arg_type)
