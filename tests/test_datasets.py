"""Synthetic data sets: deterministic by seed, the right size, and shaped as the tutorial needs."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import decoded

from vbatch.datasets import DATASETS, generate
from vbatch.errors import ConfigError
from vbatch.io.parquet import ParquetReader
from vbatch.io.source import ReadOptions

SESSION_GAP_MS = 5_000
EVT_LINE = re.compile(r"^@(\d+) (\w+) \{ (.*) \}$")


@pytest.fixture(scope="module")
def sensors(tmp_path_factory) -> pa.Table:
    path = tmp_path_factory.mktemp("sensors") / "s.parquet"
    return pq.read_table(generate("sensors", 200_000, path))


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> pa.Table:
    path = tmp_path_factory.mktemp("users") / "u.parquet"
    return pq.read_table(generate("users", 100_000, path, users=500))


def test_every_data_set_has_a_description():
    assert set(DATASETS) == {"sensors", "climate", "users"}
    assert all(DATASETS.values())


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_same_seed_same_data_other_seed_other_data(tmp_path, kind):
    first = pq.read_table(generate(kind, 5_000, tmp_path / "a.parquet", seed=7))
    again = pq.read_table(generate(kind, 5_000, tmp_path / "b.parquet", seed=7))
    other = pq.read_table(generate(kind, 5_000, tmp_path / "c.parquet", seed=8))
    assert first.equals(again)
    assert not first.equals(other)


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_sizes_and_columns(tmp_path, kind):
    table = pq.read_table(generate(kind, 12_345, tmp_path / "d.parquet"))
    assert table.num_rows == 12_345
    assert table.schema.names[:2] == ["timestamp", "event_type"]
    assert table.schema.field("timestamp").type == pa.int64()
    assert table.schema.field("event_type").type == pa.string()


def test_a_bigger_data_set_starts_with_the_smaller_one(tmp_path):
    small = pq.read_table(generate("sensors", 1_000, tmp_path / "small.parquet"))
    large = pq.read_table(generate("sensors", 3_000, tmp_path / "large.parquet"))
    assert large.slice(0, 1_000).equals(small)


def test_sensor_ids_belong_to_their_zone(sensors):
    zones = sensors.column("zone").to_numpy(zero_copy_only=False)
    ids = sensors.column("sensor_id").to_numpy(zero_copy_only=False)
    assert set(zones) == {"A", "B"}
    assert all(i.startswith(z) for i, z in zip(ids, zones, strict=True))
    assert 100 <= len(set(ids)) <= 1_000


def test_sensor_values_have_a_normal_band_spikes_and_negatives(sensors):
    values = sensors.column("value").to_numpy()
    assert 50 <= np.median(values) <= 100
    assert 0.001 < np.mean(values > 150) < 0.05
    assert 0.0005 < np.mean(values < 0) < 0.05


def test_sensor_times_follow_the_rate(sensors):
    times = sensors.column("timestamp").to_numpy()
    assert np.all(np.diff(times) >= 0)
    assert times[-1] == (len(times) - 1) * 1000 // 10_000


def test_sensor_parameters(tmp_path):
    table = pq.read_table(
        generate("sensors", 20_000, tmp_path / "s.parquet", zones="A,B,C", rate=1000, jitter_ms=50)
    )
    assert set(table.column("zone").to_pylist()) == {"A", "B", "C"}
    times = table.column("timestamp").to_numpy()
    ideal = np.arange(len(times))
    assert np.any(np.diff(times) < 0)
    assert np.all((ideal - times >= 0) & (ideal - times <= 50))


def test_climate_interleaves_two_types_with_their_own_fields(tmp_path):
    table = pq.read_table(generate("climate", 20_000, tmp_path / "c.parquet"))
    is_temp = pc.equal(table.column("event_type"), "TemperatureReading")
    temp, press = table.filter(is_temp), table.filter(pc.invert(is_temp))
    assert 0.4 < temp.num_rows / table.num_rows < 0.6
    assert temp.column("pressure").null_count == temp.num_rows
    assert temp.column("temperature").null_count == 0
    assert press.column("temperature").null_count == press.num_rows
    assert press.column("pressure").null_count == 0
    assert pc.any(pc.greater(temp.column("temperature"), 80)).as_py()
    assert pc.any(pc.greater(press.column("pressure"), 100)).as_py()
    assert all(s.startswith("T") for s in temp.column("sensor_id").to_pylist()[:100])


def sessions_of(users: pa.Table) -> list[np.ndarray]:
    """Per user, the gaps between consecutive actions."""
    order = np.lexsort((users.column("timestamp").to_numpy(), users.column("user_id").to_numpy()))
    ids = users.column("user_id").to_numpy(zero_copy_only=False)[order]
    times = users.column("timestamp").to_numpy()[order]
    splits = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    return [np.diff(t) for t in np.split(times, splits)]


def test_user_sessions_have_short_gaps_inside_and_long_gaps_between(users):
    gaps = np.concatenate(sessions_of(users))
    inside, between = gaps[gaps <= SESSION_GAP_MS], gaps[gaps > SESSION_GAP_MS]
    assert inside.max() < 0.7 * SESSION_GAP_MS
    assert between.min() > 2 * SESSION_GAP_MS
    sessions = len(between) + len(sessions_of(users))
    assert 3 <= users.num_rows / sessions <= 40


def test_user_sessions_start_with_login_and_times_never_go_back(users):
    assert np.all(np.diff(users.column("timestamp").to_numpy()) >= 0)
    order = np.lexsort((users.column("timestamp").to_numpy(), users.column("user_id").to_numpy()))
    ids = users.column("user_id").to_numpy(zero_copy_only=False)[order]
    times = users.column("timestamp").to_numpy()[order]
    actions = users.column("action").to_numpy(zero_copy_only=False)[order]
    starts = np.concatenate([[True], (ids[1:] != ids[:-1]) | (np.diff(times) > SESSION_GAP_MS)])
    assert set(actions[starts]) == {"login"}
    assert {"view_page", "click", "purchase", "logout"} <= set(actions[~starts])


def test_evt_output_has_one_event_a_line(tmp_path):
    path = generate("climate", 1_000, tmp_path / "c.evt")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")
    events = [EVT_LINE.match(line) for line in lines[1:]]
    assert len(events) == 1_000 and all(events)
    kinds = {m.group(2): m.group(3) for m in events}
    assert re.fullmatch(r'sensor_id: "T\d+", temperature: -?\d+\.\d+', kinds["TemperatureReading"])


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_evt_and_parquet_hold_the_same_events(tmp_path, kind):
    evt = pytest.importorskip("vbatch.io.evt")
    options = ReadOptions(batch_size=700)
    from_evt = list(evt.EvtReader(generate(kind, 3_000, tmp_path / "c.evt"), options))
    parquet = ParquetReader(generate(kind, 3_000, tmp_path / "c.parquet"), options)
    from_parquet = list(parquet)

    def tables(chunks):
        parts = {}
        for chunk in chunks:
            for event in chunk.batches:
                parts.setdefault(event.event_type, []).append(decoded(event.batch))
        return {k: pa.Table.from_batches(v) for k, v in parts.items()}

    assert tables(from_evt) == tables(from_parquet)


def test_unknown_kind_and_format_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown data set"):
        generate("weather", 10, tmp_path / "w.parquet")
    with pytest.raises(ConfigError, match="cannot write"):
        generate("sensors", 10, tmp_path / "w.csv")
