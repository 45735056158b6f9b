"""`vbatch run` fed by a real broker on loopback: throughput and end-to-end latency.

    python -m benchmarks.connectors --events 300000

Starts mosquitto and nats-server (as the connector tests do), runs a filter + 1 s tumbling
aggregate program reading `SensorReading` messages of about 100 bytes of JSON, and
measures, for MQTT at QoS 0 and for core NATS:

- throughput: a publisher process sends `--events` messages as fast as the broker takes
  them; events/s is the count the run processed (its closing line) over the time from the
  first message published to the run's last output row (the run stops when the
  publisher's last message, a `Stop` event, has been processed);
- the run's own rate, with the broker holding the messages before the run starts (an
  MQTT persistent session, a NATS JetStream durable consumer), so that no publisher
  competes with it for the two cores: events over the time from the run's start to its
  last output row, less its start-up (the time it took to subscribe on its first start);
- latency at a steady 10,000 events/s: each message carries the time it was sent; the
  program emits it back; p50 and p99 of sent → output line read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.brokers import Broker, Mosquitto, NatsServer
from benchmarks.latency import percentile

ROOT = Path(__file__).resolve().parents[1]
THROUGHPUT = """\
connector B = {connector}
stream Hot = SensorReading.from(B, topic: "{topic}")
    .where(value > 90.0)
    .window(1s)
    .aggregate(n: count(), top: max(value))
"""
LATENCY = """\
connector B = {connector}
stream Echo = SensorReading.from(B, topic: "{topic}")
    .where(value >= 0.0)
    .emit(n: n, sent: sent)
"""


def payload(i: int, now_ns: int = 0) -> bytes:
    """About 100 bytes of JSON: a sensor reading with its event time."""
    return (
        f'{{"sensor_id": "sensor-{i % 500:04d}", "zone": "zone-{i % 7}", '
        f'"value": {(i * 37) % 10000 / 100:.2f}, "n": {i}, "sent": {now_ns}, "_ts": {i}}}'
    ).encode()


# --- Publishers (each in a process of its own, so the run has a core to itself) ------------


def publish_mqtt(port: int, count: int, rate: int | None) -> None:
    """QoS 0 PUBLISH packets written straight to a socket: paho's publisher, called from
    outside its network thread, hands each packet over to that thread and adds tens of
    milliseconds at 10,000 messages/s, which would be measured as the run's latency."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = b"bench-publisher"
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    sock.sendall(b"\x10" + _length(len(connect)) + connect)
    assert sock.recv(4)[:2] == b"\x20\x02", "no CONNACK"
    topic = b"sensors/a"
    head = len(topic).to_bytes(2, "big") + topic

    def packet(body: bytes) -> bytes:
        return b"\x30" + _length(len(head) + len(body)) + head + body

    pending: list[bytes] = []

    def send(i: int, now: int) -> None:
        pending.append(packet(payload(i, now)))
        if len(pending) >= 64 or i == count - 1 or rate is not None:
            sock.sendall(b"".join(pending))
            pending.clear()

    paced(count, rate, send)
    sock.sendall(packet(b'{"event_type": "Stop"}') + b"\xe0\x00")  # and DISCONNECT
    sock.close()


def _length(n: int) -> bytes:
    """MQTT's variable-length integer."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_nats(url: str, count: int, rate: int | None) -> None:
    import nats

    async def main() -> None:
        client = await nats.connect(url, pending_size=64 * 1024 * 1024)
        sent = 0
        start = time.perf_counter()
        while sent < count:
            if rate is not None:
                due = min(count, int((time.perf_counter() - start) * rate))
                if due <= sent:
                    await asyncio.sleep(0.0005)
                    continue
            else:
                due = min(count, sent + 1000)
            now = time.perf_counter_ns()
            for i in range(sent, due):
                await client.publish("sensors.a", payload(i, now))
            sent = due
            if rate is None:
                await client.flush()
        await client.publish("sensors.a", b'{"event_type": "Stop"}')
        await client.flush()
        await client.close()

    asyncio.run(main())


def paced(count: int, rate: int | None, send: Callable[[int, int], object]) -> None:
    """Call send(i, now_ns) for i in 0..count, at `rate` a second (None: at once)."""
    start = time.perf_counter()
    sent = 0
    while sent < count:
        due = count if rate is None else min(count, int((time.perf_counter() - start) * rate))
        if due <= sent:
            time.sleep(0.0005)
            continue
        now = time.perf_counter_ns()
        for i in range(sent, due):
            send(i, now)
        sent = due


# --- Runs -------------------------------------------------------------------------------------


def connector_of(kind: str, broker: Broker) -> tuple[str, str]:
    if kind == "mqtt":
        return f'mqtt(host: "127.0.0.1", port: {broker.port}, qos: 0)', "sensors/#"
    assert isinstance(broker, NatsServer)
    return f'nats(servers: "{broker.url}")', "sensors.>"


def publisher(kind: str, broker: Broker, count: int, rate: int | None) -> subprocess.Popen[bytes]:
    target = repr(broker.port if kind == "mqtt" else broker.url)  # type: ignore[attr-defined]
    code = (
        f"from benchmarks.connectors import publish_{kind}; "
        f"publish_{kind}({target}, {count}, {rate})"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def start_run(program: Path) -> subprocess.Popen[str]:
    """A `vbatch run` that ends with the first `Stop` event (its stream `Stopped`)."""
    text = program.read_text() + "stream Stopped = Stop .emit(done: 1)\n"
    program.write_text(text)
    command = [sys.executable, "-m", "vbatch", "run", "--file", str(program), "--linger", "1"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until subscribed
        if "subscribed to" in line:
            break
    return process


def throughput(kind: str, broker: Broker, count: int, folder: Path) -> tuple[float, int]:
    """Events/s processed by the run, and the events it counted."""
    program = folder / f"{kind}-throughput.vpl"
    connector, topic = connector_of(kind, broker)
    program.write_text(THROUGHPUT.format(connector=connector, topic=topic))
    run = start_run(program)
    start = time.perf_counter()
    feeder = publisher(kind, broker, count, None)
    assert run.stdout is not None
    for line in run.stdout:
        if json.loads(line)["stream"] == "Stopped":
            break
    elapsed = time.perf_counter() - start
    PEAKS[kind] = peak_mib(run.pid)
    run.send_signal(2)
    _, err = run.communicate(timeout=60)
    feeder.wait(60)
    events = int(err.rsplit(" events in", 1)[0].rsplit(" ", 1)[1])
    return (events - 1) / elapsed, events - 1


PEAKS: dict[str, float] = {}


def peak_mib(pid: int) -> float:
    """The peak resident memory of a running process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drain(kind: str, broker: Broker, count: int, folder: Path) -> float:
    """Events/s of a run reading `count` messages the broker held for it."""
    program = folder / f"{kind}-drain.vpl"
    if kind == "mqtt":
        connector = (
            f'mqtt(host: "127.0.0.1", port: {broker.port}, client_id: "vbatch-bench", '
            "clean_session: false, qos: 0)"
        )
        topic = "sensors/#"
    else:
        connector = f'nats(servers: "{broker.url}", jetstream: true, durable: "bench")'  # type: ignore[attr-defined]
        topic = "sensors.>"
        asyncio.run(_add_stream(broker.url))  # type: ignore[attr-defined]
    program.write_text(THROUGHPUT.format(connector=connector, topic=topic))
    started = time.perf_counter()
    run = start_run(program)  # subscribes (MQTT: the session is made), then stops
    startup = time.perf_counter() - started
    run.send_signal(2)
    run.communicate(timeout=60)
    publisher(kind, broker, count, None).wait(300)
    started = time.perf_counter()
    command = [sys.executable, "-m", "vbatch", "run", "--file", str(program), "--linger", "1"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert run.stdout is not None
    for line in run.stdout:
        if b'"Stopped"' in line:
            break
    elapsed = time.perf_counter() - started - startup
    run.send_signal(2)
    run.communicate(timeout=60)
    return count / elapsed


async def _add_stream(url: str) -> None:
    import nats

    client = await nats.connect(url)
    await client.jetstream().add_stream(name="SENSORS", subjects=["sensors.>"])
    await client.close()


def latency(kind: str, broker: Broker, rate: int, seconds: float, folder: Path) -> list[float]:
    """Milliseconds from each message's publication to its output line, at `rate` a second."""
    program = folder / f"{kind}-latency.vpl"
    connector, topic = connector_of(kind, broker)
    program.write_text(LATENCY.format(connector=connector, topic=topic))
    run = start_run(program)
    feeder = publisher(kind, broker, int(rate * seconds), rate)
    latencies = []
    assert run.stdout is not None
    for line in run.stdout:
        received = time.perf_counter_ns()
        row = json.loads(line)
        if row["stream"] == "Stopped":
            break
        latencies.append((received - row["sent"]) / 1e6)
    run.send_signal(2)
    run.communicate(timeout=60)
    feeder.wait(60)
    return latencies[len(latencies) // 10 :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for kind, broker_type in (("mqtt", Mosquitto), ("nats", NatsServer)):
            home = folder / kind
            home.mkdir()
            broker = broker_type(home)
            broker.start()
            try:
                rate, events = throughput(kind, broker, args.events, folder)
                lat = latency(kind, broker, args.rate, args.seconds, folder)
                held = drain(kind, broker, args.events, folder)
            finally:
                broker.stop()
            print(
                f"{kind}: published and processed: {events:,} of {args.events:,} events at "
                f"{rate / 1e3:.1f}K events/s; held by the broker ({_HELD[kind]}): "
                f"{held / 1e3:.1f}K events/s; at {args.rate:,}/s: p50 {percentile(lat, 50):.1f} "
                f"ms, p99 {percentile(lat, 99):.1f} ms ({len(lat):,} events); peak RSS of the "
                f"run {PEAKS[kind]:.0f} MiB",
                flush=True,
            )


_HELD = {"mqtt": "persistent session", "nats": "JetStream"}


if __name__ == "__main__":
    main()
