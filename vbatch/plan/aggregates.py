"""Aggregate functions in a plan: what each computes over, and the type of its result.

A result type is fixed when the stream is bound to its input, so `sum` over ints is an
int from the first window to the last, and `sum` over floats a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from vbatch.errors import CheckError
from vbatch.lang.functions import Aggregate
from vbatch.plan.expr import PExpr
from vbatch.plan.types import VType


class AggFunc(Enum):
    """The aggregates a window can maintain (`median` is `percentile` 50)."""

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
    COLLECT = "collect"
    FIRST = "first"
    LAST = "last"
    EMA = "ema"

    @classmethod
    def of(cls, aggregate: Aggregate) -> AggFunc:
        """The plan's aggregate for the language's (median becomes percentile)."""
        if aggregate is Aggregate.MEDIAN:
            return cls.PERCENTILE
        return cls(aggregate.value)


NEEDS_NUMBERS = frozenset(
    {
        AggFunc.SUM,
        AggFunc.AVG,
        AggFunc.MIN,
        AggFunc.MAX,
        AggFunc.STDDEV,
        AggFunc.STDDEV_POP,
        AggFunc.STDDEV_SAMP,
        AggFunc.VARIANCE,
        AggFunc.VAR_POP,
        AggFunc.VAR_SAMP,
        AggFunc.PERCENTILE,
        AggFunc.EMA,
    }
)
KEEPS_INTS = frozenset({AggFunc.SUM, AggFunc.MIN, AggFunc.MAX})
ALWAYS_INT = frozenset({AggFunc.COUNT, AggFunc.COUNT_DISTINCT})


@dataclass(frozen=True)
class AggregateCall:
    """One aggregate to maintain per window: `func(arg)`; `param` is a percentile's p or an
    ema's period."""

    func: AggFunc
    arg: PExpr | None
    param: float | None = None

    @property
    def text(self) -> str:
        """VPL-like text, for messages and explain."""
        inner = self.arg.text if self.arg is not None else ""
        if self.param is not None:
            inner += f", {self.param:g}"
        return f"{self.func.value}({inner})"


def result_type(call: AggregateCall, arg: VType | None) -> VType:
    """The type of the aggregate's value, given its argument's; CheckError if it cannot run.

    `sum`, `min` and `max` keep ints (and count bools); over floats, or over values whose
    type is not known, they are floats, as Varpulis documents them.
    """
    func = call.func
    if func in NEEDS_NUMBERS and arg is not None and not (arg.is_numeric or arg is VType.BOOL):
        assert call.arg is not None
        msg = f"`{call.text}` needs numbers, but `{call.arg.text}` is {arg.describe()}"
        hint = "use first(), last(), collect() or count() instead"
        raise CheckError(msg, call.arg.span, hint=hint)
    if func in ALWAYS_INT:
        return VType.INT
    if func in KEEPS_INTS:
        if arg in (VType.INT, VType.BOOL):
            return VType.INT
        return VType.ANY if arg is VType.ANY else VType.FLOAT
    if func in (AggFunc.FIRST, AggFunc.LAST):
        return arg if arg is not None else VType.ANY
    if func is AggFunc.COLLECT:
        return VType.LIST
    return VType.FLOAT
