"""`vbatch run` against real brokers: mosquitto and nats-server started by the tests.

A program reads `SensorReading` events from the broker and sends its alerts back through
`.to(...)`; a subscriber in the test receives exactly the expected alerts. Also: a bad
payload is reported and skipped, the broker restarted mid-run loses nothing at QoS 1 (MQTT,
persistent session) or through a JetStream durable consumer (NATS), and a broker that is
down when the run starts is waited for.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_run import counted, free_port, launch
from test_golden import run_vbatch

from benchmarks.brokers import Broker, BrokerMissing, Mosquitto, NatsServer

paho = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed")
nats = pytest.importorskip("nats", reason="nats-py is not installed")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

WAIT = 30.0


def started(broker: Broker) -> Broker:
    try:
        broker.start()
    except BrokerMissing as missing:
        pytest.skip(str(missing))
    return broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    broker = started(Mosquitto(folder))
    yield broker
    broker.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    folder = tmp_path / "nats"
    folder.mkdir()
    broker = started(NatsServer(folder))
    yield broker
    broker.stop()


def readings(count: int, first: int = 0) -> list[dict[str, object]]:
    """Flat JSON readings, every fifth one hot (value > 30), in event-time order."""
    return [
        {"sensor_id": f"S{i % 4}", "value": 40.0 + i if i % 5 == 0 else float(i % 30), "_ts": i}
        for i in range(first, first + count)
    ]


def hot(events: list[dict[str, object]]) -> list[tuple[str, float]]:
    return [(str(e["sensor_id"]), float(e["value"])) for e in events if float(e["value"]) > 30]  # type: ignore[arg-type]


def wait_until(done: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Pipes:
    """A run's standard output and error, each read on a thread as it comes (a pipe nobody
    reads would fill and hold the run up)."""

    def __init__(self, run: subprocess.Popen[str]) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        assert run.stdout is not None and run.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in ((run.stdout, self.out), (run.stderr, self.err))
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:  # noqa: ANN001
        for line in stream:
            into.append(line)

    @property
    def text(self) -> str:
        return "".join(self.err)

    def wait_for(self, words: str, count: int = 1) -> None:
        wait_until(lambda: self.text.count(words) >= count, f"{words!r} on stderr:\n{self.text}")

    def join(self) -> tuple[str, str]:
        for thread in self._threads:
            thread.join(WAIT)
        return "".join(self.out), self.text


def scrape(port: int) -> str:
    """The run's /metrics page (empty while it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            return page.read().decode()
    except OSError:
        return ""


def metric(page: str, name: str) -> float:
    """The value of one sample of a metrics page."""
    line = next(line for line in page.splitlines() if line.startswith(name + " "))
    return float(line.rsplit(" ", 1)[1])


def finish(run: subprocess.Popen[str], pipes: Pipes) -> tuple[str, str]:
    """Stop the run as Ctrl-C does; its stdout and stderr."""
    run.send_signal(signal.SIGINT)
    run.wait(WAIT)
    out, err = pipes.join()
    assert run.returncode == 0, err
    return out, err


# --- MQTT -------------------------------------------------------------------------------------


def mqtt_program(tmp_path: Path, broker: Mosquitto, client_id: str = "vbatch-test") -> Path:
    path = tmp_path / "mqtt.vpl"
    path.write_text(
        f'connector Broker = mqtt(host: "127.0.0.1", port: {broker.port}, '
        f'client_id: "{client_id}", clean_session: false, qos: 1)\n'
        'stream Readings = SensorReading.from(Broker, topic: "sensors/#")\n'
        "stream Hot = Readings\n"
        "    .where(value > 30)\n"
        "    .emit(sensor_id, value)\n"
        '    .to(Broker, topic: "alerts/hot")\n'
        "stream Counts = Readings\n"
        "    .window(1h)\n"
        "    .aggregate(n: count())\n"
    )
    return path


class Peer:
    """A test's own broker client: what it received on `alerts`."""

    received: list[dict[str, object]]

    def alerts(self) -> list[tuple[str, float]]:
        return [(str(a["sensor_id"]), float(a["value"])) for a in self.received]  # type: ignore[arg-type]


class MqttPeer(Peer):
    """The test's own MQTT client: publishes readings, collects what arrives on `alerts/#`."""

    def __init__(self, broker: Mosquitto) -> None:
        self.received: list[dict[str, object]] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="peer", clean_session=False
        )
        self.client.on_message = lambda c, u, m: self.received.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe("alerts/#", qos=1)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.loop_start()

    def publish(self, payloads: list[bytes], topic: str = "sensors/room1") -> None:
        infos = [self.client.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def as_payloads(events: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


def test_mqtt_readings_in_alerts_out_and_a_bad_payload_skipped(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    run = launch(mqtt_program(tmp_path, mosquitto))
    err = Pipes(run)
    err.wait_for("subscribed to sensors/#")
    peer = MqttPeer(mosquitto)
    events = readings(200)
    payloads = as_payloads(events[:100])
    payloads.append(b'{"sensor_id": "S9", "value": ')  # cut short: message 101
    # Varpulis's envelope, typed by the payload, and an .evt line
    payloads.append(b'{"event_type": "SensorReading", "data": {"sensor_id": "S8", "value": 99.0}}')
    payloads.append(b'SensorReading { sensor_id: "S7", value: 98.5 }')
    payloads += as_payloads(events[100:])
    peer.publish(payloads)
    expected = [*hot(events[:100]), ("S8", 99.0), ("S7", 98.5), *hot(events[100:])]
    wait_until(lambda: len(peer.alerts()) >= len(expected), "the alerts")
    out, text = finish(run, err)
    peer.close()
    assert peer.alerts() == expected
    assert all(a["event_type"] == "Hot" for a in peer.received)
    assert counted(out) == 202
    assert "mqtt:Broker:101:" in text and "(skipped)" in text
    assert "202 events in" in text and "1 bad record" in text


def test_the_deprecated_config_block_reads_its_input_topic_and_writes_its_output_topic(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    path = tmp_path / "legacy.vpl"
    path.write_text(
        f'config mqtt {{ broker: "127.0.0.1", port: {mosquitto.port}, '
        'input_topic: "events/#", output_topic: "alerts/legacy" }\n'
        "stream Hot = SensorReading.where(value > 30).emit(sensor_id, value)\n"
    )
    run = launch(path)
    pipes = Pipes(run)
    pipes.wait_for("subscribed to events/#")
    peer = MqttPeer(mosquitto)
    events = readings(100)
    typed = [{"event_type": "SensorReading", **e} for e in events]
    peer.publish(as_payloads(typed), topic="events/room2")
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    _, err = finish(run, pipes)
    peer.close()
    assert peer.alerts() == hot(events)
    assert "deprecated" in err


def test_simulate_with_sinks_publishes_the_replayed_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    events = readings(300)
    evt = tmp_path / "readings.evt"
    evt.write_text(
        "".join(
            f'@{e["_ts"]} SensorReading {{ sensor_id: "{e["sensor_id"]}", value: {e["value"]} }}\n'
            for e in events
        )
    )
    peer = MqttPeer(mosquitto)
    program = str(mqtt_program(tmp_path, mosquitto, client_id="vbatch-replay"))
    command = ["simulate", "-p", program, "-e", str(evt), "--immediate", "--quiet"]
    quiet = run_vbatch(*command)  # without --sinks, `.to(...)` sends nothing
    assert quiet.returncode == 0, quiet.stderr
    loud = run_vbatch(*command, "--sinks")
    assert loud.returncode == 0, loud.stderr
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    time.sleep(0.3)  # nothing more arrives
    peer.close()
    assert peer.alerts() == hot(events)


def test_mqtt_broker_restarted_mid_run_loses_nothing_at_qos_1(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    metrics_port = free_port()
    run = launch(
        mqtt_program(tmp_path, mosquitto), "--metrics", "--metrics-port", str(metrics_port)
    )
    err = Pipes(run)
    err.wait_for("subscribed to sensors/#")
    peer = MqttPeer(mosquitto)
    events = readings(3000)
    peer.publish(as_payloads(events[:1000]))
    mosquitto.restart()  # the run's session and its subscription survive in the broker's store
    err.wait_for("connection lost")
    peer.client.reconnect()
    wait_until(peer.client.is_connected, "the peer to reconnect")
    peer.publish(as_payloads(events[1000:]))  # while the run may still be reconnecting
    err.wait_for("connected again")
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    labels = '{connector="Broker",kind="mqtt"}'
    metrics = scrape(metrics_port)
    out, text = finish(run, err)
    peer.close()
    assert counted(out) == 3000, text  # the run's input: exactly once
    assert f"vbatch_connector_reconnects_total{labels} 2.0" in metrics  # source and sink
    assert metric(metrics, f"vbatch_connector_messages_received_total{labels}") == 3000
    assert metric(metrics, f"vbatch_connector_rows_sent_total{labels}") >= len(hot(events))
    # the alerts sent back: at least once (the sink's QoS 1 publications in flight when the
    # broker went away are sent again)
    assert set(peer.alerts()) == set(hot(events))


def test_mqtt_broker_down_at_start_is_waited_for(tmp_path: Path, mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    run = launch(mqtt_program(tmp_path, mosquitto))
    err = Pipes(run)
    err.wait_for("cannot connect; retrying")
    mosquitto.start()
    err.wait_for("subscribed to sensors/#")
    peer = MqttPeer(mosquitto)
    events = readings(50)
    peer.publish(as_payloads(events))
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    out, _ = finish(run, err)
    peer.close()
    assert counted(out) == 50 and peer.alerts() == hot(events)


# --- NATS -------------------------------------------------------------------------------------


def nats_program(tmp_path: Path, server: NatsServer, options: str = "") -> Path:
    path = tmp_path / "nats.vpl"
    path.write_text(
        f'connector Bus = nats(servers: "{server.url}"{options})\n'
        'stream Readings = SensorReading.from(Bus, topic: "sensors.>")\n'
        "stream Hot = Readings\n"
        "    .where(value > 30)\n"
        "    .emit(sensor_id, value)\n"
        '    .to(Bus, topic: "alerts.hot")\n'
        "stream Counts = Readings\n"
        "    .window(1h)\n"
        "    .aggregate(n: count())\n"
    )
    return path


class NatsPeer(Peer):
    """The test's own NATS client on a loop of its own: publishes (to JetStream when asked)
    and collects what arrives on `alerts.>`."""

    def __init__(self, server: NatsServer, jetstream: bool = False) -> None:
        self.received: list[dict[str, object]] = []
        self.jetstream = jetstream
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self.call(self._connect(server))

    def call(self, work):  # noqa: ANN001, ANN201
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(WAIT)

    async def _connect(self, server: NatsServer):  # noqa: ANN202
        client = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)

        async def collect(message) -> None:  # noqa: ANN001
            self.received.append(json.loads(message.data))

        await client.subscribe("alerts.>", cb=collect)
        if self.jetstream:
            await client.jetstream().add_stream(name="SENSORS", subjects=["sensors.>"])
        await client.flush()
        return client

    def publish(self, payloads: list[bytes], subject: str = "sensors.room1") -> None:
        async def send() -> None:
            if self.jetstream:
                stream = self.client.jetstream()
                for payload in payloads:
                    await stream.publish(subject, payload)
            else:
                for payload in payloads:
                    await self.client.publish(subject, payload)
                await self.client.flush()

        self.call(send())

    def close(self) -> None:
        self.call(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)


def test_nats_readings_in_alerts_out_and_a_bad_payload_skipped(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    run = launch(nats_program(tmp_path, nats_server))
    err = Pipes(run)
    err.wait_for("subscribed to sensors.>")
    peer = NatsPeer(nats_server)
    events = readings(200)
    payloads = [*as_payloads(events[:100]), b"{not json}", *as_payloads(events[100:])]
    peer.publish(payloads)
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    out, text = finish(run, err)
    peer.close()
    assert peer.alerts() == hot(events)
    assert counted(out) == 200
    assert "nats:Bus:101:" in text and "(skipped)" in text


def test_nats_jetstream_durable_consumer_loses_nothing_across_a_server_restart(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    peer = NatsPeer(nats_server, jetstream=True)
    program = nats_program(tmp_path, nats_server, ', jetstream: true, durable: "vbatch-test"')
    run = launch(program)
    err = Pipes(run)
    err.wait_for("subscribed to sensors.>")
    events = readings(3000)
    peer.publish(as_payloads(events[:1000]))
    nats_server.restart()
    err.wait_for("connection lost")
    time.sleep(1.0)  # the peer reconnects too
    peer.publish(as_payloads(events[1000:]))
    wait_until(lambda: len(peer.alerts()) >= len(hot(events)), "the alerts")
    out, text = finish(run, err)
    peer.close()
    assert counted(out) == 3000, text
    assert sorted(peer.alerts()) == sorted(hot(events))


# --- Kafka ------------------------------------------------------------------------------------
# No Kafka broker can be installed on the project's machines (it is in no package registry
# they reach): these tests run against the broker `VBATCH_TEST_KAFKA=host:port` names.

KAFKA = os.environ.get("VBATCH_TEST_KAFKA")
needs_kafka = pytest.mark.skipif(
    KAFKA is None, reason="no Kafka broker: set VBATCH_TEST_KAFKA=host:port to run"
)


def test_kafka_settings_map_connector_parameters_to_librdkafka() -> None:
    pytest.importorskip("confluent_kafka", reason="confluent-kafka is not installed")
    from vbatch.figures import ConnectorFigures
    from vbatch.io.live.kafka import settings
    from vbatch.io.live.subscriptions import ClientSpec

    params = {
        "brokers": ["a:9092", "b:9092"],
        "group_id": "g",
        "linger_ms": 10,
        "compression_type": "lz4",
        "auto_offset_reset": "latest",
        "username": "u",
        "password": "p",
        "tls": True,
    }
    spec = ClientSpec("K", "kafka", params, (), (), ConnectorFigures("K", "kafka"), print)
    consumer, producer = settings(spec, "consumer"), settings(spec, "producer")
    assert consumer["bootstrap.servers"] == "a:9092,b:9092" == producer["bootstrap.servers"]
    assert consumer["group.id"] == "g" and consumer["enable.auto.commit"] is False
    assert consumer["auto.offset.reset"] == "latest" and "linger.ms" not in consumer
    assert producer["linger.ms"] == 10 and producer["compression.type"] == "lz4"
    assert "group.id" not in producer and "auto.offset.reset" not in producer
    assert producer["sasl.username"] == "u" and producer["security.protocol"] == "sasl_ssl"


@needs_kafka
def test_kafka_readings_in_alerts_out(tmp_path: Path) -> None:
    ck = pytest.importorskip("confluent_kafka", reason="confluent-kafka is not installed")
    suffix = f"{os.getpid()}-{time.monotonic_ns()}"
    source, sink = f"vbatch-sensors-{suffix}", f"vbatch-alerts-{suffix}"
    path = tmp_path / "kafka.vpl"
    path.write_text(
        f'connector K = kafka(brokers: "{KAFKA}", group_id: "vbatch-{suffix}")\n'
        f'stream Readings = SensorReading.from(K, topic: "{source}")\n'
        "stream Hot = Readings\n"
        "    .where(value > 30)\n"
        "    .emit(sensor_id, value)\n"
        f'    .to(K, topic: "{sink}")\n'
        "stream Counts = Readings\n"
        "    .window(1h)\n"
        "    .aggregate(n: count())\n"
    )
    producer = ck.Producer({"bootstrap.servers": KAFKA})
    events = readings(500)
    for payload in [*as_payloads(events[:250]), b"{bad", *as_payloads(events[250:])]:
        producer.produce(source, payload)
    producer.flush(WAIT)
    consumer = ck.Consumer(
        {"bootstrap.servers": KAFKA, "group.id": f"peer-{suffix}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([sink])
    run = launch(path)
    pipes = Pipes(run)
    received: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    while len(received) < len(hot(events)) and time.monotonic() < deadline:
        for message in consumer.consume(100, 0.5):
            if message.error() is None:
                received.append(json.loads(message.value()))
    consumer.close()
    out, text = finish(run, pipes)
    assert [(r["sensor_id"], r["value"]) for r in received] == hot(events), text
    assert counted(out) == 500 and "kafka:K:251:" in text
