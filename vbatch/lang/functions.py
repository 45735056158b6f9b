"""The functions VPL knows, with their arities: language facts, no implementations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Aggregate(Enum):
    """Aggregate functions allowed inside `.aggregate(...)`."""

    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    STDDEV = "stddev"
    STDDEV_POP = "stddev_pop"
    STDDEV_SAMP = "stddev_samp"
    VARIANCE = "variance"
    VAR_POP = "var_pop"
    VAR_SAMP = "var_samp"
    PERCENTILE = "percentile"
    MEDIAN = "median"
    COLLECT = "collect"
    FIRST = "first"
    LAST = "last"
    EMA = "ema"


@dataclass(frozen=True)
class Arity:
    """How many arguments a function takes."""

    low: int
    high: int

    def accepts(self, n: int) -> bool:
        """True when `n` arguments are allowed."""
        return self.low <= n <= self.high

    def describe(self) -> str:
        """`1 argument`, `1 or 2 arguments`, `no arguments`..."""
        if self.high == self.low:
            return {0: "no arguments", 1: "1 argument"}.get(self.low, f"{self.low} arguments")
        if self.high >= 99:
            return f"at least {self.low} argument" + ("s" if self.low != 1 else "")
        return f"{self.low} to {self.high} arguments"


AGGREGATE_ARITY: dict[Aggregate, Arity] = {
    Aggregate.COUNT: Arity(0, 1),
    Aggregate.COUNT_DISTINCT: Arity(1, 1),
    Aggregate.SUM: Arity(1, 1),
    Aggregate.AVG: Arity(1, 1),
    Aggregate.MIN: Arity(1, 1),
    Aggregate.MAX: Arity(1, 1),
    Aggregate.STDDEV: Arity(1, 1),
    Aggregate.STDDEV_POP: Arity(1, 1),
    Aggregate.STDDEV_SAMP: Arity(1, 1),
    Aggregate.VARIANCE: Arity(1, 1),
    Aggregate.VAR_POP: Arity(1, 1),
    Aggregate.VAR_SAMP: Arity(1, 1),
    Aggregate.PERCENTILE: Arity(2, 2),
    Aggregate.MEDIAN: Arity(1, 1),
    Aggregate.COLLECT: Arity(1, 1),
    Aggregate.FIRST: Arity(1, 1),
    Aggregate.LAST: Arity(1, 1),
    Aggregate.EMA: Arity(2, 2),
}

# `distinct(x)` is only meaningful as the argument of `count`.
DISTINCT = "distinct"

SCALAR_ARITY: dict[str, Arity] = {
    "abs": Arity(1, 1),
    "round": Arity(1, 2),
    "floor": Arity(1, 1),
    "ceil": Arity(1, 1),
    "sqrt": Arity(1, 1),
    "exp": Arity(1, 1),
    "ln": Arity(1, 1),
    "log10": Arity(1, 1),
    "pow": Arity(2, 2),
    "len": Arity(1, 1),
    "upper": Arity(1, 1),
    "lower": Arity(1, 1),
    "trim": Arity(1, 1),
    "contains": Arity(2, 2),
    "starts_with": Arity(2, 2),
    "ends_with": Arity(2, 2),
    "coalesce": Arity(1, 99),
    "to_string": Arity(1, 1),
    "to_int": Arity(1, 1),
    "to_float": Arity(1, 1),
    "is_null": Arity(1, 1),
    "least": Arity(2, 99),  # also written `min(a, b, ...)`
    "greatest": Arity(2, 99),  # also written `max(a, b, ...)`
    "clamp": Arity(3, 3),
    "now": Arity(0, 0),  # the row's event time (`_ts`)
}

# `min(a, b)` and `max(a, b)` with two values or more are scalar, not aggregates.
SCALAR_SPELLINGS = {"min": "least", "max": "greatest"}


def aggregate_of(name: str, arguments: int = 1) -> Aggregate | None:
    """The aggregate a call of `name` with that many arguments denotes, if any
    (`min(a, b)` and `max(a, b)` are scalar)."""
    if name in SCALAR_SPELLINGS and arguments > 1:
        return None
    try:
        return Aggregate(name)
    except ValueError:
        return None


def scalar_name(name: str, arguments: int) -> str:
    """The scalar function a call denotes: `min(a, b)` is `least(a, b)`."""
    return SCALAR_SPELLINGS[name] if name in SCALAR_SPELLINGS and arguments > 1 else name


def all_function_names() -> tuple[str, ...]:
    """Every callable name, for 'did you mean' suggestions."""
    return tuple(a.value for a in Aggregate) + tuple(SCALAR_ARITY) + (DISTINCT,)
