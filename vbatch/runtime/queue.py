"""A bounded shared-memory queue carrying Arrow record batches from one process to another.

One `Channel` links one producer process to one consumer process. The coordinator creates
every channel before the workers start and hands it to them as an argument of
`multiprocessing.Process` (its semaphores can travel no other way); each side then opens
its end::

    ctx = multiprocessing.get_context("spawn")
    channel = Channel.create("in-ctx1", capacity_events=100_000, context=ctx)
    worker = ctx.Process(target=consume, args=(channel,))
    worker.start()
    writer = channel.writer()
    writer.put(batch, tag=7, alive=worker.is_alive)    # blocks while the queue is full
    writer.put_message(b"end", tag=1, alive=worker.is_alive)
    worker.join()
    channel.close()
    channel.unlink()                                    # coordinator only, idempotent

    def consume(channel):                               # in the worker
        reader = channel.reader()
        while (item := reader.get()).batch is not None:  # item.payload: control messages
            use(item.tag, item.batch)

API: `Channel.create(name, *, capacity_events, slots, slot_bytes, context)`, `writer()`,
`reader()`, `close()`, `unlink()`, and the figures `fill()`, `blocked_seconds()`, `sent()`
readable from the coordinator at any time; `ChannelWriter.put(batch, *, tag, alive)`,
`put_message(payload, *, tag, alive)`, `close()`; `ChannelReader.get(*, timeout, alive)`
returning an `Item` (`tag`, `batch` or `payload`) or None on timeout, `release()`, `close()`.

Capacity. It is counted in events (rows) put and not yet released by the consumer. The
tutorial's queue holds 1000 events, but vbatch moves 64K-row batches: at 1000 no batch would
ever fit. So `DEFAULT_CAPACITY` is 1_000_000 events, and one batch always fits when the queue
is empty, whatever its size: `capacity_events=1000` keeps the tutorial's meaning for live or
small data and still lets a 64K-row batch through, one at a time. Bytes are bounded too:
`slots` slots of `slot_bytes` each (8 x 8 MiB by default), allocated once; a full slot ring
blocks the producer like a full event count. A batch whose IPC form exceeds `slot_bytes` is
split by rows into pieces that fit, in order, each carrying the same tag.

Zero copy. A batch is written as an Arrow IPC stream (schema + batch) into a slot, and `get`
reads it back over the slot's memory without copying. The slot goes back to the producer at
the next `get` (or `release`, or the reader's `close`), after which the producer overwrites
it: a batch from `get` is valid only until then. Copy whatever must live longer (for instance
`pa.concat_arrays` / `take`, or `protocol.owned`). The mapping itself stays valid while any such
batch exists, so a stale batch shows overwritten values, never a crash.

Liveness. Every wait wakes at least every `POLL_SECONDS` and calls `alive()`; when it returns
False the wait raises `EngineError` (the peer died) instead of hanging.

Cleanup. `unlink()` in the coordinator removes the segment; workers only attach. Spawned and
forkserver children share the coordinator's resource tracker, so the registration a child
makes when attaching is a no-op that must not be undone (unregistering there would drop the
coordinator's entry). If the coordinator dies, that tracker removes the segment.
"""

from __future__ import annotations

import ctypes
import re
import secrets
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from multiprocessing import shared_memory
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Lock, Semaphore
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from vbatch.errors import ConfigError, EngineError

DEFAULT_CAPACITY = 1_000_000
MIN_SLOT_BYTES = 4096
POLL_SECONDS = 0.1
SEGMENT_PREFIX = "vbq_"
_PAGE = 4096

Alive = Callable[[], bool]


def _always() -> bool:
    return True


class _Word(IntEnum):
    """Int64 control words at the start of the segment, one cache line per writer."""

    HEAD = 0  # producer: items written so far
    BATCHES_SENT = 1
    EVENTS_SENT = 2
    BLOCKED_NS = 3
    TAIL = 8  # consumer: items taken so far
    IN_FLIGHT = 16  # under the lock: events put and not yet released
    PRODUCER_WAITING = 17  # under the lock: the producer waits on `space`
    TABLE = 24  # then one row of _Field words per slot


class _Field(IntEnum):
    """Columns of the slot table: what the producer left in each slot."""

    LENGTH = 0
    TAG = 1
    KIND = 2
    EVENTS = 3


class _Kind(IntEnum):
    BATCH = 1
    MESSAGE = 2


@dataclass(frozen=True, slots=True)
class Item:
    """One thing taken from a channel: a batch or a control message payload, with its tag."""

    tag: int
    batch: pa.RecordBatch | None
    payload: bytes | None


@dataclass(frozen=True)
class _Layout:
    """Where the header and each slot sit in the segment."""

    slots: int
    slot_bytes: int

    @property
    def header_bytes(self) -> int:
        return _round_up((_Word.TABLE + self.slots * len(_Field)) * 8, _PAGE)

    @property
    def total_bytes(self) -> int:
        return self.slot_offset(self.slots)

    def slot_offset(self, slot: int) -> int:
        return self.header_bytes + slot * _round_up(self.slot_bytes, _PAGE)


class _Segment:
    """This process's mapping of a channel's segment; unmapped when nothing refers to it."""

    def __init__(self, shm: shared_memory.SharedMemory, layout: _Layout) -> None:
        self.layout = layout
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(cast(memoryview, shm.buf)))
        header = (ctypes.c_int64 * (layout.header_bytes // 8)).from_address(self.address)
        self.words = np.ctypeslib.as_array(header)
        table = self.words[_Word.TABLE : _Word.TABLE + layout.slots * len(_Field)]
        self.table = table.reshape(layout.slots, len(_Field))
        # Batches read zero-copy hold this object as their base: unmap only after the last.
        weakref.finalize(self, shm.close).atexit = False

    def slot_sink(self, slot: int) -> pa.Buffer:
        """A writable buffer over a slot (the holder must keep this segment alive)."""
        start = self.address + self.layout.slot_offset(slot)
        return pa.py_buffer((ctypes.c_char * self.layout.slot_bytes).from_address(start))

    def slot_view(self, slot: int, length: int) -> pa.Buffer:
        """The first `length` bytes of a slot, read-only, keeping this mapping alive."""
        start = self.address + self.layout.slot_offset(slot)
        return pa.foreign_buffer(start, length, base=self)


@dataclass(frozen=True)
class _Sync:
    """A channel's cross-process primitives, created in the coordinator."""

    free: Semaphore  # slots the producer may fill
    ready: Semaphore  # slots the consumer may read
    space: Semaphore  # posted on release when the producer waits for event capacity
    lock: Lock  # guards IN_FLIGHT and PRODUCER_WAITING

    @classmethod
    def create(cls, context: BaseContext, slots: int) -> _Sync:
        semaphore = context.Semaphore
        return cls(semaphore(slots), semaphore(0), semaphore(0), context.Lock())


class Channel:
    """Created in the coordinator; picklable into a spawned process as a Process argument."""

    def __init__(
        self,
        name: str,
        layout: _Layout,
        capacity_events: int,
        sync: _Sync,
        shm: shared_memory.SharedMemory,
    ) -> None:
        self.name = name
        self.segment_name = shm.name
        self.capacity_events = capacity_events
        self._layout = layout
        self._sync = sync
        self._created: shared_memory.SharedMemory | None = shm
        self._segment: _Segment | None = _Segment(shm, layout)

    @classmethod
    def create(
        cls,
        name: str,
        *,
        capacity_events: int = DEFAULT_CAPACITY,
        slots: int = 8,
        slot_bytes: int = 8 << 20,
        context: BaseContext,
    ) -> Channel:
        """Create the segment and semaphores, in the coordinator before the workers start.

        Example: `Channel.create("in-ctx1", context=multiprocessing.get_context("spawn"))`
        """
        _check_settings(name, capacity_events, slots, slot_bytes, context)
        layout = _Layout(slots, slot_bytes)
        shm = shared_memory.SharedMemory(_segment_name(name), create=True, size=layout.total_bytes)
        return cls(name, layout, capacity_events, _Sync.create(context, slots), shm)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_created": None, "_segment": None}

    def writer(self) -> ChannelWriter:
        """The producer's end; call it in the producer process."""
        return ChannelWriter(self.name, self._mapped(), self._sync, self.capacity_events)

    def reader(self) -> ChannelReader:
        """The consumer's end; call it in the consumer process."""
        return ChannelReader(self.name, self._mapped(), self._sync)

    def close(self) -> None:
        """Release this process's handle (the mapping lives on while ends or batches use it)."""
        self._segment = None

    def unlink(self) -> None:
        """Remove the segment from the system (coordinator only; idempotent)."""
        shm, self._created = self._created, None
        if shm is not None:
            shm.unlink()

    def fill(self) -> float:
        """Events in flight over capacity_events, 0..1 (a batch over capacity shows as 1)."""
        return min(1.0, int(self._mapped().words[_Word.IN_FLIGHT]) / self.capacity_events)

    def blocked_seconds(self) -> float:
        """Total time the producer spent blocked on a full queue."""
        return int(self._mapped().words[_Word.BLOCKED_NS]) / 1e9

    def sent(self) -> tuple[int, int]:
        """(batches, events) put so far; a split batch counts each piece."""
        words = self._mapped().words
        return int(words[_Word.BATCHES_SENT]), int(words[_Word.EVENTS_SENT])

    def _mapped(self) -> _Segment:
        if self._segment is None:
            self._segment = _attach(self.name, self.segment_name, self._layout)
        return self._segment


class ChannelWriter:
    """The producer's end of a channel, for one process."""

    def __init__(self, name: str, segment: _Segment, sync: _Sync, capacity: int) -> None:
        self._name = name
        self._segment = segment
        self._sync = sync
        self._capacity = capacity
        self._sinks = [segment.slot_sink(slot) for slot in range(segment.layout.slots)]
        self._closed = False

    def put(self, batch: pa.RecordBatch, *, tag: int = 0, alive: Alive = _always) -> None:
        """Send `batch`, split by rows if a slot is too small; block while the queue is full.

        Example: `writer.put(batch, tag=3, alive=consumer.is_alive)`
        """
        for piece in self._pieces(batch):
            slot = self._claim(piece.num_rows, alive)
            length = _write_batch(self._sinks[slot], piece)
            self._publish(slot, length, tag, _Kind.BATCH, piece.num_rows)

    def put_message(self, payload: bytes, *, tag: int = 0, alive: Alive = _always) -> None:
        """Send a small control message, ordered with the batches (end of input, a marker)."""
        limit = self._segment.layout.slot_bytes
        if len(payload) > limit:
            msg = f"queue `{self._name}`: a {len(payload)}-byte message exceeds slot_bytes={limit}"
            raise ConfigError(msg, hint="send a smaller message or create a larger slot_bytes")
        slot = self._claim(0, alive)
        pa.FixedSizeBufferWriter(self._sinks[slot]).write(payload)
        self._publish(slot, len(payload), tag, _Kind.MESSAGE, 0)

    def close(self) -> None:
        """Release this end's handles (put no more)."""
        self._sinks = []
        self._closed = True

    def _pieces(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        """`batch`, or consecutive row slices of it whose IPC form fits a slot."""
        size, limit = _ipc_size(batch), self._segment.layout.slot_bytes
        if size <= limit:
            yield batch
            return
        if batch.num_rows <= 1:
            msg = f"queue `{self._name}`: one row takes {size} bytes, over slot_bytes={limit}"
            raise ConfigError(msg, hint="create the channel with a larger slot_bytes")
        step = -(-batch.num_rows // -(-size // limit))
        for start in range(0, batch.num_rows, step):
            yield from self._pieces(batch.slice(start, step))

    def _claim(self, events: int, alive: Alive) -> int:
        """Wait for a free slot and room for `events`; return the slot to fill."""
        if self._closed:
            raise EngineError(f"queue `{self._name}`: put after close()")
        blocked = _wait(self._sync.free, alive, self._name, "consumer") or 0.0
        while not self._reserve(events, alive):
            blocked += _wait(self._sync.space, alive, self._name, "consumer") or 0.0
        words = self._segment.words
        words[_Word.BLOCKED_NS] += int(blocked * 1e9)
        return int(words[_Word.HEAD]) % self._segment.layout.slots

    def _reserve(self, events: int, alive: Alive) -> bool:
        """Count `events` in flight if they fit (always when none, or the queue is empty)."""
        words = self._segment.words
        with _locked(self._sync.lock, alive, self._name, "consumer"):
            in_flight = int(words[_Word.IN_FLIGHT])
            if events == 0 or in_flight == 0 or in_flight + events <= self._capacity:
                words[_Word.IN_FLIGHT] = in_flight + events
                return True
            words[_Word.PRODUCER_WAITING] = 1
            return False

    def _publish(self, slot: int, length: int, tag: int, kind: _Kind, events: int) -> None:
        self._segment.table[slot] = (length, tag, kind, events)
        words = self._segment.words
        words[_Word.HEAD] += 1
        words[_Word.BATCHES_SENT] += kind is _Kind.BATCH
        words[_Word.EVENTS_SENT] += events
        self._sync.ready.release()


class ChannelReader:
    """The consumer's end of a channel, for one process.

    A batch returned by `get` lives in a shared-memory slot that goes back to the producer at
    the next `get`, `release` or `close`: do not keep references into it past that point.
    """

    def __init__(self, name: str, segment: _Segment, sync: _Sync) -> None:
        self._name = name
        self._segment: _Segment | None = segment
        self._sync = sync
        self._held: int | None = None  # events of the item handed out last, until released

    def get(self, *, timeout: float | None = None, alive: Alive = _always) -> Item | None:
        """Release the previous item, then wait for the next one (None after `timeout` s).

        Example: `item = reader.get(timeout=1.0, alive=producer.is_alive)`
        """
        segment = self._open()
        self.release(alive=alive)
        if _wait(self._sync.ready, alive, self._name, "producer", timeout) is None:
            return None
        tail = int(segment.words[_Word.TAIL])
        slot = tail % segment.layout.slots
        length, tag, kind, events = (int(v) for v in segment.table[slot])
        segment.words[_Word.TAIL] = tail + 1
        self._held = events
        view = segment.slot_view(slot, length)
        if kind == _Kind.MESSAGE:
            return Item(tag, None, view.to_pybytes())
        return Item(tag, ipc.open_stream(view).read_next_batch(), None)

    def release(self, *, alive: Alive = _always) -> None:
        """Give the last item's slot back to the producer; its batch must no longer be used."""
        if self._held is None:
            return
        events, self._held = self._held, None
        words = self._open().words
        with _locked(self._sync.lock, alive, self._name, "producer"):
            words[_Word.IN_FLIGHT] -= events
            wake = bool(words[_Word.PRODUCER_WAITING])
            words[_Word.PRODUCER_WAITING] = 0
        if wake:
            self._sync.space.release()
        self._sync.free.release()

    def close(self) -> None:
        """Release the last item and this end's handles."""
        if self._segment is not None:
            self.release()
            self._segment = None

    def _open(self) -> _Segment:
        if self._segment is None:
            raise EngineError(f"queue `{self._name}`: get() after close()")
        return self._segment


def _wait(
    primitive: Semaphore | Lock, alive: Alive, name: str, peer: str, timeout: float | None = None
) -> float | None:
    """Acquire `primitive`; the seconds spent blocked, or None once `timeout` has passed.

    Wakes every POLL_SECONDS to call `alive()`, so a dead peer raises instead of hanging.
    """
    if primitive.acquire(False):
        return 0.0
    start = time.monotonic()
    while True:
        waited = time.monotonic() - start
        step = POLL_SECONDS if timeout is None else min(POLL_SECONDS, timeout - waited)
        if step <= 0:
            return None
        if primitive.acquire(True, step):
            return time.monotonic() - start
        if not alive():
            msg = f"queue `{name}`: the {peer} is gone"
            raise EngineError(msg, hint=f"the {peer} process died or stopped; see its exit code")


@contextmanager
def _locked(lock: Lock, alive: Alive, name: str, peer: str) -> Iterator[None]:
    _wait(lock, alive, name, peer)
    try:
        yield
    finally:
        lock.release()


def _attach(name: str, segment_name: str, layout: _Layout) -> _Segment:
    """Map an existing segment; the tracker registration this makes is shared, so kept."""
    try:
        return _Segment(shared_memory.SharedMemory(segment_name), layout)
    except FileNotFoundError as err:
        msg = f"queue `{name}`: its segment {segment_name} is gone (already unlinked?)"
        raise EngineError(msg) from err


def _ipc_size(batch: pa.RecordBatch) -> int:
    """Bytes `_write_batch` will write for `batch`, dictionaries included."""
    sink = pa.MockOutputStream()
    with ipc.new_stream(sink, batch.schema) as stream:
        stream.write_batch(batch)
    return int(sink.size())


def _write_batch(sink: pa.Buffer, batch: pa.RecordBatch) -> int:
    """Write `batch` as a one-batch IPC stream at the start of `sink`; the bytes written."""
    out = pa.FixedSizeBufferWriter(sink)
    with ipc.new_stream(out, batch.schema) as stream:
        stream.write_batch(batch)
    return int(out.tell())


def _check_settings(
    name: str, capacity_events: int, slots: int, slot_bytes: int, context: BaseContext
) -> None:
    if capacity_events < 1 or slots < 1:
        msg = f"queue `{name}`: capacity_events and slots must be at least 1"
        raise ConfigError(f"{msg}, got {capacity_events} and {slots}")
    if slot_bytes < MIN_SLOT_BYTES:
        msg = f"queue `{name}`: slot_bytes must be at least {MIN_SLOT_BYTES}, got {slot_bytes}"
        raise ConfigError(msg)
    if context.get_start_method() == "fork":
        msg = f"queue `{name}`: worker processes must not be forked"
        raise ConfigError(msg, hint='use multiprocessing.get_context("spawn") or "forkserver"')


def _segment_name(name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9]+", "_", name)[:16]
    return f"{SEGMENT_PREFIX}{label}_{secrets.token_hex(4)}"


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit
