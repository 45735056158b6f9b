"""Connector declarations: which kinds exist, what each accepts, and the checks on
`connector`, `config`, `.from` and `.to`. Language facts only; the clients live in `io/`."""

from __future__ import annotations

from dataclasses import dataclass, field

from vbatch.errors import CheckError, CheckWarning, Span, suggest
from vbatch.lang import ast
from vbatch.lang.constants import fold


@dataclass(frozen=True)
class EnvValue:
    """`env("NAME")`: a value read from the environment when the connector opens (never
    printed: explain and errors show the variable's name)."""

    variable: str

    def __str__(self) -> str:
        return f'env("{self.variable}")'


@dataclass(frozen=True)
class ConnectorKind:
    """What one kind of connector accepts."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    source: bool  # `.from(...)` may read it
    sink: bool  # `.to(...)` may write it
    topics: bool  # `.from` needs a topic (an MQTT topic, a NATS subject, a Kafka topic)

    @property
    def params(self) -> tuple[str, ...]:
        return self.required + self.optional


_AUTH = ("username", "password", "tls")
KINDS: dict[str, ConnectorKind] = {
    k.name: k
    for k in (
        ConnectorKind(
            "mqtt",
            ("host",),
            ("port", "client_id", "qos", "keep_alive", "clean_session", "topic", *_AUTH),
            source=True,
            sink=True,
            topics=True,
        ),
        ConnectorKind(
            "nats",
            ("servers",),
            ("queue_group", "topic", "subject", "token", "jetstream", "durable", *_AUTH),
            source=True,
            sink=True,
            topics=True,
        ),
        ConnectorKind(
            "kafka",
            ("brokers",),
            (
                "group_id",
                "topic",
                "batch_size",
                "linger_ms",
                "compression_type",
                "message_timeout_ms",
                "auto_offset_reset",
                "security_protocol",
                "sasl_mechanism",
                *_AUTH,
            ),
            source=True,
            sink=True,
            topics=True,
        ),  # fmt: skip
        ConnectorKind(
            "http",
            ("url",),
            ("method", "headers", "timeout"),
            source=False,
            sink=True,
            topics=False,
        ),
        ConnectorKind("websocket", ("url",), ("headers",), source=True, sink=True, topics=False),
        ConnectorKind("redis", ("url",), ("key", *_AUTH), source=False, sink=False, topics=False),
        ConnectorKind(
            "database", ("url",), ("query", "table", *_AUTH), source=False, sink=False, topics=False
        ),
    )
}

# `config mqtt { broker: ... }`: the deprecated block's names for connector parameters.
_CONFIG_NAMES = {"broker": "host"}
_CONFIG_TOPICS = ("input_topic", "output_topic")
BINDING_PARAMS = ("topic", "qos", "key")  # what `.from` and `.to` accept besides the name


@dataclass(frozen=True)
class Connector:
    """A declared connector: its kind and checked parameters."""

    name: str
    kind: str
    params: tuple[tuple[str, object], ...]
    span: Span = field(default=ast.NO_SPAN, compare=False)

    def param(self, name: str) -> object:
        return dict(self.params).get(name)


@dataclass(frozen=True)
class Binding:
    """A stream's `.from(...)` or `.to(...)`: the connector and its topic."""

    connector: str
    params: tuple[tuple[str, object], ...]
    span: Span = field(default=ast.NO_SPAN, compare=False)

    @property
    def topic(self) -> str | None:
        value = dict(self.params).get("topic")
        return value if isinstance(value, str) else None


def check_connector(decl: ast.ConnectorDecl, constants: dict[str, object]) -> Connector:
    """A `connector Name = kind(...)` declaration, checked."""
    kind = KINDS.get(decl.kind)
    if kind is None:
        msg = f"unknown connector kind `{decl.kind}`"
        hint = suggest(decl.kind, KINDS) or f"the kinds are {', '.join(KINDS)}"
        raise CheckError(msg, decl.kind_span, hint=hint)
    params = _params(decl.params, kind.params, f"a `{kind.name}` connector", constants)
    for name in kind.required:
        if name not in params:
            msg = f"a `{kind.name}` connector needs `{name}:`"
            raise CheckError(msg, decl.span, hint=f"e.g. `{_example(kind.name)}`")
    return Connector(decl.name, kind.name, tuple(params.items()), decl.span)


def check_config(decl: ast.ConfigDecl, constants: dict[str, object]) -> Connector:
    """The deprecated `config mqtt { ... }` block, as the connector it stands for."""
    kind = KINDS.get(decl.name)
    if kind is None or not kind.topics:
        msg = f"unknown `config` block `{decl.name}`"
        raise CheckError(msg, decl.span, hint="declare a `connector Name = kind(...)` instead")
    allowed = (*kind.params, *_CONFIG_NAMES, *_CONFIG_TOPICS)
    raw = _params(decl.items, allowed, f"a `config {decl.name}` block", constants)
    params = {_CONFIG_NAMES.get(k, k): v for k, v in raw.items()}
    return Connector(decl.name, kind.name, tuple(params.items()), decl.span)


def config_warning(decl: ast.ConfigDecl) -> CheckWarning:
    msg = f"`config {decl.name} {{ ... }}` is deprecated"
    hint = f"declare `connector Name = {decl.name}(...)` and read it with `.from(Name, topic: ...)`"
    return CheckWarning(msg, decl.span, hint=hint)


def check_binding(
    op: ast.FromOp | ast.ToOp,
    connectors: dict[str, Connector],
    constants: dict[str, object],
) -> Binding:
    """`.from(C, topic: ...)` or `.to(C, topic: ...)`, against the declared connectors."""
    what = "from" if isinstance(op, ast.FromOp) else "to"
    connector = connectors.get(op.connector)
    if connector is None:
        msg = f"unknown connector `{op.connector}` in `.{what}`"
        hint = suggest(op.connector, connectors) or (
            f"declare it, e.g. `connector {op.connector} = {_example('mqtt')}`"
        )
        raise CheckError(msg, op.span, hint=hint)
    kind = KINDS[connector.kind]
    if what == "from" and not kind.source:
        raise CheckError(f"a `{kind.name}` connector cannot be read with `.from`", op.span)
    if what == "to" and not kind.sink:
        raise CheckError(f"a `{kind.name}` connector cannot be written with `.to`", op.span)
    params = _params(op.params, BINDING_PARAMS, f"`.{what}`", constants)
    if "topic" in params and not isinstance(params["topic"], str):
        raise CheckError("`topic` takes a string", _item(op.params, "topic").value.span)
    declared = connector.param("topic") or connector.param(
        f"{'input' if what == 'from' else 'output'}_topic"
    )
    if what == "from" and kind.topics and "topic" not in params and declared is None:
        msg = f"`.from({op.connector})` needs a topic"
        hint = {"nats": 'e.g. `topic: "sensors.>"` (a NATS subject)'}.get(
            kind.name, 'e.g. `topic: "sensors/#"`'
        )
        raise CheckError(msg, op.span, hint=hint)
    if "topic" not in params and declared is not None:
        params["topic"] = declared
    return Binding(op.connector, tuple(params.items()), op.span)


def _params(
    items: tuple[ast.Item, ...],
    allowed: tuple[str, ...],
    where: str,
    constants: dict[str, object],
) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        if item.name in params:
            raise CheckError(f"`{item.name}` is given twice in {where}", item.span)
        if item.name not in allowed:
            msg = f"unknown parameter `{item.name}` for {where}"
            hint = suggest(item.name, allowed) or f"it takes {', '.join(allowed)}"
            raise CheckError(msg, item.span, hint=hint)
        params[item.name] = _value(item.value, constants)
    return params


def _value(expr: ast.Expr, constants: dict[str, object]) -> object:
    if isinstance(expr, ast.Call) and expr.func == "env":
        if (
            len(expr.args) != 1
            or not isinstance(expr.args[0], ast.Literal)
            or not isinstance(expr.args[0].value, str)
        ):
            raise CheckError(
                '`env` takes the name of a variable, e.g. `env("MQTT_PASSWORD")`', expr.span
            )
        return EnvValue(expr.args[0].value)
    value = fold(expr, constants)
    if isinstance(value, list) and not all(isinstance(v, str | int | float) for v in value):
        raise CheckError("a connector parameter list holds strings or numbers", expr.span)
    return value


def _item(items: tuple[ast.Item, ...], name: str) -> ast.Item:
    return next(i for i in items if i.name == name)


def _example(kind: str) -> str:
    return {
        "mqtt": 'mqtt(host: "localhost", port: 1883)',
        "nats": 'nats(servers: "nats://localhost:4222")',
        "kafka": 'kafka(brokers: ["localhost:9092"], group_id: "vbatch")',
        "http": 'http(url: "https://example.com/hook")',
    }.get(kind, f'{kind}(url: "...")')
