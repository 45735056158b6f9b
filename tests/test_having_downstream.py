"""`.having` on a stream that reads window results filters them, as `.where` would."""

from __future__ import annotations

import pytest

from vbatch.api import compile as compile_program
from vbatch.errors import CheckError
from vbatch.lang import compile_text

PROGRAM = """\
stream Stats = SensorReading .window(2) .aggregate(avg_value: avg(value))
stream High = Stats .having(avg_value > 15.0)
stream HighToo = Stats .where(avg_value > 15.0)
"""


def test_having_downstream_of_an_aggregate_is_a_filter(tmp_path) -> None:  # noqa: ANN001
    events = tmp_path / "e.evt"
    values = [10.0, 12.0, 20.0, 30.0, 1.0, 2.0]
    events.write_text(
        "".join(f"@{i} SensorReading {{ value: {v} }}\n" for i, v in enumerate(values))
    )
    result = compile_program(PROGRAM).simulate(events)
    assert result["High"].column("avg_value").to_pylist() == [25.0]
    assert result["High"].to_pylist() == result["HighToo"].to_pylist()


def test_having_on_plain_rows_is_still_refused() -> None:
    with pytest.raises(CheckError, match=r"`\.having` needs an `\.aggregate\(\.\.\.\)` before it"):
        compile_text("stream A = E\nstream B = A .having(x > 1)")
