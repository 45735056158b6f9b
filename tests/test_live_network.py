"""The TCP and HTTP endpoints of `vbatch run` against hostile and unlucky clients: bodies
that lie about their length, resets, too many or idle connections, tokens, TLS, and
endpoints that cannot listen. Never a traceback; only accepted lines are processed."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from live_run import (
    LINE,
    counted,
    events_in,
    free_port,
    launch,
    program,
    raw_request,
    status_of,
    wait_for_port,
)

BODY = b"@1 A { v: 1 }\n@2 A { v: 2 }\n"


def post(headers: str, body: bytes = b"") -> bytes:
    """A raw POST /events with `headers` (each ending in CR LF) and `body`."""
    return f"POST /events HTTP/1.1\r\nHost: vbatch\r\n{headers}\r\n".encode() + body


def chunked(*parts: bytes, ending: bytes = b"0\r\n\r\n") -> bytes:
    """`parts` as a chunked body."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + ending


# name: (request, status, lines accepted)
HOSTILE = {
    "a plain body": (post(f"Content-Length: {len(BODY)}\r\n", BODY), 202, 2),
    "Content-Length: -1": (post("Content-Length: -1\r\n", BODY), 400, 0),
    "Content-Length: abc": (post("Content-Length: abc\r\n", BODY), 400, 0),
    "Content-Length: +28": (post("Content-Length: +28\r\n", BODY), 400, 0),
    "two different lengths": (post("Content-Length: 5\r\nContent-Length: 28\r\n", BODY), 400, 0),
    "no length": (post("", BODY), 411, 0),
    "a body shorter than its length": (post("Content-Length: 100\r\n", BODY), 400, 0),
    "a length over 16 MiB": (post("Content-Length: 16777217\r\n"), 413, 0),
    "chunked": (post("Transfer-Encoding: chunked\r\n", chunked(BODY[:9], BODY[9:])), 202, 2),
    "chunked, extension and trailer": (
        post("Transfer-Encoding: chunked\r\n", b"1c;x=y\r\n" + BODY + b"\r\n0\r\nX-T: 1\r\n\r\n"),
        202, 2,
    ),
    "chunked, cut short": (post("Transfer-Encoding: chunked\r\n", b"1c\r\n" + BODY[:5]), 400, 0),
    "chunked, no last chunk": (post("Transfer-Encoding: chunked\r\n", chunked(BODY, ending=b"")), 400, 0),
    "chunked, a bad size": (post("Transfer-Encoding: chunked\r\n", b"zz\r\n"), 400, 0),
    "chunked, over 16 MiB": (post("Transfer-Encoding: chunked\r\n", b"1000001\r\n"), 413, 0),
    "chunked and a length": (
        post("Transfer-Encoding: chunked\r\nContent-Length: 33\r\n", chunked(BODY)), 400, 0,
    ),
    "gzip coding": (post("Transfer-Encoding: gzip\r\n", BODY), 501, 0),
    "not a request": (b"GARBAGE\r\n\r\n", 400, 0),
}  # fmt: skip


def reset(port: int, data: bytes) -> None:
    """Send `data`, then abort the connection (RST, not FIN)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(data)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def stop(run: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM the run; its stdout and stderr."""
    run.send_signal(signal.SIGTERM)
    return run.communicate(timeout=30)


def test_hostile_http_requests_get_an_answer_and_only_accepted_lines_count(
    tmp_path: Path,
) -> None:
    http, tcp, metrics = free_port(), free_port(), free_port()
    run = launch(program(tmp_path), "--http", str(http), "--tcp", str(tcp), "--no-contexts",
                 "--metrics", "--metrics-port", str(metrics))  # fmt: skip
    wait_for_port(http)
    wait_for_port(tcp)
    wait_for_port(metrics)
    answers = {}
    for name, (request, _, _) in HOSTILE.items():
        reply = raw_request(http, request)
        lines = json.loads(reply.split(b"\r\n\r\n", 1)[1]).get("accepted_lines", 0)
        answers[name] = (status_of(reply), lines)
    reset(http, post("Content-Length: 1000\r\n", BODY))
    reset(tcp, LINE * 3 + b"@4 A { v:")  # three whole lines read, then a reset
    reset(metrics, b"GET /metr")
    time.sleep(0.5)
    scraped = raw_request(metrics, b"GET /metrics HTTP/1.0\r\n\r\n")
    out, err = stop(run)
    assert b"\nvbatch_input_events_total " in scraped
    assert answers == {name: (status, lines) for name, (_, status, lines) in HOSTILE.items()}
    assert run.returncode == 0, err
    assert "Traceback" not in err
    assert counted(out) == events_in(err) == 2 + 2 + 2 + 3


def ss_backlog(port: int) -> int | None:
    """The listen backlog of `port` as `ss` shows it (None without ss)."""
    if shutil.which("ss") is None:
        return None
    text = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    return int(text.stdout.split()[2]) if text.stdout.strip() else None


def until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while data := connection.recv(65536):
        received += data
    return received


@pytest.mark.parametrize(("option", "told"), [("--tcp", b""), ("--http", b"HTTP/1.0 503")])
def test_connections_beyond_the_cap_and_idle_ones_are_closed(
    tmp_path: Path, option: str, told: bytes
) -> None:
    port = free_port()
    args = [option, str(port), "--max-connections", "3", "--idle-timeout", "1", "--no-contexts"]
    run = launch(program(tmp_path), *args)
    wait_for_port(port)
    time.sleep(0.2)  # the probe connection of wait_for_port is gone
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
        started = time.monotonic()
        refusal = until_closed(extra)  # closed at once
        refused_in = time.monotonic() - started
    started = time.monotonic()
    assert [until_closed(c) for c in held] == [b""] * 3  # idle for a second: closed
    idle_closed_in = time.monotonic() - started
    body = LINE * 5
    raw_request(port, body if option == "--tcp" else post(f"Content-Length: {len(body)}\r\n", body))
    time.sleep(0.5)
    backlog = ss_backlog(port)
    out, err = stop(run)
    for connection in held:
        connection.close()
    assert refusal.startswith(told) and refused_in < 0.5 and idle_closed_in < 3
    assert backlog in (None, 128)
    assert "3 connections open, the most allowed" in err
    assert counted(out) == 5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


TOKEN = "s3cret-T0ken-4f9a"


def tls_send(context: ssl.SSLContext, port: int, data: bytes) -> None:
    """Send `data` over TLS and end the connection."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as connection:
        connection.sendall(data)


def https_post(context: ssl.SSLContext, port: int, token: str | None) -> int:
    """POST BODY over HTTPS, with a bearer token or none; the status."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"https://127.0.0.1:{port}/events"
    request = urllib.request.Request(url, data=BODY, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_a_token_and_tls_guard_both_endpoints(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    (token_file := tmp_path / "token").write_text(TOKEN + "\n")
    http, tcp = free_port(), free_port()
    run = launch(program(tmp_path), "--http", f"0.0.0.0:{http}", "--tcp", str(tcp),
                 "--token-file", str(token_file), "--tls-cert", str(cert), "--tls-key", str(key),
                 "--no-contexts")  # fmt: skip
    wait_for_port(http)
    wait_for_port(tcp)
    context = ssl.create_default_context(cafile=str(cert))
    statuses = [https_post(context, http, t) for t in (TOKEN, None, "wrong")]
    tls_send(context, tcp, f"{TOKEN}\n".encode() + LINE * 3)
    tls_send(context, tcp, b"wrong\n" + LINE * 7)
    tls_send(context, tcp, LINE * 11)  # no token line: its first line is not the token
    plain = raw_request(tcp, f"{TOKEN}\n".encode() + LINE * 13)  # no TLS
    time.sleep(0.5)
    out, err = stop(run)
    assert statuses == [202, 401, 401]
    assert plain == b""
    assert counted(out) == 2 + 3
    assert f"warning: --http 0.0.0.0:{http} is open beyond this machine" in err
    assert "--tcp" not in err  # on 127.0.0.1: no warning
    assert TOKEN not in out + err and "Traceback" not in err


def test_a_token_on_the_command_line_guards_plain_http_and_tcp(tmp_path: Path) -> None:
    http, tcp = free_port(), free_port()
    run = launch(program(tmp_path), "--http", str(http), "--tcp", str(tcp),
                 "--token", TOKEN, "--no-contexts")  # fmt: skip
    wait_for_port(http)
    wait_for_port(tcp)
    bearer = f"Authorization: Bearer {TOKEN}\r\n"
    statuses = [
        status_of(raw_request(http, post(f"{bearer}Content-Length: {len(BODY)}\r\n", BODY))),
        status_of(raw_request(http, post(f"Content-Length: {len(BODY)}\r\n", BODY))),
    ]
    raw_request(tcp, f"{TOKEN}\r\n".encode() + LINE * 3)
    raw_request(tcp, LINE * 5)
    time.sleep(0.5)
    out, err = stop(run)
    assert statuses == [202, 401]
    assert counted(out) == 2 + 3
    assert TOKEN not in err


def test_ipv6_endpoints_in_brackets(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    http = free_port()
    run = launch(program(tmp_path), "--http", f"[::1]:{http}", "--no-contexts")
    wait_for_port(http, host="::1")
    with socket.create_connection(("::1", http), timeout=10) as connection:
        connection.sendall(post(f"Content-Length: {len(BODY)}\r\n", BODY))
        reply = connection.recv(4096)
    out, err = stop(run)
    assert status_of(reply) == 202
    assert counted(out) == 2 and "warning" not in err


def occupied() -> tuple[socket.socket, int]:
    """A port something already listens on."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


STARTUP_ERRORS = {
    "tcp port in use": (["--tcp", "{busy}"], "--tcp 127.0.0.1:{busy}: cannot listen: Address already in use"),
    "http port in use": (["--http", "{busy}"], "--http 127.0.0.1:{busy}: cannot listen: Address already in use"),
    "metrics port in use": (["--metrics", "--metrics-port", "{busy}"], "--metrics 127.0.0.1:{busy}: cannot listen"),
    "metrics port too big": (["--metrics", "--metrics-port", "99999"], "bad --metrics-port 99999"),
    "metrics port negative": (["--metrics", "--metrics-port", "-1"], "bad --metrics-port -1"),
    "tcp port zero": (["--tcp", "0"], "bad --tcp '0': a port is a number from 1 to 65535"),
    "unresolvable host": (["--tcp", "no-such-host.invalid:7000"], "cannot resolve the host"),
    "ipv6 without brackets": (["--http", "::1:7000"], "bad --http '::1:7000'"),
    "token without an endpoint": (["--token", "abc"], "--token guards --tcp and --http"),
    "cert without key": (["--tcp", "7000", "--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
    "token with a space": (["--tcp", "7000", "--token", "a b"], "the token must be"),
    "missing token file": (["--tcp", "7000", "--token-file", "no/such"], "--token-file no/such: cannot read"),
    "no connections": (["--tcp", "7000", "--max-connections", "0"], "bad --max-connections 0"),
    "no idle time": (["--tcp", "7000", "--idle-timeout", "0"], "bad --idle-timeout 0"),
}  # fmt: skip


@pytest.mark.parametrize("case", STARTUP_ERRORS)
def test_an_endpoint_that_cannot_start_is_exit_3_with_a_message(tmp_path: Path, case: str) -> None:
    holder, busy = occupied()
    args, message = STARTUP_ERRORS[case]
    output = tmp_path / "out.jsonl"
    with holder:
        run = launch(program(tmp_path), *(a.format(busy=busy) for a in args), "--no-stdin",
                     "-o", str(output), "--no-contexts")  # fmt: skip
        _, err = run.communicate(timeout=60)
    assert run.returncode == 3, err
    assert message.format(busy=busy) in err and "Traceback" not in err
    assert not output.exists()  # refused before any output was opened
