"""`connector`, `config`, `.from` and `.to`: what check accepts and refuses, and replay of a
connector program (`.from` reads the type from the file, `.to` sends nothing)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from test_golden import run_vbatch

from vbatch.errors import CheckError, VplSyntaxError
from vbatch.lang import compile_text
from vbatch.lang.connectors import EnvValue
from vbatch.lang.parser import parse
from vbatch.lang.printer import print_module

PROGRAM = """\
connector Broker = mqtt(host: "localhost", port: 1883, password: env("MQTT_PASSWORD"))
connector Bus = nats(servers: "nats://localhost:4222", queue_group: "vbatch")
connector Hook = http(url: "https://example.com/hook")

stream Ticks = StockTick.from(Broker, topic: "ticks/#")
stream High = Ticks
    .where(price > 50.0)
    .emit(symbol, price)
    .to(Bus, topic: "alerts.high")
    .to(Hook)
"""


def test_connector_program_checks_with_its_bindings() -> None:
    program = compile_text(PROGRAM)
    broker, bus, hook = program.connectors
    assert (broker.kind, broker.param("port"), broker.param("password")) == (
        "mqtt",
        1883,
        EnvValue("MQTT_PASSWORD"),
    )
    assert bus.param("queue_group") == "vbatch" and hook.kind == "http"
    ticks, high = program.streams
    assert [(b.connector, b.topic) for b in ticks.sources] == [("Broker", "ticks/#")]
    assert [(b.connector, b.topic) for b in high.sinks] == [("Bus", "alerts.high"), ("Hook", None)]
    assert not program.warnings


def test_connector_program_prints_and_parses_back() -> None:
    module = parse(PROGRAM)
    assert parse(print_module(module)) == module


BAD = [
    ('connector B = mqt(host: "x")', 1, 15, "unknown connector kind `mqt`", "did you mean `mqtt`?"),
    ("connector B = mqtt(port: 1)", 1, 1, "a `mqtt` connector needs `host:`", None),
    (
        'connector B = mqtt(host: "x", prot: 1)',
        1,
        31,
        "unknown parameter `prot` for a `mqtt` connector",
        "did you mean `port`?",
    ),
    (
        'connector B = mqtt(host: "x")\nstream S = T.from(B)',
        2,
        14,
        "`.from(B)` needs a topic",
        'e.g. `topic: "sensors/#"`',
    ),
    (
        'connector B = mqtt(host: "x")\nstream S = T.from(C, topic: "x")',
        2,
        14,
        "unknown connector `C` in `.from`",
        None,
    ),
    (
        'connector B = http(url: "x")\nstream S = T.from(B, topic: "x")',
        2,
        14,
        "a `http` connector cannot be read with `.from`",
        None,
    ),
    (
        'connector B = mqtt(host: "x")\nstream S = T.where(x > 1).from(B, topic: "x")',
        2,
        27,
        "`.from(...)` comes right after the stream's source, once",
        None,
    ),
    (
        'connector B = mqtt(host: "x")\nstream S = T.from(B, topic: "x").from(B, topic: "x")',
        2,
        34,
        "`.from(...)` comes right after the stream's source, once",
        None,
    ),
    (
        'connector B = mqtt(host: "x")\nstream S = T.emit(a: 1).to(B, topic: 3)',
        2,
        38,
        "`topic` takes a string",
        None,
    ),
    (
        'connector B = mqtt(host: "x")\nstream A = T\nstream S = A.from(B, topic: "x")',
        3,
        14,
        "`.from(...)` binds an event type to a connector",
        None,
    ),
    (
        'connector B = mqtt(host: "x")\nconnector B = nats(servers: "y")',
        2,
        1,
        "connector `B` is already declared as a connector",
        None,
    ),
    (
        "connector B = mqtt(host: env(1))",
        1,
        26,
        '`env` takes the name of a variable, e.g. `env("MQTT_PASSWORD")`',
        None,
    ),
    ("config redis { url: 1 }", 1, 1, "unknown `config` block `redis`", None),
]


@pytest.mark.parametrize(("text", "line", "column", "message", "hint"), BAD)
def test_connector_misuse_is_pinpointed(text, line, column, message, hint) -> None:  # noqa: ANN001
    with pytest.raises(CheckError) as caught:
        compile_text(text, "bad.vpl")
    err = caught.value
    assert (err.message, err.line, err.column) == (message, line, column)
    if hint is not None:
        assert err.hint == hint


def test_connector_names_do_not_clash_with_streams() -> None:
    program = compile_text('connector S = mqtt(host: "x")\nstream S2 = T.from(S, topic: "t")')
    assert program.streams[0].sources[0].connector == "S"


def test_deprecated_config_block_is_a_warning(tmp_path) -> None:  # noqa: ANN001
    program = tmp_path / "legacy.vpl"
    program.write_text(
        'config mqtt {\n    broker: "localhost"\n    port: 1883,\n    input_topic: "in/#"\n}\n'
        "stream S = T .where(x > 1)\n"
    )
    result = run_vbatch("check", str(program))
    assert result.returncode == 0
    assert result.stderr.startswith(
        f"{program}:1:1: warning: `config mqtt {{ ... }}` is deprecated"
    )
    (connector,) = compile_text(program.read_text()).connectors
    assert connector.param("host") == "localhost" and connector.param("input_topic") == "in/#"


def test_replay_of_a_connector_program_reads_the_file(tmp_path) -> None:  # noqa: ANN001
    events = tmp_path / "ticks.evt"
    events.write_text(
        '@0 StockTick { symbol: "A", price: 60.0 }\n@1 StockTick { symbol: "B", price: 10.0 }\n'
    )
    with_connectors = tmp_path / "with.vpl"
    with_connectors.write_text(PROGRAM)
    plain = tmp_path / "plain.vpl"
    plain.write_text(
        "stream Ticks = StockTick\nstream High = Ticks .where(price > 50.0) .emit(symbol, price)\n"
    )
    outputs = []
    for p in (with_connectors, plain):
        out = tmp_path / f"{p.stem}.jsonl"
        run = run_vbatch("simulate", "-p", str(p), "-e", str(events), "--immediate", "-o", str(out))
        assert run.returncode == 0, run.stderr
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    assert '"stream":"High"' in outputs[0].replace(" ", "")


REFERENCE = ROOT.parent / "shared" / "reference" / "varpulis"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the Varpulis reference is not beside the repo")
def test_every_connector_program_of_the_reference_docs_checks_as_far_as_connectors_go() -> None:
    """Each program of the Varpulis reference that declares a connector passes `check`, or
    fails only on something other than connectors (sequences and `uuid()` today)."""
    blocks = []
    for page in sorted(REFERENCE.glob("*.md")):
        text = page.read_text()
        for found in re.finditer(r"```(?:varpulis|vpl)\n(.*?)```", text, re.S):
            if re.search(r"^\s*connector\s", found.group(1), re.M):
                blocks.append((f"{page.name}:{text[: found.start()].count(chr(10)) + 2}", found))
    assert len(blocks) >= 20
    passed = 0
    for where, found in blocks:
        try:
            compile_text(found.group(1))
        except (CheckError, VplSyntaxError) as err:
            about = ("connector", "topic", ".from", ".to(", "config", "env(")
            assert not any(word in err.message for word in about), (where, err.message)
        else:
            passed += 1
    assert passed >= 19
