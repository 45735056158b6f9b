"""Seeded synthetic data sets for the tutorial's event types, streamed to Parquet or `.evt`."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vbatch.errors import ConfigError
from vbatch.io.json_text import json_values
from vbatch.io.writers import OutputFile, joined_text, writing

BLOCK_EVENTS = 1 << 20  # rows per generated block and per Parquet row group
EVT_LINES = 1 << 17  # .evt lines built at a time
USER_SLAB_MS = 60_000  # user sessions are simulated a minute of event time at a time
SESSION_STEPS = 16  # events simulated per active user per round

Blocks = Iterator[pa.Table]


@dataclass(frozen=True)
class _Kind:
    description: str
    fields: Mapping[str, tuple[str, ...]]  # event type → its fields, in order
    blocks: Callable[..., Blocks]
    options: type | None = None  # a dataclass whose fields are parameters too

    def parameters(self) -> dict[str, object]:
        """Every parameter of the data set, with its default."""
        signature = inspect.signature(self.blocks).parameters.values()
        named = {p.name: p.default for p in signature if p.kind is p.KEYWORD_ONLY}
        extra = {f.name: f.default for f in fields(self.options)} if self.options else {}
        return named | extra


# --- sensors ----------------------------------------------------------------------------------


def _sensor_blocks(
    rng: np.random.Generator,
    *,
    zones: Sequence[str] | str = ("A", "B"),
    sensors: int = 300,
    rate: float = 10_000.0,
    jitter_ms: int = 0,
    spike_rate: float = 0.01,
    negative_rate: float = 0.005,
    start_ms: int = 0,
) -> Blocks:
    """SensorReading: ids like "A17" in their zone, values ~50-100, rare spikes and negatives."""
    zones = _names(zones)
    _require_positive(sensors=sensors, rate=rate, zones=len(zones))
    sensor_zone = np.arange(sensors) % len(zones)
    ids = pa.array([f"{zones[z]}{i // len(zones) + 1}" for i, z in enumerate(sensor_zone)])
    baseline = np.clip(rng.normal(75.0, 6.0, sensors), 58.0, 92.0)
    for first in count(0, BLOCK_EVENTS):
        sensor = rng.integers(0, sensors, BLOCK_EVENTS)
        value = baseline[sensor] + rng.normal(0.0, 4.0, BLOCK_EVENTS)
        value = _sprinkle(rng, value, spike_rate, lambda n: rng.uniform(150.0, 200.0, n))
        value = _sprinkle(rng, value, negative_rate, lambda n: -rng.uniform(0.5, 20.0, n))
        yield _events(
            _times(rng, first, BLOCK_EVENTS, rate, jitter_ms, start_ms),
            pa.repeat("SensorReading", BLOCK_EVENTS),
            sensor_id=ids.take(sensor),
            value=np.round(value, 1),
            zone=pa.array(zones).take(sensor_zone[sensor]),
        )


def _require_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            msg = f"{name} must be positive, not {value}"
            raise ConfigError(msg)


def _names(names: Sequence[str] | str) -> list[str]:
    """A list of names; a string is read as comma-separated (as the command line passes it)."""
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


def _sprinkle(
    rng: np.random.Generator, values: np.ndarray, rate: float, draw: Callable[[int], np.ndarray]
) -> np.ndarray:
    hit = rng.random(len(values)) < rate
    values[hit] = draw(int(hit.sum()))
    return values


def _times(
    rng: np.random.Generator, first: int, size: int, rate: float, jitter_ms: int, start_ms: int
) -> np.ndarray:
    """Times of events first..first+size at `rate` per second, each up to `jitter_ms` early."""
    offsets = np.arange(first, first + size) * (1000.0 / rate)
    times = start_ms + offsets.astype(np.int64)
    if jitter_ms:
        times = np.maximum(times - rng.integers(0, jitter_ms + 1, size), start_ms)
    return times


def _events(times: np.ndarray, types: pa.Array, **fields: Any) -> pa.Table:
    return pa.table({"timestamp": pa.array(times, pa.int64()), "event_type": types, **fields})


# --- climate ----------------------------------------------------------------------------------


def _climate_blocks(
    rng: np.random.Generator, *, sensors: int = 50, rate: float = 10_000.0, start_ms: int = 0
) -> Blocks:
    """Interleaved TemperatureReading (~70, some above 80) and PressureReading (~100) events."""
    _require_positive(sensors=sensors, rate=rate)
    kinds = pa.array(["TemperatureReading", "PressureReading"])
    ids = pa.array([f"{p}{i + 1}" for p in ("T", "P") for i in range(sensors)])
    base = (rng.normal(70.0, 6.0, sensors), rng.normal(100.0, 4.0, sensors))
    for first in count(0, BLOCK_EVENTS):
        is_pressure = rng.random(BLOCK_EVENTS) < 0.5
        sensor = rng.integers(0, sensors, BLOCK_EVENTS)
        baseline = np.where(is_pressure, base[1][sensor], base[0][sensor])
        reading = np.round(baseline + rng.normal(0.0, 4.0, BLOCK_EVENTS), 1)
        yield _events(
            _times(rng, first, BLOCK_EVENTS, rate, 0, start_ms),
            kinds.take(is_pressure.astype(np.int8)),
            sensor_id=ids.take(sensor + sensors * is_pressure),
            temperature=pa.array(reading, mask=is_pressure),
            pressure=pa.array(reading, mask=~is_pressure),
        )


# --- users ----------------------------------------------------------------------------------

ACTIONS = ("login", "logout", "view_page", "click", "search", "add_to_cart", "purchase")
_LOGIN, _LOGOUT = 0, 1
_MIDDLE_WEIGHTS = (0.0, 0.0, 0.45, 0.3, 0.1, 0.1, 0.05)


@dataclass(frozen=True)
class _Sessions:
    """How users behave: session lengths, gaps inside sessions, idle gaps between them."""

    min_actions: int = 3
    max_actions: int = 40
    min_step_ms: int = 200
    max_step_ms: int = 3_000
    min_idle_ms: int = 15_000
    mean_idle_ms: int = 60_000
    logout_rate: float = 0.7


@dataclass
class _Users:
    """Per-user state: time of the next event, events left in its session, session just starting."""

    next_ms: np.ndarray
    left: np.ndarray
    fresh: np.ndarray


def _user_blocks(rng: np.random.Generator, *, users: int = 10_000, **behaviour: Any) -> Blocks:
    """UserActivity: bursts of a few to a few dozen actions, under 5 s apart, then idle over 5 s."""
    sessions = _Sessions(**behaviour)  # checks the parameters now, not at the first block
    _require_positive(users=users, min_actions=sessions.min_actions)
    return _user_sessions(rng, users, sessions)


def _user_sessions(rng: np.random.Generator, users: int, sessions: _Sessions) -> Blocks:
    ids = pa.array([f"user{u:05d}" for u in range(users)])
    state = _Users(
        rng.integers(0, sessions.mean_idle_ms, users),
        rng.integers(sessions.min_actions, sessions.max_actions + 1, users),
        np.ones(users, bool),
    )
    pending = np.empty((3, 0), np.int64)  # rows: time, user, action
    for slab_end in count(USER_SLAB_MS, USER_SLAB_MS):
        rounds = [pending]
        while (active := np.flatnonzero(state.next_ms < slab_end)).size:
            rounds.append(_session_round(rng, sessions, state, active))
        events = np.concatenate(rounds, axis=1)
        done = events[0] < slab_end
        pending, ready = events[:, ~done], events[:, done]
        ready = ready[:, np.lexsort((ready[1], ready[0]))]
        yield _events(
            ready[0],
            pa.repeat("UserActivity", ready.shape[1]),
            user_id=ids.take(ready[1]),
            action=pa.array(ACTIONS).take(ready[2]),
        )


def _session_round(
    rng: np.random.Generator, sessions: _Sessions, state: _Users, active: np.ndarray
) -> np.ndarray:
    """The next SESSION_STEPS events of each active user, as rows (time, user, action)."""
    n, k = active.size, SESSION_STEPS
    shape = (n, k // sessions.min_actions + 2)  # enough sessions to pass step k
    lengths = rng.integers(sessions.min_actions, sessions.max_actions + 1, shape)
    ends = (state.left[active] - 1)[:, None] + np.cumsum(lengths, axis=1) - lengths
    # ends: the step index of the last event of the current session and of the ones after it
    is_last = np.zeros((n, k), bool)
    rows, cols = np.nonzero(ends < k)
    is_last[rows, ends[rows, cols]] = True
    idle = sessions.min_idle_ms + rng.exponential(
        sessions.mean_idle_ms - sessions.min_idle_ms, n * k
    )
    step = rng.integers(sessions.min_step_ms, sessions.max_step_ms + 1, (n, k))
    gaps = np.where(is_last, idle.reshape(n, k).astype(np.int64), step)
    times = state.next_ms[active][:, None] + np.cumsum(gaps, axis=1) - gaps
    is_first = np.concatenate([state.fresh[active][:, None], is_last[:, :-1]], axis=1)
    state.next_ms[active] = times[:, -1] + gaps[:, -1]
    state.left[active] = np.where(ends >= k, ends, np.iinfo(np.int64).max).min(axis=1) - k + 1
    state.fresh[active] = is_last[:, -1]
    actions = rng.choice(len(ACTIONS), (n, k), p=_MIDDLE_WEIGHTS)
    actions[is_last & (rng.random((n, k)) < sessions.logout_rate)] = _LOGOUT
    actions[is_first] = _LOGIN
    return np.stack([times.ravel(), np.repeat(active, k), actions.ravel()])


# --- writing ----------------------------------------------------------------------------------

_KINDS: dict[str, _Kind] = {
    "sensors": _Kind(
        "SensorReading { sensor_id, value, zone }: zones A/B, values ~50-100, spikes > 150",
        {"SensorReading": ("sensor_id", "value", "zone")},
        _sensor_blocks,
    ),
    "climate": _Kind(
        "TemperatureReading { sensor_id, temperature } and PressureReading { sensor_id,"
        " pressure }, interleaved",
        {
            "TemperatureReading": ("sensor_id", "temperature"),
            "PressureReading": ("sensor_id", "pressure"),
        },
        _climate_blocks,
    ),
    "users": _Kind(
        "UserActivity { user_id, action }: bursty sessions separated by idle gaps over 5 s",
        {"UserActivity": ("user_id", "action")},
        _user_blocks,
        _Sessions,
    ),
}

# What values a parameter takes: numbers are at least 0 unless listed here.
_POSITIVE = frozenset({"sensors", "rate", "users", "min_actions"})
_FRACTIONS = frozenset({"spike_rate", "negative_rate", "logout_rate"})
_ORDERED = (
    ("min_actions", "max_actions"),
    ("min_step_ms", "max_step_ms"),
    ("min_idle_ms", "mean_idle_ms"),
)


def _checked(kind: str, spec: _Kind, params: Mapping[str, object]) -> dict[str, object]:
    """`params` as the data set's generator takes them; a ConfigError (exit 3) names the first
    unknown parameter or value out of its range."""
    defaults = spec.parameters()
    for name in params:
        if name not in defaults:
            msg = f"data set {kind!r} has no parameter {name!r}"
            raise ConfigError(msg, hint=f"its parameters: {', '.join(defaults)}")
    values = {name: _value(name, value, defaults[name]) for name, value in params.items()}
    merged = defaults | values
    for low, high in _ORDERED:
        if low in merged and merged[high] < merged[low]:  # type: ignore[operator]
            raise ConfigError(f"{high} ({merged[high]}) must be at least {low} ({merged[low]})")
    return values


def _value(name: str, value: object, default: object) -> object:
    """One parameter's value, checked against the type of its default and its range."""
    if isinstance(default, str | tuple):
        if not isinstance(value, str) or not value.strip(","):
            raise ConfigError(f"{name} takes names separated by commas, not {value!r}")
        return value
    whole = isinstance(default, int)
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {kind}, not {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {value!r}")
    if name in _FRACTIONS and not 0 <= value <= 1:
        raise ConfigError(f"{name} is a fraction from 0 to 1, not {value}")
    if name in _POSITIVE and value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")
    if value < 0:
        raise ConfigError(f"{name} cannot be negative, not {value}")
    return value


DATASETS: dict[str, str] = {name: kind.description for name, kind in _KINDS.items()}


def generate(
    kind: str,
    events: int,
    out: str | Path,
    *,
    seed: int = 42,
    fmt: str | None = None,
    **params: Any,
) -> Path:
    """Write `events` events of data set `kind` to `out` (Parquet or `.evt`), deterministic by seed.

    >>> generate("sensors", 1_000_000, "data/sensors.parquet", zones="A,B,C")  # doctest: +SKIP
    """
    spec = _KINDS.get(kind)
    if spec is None:
        msg = f"unknown data set {kind!r}; choose one of {', '.join(DATASETS)}"
        raise ConfigError(msg)
    if events < 1:
        msg = f"a data set needs at least one event, not {events}"
        raise ConfigError(msg)
    out = Path(out)
    write = _writer(fmt or out.suffix.lstrip("."))
    generated = spec.blocks(np.random.default_rng(seed), **_checked(kind, spec, params))
    blocks = _exactly(generated, events)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
    file = OutputFile(out)
    try:
        with writing(out):
            write(file.temp, blocks, spec)
    except BaseException:
        file.discard()
        raise
    file.commit()
    return out


def _exactly(blocks: Blocks, events: int) -> Blocks:
    """Re-cut generated tables into blocks of BLOCK_EVENTS rows, `events` rows in all."""
    buffered: list[pa.Table] = []
    size = 0
    for table in blocks:
        buffered.append(table.slice(0, events))
        events -= buffered[-1].num_rows
        size += buffered[-1].num_rows
        while size >= BLOCK_EVENTS or (events == 0 and size):
            whole = pa.concat_tables(buffered)
            yield whole.slice(0, BLOCK_EVENTS).combine_chunks()
            buffered, size = [whole.slice(BLOCK_EVENTS)], max(0, size - BLOCK_EVENTS)
        if events == 0:
            return


def _write_parquet(path: Path, blocks: Blocks, spec: _Kind) -> None:
    writer: pq.ParquetWriter | None = None
    try:
        for table in blocks:
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=BLOCK_EVENTS)
    finally:
        if writer is not None:
            writer.close()


def _write_evt(path: Path, blocks: Blocks, spec: _Kind) -> None:
    with open(path, "wb") as out:
        out.write(f"# vbatch synthetic data: {', '.join(spec.fields)}\n".encode())
        for table in blocks:
            for batch in table.to_batches(max_chunksize=EVT_LINES):
                out.write(joined_text(_evt_lines(batch, spec.fields)))


def _evt_lines(batch: pa.RecordBatch, fields: Mapping[str, tuple[str, ...]]) -> pa.Array:
    """`@<ms> Type { field: value, ... }` for each row, built column-wise per event type."""
    parts, positions = [], []
    types = batch.column("event_type")
    for event_type, names in fields.items():
        rows = np.flatnonzero(pc.equal(types, event_type).to_numpy(zero_copy_only=False))
        sub = batch.take(rows)
        pieces: list[Any] = ["@", sub.column("timestamp").cast(pa.string())]
        for i, name in enumerate(names):
            pieces.append((f" {event_type} {{ " if i == 0 else ", ") + f"{name}: ")
            pieces.append(json_values(sub.column(name)))
        pieces.append(" }\n")
        parts.append(pc.binary_join_element_wise(*pieces, ""))
        positions.append(rows)
    order = np.argsort(np.concatenate(positions), kind="stable")
    return pa.concat_arrays(parts).take(order)


_WRITERS: dict[str, Callable[[Path, Blocks, _Kind], None]] = {
    "parquet": _write_parquet,
    "evt": _write_evt,
}


def _writer(fmt: str) -> Callable[[Path, Blocks, _Kind], None]:
    write = _WRITERS.get(fmt)
    if write is None:
        msg = f"cannot write data sets as {fmt!r}: use a .parquet or .evt file name"
        raise ConfigError(msg)
    return write
