"""Kafka through confluent-kafka (librdkafka): a source of the program's topics, and a sink.

The source's consumer runs on a thread of its own, taking up to `BATCH` messages a call
(librdkafka fetches and decodes them in C), and hands their payloads to `MessageLines` as
one block. Offsets are committed by hand, once the run has processed the block a message
arrived in, so a run that dies re-reads what it had not finished (at least once; with a
consumer group, `group_id:`, a restarted run resumes there). librdkafka reconnects by
itself; losing and finding the brokers again is reported once each way. The sink hands
each row to librdkafka's queue, which batches by `batch_size` / `linger_ms`.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

import confluent_kafka as ck

from vbatch.io.live.ingest import Ingest
from vbatch.io.live.messages import MessageLines, message_line
from vbatch.io.live.subscriptions import ClientSpec, SendFailures

BATCH = 10_000  # messages taken from librdkafka at a time
POLL_SECONDS = 0.05
CLOSE_SECONDS = 5.0
STATS_MS = 5_000  # how often librdkafka reports consumer lag
_SETTINGS = {  # connector parameter -> librdkafka setting
    "batch_size": "batch.size",
    "linger_ms": "linger.ms",
    "compression_type": "compression.type",
    "message_timeout_ms": "message.timeout.ms",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanisms",
    "username": "sasl.username",
    "password": "sasl.password",
}
_CONSUMER_ONLY = ("auto_offset_reset",)
_PRODUCER_ONLY = ("batch_size", "linger_ms", "compression_type", "message_timeout_ms")


def settings(spec: ClientSpec, role: str) -> dict[str, Any]:
    """The librdkafka configuration of one connector, for a `consumer` or a `producer`."""
    brokers = spec.params["brokers"]
    servers = ",".join(str(b) for b in brokers) if isinstance(brokers, list) else str(brokers)
    config: dict[str, Any] = {
        "bootstrap.servers": servers,
        "client.id": f"vbatch-{spec.name}",
        "log_level": 0,  # librdkafka's own log lines would go to stderr; errors come by error_cb
        "reconnect.backoff.ms": 200,
        "reconnect.backoff.max.ms": 10_000,
    }
    skipped = _PRODUCER_ONLY if role == "consumer" else _CONSUMER_ONLY
    for key, value in spec.params.items():
        if key in _SETTINGS and key not in skipped:
            config[_SETTINGS[key]] = value
    if spec.flag("tls", False) and "security.protocol" not in config:
        config["security.protocol"] = "sasl_ssl" if "sasl.username" in config else "ssl"
    if role == "consumer":
        config |= {
            "group.id": spec.text("group_id") or f"vbatch-{spec.name}",
            "enable.auto.commit": False,
            "auto.offset.reset": spec.text("auto_offset_reset") or "earliest",
            "statistics.interval.ms": STATS_MS,
        }
    return config


class _Health:
    """Reports the brokers lost (once) and found again, from librdkafka's callbacks."""

    def __init__(self, spec: ClientSpec, role: str) -> None:
        self.spec, self.role = spec, role
        self.down = False

    @property
    def label(self) -> str:
        return f"kafka `{self.spec.name}` ({self.role}, {self.spec.params['brokers']})"

    def error(self, err: ck.KafkaError) -> None:
        if err.code() in (ck.KafkaError._ALL_BROKERS_DOWN, ck.KafkaError._TRANSPORT):
            if not self.down:
                self.down = True
                self.spec.report(f"warning: {self.label}: {err.str()}; reconnecting")
        else:
            self.spec.report(f"warning: {self.label}: {err.str()}")

    def alive(self) -> None:
        if self.down:
            self.down = False
            self.spec.figures.reconnects += 1
            self.spec.report(f"{self.label}: connected again")


class KafkaSource:
    """Messages of every topic the program reads from one Kafka connector."""

    ends = False

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.name = f"kafka `{spec.name}`"
        self.health = _Health(spec, "source")
        config = settings(spec, "consumer")
        config |= {"error_cb": self.health.error, "stats_cb": self._stats}
        self.consumer = ck.Consumer(config)
        self.lines = MessageLines(f"kafka:{spec.name}", spec.figures, self._processed)
        self._types = {s.topic: s.event_type for s in spec.subscriptions}
        self._commits: collections.deque[dict[tuple[str, int], int]] = collections.deque()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._consume, name=self.name, daemon=True)

    def start(self, ingest: Ingest) -> None:
        self.lines.start(ingest)
        self.consumer.subscribe(list(self._types), on_assign=self._assigned)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(CLOSE_SECONDS)
        self.lines.stop()

    def _assigned(self, consumer: ck.Consumer, partitions: list[ck.TopicPartition]) -> None:
        if not getattr(self, "_subscribed", False):
            self._subscribed = True
            topics = ", ".join(sorted(self._types))
            self.spec.report(f"{self.health.label}: subscribed to {topics}")

    def _consume(self) -> None:
        try:
            while not self._stopped.is_set():
                self._commit()
                messages = self.consumer.consume(BATCH, POLL_SECONDS)
                if messages:
                    self._take(messages)
            self._commit()
        finally:
            self.consumer.close()

    def _take(self, messages: list[ck.Message]) -> None:
        figures, add = self.spec.figures, self.lines.add
        for message in messages:
            error = message.error()
            if error is not None:
                self.health.error(error)
                continue
            payload = message.value() or b""
            figures.received += 1
            figures.received_bytes += len(payload)
            token = (message.topic(), message.partition(), message.offset())
            add(message_line(payload, self._types.get(message.topic() or "")), token)
        self.health.alive()

    def _processed(self, tokens: list[object]) -> None:
        """Called by the run once a block is processed: commit past its messages (on the
        consumer's thread, at its next turn)."""
        offsets: dict[tuple[str, int], int] = {}
        for token in tokens:
            assert isinstance(token, tuple)
            key = (str(token[0]), int(token[1]))
            offsets[key] = max(offsets.get(key, -1), int(token[2]) + 1)
        self._commits.append(offsets)

    def _commit(self) -> None:
        offsets: dict[tuple[str, int], int] = {}
        while self._commits:
            for key, offset in self._commits.popleft().items():
                offsets[key] = max(offsets.get(key, -1), offset)
        if offsets:
            places = [ck.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            try:
                self.consumer.commit(offsets=places, asynchronous=True)
            except ck.KafkaException as err:  # a partition taken away by a rebalance
                self.spec.report(f"warning: {self.health.label}: commit: {err}")

    def _stats(self, text: str) -> None:
        """librdkafka's statistics: the consumer lag, summed over partitions."""
        stats = json.loads(text)
        lag = 0
        for topic in stats.get("topics", {}).values():
            for partition in topic.get("partitions", {}).values():
                lag += max(int(partition.get("consumer_lag", 0)), 0)
        self.spec.figures.lag = lag


class KafkaSink:
    """Output rows produced to Kafka topics, one JSON object per message."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.health = _Health(spec, "sink")
        self.producer = ck.Producer(settings(spec, "producer") | {"error_cb": self.health.error})
        self.failed = SendFailures(spec, self.health.label)

    def start(self) -> None:
        pass  # librdkafka connects on its own

    def publish(self, topic: str, qos: int, payloads: list[str]) -> None:
        """Queue each payload (waiting while librdkafka's queue is full)."""
        for payload in payloads:
            while True:
                try:
                    self.producer.produce(topic, payload.encode(), on_delivery=self._delivered)
                    break
                except BufferError:
                    self.producer.poll(POLL_SECONDS)  # the queue is full: let it drain
        self.producer.poll(0)

    def _delivered(self, err: ck.KafkaError | None, message: ck.Message) -> None:
        if err is None:
            self.spec.figures.sent += 1
            self.health.alive()
            return
        self.failed(err.str())

    def close(self) -> None:
        """Wait (a few seconds at most) until the queued rows are delivered."""
        left = self.producer.flush(CLOSE_SECONDS)
        if left:
            self.failed(f"{left} still queued when the run ended", rows=left)
