"""Partition keys → dense integer codes, numbered in the order keys are first seen."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.kernels.slots import owned_array


class ValueCodes:
    """Codes for the values of one column; code i is the i-th distinct value ever seen."""

    def __init__(self, value_type: pa.DataType | None = None) -> None:
        self.value_type = value_type or pa.null()
        self._known: pa.Array | None = None
        self.count = 0
        self._dictionary: pa.Array | None = None
        self._mapping = np.zeros(0, np.int64)

    def encode(self, column: pa.Array) -> np.ndarray:
        """The code of each row's value, assigning new codes to new values."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            return self._encode_indices(column)
        local, uniques = factorize(column)
        return self._codes(local, uniques)

    def _codes(self, local: np.ndarray, uniques: pa.Array) -> np.ndarray:
        found = self._lookup(uniques)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            found[missing] = self.count + np.arange(len(missing))
            self._remember(uniques.take(pa.array(missing)))
        return found[local]

    def _encode_indices(self, column: pa.DictionaryArray) -> np.ndarray:
        """Dictionary-encoded keys: codes through a per-dictionary mapping, no hashing of rows.

        A new dictionary (every Parquet row group has its own) is mapped entry by entry:
        its known values by one lookup, the others given codes in the order their first
        rows appear.
        """
        dictionary = column.dictionary
        # Compared by value: a batch read from a queue may reuse the memory of the last one.
        if self._dictionary is None or not self._dictionary.equals(dictionary):
            self._dictionary = owned_array(dictionary)
            self._mapping = np.append(self._lookup(dictionary), -1)  # last entry: null
        indices = column.indices
        if indices.null_count:
            indices = pc.fill_null(indices, len(dictionary))
        entries = indices.to_numpy(zero_copy_only=False)
        codes = self._mapping[entries]
        if (codes < 0).any():
            self._add_entries(entries, codes < 0, dictionary)
            codes = self._mapping[entries]
        return codes

    def _add_entries(self, entries: np.ndarray, new: np.ndarray, dictionary: pa.Array) -> None:
        """Codes for the dictionary entries of the `new` rows, in order of first appearance."""
        rows = np.flatnonzero(new)
        first = np.full(len(self._mapping), len(entries), np.int64)
        first[entries[rows][::-1]] = rows[::-1]  # written last, so kept: each entry's first row
        fresh = np.flatnonzero(first < len(entries))
        fresh = fresh[np.argsort(first[fresh], kind="stable")]
        null = len(dictionary)
        values = dictionary.take(pa.array(np.where(fresh == null, 0, fresh), mask=fresh == null))
        self._mapping[fresh] = self._codes(np.arange(len(fresh)), values)

    def values(self, codes: np.ndarray) -> pa.Array:
        """The values behind `codes`."""
        if self._known is None:
            return pa.array([], self.value_type).take(pa.array(codes, pa.int64()))
        return self._known.take(pa.array(codes, pa.int64()))

    def _lookup(self, uniques: pa.Array) -> np.ndarray:
        if self._known is None:
            return np.full(len(uniques), -1, np.int64)
        hits = pc.index_in(uniques, value_set=self._known, skip_nulls=False)
        return np.asarray(pc.fill_null(hits, -1), dtype=np.int64)

    def _remember(self, new_values: pa.Array) -> None:
        self.count += len(new_values)
        if self._known is None:
            self._known = new_values
        elif self._known.type != new_values.type and pa.types.is_null(self._known.type):
            self._known = pa.concat_arrays([self._known.cast(new_values.type), new_values])
        else:
            self._known = pa.concat_arrays([self._known, new_values])


def factorize(column: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Row → local id in first-seen order, and the distinct values in that order."""
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return local, encoded.dictionary


class KeyEncoder:
    """Codes for the tuple of partition key columns; no keys means one partition, code 0.

    Several keys are paired one at a time: the code of the first i keys and the code of key
    i + 1 are packed into one int64 and coded again, so every level's codes stay dense and
    any number of keys fits (up to 2**31 distinct values a level). The packed pairs are what
    each level remembers, so the key values of a code are unpacked from them.
    """

    def __init__(self, n_keys: int, types: list[pa.DataType] | None = None) -> None:
        self.n_keys = n_keys
        self._columns = [ValueCodes(t) for t in (types or [None] * n_keys)]
        self._pairs = [ValueCodes(pa.int64()) for _ in range(max(n_keys - 1, 0))]

    @property
    def count(self) -> int:
        """How many distinct keys have been seen."""
        if self.n_keys == 0:
            return 1
        return (self._pairs[-1] if self._pairs else self._columns[0]).count

    def encode(self, columns: list[pa.Array], length: int) -> np.ndarray:
        """The partition code of each row."""
        if self.n_keys == 0:
            return np.zeros(length, np.int64)
        codes = [c.encode(col) for c, col in zip(self._columns, columns, strict=True)]
        combined = codes[0]
        for pairs, code in zip(self._pairs, codes[1:], strict=True):
            combined = pairs.encode(pa.array((combined << 32) | code))
        return combined

    def key_values(self, codes: np.ndarray) -> list[pa.Array]:
        """For each key column, the key values of the given partition codes."""
        if self.n_keys == 0:
            return []
        parts = []
        for pairs in reversed(self._pairs):
            packed = pairs.values(codes).to_numpy()
            parts.append(packed & 0xFFFFFFFF)
            codes = packed >> 32
        parts.append(codes)
        return [c.values(part) for c, part in zip(self._columns, reversed(parts), strict=True)]
