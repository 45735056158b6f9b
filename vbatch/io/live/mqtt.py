"""MQTT through paho-mqtt: a source subscribed to the program's topics, and a sink.

The source's client runs paho's network loop on a thread of its own, reconnects with
backoff when the broker goes away (a warning and the `reconnects` figure each time) and
hands messages to `MessageLines`. QoS 1 and 2 messages are acknowledged by hand, once the
run has processed the block they arrived in; with `clean_session: false` and a fixed
`client_id`, the broker keeps what arrives while the run is away.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from vbatch.errors import ConfigError
from vbatch.io.live.ingest import Ingest
from vbatch.io.live.messages import MessageLines, message_line
from vbatch.io.live.subscriptions import ClientSpec, SendFailures, Subscription

DEFAULT_PORT = 1883
MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 1, 30
CLOSE_SECONDS = 5.0
_PENDING, _ACKED = 0, 1
READ_BYTES = 1 << 16


class _BufferedClient(paho.Client):
    """paho's client, reading its socket 64 KiB at a time.

    paho reads each packet with several `recv` calls of a few bytes (the command byte, the
    length bytes one by one, then the rest) and waits on `select` between packets; at tens
    of thousands of messages a second those system calls are most of its time. This client
    hands paho the bytes from one large read, and goes on reading packets while bytes are
    left (`select` cannot see those).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_buffer = b""
        self._read_at = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_at >= len(self._read_buffer):
            data = super()._sock_recv(READ_BYTES)
            if not data:
                return data
            self._read_buffer, self._read_at = data, 0
        start = self._read_at
        self._read_at = min(start + bufsize, len(self._read_buffer))
        return self._read_buffer[start : self._read_at]

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._read_at < len(self._read_buffer):
            rc = super().loop_read(max_packets)
        return rc

    def reconnect(self) -> paho.MQTTErrorCode:
        self._read_buffer, self._read_at = b"", 0  # what the old connection left is gone
        return super().reconnect()


def _client(spec: ClientSpec, suffix: str, manual_ack: bool) -> paho.Client:
    client_id = spec.text("client_id") or f"vbatch-{spec.name}-{os.getpid()}"
    client = _BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id=f"{client_id}{suffix}",
        clean_session=spec.flag("clean_session", True),
        manual_ack=manual_ack,
    )
    username = spec.text("username")
    if username is not None:
        client.username_pw_set(username, spec.text("password"))
    if spec.flag("tls", False):
        client.tls_set()
    client.reconnect_delay_set(MIN_RETRY_SECONDS, MAX_RETRY_SECONDS)
    return client


def _address(spec: ClientSpec) -> tuple[str, int]:
    return spec.text("host") or "localhost", spec.number("port", DEFAULT_PORT)


class _Connection:
    """Connects in the background, reporting the first failure, losses and comebacks."""

    def __init__(self, spec: ClientSpec, client: paho.Client, role: str) -> None:
        self.spec, self.client, self.role = spec, client, role
        self.host, self.port = _address(spec)
        self.connected = threading.Event()
        self._warned = False
        self._ever = False
        self._closing = False
        client.on_connect_fail = self._failed
        client.on_disconnect = self._lost

    @property
    def label(self) -> str:
        return f"mqtt `{self.spec.name}` ({self.role}, {self.host}:{self.port})"

    def open(self) -> None:
        try:
            self.client.connect_async(self.host, self.port, self.spec.number("keep_alive", 60))
        except (OSError, ValueError) as err:
            raise ConfigError(f"{self.label}: {err}") from None
        self.client.loop_start()

    def on_connected(self) -> None:
        sock = self.client.socket()
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # acknowledgements and published rows leave at once, not after Nagle's delay
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ever:
            self.spec.figures.reconnects += 1
            self.spec.report(f"{self.label}: connected again")
        self._ever, self._warned = True, False
        self.connected.set()

    def _failed(self, client: paho.Client, userdata: object) -> None:
        if not self._warned:
            self._warned = True
            self.spec.report(f"warning: {self.label}: cannot connect; retrying")

    def _lost(self, client: paho.Client, userdata: object, flags: object, reason: object,
              properties: object) -> None:  # fmt: skip
        self.connected.clear()
        if not self._warned and self._ever and not self._closing:
            self._warned = True
            self.spec.report(f"warning: {self.label}: connection lost ({reason}); "
                             "reconnecting")  # fmt: skip

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()


class MqttSource:
    """Messages of every topic the program reads from one MQTT connector."""

    ends = False

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.name = f"mqtt `{spec.name}`"
        self.subscriptions = spec.subscriptions
        acked = any(s.qos > 0 for s in self.subscriptions)
        self.client = _client(spec, "", manual_ack=acked)
        self.connection = _Connection(spec, self.client, "source")
        self.lines = MessageLines(f"mqtt:{spec.name}", spec.figures, self._ack if acked else None)
        self._types: dict[str, str | None] = {}
        self._subscribed = False
        self._states: dict[int, int] = {}  # QoS 1 packet id -> _PENDING or _ACKED (65,535 at most)
        self._acks_lock = threading.Lock()
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.on_subscribe = self._granted

    def start(self, ingest: Ingest) -> None:
        self.lines.start(ingest)
        self.connection.open()

    def stop(self) -> None:
        self.connection.close()
        self.lines.stop()

    def _connected(self, client: paho.Client, userdata: object, flags: object, reason: object,
                   properties: object) -> None:  # fmt: skip
        if getattr(reason, "is_failure", False):
            self.spec.report(f"warning: {self.connection.label}: refused ({reason})")
            return
        client.subscribe([(s.topic, s.qos) for s in self.subscriptions])
        self.connection.on_connected()

    def _granted(self, client: paho.Client, userdata: object, mid: int, reasons: list[Any],
                 properties: Any) -> None:  # fmt: skip
        refused = [s.topic for s, r in zip(self.subscriptions, reasons, strict=False)
                   if getattr(r, "is_failure", False)]  # fmt: skip
        if refused:
            self.spec.report(f"warning: {self.connection.label}: the broker refused "
                             f"the subscription to {', '.join(refused)}")  # fmt: skip
        elif not self._subscribed:
            topics = ", ".join(s.topic for s in self.subscriptions)
            self.spec.report(f"{self.connection.label}: subscribed to {topics}")
        self._subscribed = True

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        if message.qos == 1 and self._redelivered(message):
            return
        payload = bytes(message.payload)
        figures = self.spec.figures
        figures.received += 1
        figures.received_bytes += len(payload)
        event_type = self._type_of(message.topic)
        token = (message.mid, message.qos) if message.qos > 0 else None
        self.lines.add(message_line(payload, event_type), token)

    def _redelivered(self, message: paho.MQTTMessage) -> bool:
        """True for a QoS 1 message this run already holds: the broker sends a message again
        (with the DUP flag and the same packet id) when the connection was lost before its
        acknowledgement arrived. A copy of a message still in the run's pipeline is dropped
        (its acknowledgement will follow); a copy of one acknowledged already is dropped and
        acknowledged again. So a broker restart repeats nothing."""
        with self._acks_lock:
            if not message.dup:
                self._states[message.mid] = _PENDING
                return False
            state = self._states.get(message.mid)
            if state is None:
                self._states[message.mid] = _PENDING
                return False
        self.spec.figures.redelivered += 1
        if state == _ACKED:
            self.client.ack(message.mid, 1)
        return True

    def _type_of(self, topic: str) -> str | None:
        """The event type of a topic's messages (the first subscription matching it)."""
        if len(self.subscriptions) == 1:
            return self.subscriptions[0].event_type
        if topic not in self._types:
            self._types[topic] = _first_match(self.subscriptions, topic)
        return self._types[topic]

    def _ack(self, tokens: list[object]) -> None:
        for token in tokens:
            assert isinstance(token, tuple)
            mid, qos = int(token[0]), int(token[1])
            with self._acks_lock:
                if qos == 1:
                    self._states[mid] = _ACKED
            self.client.ack(mid, qos)


def _first_match(subscriptions: tuple[Subscription, ...], topic: str) -> str | None:
    for subscription in subscriptions:
        if paho.topic_matches_sub(subscription.topic, topic):
            return subscription.event_type
    return None


class MqttSink:
    """Output rows published to MQTT topics, one JSON object per message."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.client = _client(spec, "-out", manual_ack=False)
        self.connection = _Connection(spec, self.client, "sink")
        self.client.on_connect = lambda *args: self.connection.on_connected()
        self._last: paho.MQTTMessageInfo | None = None
        self.failed = SendFailures(spec, self.connection.label)

    def start(self) -> None:
        self.connection.open()
        self.connection.connected.wait(CLOSE_SECONDS)  # the first rows should not be lost

    def publish(self, topic: str, qos: int, payloads: list[str]) -> None:
        """Send each payload; QoS 0 rows sent while the broker is away are counted lost."""
        figures = self.spec.figures
        for payload in payloads:
            info = self.client.publish(topic, payload, qos)
            if info.rc == paho.MQTT_ERR_SUCCESS or (qos > 0 and info.rc == paho.MQTT_ERR_NO_CONN):
                figures.sent += 1
                self._last = info
            else:
                self.failed(paho.error_string(info.rc))

    def close(self) -> None:
        """Wait (a few seconds at most) until what was published has left, then disconnect."""
        if self._last is not None and self.connection.connected.is_set():
            with contextlib.suppress(RuntimeError, ValueError):
                self._last.wait_for_publish(CLOSE_SECONDS)
        self.connection.close()
