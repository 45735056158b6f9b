"""The program's connectors in a live run: which clients to open, and rows to send.

`.from(C, topic: ...)` subscriptions become one live source per connector; `.to(C,
topic: ...)` makes a sink that publishes the stream's output rows, one JSON object
(`{"event_type": stream, ...}`) per message, after they are written to the run's output.
MQTT, NATS and Kafka are opened; other kinds are checked by the language but not opened yet
(`unopened` names them, so the run can say so). The deprecated `config mqtt { ... }` block
reads its `input_topic` (each message typed by its payload) and publishes the rows of every
stream with an `.emit(...)` to its `output_topic`, as Varpulis did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import pyarrow as pa

from vbatch.app.sinks import machine_columns
from vbatch.errors import ConfigError
from vbatch.figures import ConnectorFigures
from vbatch.io.json_text import object_text, output_columns
from vbatch.io.live import LiveSource
from vbatch.io.live.subscriptions import ClientSpec, Publication, Subscription
from vbatch.kernels.protocol import EmitKind
from vbatch.lang import ast
from vbatch.lang.connectors import Binding, Connector, EnvValue
from vbatch.lang.program import Program, SourceKind, Stream
from vbatch.runtime.pipeline import Emitted

OPENED_KINDS = ("mqtt", "nats", "kafka")
_EXTRA_HINT = 'install the client with `pip install "vbatch[connectors]"`'


class ConnectorSink(Protocol):
    """Where `.to(...)` rows go."""

    def start(self) -> None: ...
    def publish(self, topic: str, qos: int, payloads: list[str]) -> None: ...
    def close(self) -> None: ...


@dataclass
class Connectors:
    """Every connector a live run opens: sources for the ingest, sinks for the rows."""

    sources: list[LiveSource] = field(default_factory=list)
    sinks: dict[str, ConnectorSink] = field(default_factory=dict)
    routes: dict[str, list[tuple[str, Publication]]] = field(default_factory=dict)
    figures: list[ConnectorFigures] = field(default_factory=list)
    unopened: tuple[str, ...] = ()
    command: str = "vbatch run"  # names the command in what the connectors report

    def start_sinks(self) -> None:
        for sink in self.sinks.values():
            sink.start()

    def send(self, emitted: list[Emitted]) -> None:
        """Publish the output rows of the streams that have a `.to(...)`."""
        for item in emitted:
            routes = self.routes.get(item.stream)
            if not routes or item.kind is not EmitKind.OUTPUT or not item.batch.num_rows:
                continue
            payloads = row_messages(item.stream, item.batch)
            for connector, publication in routes:
                self.sinks[connector].publish(publication.topic, publication.qos, payloads)

    def close_sinks(self) -> None:
        for sink in self.sinks.values():
            sink.close()

    def notices(self) -> list[str]:
        """A warning for each connector the program uses that is not opened."""
        return [
            f"{self.command}: warning: connector `{name}` is not opened by vbatch yet (only mqtt, "
            "nats and kafka are): its `.from(...)` reads nothing and its `.to(...)` sends "
            "nothing"
            for name in self.unopened
        ]

    def chunk(self, chunk: object, emitted: list[Emitted]) -> None:
        """A replay's sink (`vbatch simulate --sinks`): publish what each chunk emitted."""
        self.send(emitted)


def row_messages(stream: str, batch: pa.RecordBatch) -> list[str]:
    """One JSON object per output row, typed by its stream: `{"event_type": "S", ...}`."""
    columns = output_columns(machine_columns(batch))
    kind = pa.repeat(pa.scalar(stream), batch.num_rows)
    return object_text([("event_type", kind), *columns], batch.num_rows, tail="}").to_pylist()


def reads_brokers(program: Program) -> bool:
    """True when some stream reads a connector a live run opens (then standard input is
    not read unless `--stdin` asks)."""
    kinds = {c.name: c.kind for c in program.connectors}
    legacy = any(c.param("input_topic") is not None for c in program.connectors)
    bound = any(kinds[b.connector] in OPENED_KINDS for s in program.streams for b in s.sources)
    return legacy or bound


def open_connectors(
    program: Program,
    report: Callable[[str], None],
    *,
    command: str = "vbatch run",
    sources: bool = True,
) -> Connectors:
    """The clients of every connector the program reads (unless not `sources`) or writes
    (not connected yet); what they report reaches `report` after the command's name."""
    declared = {c.name: c for c in program.connectors}
    reads: dict[str, list[Subscription]] = {}
    writes: dict[str, list[Publication]] = {}
    for stream in program.streams:
        for binding in stream.sources if sources else ():
            subscription = _subscription(stream, binding, declared[binding.connector])
            reads.setdefault(binding.connector, []).append(subscription)
        for binding in stream.sinks:
            publication = _publication(stream, binding, declared[binding.connector])
            writes.setdefault(binding.connector, []).append(publication)
    for connector in program.connectors:  # the deprecated `config mqtt { ... }` block
        input_topic, output_topic = connector.param("input_topic"), connector.param("output_topic")
        if input_topic is not None and sources:
            subscription = Subscription(str(input_topic), None, _qos(None, connector))
            reads.setdefault(connector.name, []).append(subscription)
        if output_topic is not None:
            publications = [
                Publication(stream.name, str(output_topic), _qos(None, connector))
                for stream in program.streams
                if any(isinstance(op, ast.EmitOp) for op in stream.operations)
            ]
            writes.setdefault(connector.name, []).extend(publications)
    opened = Connectors(command=command)
    unopened = []
    report_as = partial(_reported, report, command)
    for name in sorted(set(reads) | set(writes)):
        connector = declared[name]
        if connector.kind not in OPENED_KINDS:
            unopened.append(name)
            continue
        figures = ConnectorFigures(name, connector.kind)
        opened.figures.append(figures)
        spec = ClientSpec(
            name,
            connector.kind,
            resolved(connector),
            tuple(reads.get(name, ())),
            tuple(writes.get(name, ())),
            figures,
            report_as,
        )
        source_type, sink_type = _clients(connector.kind)
        if spec.subscriptions:
            opened.sources.append(source_type(spec))
        if spec.publications:
            opened.sinks[name] = sink_type(spec)
            for publication in spec.publications:
                opened.routes.setdefault(publication.stream, []).append((name, publication))
    opened.unopened = tuple(unopened)
    return opened


def resolved(connector: Connector) -> dict[str, object]:
    """The connector's parameters, `env("NAME")` values read from the environment now."""
    params: dict[str, object] = {}
    for key, value in connector.params:
        if isinstance(value, EnvValue):
            if value.variable not in os.environ:
                msg = (f"connector `{connector.name}`: environment variable "
                       f"`{value.variable}` is not set (for `{key}:`)")  # fmt: skip
                raise ConfigError(msg, hint=f"export {value.variable}=... before `vbatch run`")
            value = os.environ[value.variable]
        params[key] = value
    return params


def _qos(binding: Binding | None, connector: Connector) -> int:
    params = dict(binding.params) if binding is not None else {}
    value = params.get("qos", connector.param("qos") or 0)
    if not isinstance(value, int) or value not in (0, 1, 2):
        raise ConfigError(f"`qos` of `{connector.name}` is 0, 1 or 2, got {value!r}")
    return value


def _subscription(stream: Stream, binding: Binding, connector: Connector) -> Subscription:
    events = [i.name for i in stream.inputs if i.kind is SourceKind.EVENT]
    event_type = events[0] if len(events) == 1 else None
    return Subscription(binding.topic or "#", event_type, _qos(binding, connector))


def _publication(stream: Stream, binding: Binding, connector: Connector) -> Publication:
    topic = binding.topic or stream.name
    return Publication(stream.name, topic, _qos(binding, connector))


def _clients(
    kind: str,
) -> tuple[Callable[[ClientSpec], LiveSource], Callable[[ClientSpec], ConnectorSink]]:
    try:
        if kind == "mqtt":
            from vbatch.io.live.mqtt import MqttSink, MqttSource

            return MqttSource, MqttSink
        if kind == "kafka":
            from vbatch.io.live.kafka import KafkaSink, KafkaSource

            return KafkaSource, KafkaSink
        from vbatch.io.live.nats import NatsSink, NatsSource

        return NatsSource, NatsSink
    except ImportError as err:
        msg = f"a `{kind}` connector needs the `{err.name}` package, which is not installed"
        raise ConfigError(msg, hint=_EXTRA_HINT) from None


def _reported(report: Callable[[str], None], command: str, message: str) -> None:
    report(f"{command}: {message}")
