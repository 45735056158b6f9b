"""Which shard a row goes to: a stable hash of its partition key, the same in every process.

Strings are hashed through their dictionary (each distinct value once, by a polynomial
over its UTF-8 bytes); numbers by a 64-bit mix of their value. Python's own `hash` would
not do: it differs from process to process.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_PRIME = np.uint64(1099511628211)  # FNV's 64-bit prime, as the polynomial's base
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit reaches every output bit."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * _MIX1
        h = h ^ (h >> np.uint64(27))
        h = h * _MIX2
        return h ^ (h >> np.uint64(31))


def _strings(values: pa.Array) -> np.ndarray:
    """A hash per string of a (plain) string array."""
    if not pa.types.is_large_string(values.type):
        values = values.cast(pa.large_string())
    at = values.offset
    offsets = np.frombuffer(values.buffers()[1], np.int64)[at : at + len(values) + 1]
    data = values.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    total = int(lengths.sum())
    hashes = lengths.astype(np.uint64)  # empty strings hash by their length alone
    if total:
        longest = int(lengths.max())
        with np.errstate(over="ignore"):  # powers of the base, wrapping around 2**64
            powers = np.cumprod(np.full(longest, _PRIME, np.uint64)) // _PRIME
        powers[0] = 1
        pos = np.arange(total, dtype=np.int64) - np.repeat(starts - starts[0], lengths)
        nonempty = lengths > 0
        first = np.cumsum(lengths) - lengths
        with np.errstate(over="ignore"):
            weighted = raw[starts[0] : starts[0] + total].astype(np.uint64) * powers[pos]
            sums = np.add.reduceat(weighted, first[nonempty])
        hashes[nonempty] = hashes[nonempty] + sums
    return _mix(hashes)


def _column_hashes(column: pa.Array) -> np.ndarray:
    """A stable 64-bit hash per row of one key column (nulls hash alike)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.dictionary_encode(column)  # hash each distinct string once
    if not pa.types.is_dictionary(column.type):
        return _value_hashes(column)
    per_value = _value_hashes(column.dictionary)
    indices = column.indices
    picked = per_value[pc.fill_null(indices, 0).to_numpy(zero_copy_only=False)]
    if indices.null_count:
        picked[~np.asarray(indices.is_valid())] = 0
    return picked


def _value_hashes(values: pa.Array) -> np.ndarray:
    """A stable hash per value of a plain (not dictionary-encoded) array."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        hashed = _strings(values)
    elif pa.types.is_floating(values.type):
        floats = pc.fill_null(values.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
        hashed = _mix(floats.view(np.uint64).copy())
    elif pa.types.is_integer(values.type) or pa.types.is_boolean(values.type):
        ints = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        hashed = _mix(ints.view(np.uint64).copy())
    else:
        hashed = _strings(values.cast(pa.string()))
    if values.null_count:
        hashed[~np.asarray(values.is_valid())] = 0
    return hashed


def shard_of(batch: pa.RecordBatch, keys: tuple[str, ...], shards: int) -> np.ndarray:
    """The shard (0 .. shards - 1) of every row, from its partition key."""
    combined = np.zeros(batch.num_rows, np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            combined = _mix(combined * _PRIME + _column_hashes(batch.column(key)))
    return (combined % np.uint64(shards)).astype(np.int64)
