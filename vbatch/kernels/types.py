"""Arrow types ↔ plan types: how a schema becomes the environment a stream is bound to."""

from __future__ import annotations

import pyarrow as pa

from vbatch.plan.typecheck import Env
from vbatch.plan.types import VType

_ARROW = {
    VType.BOOL: pa.bool_(),
    VType.INT: pa.int64(),
    VType.FLOAT: pa.float64(),
    VType.STRING: pa.string(),
    VType.NULL: pa.null(),
}


def vtype_of(dtype: pa.DataType) -> VType:
    """The plan type of an Arrow type (dictionary-encoded strings are strings)."""
    if pa.types.is_dictionary(dtype):
        return vtype_of(dtype.value_type)
    if pa.types.is_boolean(dtype):
        return VType.BOOL
    if pa.types.is_integer(dtype) or pa.types.is_timestamp(dtype):
        return VType.INT
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return VType.FLOAT
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return VType.STRING
    if pa.types.is_null(dtype):
        return VType.NULL
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return VType.LIST
    return VType.ANY


def arrow_type(vtype: VType, like: pa.DataType | None = None) -> pa.DataType:
    """The Arrow type that holds values of `vtype`; `like` gives lists and unknown types."""
    if vtype in _ARROW:
        return _ARROW[vtype]
    if like is not None:
        return like.value_type if pa.types.is_dictionary(like) else like
    return pa.null()


def env_of_schema(schema: pa.Schema) -> Env:
    """The closed environment of rows with this schema."""
    types = {f.name: vtype_of(f.type) for f in schema if not f.name.startswith("__")}
    return Env(types, closed=True)
