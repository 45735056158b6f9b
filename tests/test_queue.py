"""The shared-memory channel between processes: order, zero copy, backpressure, dead peers, leaks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from vbatch.errors import ConfigError, EngineError
from vbatch.runtime.queue import Channel, ChannelReader

CTX = multiprocessing.get_context("spawn")
SHM = Path("/dev/shm")
END = 99
Item = tuple[int, "pa.RecordBatch | bytes"]

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="needs /dev/shm (Linux)")


# ---- data ---------------------------------------------------------------------------------


def _numbers(rows: int) -> pa.RecordBatch:
    return pa.record_batch({"seq": np.arange(rows), "value": np.linspace(0.0, 1.0, rows)})


def _mixed_items() -> list[Item]:
    """Batches of many types and control messages; the 40K-row batch needs several slots."""
    rng = np.random.default_rng(7)
    n = 1000
    ints = pa.record_batch(
        {
            "i": rng.integers(-(10**9), 10**9, n),
            "f": rng.random(n),
            "ts": pa.array(np.arange(n), pa.timestamp("ms")),
        }
    )
    strings = pa.record_batch({"s": [f"sensor-{k}" for k in rng.integers(0, 50, n)]})
    zones = pa.array(["north", "south", None, "east"] * (n // 4)).dictionary_encode()
    nulls = pa.record_batch(
        {
            "x": pa.array([None if k % 3 == 0 else k for k in range(n)], pa.int64()),
            "none": pa.nulls(n),
            "b": pa.array([k % 2 == 0 if k % 7 else None for k in range(n)]),
        }
    )
    lists = pa.record_batch(
        {"l": pa.array([[k, k + 1] if k % 5 else None for k in range(n)], pa.list_(pa.int32()))}
    )
    big = pa.record_batch({"seq": np.arange(40_000), "s": [f"row-{k:08d}" for k in range(40_000)]})
    round_ = [
        (1, ints),
        (2, strings),
        (3, b"epoch"),
        (4, pa.record_batch({"z": zones})),
        (5, nulls),
        (6, lists),
        (7, ints.slice(0, 0)),
        (8, big),
        (9, ints.slice(100, 50)),
    ]
    return [(tag + 10 * r, item) for r in range(4) for tag, item in round_]


def _buffers(array: pa.Array) -> Iterator[pa.Buffer]:
    yield from (b for b in array.buffers() if b is not None and b.size > 0)
    if pa.types.is_dictionary(array.type):
        yield from _buffers(array.dictionary)


def _mapped_ranges(segment_name: str) -> list[tuple[int, int]]:
    """Address ranges where this process maps the segment, from /proc/self/maps."""
    lines = Path("/proc/self/maps").read_text().splitlines()
    spans = [ln.split()[0] for ln in lines if ln.endswith(f"/dev/shm/{segment_name}")]
    return [(int(lo, 16), int(hi, 16)) for lo, hi in (s.split("-") for s in spans)]


# ---- worker processes (module level, so spawn can import them) ----------------------------


def _parent_alive() -> bool:
    parent = multiprocessing.parent_process()
    return parent is not None and parent.is_alive()


def _send(channel: Channel, items: list[Item]) -> None:
    writer = channel.writer()
    for tag, item in items:
        if isinstance(item, bytes):
            writer.put_message(item, tag=tag, alive=_parent_alive)
        else:
            writer.put(item, tag=tag, alive=_parent_alive)
    writer.put_message(b"end", tag=END, alive=_parent_alive)
    writer.close()


def _produce_mixed(channel: Channel) -> None:
    _send(channel, _mixed_items())


def _produce_repeated(channel: Channel, batches: int, rss_growth: Connection) -> None:
    """Put the same batch many times; report how much this process's memory grew."""
    import psutil

    writer, me = channel.writer(), psutil.Process()
    batch = _numbers(100_000)
    writer.put(batch, alive=_parent_alive)
    base = peak = me.memory_info().rss
    for _ in range(batches - 1):
        writer.put(batch, alive=_parent_alive)
        peak = max(peak, me.memory_info().rss)
    writer.put_message(b"end", tag=END, alive=_parent_alive)
    rss_growth.send(peak - base)


def _attach_and_sleep(channel: Channel, ready: Connection) -> None:
    reader = channel.reader()
    ready.send(True)
    time.sleep(60)
    reader.close()


def _put_one_and_sleep(channel: Channel) -> None:
    channel.writer().put(_numbers(10), alive=_parent_alive)
    time.sleep(60)


def _consume_all(channel: Channel) -> None:
    reader = channel.reader()
    while reader.get(alive=_parent_alive).batch is not None:  # type: ignore[union-attr]
        pass
    reader.close()


def _coordinate(kill_worker: bool, report: Connection) -> None:
    """A coordinator with one worker: send, maybe lose the worker, then clean up."""
    before = set(os.listdir(SHM))
    channel = Channel.create("leak", capacity_events=1000, slots=2, context=CTX)
    report.send(sorted(set(os.listdir(SHM)) - before))
    worker = CTX.Process(target=_consume_all, args=(channel,))
    worker.start()
    writer = channel.writer()
    try:
        for _ in range(20):
            writer.put(_numbers(500), alive=worker.is_alive)
        if kill_worker:
            os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
            for _ in range(100):
                writer.put(_numbers(500), alive=worker.is_alive)
        writer.put_message(b"end", tag=END, alive=worker.is_alive)
    except EngineError:
        pass
    finally:
        worker.join(10)
        writer.close()
        channel.close()
        channel.unlink()


# ---- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def make_channel() -> Iterator[Callable[..., Channel]]:
    made: list[Channel] = []

    def make(**settings: int) -> Channel:
        made.append(Channel.create("test", context=CTX, **settings))
        return made[-1]

    yield make
    for channel in made:
        channel.close()
        channel.unlink()


@pytest.fixture
def start() -> Iterator[Callable[..., multiprocessing.process.BaseProcess]]:
    started: list[multiprocessing.process.BaseProcess] = []

    def start_process(
        target: Callable[..., None], *args: object, daemon: bool = True
    ) -> multiprocessing.process.BaseProcess:
        process = CTX.Process(target=target, args=args, daemon=daemon)
        process.start()
        started.append(process)
        return process

    yield start_process
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(10)


def _until(seconds: float) -> Callable[[], bool]:
    """An `alive` check that turns False after `seconds`, so a wrong wait fails, not hangs."""
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() < deadline


def _expect(reader: ChannelReader, items: list[Item], alive: Callable[[], bool]) -> Counter[int]:
    """Check `items` arrive in order (a batch may come in row pieces); pieces seen per tag."""
    pieces: Counter[int] = Counter()
    for tag, want in items:
        offset = 0
        while True:
            item = reader.get(timeout=30, alive=alive)
            assert item is not None and item.tag == tag
            pieces[tag] += 1
            if isinstance(want, bytes):
                assert (item.batch, item.payload) == (None, want)
                break
            assert item.batch is not None
            assert item.batch.equals(want.slice(offset, item.batch.num_rows))
            offset += item.batch.num_rows
            if offset >= want.num_rows:
                break
    return pieces


# ---- tests --------------------------------------------------------------------------------


def test_batches_and_messages_arrive_in_order_and_intact(make_channel, start):
    channel = make_channel(slots=4, slot_bytes=64 << 10)
    producer = start(_produce_mixed, channel)

    pieces = _expect(channel.reader(), [*_mixed_items(), (END, b"end")], producer.is_alive)

    assert pieces[8] > 1 and pieces[38] > 1  # the 40K-row batch was split
    assert pieces[1] == pieces[3] == 1


def test_batches_are_read_from_the_shared_segment(make_channel, start):
    channel = make_channel(slots=4, slot_bytes=1 << 20)
    reader = channel.reader()
    producer = start(_produce_mixed, channel)
    ranges = _mapped_ranges(channel.segment_name)

    outside = []
    while (item := reader.get(timeout=30, alive=producer.is_alive)).tag != END:  # type: ignore[union-attr]
        for column in item.batch.columns if item.batch is not None else ():
            outside += [
                b.address
                for b in _buffers(column)
                if not any(lo <= b.address and b.address + b.size <= hi for lo, hi in ranges)
            ]

    assert ranges and outside == []


def test_a_full_queue_blocks_the_producer_and_loses_nothing(make_channel, start):
    batches = 120
    channel = make_channel(capacity_events=200_000, slots=4, slot_bytes=2 << 20)
    reader = channel.reader()
    growth_in, growth_out = CTX.Pipe(duplex=False)
    producer = start(_produce_repeated, channel, batches, growth_out)

    rows, fills = 0, []
    while (item := reader.get(timeout=30, alive=producer.is_alive)).batch is not None:  # type: ignore[union-attr]
        rows += item.batch.num_rows
        time.sleep(0.01)
        fills.append(channel.fill())

    assert rows == batches * 100_000
    assert channel.sent() == (batches, batches * 100_000)
    assert max(fills) == pytest.approx(1.0)
    assert channel.blocked_seconds() > 0.5
    assert growth_in.recv() < 48 << 20  # 1.6 GB went through an 8 MB queue


def test_put_raises_soon_after_the_consumer_is_killed(make_channel, start):
    channel = make_channel(capacity_events=1000, slots=2)
    ready_in, ready_out = CTX.Pipe(duplex=False)
    consumer = start(_attach_and_sleep, channel, ready_out)
    ready_in.recv()
    writer = channel.writer()
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.monotonic())
        os.kill(consumer.pid, signal.SIGKILL)

    threading.Timer(0.3, kill).start()
    in_time = _until(10)  # a broken liveness check fails the test, never hangs it
    with pytest.raises(EngineError, match="consumer"):
        while True:
            writer.put(_numbers(500), alive=lambda: consumer.is_alive() and in_time())

    assert time.monotonic() - killed_at[0] < 1.0


def test_get_raises_soon_after_the_producer_is_killed(make_channel, start):
    channel = make_channel()
    reader = channel.reader()
    producer = start(_put_one_and_sleep, channel)
    assert reader.get(timeout=30, alive=producer.is_alive) is not None
    os.kill(producer.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    with pytest.raises(EngineError, match="producer"):
        reader.get(timeout=10, alive=producer.is_alive)

    assert time.monotonic() - killed_at < 1.0


@pytest.mark.parametrize("kill_worker", [False, True], ids=["clean-run", "worker-killed"])
def test_a_run_leaves_nothing_in_dev_shm(start, kill_worker):
    names_in, names_out = CTX.Pipe(duplex=False)
    coordinator = start(_coordinate, kill_worker, names_out, daemon=False)  # it has a child
    created = names_in.recv()
    coordinator.join(30)

    assert coordinator.exitcode == 0
    assert any(n.startswith("vbq_leak_") for n in created)
    assert [n for n in created if (SHM / n).exists()] == []


def test_unlink_removes_the_segment_and_can_repeat():
    channel = Channel.create("gone", context=CTX)
    path = SHM / channel.segment_name
    existed = path.exists()

    channel.close()
    channel.unlink()
    channel.unlink()

    assert existed and not path.exists()


def test_a_batch_over_capacity_passes_when_the_queue_is_empty(make_channel):
    channel = make_channel(capacity_events=10)
    writer, reader = channel.writer(), channel.reader()

    writer.put(_numbers(100), tag=5)

    assert channel.fill() == 1.0
    item = reader.get(timeout=1)
    assert item is not None and item.tag == 5 and item.batch.equals(_numbers(100))


def test_a_message_passes_behind_a_batch_over_capacity(make_channel):
    channel = make_channel(capacity_events=10)
    writer, reader = channel.writer(), channel.reader()
    writer.put(_numbers(100), tag=5)

    writer.put_message(b"end", tag=END, alive=_until(5))  # need not wait for a release

    assert [(i.tag, i.payload) for i in (reader.get(timeout=1), reader.get(timeout=1)) if i] == [
        (5, None),
        (END, b"end"),
    ]


def test_get_returns_none_when_nothing_comes(make_channel):
    reader = make_channel().reader()

    started = time.monotonic()
    assert reader.get(timeout=0.05) is None
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"capacity_events": 0}, "at least 1"),
        ({"slots": 0}, "at least 1"),
        ({"slot_bytes": 100}, "slot_bytes must be at least"),
    ],
)
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        Channel.create("bad", context=CTX, **settings)


def test_a_fork_context_is_refused():
    with pytest.raises(ConfigError, match="forked"):
        Channel.create("bad", context=multiprocessing.get_context("fork"))


def test_what_cannot_fit_a_slot_is_a_config_error(make_channel):
    writer = make_channel(slot_bytes=4096).writer()
    wide_row = pa.record_batch({"s": ["x" * 10_000]})

    with pytest.raises(ConfigError, match="one row"):
        writer.put(wide_row)
    with pytest.raises(ConfigError, match="exceeds slot_bytes"):
        writer.put_message(b"x" * 5000)
