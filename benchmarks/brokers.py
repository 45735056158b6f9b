"""Real message brokers for the connector tests: mosquitto and nats-server, each started on
a free loopback port in a folder of its own, restartable on the same port (with its state
kept, as a broker restarted by its operator keeps it), and stopped when the test ends.

The connector tests and `benchmarks/connectors.py` use them. `.ci/run` installs both
(Debian's `mosquitto` and `nats-server`); on a machine without them, `BrokerMissing` says
which program is missing (the tests skip).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path


class BrokerMissing(FileNotFoundError):
    """The broker's program is not installed."""


def _program(name: str) -> str:
    for found in (shutil.which(name), shutil.which(name, path="/usr/sbin:/usr/local/sbin")):
        if found:
            return found
    raise BrokerMissing(f"`{name}` is not installed (apt-get install {name})")


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port}") from None
            time.sleep(0.05)


class Broker:
    """One broker process on 127.0.0.1:`port`; `restart()` keeps its port and its state."""

    name = "broker"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.log = folder / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=self.folder, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # both save their state on SIGTERM
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_for: float = 0.5) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class Mosquitto(Broker):
    """mosquitto with persistence on, so a persistent session's queue survives a restart."""

    name = "mosquitto"

    def command(self) -> list[str]:
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # run as root, it would write its store as `mosquitto`
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            "max_queued_messages 0\n"  # a persistent session's queue is not capped
            "queue_qos0_messages true\n"  # and holds QoS 0 messages too
            "set_tcp_nodelay true\n"  # messages leave at once (mosquitto's default waits)
        )
        return [_program("mosquitto"), "-c", str(config)]

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"


class NatsServer(Broker):
    """nats-server with JetStream, its store in the broker's folder."""

    name = "nats-server"

    def command(self) -> list[str]:
        store = self.folder / "jetstream"
        return [
            _program("nats-server"),
            "-a", "127.0.0.1", "-p", str(self.port),
            "-js", "-sd", str(store),
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"
