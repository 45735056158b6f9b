"""The join kernel: `join(A, B, ...).on(A.k == B.k).window(D)`, over whole batches.

Semantics (docs/semantics.md, as Varpulis's runtime correlates): rows arrive in `_seq`
order across the sources. When a row arrives, it becomes its source's latest row for its
key; if every source has a latest row for that key and none of them is more than D older
than the arriving row, one joined row is emitted, made of those latest rows. Rows whose
key is null never join. The joined row carries `_seq` of the arriving row and `_ts` of the
newest of its parts; its fields are `A.f` for every field of every source, and `f` alone
for the first source that has it.

State: each source's latest row per key (an Arrow table per source, one row a key), so a
join holds as many rows as its sources have keys, whatever the window.

Vectorised: a step's rows and the state rows of the keys they touch are sorted by key and
arrival; for each source, "the latest row of this source at or before each position" is a
running maximum over the sorted positions that restarts at every key. No loop over rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vbatch.errors import SchemaError
from vbatch.kernels.expr import plain

ROW = ("_ts", "_seq")


class JoinKernel:
    """Combines a step's input batches from a join's ports into joined rows."""

    def __init__(
        self, stream: str, sources: tuple[str, ...], keys: tuple[str, ...], window_ms: int
    ) -> None:
        self.stream = stream
        self.sources = sources
        self.keys = keys
        self.window_ms = window_ms
        self.latest: list[pa.Table | None] = [None] * len(sources)  # per source, a row a key

    def combine(self, parts: list[tuple[int, pa.RecordBatch]]) -> pa.RecordBatch | None:
        """The joined rows the step's input rows make, in arrival order (None: none)."""
        arrived: list[list[pa.RecordBatch]] = [[] for _ in self.sources]
        for port, batch in parts:
            if batch.num_rows:
                arrived[port].append(batch)
        if not any(arrived):
            return None
        tables = [self._rows_of(port, batches) for port, batches in enumerate(arrived)]
        return self._join(tables)

    # --- one step -----------------------------------------------------------------------

    def _rows_of(self, port: int, batches: list[pa.RecordBatch]) -> pa.Table:
        """The source's state rows, then the step's rows (`_join` keeps only the rows of the
        keys the step touches)."""
        state = self.latest[port]
        if not batches:
            return state if state is not None else _empty()
        new = pa.Table.from_batches(batches)
        self._check_key(port, new)
        if state is None or not state.num_rows:
            return new
        try:
            return pa.concat_tables([state, new], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            msg = f"the rows of `{self.sources[port]}` changed their fields' types"
            raise SchemaError(msg, hint="declare the fields' types with `event ...`") from err

    def _check_key(self, port: int, table: pa.Table) -> None:
        if self.keys[port] not in table.schema.names:
            msg = f"`{self.stream}` joins on `{self.sources[port]}.{self.keys[port]}`"
            msg += f", but the rows of `{self.sources[port]}` have no `{self.keys[port]}`"
            raise SchemaError(msg)

    def _join(self, tables: list[pa.Table]) -> pa.RecordBatch | None:
        n = len(tables)
        sizes = [t.num_rows for t in tables]
        state_rows = [len(s) if s is not None else 0 for s in self.latest]  # first in each
        port = np.repeat(np.arange(n), sizes)
        local = np.concatenate([np.arange(size) for size in sizes])
        new = np.concatenate(
            [np.arange(size) >= kept for size, kept in zip(sizes, state_rows, strict=True)]
        )
        seq = np.concatenate([_int_column(t, "_seq") for t in tables])
        ts = np.concatenate([_int_column(t, "_ts") for t in tables])
        code = _key_codes([self._key_of(p, t) for p, t in enumerate(tables)])
        # the rows of keys this step does not touch take no part
        touched = np.zeros(int(code.max(initial=-1)) + 1, dtype=bool)
        touched[code[new & (code >= 0)]] = True
        part = (code >= 0) & touched[np.maximum(code, 0)]
        order = _key_then_arrival(code, seq, port, n)
        order = order[part[order]]
        if not len(order):
            return None
        s_code, s_port, s_new, s_ts = code[order], port[order], new[order], ts[order]
        starts = np.flatnonzero(np.r_[True, s_code[1:] != s_code[:-1]])
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        positions = np.arange(len(order))
        latest = np.empty((n, len(order)), dtype=np.int64)
        for p in range(n):  # one pass per source, over all rows at once
            marked = np.where(s_port == p, positions, group_start - 1)
            latest[p] = np.maximum.accumulate(marked)
        present = latest >= group_start
        recent = s_ts[np.where(present, latest, 0)] >= s_ts - self.window_ms
        emit = s_new & (present & recent).all(axis=0)
        self._keep_latest(tables, port, local, code, order)
        if not emit.any():
            return None
        rows = np.flatnonzero(emit)
        rows = rows[np.lexsort((local[order][rows], s_port[rows], seq[order][rows]))]
        return self._joined(tables, order, latest[:, rows], seq[order][rows], local)

    def _key_of(self, port: int, table: pa.Table) -> pa.ChunkedArray:
        if not table.num_rows:
            return pa.chunked_array([], pa.null())
        return table.column(self.keys[port])

    def _joined(
        self,
        tables: list[pa.Table],
        order: np.ndarray,
        picks: np.ndarray,
        seq: np.ndarray,
        local: np.ndarray,
    ) -> pa.RecordBatch:
        """The joined rows: for each source, its picked rows' fields as `Source.field`."""
        columns: dict[str, pa.Array] = {}
        times = []
        plain: dict[str, pa.Array] = {}
        for p, table in enumerate(tables):
            rows = pa.array(local[order[picks[p]]])
            taken = table.take(rows).combine_chunks()
            times.append(_int_column(taken, "_ts"))
            for name in taken.schema.names:
                if name in ROW:
                    continue
                column = taken.column(name).combine_chunks()
                columns[f"{self.sources[p]}.{name}"] = column
                plain.setdefault(name, column)
        out = {"_ts": pa.array(np.max(times, axis=0)), "_seq": pa.array(seq)}
        out.update(columns)
        for name, column in plain.items():
            out.setdefault(name, column)
        return pa.RecordBatch.from_pydict(out)

    def _keep_latest(
        self,
        tables: list[pa.Table],
        port: np.ndarray,
        local: np.ndarray,
        code: np.ndarray,
        order: np.ndarray,
    ) -> None:
        """Each source's latest row of every key the step touched replaces its state row."""
        for p, table in enumerate(tables):
            mine = order[port[order] == p] if len(order) else order
            if not len(mine):
                continue
            last = np.r_[code[mine][1:] != code[mine][:-1], True]
            rows = local[mine[last]]
            kept = table.take(pa.array(rows))
            old = self.latest[p]
            if old is not None and old.num_rows:
                keys = plain(kept.column(self.keys[p]).combine_chunks())
                old_keys = plain(old.column(self.keys[p]).combine_chunks()).cast(keys.type)
                stale = pc.is_in(old_keys, value_set=keys)
                old = old.filter(pc.invert(stale))
                kept = pa.concat_tables([old, kept], promote_options="permissive")
            self.latest[p] = kept.combine_chunks()


def _key_then_arrival(code: np.ndarray, seq: np.ndarray, port: np.ndarray, n: int) -> np.ndarray:
    """Positions sorted by key, then arrival (`_seq`, then source, then position: rows are
    laid out source by source, each in order, so stable sorts keep the last two).

    Two stable sorts, each nearly linear here: by arrival (a few runs, one per source,
    already in order: a merge for timsort), then by key (a radix sort when the codes fit
    in 16 bits)."""
    if not len(code):
        return np.empty(0, np.int64)
    if int(seq.max()) >= (1 << 62) // max(n, 1):
        return np.lexsort((port, seq, code))
    arrival = np.argsort(seq * n + port, kind="stable")
    keys = code[arrival] + 1  # a null key (-1) first
    if int(keys.max()) < 1 << 16:
        keys = keys.astype(np.uint16)
    return arrival[np.argsort(keys, kind="stable")]


def _empty() -> pa.Table:
    return pa.table({"_ts": pa.array([], pa.int64()), "_seq": pa.array([], pa.int64())})


def _int_column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.int64, copy=False)


def _key_codes(keys: list[pa.ChunkedArray]) -> np.ndarray:
    """One code per distinct key value across the sources (-1 for a null key)."""
    types = {k.type for k in keys if not pa.types.is_null(k.type)}
    if len(types) > 1:
        if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
            keys = [pc.cast(k, pa.float64()) for k in keys]
        else:
            keys = [k.cast(pa.string()) if not pa.types.is_null(k.type) else k for k in keys]
        types = {k.type for k in keys if not pa.types.is_null(k.type)}
    target = next(iter(types), pa.null())
    pieces = [
        pa.nulls(len(k), target) if pa.types.is_null(k.type) else plain(k).cast(target)
        for k in keys
    ]
    values = pa.chunked_array(pieces, target) if pieces else pa.chunked_array([], target)
    encoded = values.dictionary_encode().combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return np.where(encoded.is_valid().to_numpy(zero_copy_only=False), codes, -1).astype(np.int64)
