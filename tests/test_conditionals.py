"""`if c then a else b`: exact rows, constant folding, and the errors of its misuse."""

from __future__ import annotations

import pyarrow as pa
import pytest

from vbatch.api import compile as compile_program
from vbatch.errors import CheckError
from vbatch.lang import compile_text
from vbatch.plan.build import plan_program

PROGRAM = """\
const LIMIT = if 2 > 1 then 50 else 10
stream S = SensorReading
    .emit(sensor_id,
          severity: if value < 20 or value > 80 then "critical" else "warning",
          level: if value > LIMIT then value else 0,
          tag: if value > 60 then "hot {sensor_id}" else null,
          band: if value > 70 then "high" else if value > 30 then "mid" else "low")
"""
EVENTS = """\
@0 SensorReading { sensor_id: "S1", value: 72.5 }
@1 SensorReading { sensor_id: "S2", value: 10.0 }
@2 SensorReading { sensor_id: "S3" }
@3 SensorReading { sensor_id: "S4", value: 45.0 }
"""


def test_conditional_rows_are_exact(tmp_path) -> None:  # noqa: ANN001
    events = tmp_path / "e.evt"
    events.write_text(EVENTS)
    rows = compile_program(PROGRAM).simulate(events)["S"].to_pylist()
    shown = [{k: v for k, v in r.items() if not k.startswith("_") and k != "stream"} for r in rows]
    assert shown == [
        {"sensor_id": "S1", "severity": "warning", "level": 72.5, "tag": "hot S1", "band": "high"},
        {"sensor_id": "S2", "severity": "critical", "level": 0.0, "tag": None, "band": "low"},
        # a null condition takes the `else` branch, as SQL's CASE does
        {"sensor_id": "S3", "severity": "warning", "level": 0.0, "tag": None, "band": "low"},
        {"sensor_id": "S4", "severity": "warning", "level": 0.0, "tag": None, "band": "mid"},
    ]


def test_constant_conditionals_fold() -> None:
    program = compile_text("const A = if 1 > 2 then 1 else 2\nconst B = if true then A * 10 else 0")
    assert dict(program.constants) == {"A": 2, "B": 20}


BAD = [
    (
        "event E:\n    x: int\nstream S = E .emit(y: if x then 1 else 2)",
        3,
        23,
        "`if` needs a condition, but `x` is an int",
    ),
    (
        'event E:\n    x: int\nstream S = E .emit(y: if x > 1 then "a" else 2)',
        3,
        23,
        'the branches of `if x > 1 then "a" else 2` are a string and an int',
    ),
    ("const A = if 3 then 1 else 2", 1, 14, "`if` needs a true/false condition"),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD)
def test_conditional_misuse_is_pinpointed(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(CheckError) as caught:
        plan_program(compile_text(text, "p.vpl"))  # as `vbatch check` does
    assert (caught.value.message, caught.value.line, caught.value.column) == (message, line, column)


def test_a_var_takes_a_new_value_from_where_it_is_assigned() -> None:
    """`name := expr` gives a `var` a new value, folded at check time, for the statements
    below it (Varpulis's `11_variables.vpl`); it may follow an event block's fields."""
    program = compile_program(
        "event A:\n"
        "    v: float\n"
        "var threshold: float = 100.0\n"
        "var half: float = threshold / 2.0\n"
        "threshold := threshold * 1.1\n"
        "stream S = A .where(v > threshold) .emit(v: v, t: threshold, h: half)\n"
    )
    table = pa.table({"event_type": ["A"] * 3, "_ts": [1, 2, 3], "v": [100.0, 105.0, 120.0]})
    assert program.simulate(table)["S"].select(["v", "t", "h"]).to_pylist() == [
        {"v": 120.0, "t": 110.00000000000001, "h": 50.0}
    ]
