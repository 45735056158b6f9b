"""NATS through nats-py: a source subscribed to the program's subjects, and a sink.

nats-py is asyncio: each client runs its own event loop on a thread of its own. The
client reconnects by itself when the server goes away (a warning and the `reconnects`
figure each time); a server that is down when the run starts is retried with backoff.
With `jetstream: true` the source reads through a JetStream consumer (`durable:` names
it) and acknowledges each message once the run has processed the block it arrived in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from vbatch.io.live.ingest import Ingest
from vbatch.io.live.messages import MessageLines, message_line
from vbatch.io.live.subscriptions import ClientSpec, SendFailures

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # then every 5 s
CLOSE_SECONDS = 5.0
MAX_SENDS_IN_FLIGHT = 64  # batches of rows handed to the loop and not yet written


def _servers(spec: ClientSpec) -> list[str]:
    value = spec.params.get("servers", "nats://localhost:4222")
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class _Loop:
    """An asyncio loop on a thread of its own, with one connected client."""

    def __init__(self, spec: ClientSpec, role: str) -> None:
        self.spec, self.role = spec, role
        self.loop = asyncio.new_event_loop()
        self.client: Client | None = None
        self.connected = threading.Event()
        self.stopping = False
        self._thread = threading.Thread(
            target=self.loop.run_forever, name=f"vbatch-nats-{spec.name}-{role}", daemon=True
        )

    @property
    def label(self) -> str:
        return f"nats `{self.spec.name}` ({self.role}, {', '.join(_servers(self.spec))})"

    def start(self) -> None:
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def connect(self) -> Client:
        """Connect, retrying with backoff until the server answers or the run stops."""
        spec, attempt = self.spec, 0
        while True:
            try:
                client = await nats.connect(
                    servers=_servers(spec),
                    name=f"vbatch-{spec.name}-{self.role}",
                    user=spec.text("username"),
                    password=spec.text("password"),
                    token=spec.text("token"),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    error_cb=self._error,
                    disconnected_cb=self._lost,
                    reconnected_cb=self._back,
                )
            except Exception as err:  # noqa: BLE001 - nats-py raises many kinds; all mean retry
                if self.stopping:
                    raise
                if attempt == 0:
                    self.spec.report(f"warning: {self.label}: cannot connect "
                                     f"({type(err).__name__}: {err}); retrying")  # fmt: skip
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            if attempt:
                self.spec.figures.reconnects += 1
                self.spec.report(f"{self.label}: connected")
            self.client = client
            self.connected.set()
            return client

    async def _error(self, err: Exception) -> None:
        self.spec.report(f"warning: {self.label}: {type(err).__name__}: {err}")

    async def _lost(self) -> None:
        self.connected.clear()
        if not self.stopping:
            self.spec.report(f"warning: {self.label}: connection lost; reconnecting")

    async def _back(self) -> None:
        self.spec.figures.reconnects += 1
        self.connected.set()
        self.spec.report(f"{self.label}: connected again")

    def close(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `last` (if any), close the client, stop the loop (a few seconds at most)."""
        self.stopping = True
        if self._thread.is_alive():
            with contextlib.suppress(Exception):  # closing: nothing left to report
                self.call(self._close(last)).result(CLOSE_SECONDS)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CLOSE_SECONDS)

    async def _close(self, last: Coroutine[Any, Any, Any] | None) -> None:
        if last is not None:
            await last
        if self.client is not None and not self.client.is_closed:
            await self.client.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()


class NatsSource:
    """Messages of every subject the program reads from one NATS connector."""

    ends = False

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.name = f"nats `{spec.name}`"
        self.jetstream = spec.flag("jetstream", False)
        self.runner = _Loop(spec, "source")
        ack = self._ack if self.jetstream else None
        self.lines = MessageLines(f"nats:{spec.name}", spec.figures, ack)

    def start(self, ingest: Ingest) -> None:
        self.lines.start(ingest)
        self.runner.start()
        self.runner.call(self._subscribe())

    def stop(self) -> None:
        self.runner.close()
        self.lines.stop()

    async def _subscribe(self) -> None:
        client = await self.runner.connect()
        subjects = ", ".join(s.topic for s in self.spec.subscriptions)
        attempt = 0
        while not self.runner.stopping:
            try:
                await self._subscribe_all(client)
            except Exception as err:  # noqa: BLE001 - nats-py raises many kinds; all mean retry
                if attempt == 0:
                    self.spec.report(f"warning: {self.runner.label}: cannot subscribe "
                                     f"to {subjects} ({type(err).__name__}: {err}); retrying "
                                     f"every {RETRY_SECONDS[-1]:g} s")  # fmt: skip
                attempt += 1
                await asyncio.sleep(RETRY_SECONDS[-1])
                continue
            self.spec.report(f"{self.runner.label}: subscribed to {subjects}")
            return

    async def _subscribe_all(self, client: Client) -> None:
        """Every subscription, or none (those made before a failure are undone)."""
        queue = self.spec.text("queue_group") or ""
        made: list[Any] = []  # core and JetStream subscriptions
        try:
            for subscription in self.spec.subscriptions:
                handler = self._handler(subscription.event_type)
                if self.jetstream:
                    made.append(await client.jetstream().subscribe(
                        subscription.topic, queue=queue or None, durable=self.spec.text("durable"),
                        cb=handler, manual_ack=True,
                    ))  # fmt: skip
                else:
                    made.append(await client.subscribe(subscription.topic, queue=queue, cb=handler))
            await client.flush()  # the server has the subscriptions
        except BaseException:
            for made_one in made:
                with contextlib.suppress(Exception):
                    await made_one.unsubscribe()
            raise

    def _handler(self, event_type: str | None):  # noqa: ANN202 - an async callback
        figures, add, jetstream = self.spec.figures, self.lines.add, self.jetstream

        async def handle(message: Msg) -> None:
            data = message.data
            figures.received += 1
            figures.received_bytes += len(data)
            add(message_line(data, event_type), message if jetstream else None)

        return handle

    def _ack(self, tokens: list[object]) -> None:
        async def ack_all() -> None:
            for message in tokens:
                await message.ack()  # type: ignore[attr-defined]

        self.runner.call(ack_all())


class NatsSink:
    """Output rows published to NATS subjects, one JSON object per message."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.runner = _Loop(spec, "sink")
        self.label = self.runner.label
        self.failed = SendFailures(spec, self.label)
        self._sends: list[concurrent.futures.Future[None]] = []

    def start(self) -> None:
        self.runner.start()
        self.runner.call(self.runner.connect())
        self.runner.connected.wait(CLOSE_SECONDS)

    def publish(self, topic: str, qos: int, payloads: list[str]) -> None:
        """Hand the rows to the client's loop (waits while many batches are in flight)."""
        self._sends = [f for f in self._sends if not f.done()]
        if len(self._sends) >= MAX_SENDS_IN_FLIGHT:
            concurrent.futures.wait(self._sends[:1], CLOSE_SECONDS)
        self._sends.append(self.runner.call(self._send(topic, payloads)))

    async def _send(self, topic: str, payloads: list[str]) -> None:
        figures, client = self.spec.figures, self.runner.client
        if client is None or client.is_closed:
            self.failed("not connected", rows=len(payloads))
            return
        for payload in payloads:
            try:
                await client.publish(topic, payload.encode())
                figures.sent += 1
            except Exception as err:  # noqa: BLE001 - nats-py raises many kinds: all count
                self.failed(f"{type(err).__name__}: {err}")

    def close(self) -> None:
        """Wait until what was published has reached the server, then disconnect."""
        concurrent.futures.wait(self._sends, CLOSE_SECONDS)
        client = self.runner.client
        self.runner.close(client.flush(int(CLOSE_SECONDS)) if client is not None else None)
