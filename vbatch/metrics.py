"""Every Prometheus metric vbatch exposes, defined once, served from one `/metrics` endpoint.

Counters are kept by the engine per batch (never per event) and by the workers, who
report them to the coordinator with every end-of-batch marker; a custom collector reads
them when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vbatch.figures import (
    COORDINATOR_LABEL,
    ConnectorFigures,
    InputFigures,
    LinkFigures,
    StreamCounters,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class MetricsSource:
    """Where the collector reads from: stream counters, queues, and input figures."""

    counters: Callable[[], dict[str, StreamCounters]]
    contexts: dict[str, str | None]
    links: Callable[[], list[LinkFigures]] = lambda: []
    inputs: InputFigures = field(default_factory=InputFigures)
    heartbeats: Callable[[], dict[str, float]] = lambda: {}
    connectors: Callable[[], list[ConnectorFigures]] = lambda: []


class VbatchCollector(Collector):
    """Turns the engine's figures into Prometheus metrics at scrape time."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        """One family per metric."""
        counters = self.source.counters()
        yield self._per_stream(
            "vbatch_events_processed", "Events that entered each stream.", counters, "rows_in"
        )
        yield self._per_stream(
            "vbatch_window_flushes", "Windows each stream closed.", counters, "windows_closed"
        )
        yield self._per_stream(
            "vbatch_late_events", "Late events each stream dropped.", counters, "late_rows"
        )
        yield self._per_stream(
            "vbatch_events_emitted", "Output rows of each stream.", counters, "rows_out"
        )
        yield from self._links()
        yield from self._inputs()
        yield from self._connectors()
        ages = GaugeMetricFamily(
            "vbatch_worker_heartbeat_age_seconds",
            "Seconds since each worker process last showed a sign of life.",
            labels=["worker"],
        )
        for worker, age in sorted(self.source.heartbeats().items()):
            ages.add_metric([worker], age)
        yield ages

    def _per_stream(
        self, name: str, text: str, counters: dict[str, StreamCounters], attribute: str
    ) -> CounterMetricFamily:
        family = CounterMetricFamily(name, text, labels=["context", "stream"])
        for stream, counter in sorted(counters.items()):
            context = self.source.contexts.get(stream) or COORDINATOR_LABEL
            family.add_metric([context, stream], getattr(counter, attribute))
        return family

    def _links(self) -> Iterator[Metric]:
        links = self.source.links()
        fill = GaugeMetricFamily(
            "vbatch_context_channel_utilization",
            "How full each queue between processes is (0..1).",
            labels=["source", "target"],
        )
        blocked = CounterMetricFamily(
            "vbatch_channel_blocked_seconds",
            "Time producers spent waiting on a full queue.",
            labels=["source", "target"],
        )
        for link in links:
            fill.add_metric([link.source, link.target], link.fill())
            blocked.add_metric([link.source, link.target], link.blocked_seconds())
        yield fill
        yield blocked

    def _inputs(self) -> Iterator[Metric]:
        inputs = self.source.inputs
        yield CounterMetricFamily("vbatch_input_events", "Events read.", value=inputs.events)
        yield CounterMetricFamily(
            "vbatch_bad_records", "Malformed records reported or skipped.", value=inputs.bad_records
        )
        yield CounterMetricFamily("vbatch_batches", "Micro-batches run.", value=inputs.batches)

    def _connectors(self) -> Iterator[Metric]:
        connectors = self.source.connectors()
        for name, text, attribute in _CONNECTOR_COUNTERS:
            family = CounterMetricFamily(name, text, labels=["connector", "kind"])
            for figures in connectors:
                family.add_metric([figures.name, figures.kind], getattr(figures, attribute))
            yield family
        lag = GaugeMetricFamily(
            "vbatch_connector_lag",
            "Messages the broker holds beyond what the connector has read (Kafka consumers).",
            labels=["connector", "kind"],
        )
        for figures in connectors:
            if figures.lag is not None:
                lag.add_metric([figures.name, figures.kind], figures.lag)
        yield lag


_CONNECTOR_COUNTERS = (
    ("vbatch_connector_messages_received", "Messages each connector read.", "received"),
    ("vbatch_connector_received_bytes", "Payload bytes each connector read.", "received_bytes"),
    ("vbatch_connector_decode_errors", "Messages that did not parse.", "bad_records"),
    ("vbatch_connector_rows_sent", "Output rows each connector published.", "sent"),
    ("vbatch_connector_send_failures", "Rows a connector could not publish.", "send_failures"),
    ("vbatch_connector_reconnects", "Times each connector connected again.", "reconnects"),
    (
        "vbatch_connector_redelivered",
        "Copies of messages already held that a broker sent again (dropped).",
        "redelivered",
    ),
)


class Metrics:
    """The registry, its collector and the batch latency histogram."""

    def __init__(self, source: MetricsSource) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(VbatchCollector(source))
        self.latency = Histogram(
            "vbatch_batch_latency_seconds",
            "From a micro-batch's first event arriving to its outputs being written.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
