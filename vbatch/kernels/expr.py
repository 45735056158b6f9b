"""Expressions over whole Arrow columns: an AST expression compiles once to a column function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import singledispatch
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import CheckError, Span
from vbatch.lang import ast
from vbatch.lang.printer import print_expr

Value: TypeAlias = Any  # a pa.Array, pa.ChunkedArray or pa.Scalar: pyarrow is untyped
ColumnFn = Callable[[pa.RecordBatch], Value]


class FieldMissing(CheckError):
    """An expression names a field the rows do not have."""


@dataclass(frozen=True)
class CompiledExpr:
    """A compiled expression: call it on a batch to get one value per row."""

    fn: ColumnFn
    expr: ast.Expr

    def __call__(self, batch: pa.RecordBatch) -> pa.Array:
        value = _guarded(self.fn, batch, self.expr.span, self.expr)
        return as_array(value, batch.num_rows)

    @property
    def text(self) -> str:
        """The expression as VPL text."""
        return print_expr(self.expr)


def compile_expr(expr: ast.Expr) -> CompiledExpr:
    """Compile an expression to a function of a RecordBatch.

    >>> from vbatch.lang.parser import parse
    >>> e = parse("const x = a + 1").statements[0].value
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


def _guarded(fn: ColumnFn, batch: pa.RecordBatch, span: Span, expr: ast.Expr) -> Value:
    try:
        return fn(batch)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        msg = f"cannot evaluate `{print_expr(expr)}`: {_arrow_reason(err)}"
        raise CheckError(msg, span, hint=_type_hint(batch, expr)) from err


def _arrow_reason(err: Exception) -> str:
    text = str(err).splitlines()[0]
    if "no kernel matching input types" in text:
        return "its operands have incompatible types"
    return text


def _type_hint(batch: pa.RecordBatch, expr: ast.Expr) -> str | None:
    names = sorted(_names(expr) & set(batch.schema.names))
    if not names:
        return None
    types = ", ".join(f"`{n}` is {batch.schema.field(n).type}" for n in names)
    return f"field types here: {types}"


def _names(expr: ast.Expr) -> set[str]:
    if isinstance(expr, ast.Name):
        return {expr.name}
    found: set[str] = set()
    for child in vars(expr).values():
        if isinstance(child, ast.Expr):
            found |= _names(child)
        elif isinstance(child, tuple):
            for c in child:
                if isinstance(c, ast.Expr):
                    found |= _names(c)
    return found


# ---- compilation -------------------------------------------------------------


@singledispatch
def _compile(expr: object) -> ColumnFn:
    raise TypeError(f"cannot compile {type(expr).__name__}")


@_compile.register
def _(expr: ast.Literal) -> ColumnFn:
    scalar = pa.scalar(expr.value)
    return lambda batch: scalar


@_compile.register
def _(expr: ast.Duration) -> ColumnFn:
    scalar = pa.scalar(expr.millis, pa.int64())
    return lambda batch: scalar


@_compile.register
def _(expr: ast.Name) -> ColumnFn:
    name = expr.name

    def column(batch: pa.RecordBatch) -> Value:
        index = batch.schema.get_field_index(name)
        if index < 0:
            fields = ", ".join(n for n in batch.schema.names if not n.startswith("_")) or "none"
            msg = f"unknown field `{name}`"
            raise FieldMissing(msg, expr.span, hint=f"the rows here have: {fields}")
        return batch.column(index)

    return column


@_compile.register
def _(expr: ast.ListExpr) -> ColumnFn:
    values = pa.array([_literal_value(i) for i in expr.items])
    scalar = pa.scalar(values.to_pylist(), pa.list_(values.type))
    return lambda batch: scalar


def _literal_value(expr: ast.Expr) -> object:
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Duration):
        return expr.millis
    raise CheckError("list items must be constants", expr.span)


@_compile.register
def _(expr: ast.Interpolation) -> ColumnFn:
    parts = [p if isinstance(p, str) else _compile(p) for p in expr.parts]

    def join(batch: pa.RecordBatch) -> Value:
        pieces = [pa.scalar(p) if isinstance(p, str) else _to_text(p(batch)) for p in parts]
        if len(pieces) == 1:
            return pieces[0]
        return pc.binary_join_element_wise(
            *pieces, "", null_handling="replace", null_replacement="null"
        )

    return join


def _to_text(value: Value) -> Value:
    value = plain(value)
    if isinstance(value, pa.Scalar):
        return pa.scalar("null" if not value.is_valid else str(value.as_py()))
    if pa.types.is_string(value.type) or pa.types.is_large_string(value.type):
        return value
    if pa.types.is_boolean(value.type):
        return pc.if_else(value, "true", "false")
    return pc.cast(value, pa.string())


@_compile.register
def _(expr: ast.Unary) -> ColumnFn:
    operand = _compile(expr.operand)
    if expr.op is ast.UnaryOp.NOT:
        return lambda batch: pc.invert(plain(operand(batch)))
    return lambda batch: pc.negate(plain(operand(batch)))


def _true_divide(left: Value, right: Value) -> Value:
    return pc.divide(_as_float(left), _as_float(right))


def _as_float(value: Value) -> Value:
    if pa.types.is_integer(value.type):
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
        return pc.binary_join_element_wise(_to_text(left), _to_text(right), "")
    return pc.add(left, right)


def _is_text(value: Value) -> bool:
    return pa.types.is_string(value.type) or pa.types.is_large_string(value.type)


def _in(left: Value, right: Value) -> Value:
    if not isinstance(right, pa.Scalar) or not pa.types.is_list(right.type):
        raise pa.ArrowInvalid("`in` needs a list such as [1, 2, 3] on its right")
    return pc.is_in(left, value_set=right.values)


def _coded_equal(invert: bool) -> Callable[[Value, Value], Value]:
    """`==` / `!=` that compares a dictionary column's codes when the other side is a constant."""
    plain_op = pc.not_equal if invert else pc.equal

    def compare(left: Value, right: Value) -> Value:
        if isinstance(right, pa.Scalar) and _is_coded(left):
            return _compare_codes(left, right, invert)
        if isinstance(left, pa.Scalar) and _is_coded(right):
            return _compare_codes(right, left, invert)
        return plain_op(left, right)

    return compare


def _is_coded(value: Value) -> bool:
    return isinstance(value, pa.DictionaryArray)


def _compare_codes(column: pa.DictionaryArray, constant: pa.Scalar, invert: bool) -> Value:
    if not constant.is_valid:
        return pa.nulls(len(column), pa.bool_())
    where = pc.index(column.dictionary, constant).as_py()
    if where < 0:
        result = pa.repeat(pa.scalar(invert), len(column))
        return pc.if_else(pc.is_valid(column.indices), result, None)
    test = pc.not_equal if invert else pc.equal
    return test(column.indices, pa.scalar(where, column.indices.type))


_BINARY: dict[ast.BinaryOp, Callable[[Value, Value], Value]] = {
    ast.BinaryOp.ADD: _add,
    ast.BinaryOp.SUB: pc.subtract,
    ast.BinaryOp.MUL: pc.multiply,
    ast.BinaryOp.DIV: _true_divide,
    ast.BinaryOp.MOD: _modulo,
    ast.BinaryOp.EQ: _coded_equal(invert=False),
    ast.BinaryOp.NE: _coded_equal(invert=True),
    ast.BinaryOp.LT: pc.less,
    ast.BinaryOp.LE: pc.less_equal,
    ast.BinaryOp.GT: pc.greater,
    ast.BinaryOp.GE: pc.greater_equal,
    ast.BinaryOp.AND: pc.and_kleene,
    ast.BinaryOp.OR: pc.or_kleene,
    ast.BinaryOp.IN: _in,
    ast.BinaryOp.NOT_IN: lambda left, right: pc.invert(_in(left, right)),
}


@_compile.register
def _(expr: ast.Binary) -> ColumnFn:
    null_test = _null_comparison(expr)
    if null_test is not None:
        return null_test
    left = _compile(expr.left)
    right = _compile(expr.right)
    op = _BINARY[expr.op]
    if expr.op in _DICTIONARY_AWARE:
        return lambda batch: op(left(batch), right(batch))
    return lambda batch: op(plain(left(batch)), plain(right(batch)))


# Arrow compares and looks up dictionary-encoded values without decoding them.
_DICTIONARY_AWARE = {
    ast.BinaryOp.EQ,
    ast.BinaryOp.NE,
    ast.BinaryOp.LT,
    ast.BinaryOp.LE,
    ast.BinaryOp.GT,
    ast.BinaryOp.GE,
    ast.BinaryOp.IN,
    ast.BinaryOp.NOT_IN,
}


def _null_comparison(expr: ast.Binary) -> ColumnFn | None:
    """`x == null` tests for null (and `!=` for a value) rather than yielding null."""
    if expr.op not in (ast.BinaryOp.EQ, ast.BinaryOp.NE):
        return None
    sides = [expr.left, expr.right]
    nulls = [isinstance(s, ast.Literal) and s.value is None for s in sides]
    if not any(nulls):
        return None
    other = _compile(sides[1] if nulls[0] else sides[0])
    test = pc.is_null if expr.op is ast.BinaryOp.EQ else pc.is_valid
    return lambda batch: test(other(batch))


# ---- scalar functions ----------------------------------------------------------


def _round(value: Value, digits: Value | None = None) -> Value:
    ndigits = 0 if digits is None else int(digits.as_py())  # type: ignore[union-attr]
    return pc.round(value, ndigits=ndigits, round_mode="half_towards_infinity")


def _pattern_fn(fn: Callable[..., Value]) -> Callable[[Value, Value], Value]:
    def call(text: Value, pattern: Value) -> Value:
        if not isinstance(pattern, pa.Scalar):
            raise pa.ArrowInvalid("the second argument must be a constant string")
        return fn(text, pattern=pattern.as_py())

    return call


_SCALAR_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "abs": pc.abs,
    "round": _round,
    "floor": pc.floor,
    "ceil": pc.ceil,
    "sqrt": lambda v: pc.sqrt(_as_float(v)),
    "exp": pc.exp,
    "ln": pc.ln,
    "log10": pc.log10,
    "pow": lambda a, b: pc.power(_as_float(a), b),
    "len": pc.utf8_length,
    "upper": pc.utf8_upper,
    "lower": pc.utf8_lower,
    "trim": pc.utf8_trim_whitespace,
    "contains": _pattern_fn(pc.match_substring),
    "starts_with": _pattern_fn(pc.starts_with),
    "ends_with": _pattern_fn(pc.ends_with),
    "coalesce": pc.coalesce,
    "to_string": _to_text,
    "to_int": lambda v: pc.cast(v, pa.int64(), safe=False),
    "to_float": lambda v: pc.cast(v, pa.float64()),
    "is_null": pc.is_null,
}


@_compile.register
def _(expr: ast.Call) -> ColumnFn:
    fn = _SCALAR_FUNCTIONS.get(expr.func)
    if fn is None:
        msg = f"`{expr.func}(...)` cannot be computed per row"
        raise CheckError(msg, expr.span, hint="aggregates belong inside `.aggregate(...)`")
    args = [_compile(a) for a in expr.args]
    return lambda batch: fn(*(plain(a(batch)) for a in args))
