"""Plan expressions over whole Arrow columns: each compiles once to a function of a batch.

Operators and scalar functions are one table keyed by `Fn` (`_FUNCTIONS`); a node
compiles to a closure over its children's closures, so a batch is evaluated with one
`pyarrow.compute` call per node and no Python work per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import EvaluationError
from vbatch.plan.expr import AggValue, Apply, Col, Fn, ListLit, Lit, PExpr

Value: TypeAlias = Any  # a pa.Array, pa.ChunkedArray or pa.Scalar: pyarrow is untyped
ColumnFn = Callable[[pa.RecordBatch], Value]

AGG_COLUMN = "__agg{}"  # where a window keeps the value of its aggregate i


@dataclass(frozen=True)
class CompiledExpr:
    """A compiled expression: call it on a batch to get one value per row."""

    fn: ColumnFn
    expr: PExpr

    def __call__(self, batch: pa.RecordBatch) -> pa.Array:
        try:
            value = self.fn(batch)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
            msg = f"cannot evaluate `{self.expr.text}`: {_arrow_reason(err)}"
            raise EvaluationError(msg, self.expr.span, hint=_type_hint(batch, self.expr)) from err
        return as_array(value, batch.num_rows)

    @property
    def text(self) -> str:
        """The expression as VPL text."""
        return self.expr.text


def compile_expr(expr: PExpr) -> CompiledExpr:
    """Compile a plan expression to a function of a RecordBatch.

    >>> from vbatch.plan.types import VType
    >>> e = Apply(Fn.ADD, (Col("a"), Lit(1, VType.INT)))
    >>> compile_expr(e)(pa.record_batch({"a": [1, 2]})).to_pylist()
    [2, 3]
    """
    return CompiledExpr(_compile(expr), expr)


def plain(value: Value) -> Value:
    """Dictionary-encoded values decoded (for functions without dictionary kernels)."""
    if isinstance(value, pa.Array | pa.ChunkedArray) and pa.types.is_dictionary(value.type):
        return value.cast(value.type.value_type)
    return value


def as_array(value: Value, length: int) -> pa.Array:
    """A value broadcast to an array of `length` rows."""
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks() if value.num_chunks != 1 else value.chunk(0)
    if isinstance(value, pa.Scalar):
        if pa.types.is_null(value.type):
            return pa.nulls(length)
        return pa.repeat(value, length)
    return value


def _arrow_reason(err: Exception) -> str:
    text = str(err).splitlines()[0]
    if "no kernel matching input types" in text:
        return "its operands have incompatible types"
    return text


def _type_hint(batch: pa.RecordBatch, expr: PExpr) -> str | None:
    names = sorted(expr.fields() & set(batch.schema.names))
    if not names:
        return None
    types = ", ".join(f"`{n}` is {batch.schema.field(n).type}" for n in names)
    return f"field types here: {types}"


# ---- compilation -------------------------------------------------------------


def _compile(expr: PExpr) -> ColumnFn:
    if isinstance(expr, Col):
        return _column(expr.name, expr)
    if isinstance(expr, AggValue):
        return _column(AGG_COLUMN.format(expr.index), expr)
    if isinstance(expr, Lit):
        scalar = pa.scalar(expr.value)
        return lambda batch: scalar
    if isinstance(expr, ListLit):
        values = pa.array(list(expr.values))
        listed = pa.scalar(values.to_pylist(), pa.list_(values.type))
        return lambda batch: listed
    assert isinstance(expr, Apply)
    if expr.fn in _SPECIAL:
        return _SPECIAL[expr.fn](expr)
    fn = _FUNCTIONS[expr.fn]
    args = [_compile(a) for a in expr.args]
    if expr.fn in _DICTIONARY_AWARE:
        return lambda batch: fn(*(a(batch) for a in args))
    return lambda batch: fn(*(plain(a(batch)) for a in args))


def _column(name: str, expr: PExpr) -> ColumnFn:
    def column(batch: pa.RecordBatch) -> Value:
        index = batch.schema.get_field_index(name)
        if index < 0:
            fields = ", ".join(n for n in batch.schema.names if not n.startswith("_")) or "none"
            msg = f"unknown field `{expr.text}`"
            raise EvaluationError(msg, expr.span, hint=f"the rows here have: {fields}")
        return batch.column(index)

    return column


def _concat(expr: Apply) -> ColumnFn:
    parts = [_compile(p) for p in expr.args]

    def join(batch: pa.RecordBatch) -> Value:
        pieces = [to_text(p(batch)) for p in parts]
        if len(pieces) == 1:
            return pieces[0]
        return pc.binary_join_element_wise(
            *pieces, "", null_handling="replace", null_replacement="null"
        )

    return join


def to_text(value: Value) -> Value:
    """Values as strings, as `+` with a string and interpolation show them."""
    value = plain(value)
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            return pa.scalar("null")
        if pa.types.is_boolean(value.type):
            return pa.scalar("true" if value.as_py() else "false")
        return pa.scalar(str(value.as_py()))
    if pa.types.is_string(value.type) or pa.types.is_large_string(value.type):
        return value
    if pa.types.is_boolean(value.type):
        return pc.if_else(value, "true", "false")
    if pa.types.is_null(value.type):
        return pc.cast(value, pa.string())
    return pc.cast(value, pa.string())


_SPECIAL: dict[Fn, Callable[[Apply], ColumnFn]] = {Fn.CONCAT: _concat}


def _true_divide(left: Value, right: Value) -> Value:
    return pc.divide(_as_float(left), _as_float(right))


def _as_float(value: Value) -> Value:
    if pa.types.is_integer(value.type) or pa.types.is_null(value.type):
        return pc.cast(value, pa.float64())
    return value


def _modulo(left: Value, right: Value) -> Value:
    """Python-style remainder (sign of the divisor); null where the divisor is 0."""
    if isinstance(left, pa.Scalar) and isinstance(right, pa.Scalar):
        if not left.is_valid or not right.is_valid or right.as_py() == 0:
            return pa.scalar(None, left.type)
        return pa.scalar(left.as_py() % right.as_py())
    length = len(left) if not isinstance(left, pa.Scalar) else len(right)
    a, a_valid = _numeric(left, length)
    b, b_valid = _numeric(right, length)
    valid = a_valid & b_valid & (b != 0)
    safe_b = np.where(valid, b, 1)
    result = np.mod(a, safe_b)
    return pa.array(result, mask=~valid)


def _numeric(value: Value, length: int) -> tuple[np.ndarray, np.ndarray]:
    array = as_array(value, length)
    valid = np.asarray(pc.is_valid(array))
    filled = pc.fill_null(array, 0) if array.null_count else array
    return filled.to_numpy(zero_copy_only=False), valid


def _add(left: Value, right: Value) -> Value:
    if _is_text(left) or _is_text(right):
        return pc.binary_join_element_wise(to_text(left), to_text(right), "")
    return pc.add(left, right)


def _is_text(value: Value) -> bool:
    return pa.types.is_string(value.type) or pa.types.is_large_string(value.type)


def _in(left: Value, right: Value) -> Value:
    return pc.is_in(left, value_set=right.values)


def _coded_equal(invert: bool) -> Callable[[Value, Value], Value]:
    """`==` / `!=` that compares a dictionary column's codes when the other side is a constant."""
    plain_op = pc.not_equal if invert else pc.equal

    def compare(left: Value, right: Value) -> Value:
        if isinstance(right, pa.Scalar) and isinstance(left, pa.DictionaryArray):
            return _compare_codes(left, right, invert)
        if isinstance(left, pa.Scalar) and isinstance(right, pa.DictionaryArray):
            return _compare_codes(right, left, invert)
        return plain_op(plain(left), plain(right))

    return compare


def _compare_codes(column: pa.DictionaryArray, constant: pa.Scalar, invert: bool) -> Value:
    if not constant.is_valid:
        return pa.nulls(len(column), pa.bool_())
    where = pc.index(column.dictionary, constant).as_py()
    if where < 0:
        result = pa.repeat(pa.scalar(invert), len(column))
        return pc.if_else(pc.is_valid(column.indices), result, None)
    test = pc.not_equal if invert else pc.equal
    return test(column.indices, pa.scalar(where, column.indices.type))


def _ordered(op: Callable[[Value, Value], Value]) -> Callable[[Value, Value], Value]:
    """Arrow orders dictionary-encoded values without decoding them, when both sides allow."""

    def compare(left: Value, right: Value) -> Value:
        try:
            return op(left, right)
        except pa.ArrowNotImplementedError:
            return op(plain(left), plain(right))

    return compare


def _round(value: Value, digits: Value | None = None) -> Value:
    ndigits = 0 if digits is None else int(digits.as_py())
    return pc.round(value, ndigits=ndigits, round_mode="half_towards_infinity")


def _pattern_fn(fn: Callable[..., Value]) -> Callable[[Value, Value], Value]:
    def call(text: Value, pattern: Value) -> Value:
        return fn(text, pattern=pattern.as_py())

    return call


def _coalesce(*values: Value) -> Value:
    if any(pa.types.is_floating(v.type) for v in values):
        values = tuple(_as_float(v) for v in values)
    return pc.coalesce(*values)


def _extreme(pick: Callable[..., Value]) -> Callable[..., Value]:
    """`least` / `greatest`: null when any value is null, ints widened when floats come too."""

    def apply(*values: Value) -> Value:
        if any(pa.types.is_floating(v.type) for v in values):
            values = tuple(_as_float(v) for v in values)
        return pick(*values, skip_nulls=False)

    return apply


_least, _greatest = _extreme(pc.min_element_wise), _extreme(pc.max_element_wise)


def _clamp(value: Value, low: Value, high: Value) -> Value:
    return _least(_greatest(value, low), high)


def _if_else(condition: Value, then: Value, otherwise: Value) -> Value:
    """Where the condition is true `then`, else (false or null) `otherwise`."""
    if pa.types.is_floating(then.type) or pa.types.is_floating(otherwise.type):
        then, otherwise = _as_float(then), _as_float(otherwise)
    if pa.types.is_null(then.type) and not pa.types.is_null(otherwise.type):
        then = pc.cast(then, otherwise.type)
    if pa.types.is_null(otherwise.type) and not pa.types.is_null(then.type):
        otherwise = pc.cast(otherwise, then.type)
    return pc.if_else(pc.fill_null(condition, False), then, otherwise)


_FUNCTIONS: dict[Fn, Callable[..., Value]] = {
    Fn.ADD: _add,
    Fn.SUB: pc.subtract,
    Fn.MUL: pc.multiply,
    Fn.DIV: _true_divide,
    Fn.MOD: _modulo,
    Fn.EQ: _coded_equal(invert=False),
    Fn.NE: _coded_equal(invert=True),
    Fn.LT: _ordered(pc.less),
    Fn.LE: _ordered(pc.less_equal),
    Fn.GT: _ordered(pc.greater),
    Fn.GE: _ordered(pc.greater_equal),
    Fn.AND: pc.and_kleene,
    Fn.OR: pc.or_kleene,
    Fn.IN: _in,
    Fn.NOT_IN: lambda left, right: pc.invert(_in(left, right)),
    Fn.NOT: pc.invert,
    Fn.NEG: pc.negate,
    Fn.IS_NULL: pc.is_null,
    Fn.IS_VALID: pc.is_valid,
    Fn.FN_IS_NULL: pc.is_null,
    Fn.ABS: pc.abs,
    Fn.ROUND: _round,
    Fn.FLOOR: lambda v: pc.floor(_as_float(v)),
    Fn.CEIL: lambda v: pc.ceil(_as_float(v)),
    Fn.SQRT: lambda v: pc.sqrt(_as_float(v)),
    Fn.EXP: lambda v: pc.exp(_as_float(v)),
    Fn.LN: lambda v: pc.ln(_as_float(v)),
    Fn.LOG10: lambda v: pc.log10(_as_float(v)),
    Fn.POW: lambda a, b: pc.power(_as_float(a), _as_float(b)),
    Fn.LEN: pc.utf8_length,
    Fn.UPPER: pc.utf8_upper,
    Fn.LOWER: pc.utf8_lower,
    Fn.TRIM: pc.utf8_trim_whitespace,
    Fn.CONTAINS: _pattern_fn(pc.match_substring),
    Fn.STARTS_WITH: _pattern_fn(pc.starts_with),
    Fn.ENDS_WITH: _pattern_fn(pc.ends_with),
    Fn.COALESCE: _coalesce,
    Fn.LEAST: _least,
    Fn.GREATEST: _greatest,
    Fn.CLAMP: _clamp,
    Fn.IF_ELSE: _if_else,
    Fn.TO_STRING: to_text,
    Fn.TO_INT: lambda v: pc.cast(v, pa.int64(), safe=False),
    Fn.TO_FLOAT: lambda v: pc.cast(v, pa.float64()),
}

# Arrow compares and looks up dictionary-encoded values without decoding them.
_DICTIONARY_AWARE = {Fn.EQ, Fn.NE, Fn.LT, Fn.LE, Fn.GT, Fn.GE, Fn.IN, Fn.NOT_IN, Fn.IS_NULL,
                     Fn.IS_VALID, Fn.FN_IS_NULL}  # fmt: skip
