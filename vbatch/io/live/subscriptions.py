"""What a connector reads and writes, as the live clients need it: resolved parameters,
subscriptions (topic → event type) and the stream outputs a sink publishes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vbatch.figures import ConnectorFigures


@dataclass(frozen=True)
class Subscription:
    """A `.from(C, topic: ...)`: the topic (MQTT filter, NATS subject) and the event type
    its messages are when their payload does not say (None: the payload must)."""

    topic: str
    event_type: str | None
    qos: int = 0


@dataclass(frozen=True)
class Publication:
    """A `.to(C, topic: ...)`: the stream whose output rows are sent, and where."""

    stream: str
    topic: str
    qos: int = 0


@dataclass(frozen=True)
class ClientSpec:
    """One connector as a live run opens it: parameters with `env(...)` values read."""

    name: str
    kind: str
    params: dict[str, object]
    subscriptions: tuple[Subscription, ...]
    publications: tuple[Publication, ...]
    figures: ConnectorFigures
    report: Callable[[str], None]

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.params.get(key, default)
        return None if value is None else str(value)

    def number(self, key: str, default: int) -> int:
        value = self.params.get(key, default)
        return int(value) if isinstance(value, int | float) else int(str(value))

    def flag(self, key: str, default: bool) -> bool:
        value = self.params.get(key, default)
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")


class SendFailures:
    """Rows a sink could not hand to its broker: counted in the connector's figures, and
    reported on the first failure (`label` names the sink in the message)."""

    def __init__(self, spec: ClientSpec, label: str) -> None:
        self.spec, self.label = spec, label
        self._warned = False

    def __call__(self, reason: str, rows: int = 1) -> None:
        self.spec.figures.send_failures += rows
        if not self._warned:
            self._warned = True
            self.spec.report(f"warning: {self.label}: rows not sent ({reason})")
