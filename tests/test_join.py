"""Joins written as the Varpulis tutorial writes them: streams declared inside `join(...)`,
each with `on` saying how it meets the others."""

from __future__ import annotations

import pyarrow as pa
import pytest

import vbatch
from vbatch.errors import CheckError
from vbatch.lang import compile_text
from vbatch.lang.parser import parse
from vbatch.lang.printer import print_module

INLINE = """\
stream EnrichedOrders = join(
    stream Orders = OrderEvent,
    stream Customers = CustomerEvent
        on Orders.customer_id == Customers.id
)
.window(5m)
.select(
    order_id: Orders.id,
    customer_name: Customers.name,
    order_total: Orders.total
)
"""


def test_inline_sources_with_on_join_like_named_ones() -> None:
    program = vbatch.compile(INLINE)
    assert [s.name for s in program.program.streams] == ["Orders", "Customers", "EnrichedOrders"]
    rows = [
        ("CustomerEvent", 0, {"id": "c1", "name": "Ann"}),
        ("OrderEvent", 1_000, {"id": "o1", "customer_id": "c1", "total": 10.0}),
        ("OrderEvent", 2_000, {"id": "o2", "customer_id": "c2", "total": 5.0}),
        ("CustomerEvent", 3_000, {"id": "c2", "name": "Bob"}),
        ("OrderEvent", 400_000, {"id": "o3", "customer_id": "c1", "total": 1.0}),
    ]
    names = ["id", "name", "customer_id", "total"]
    table = pa.Table.from_pylist(
        [{"event_type": kind, "_ts": ts, **dict.fromkeys(names), **f} for kind, ts, f in rows]
    )
    got = program.simulate(table)["EnrichedOrders"].to_pylist()
    assert [(r["order_id"], r["customer_name"]) for r in got] == [("o1", "Ann"), ("o2", "Bob")]


def test_inline_join_prints_and_parses_back() -> None:
    module = parse(INLINE)
    assert parse(print_module(module)) == module


def test_on_in_the_items_and_an_on_operation_are_not_both_given() -> None:
    text = INLINE.replace(".window(5m)", ".on(Orders.id == Customers.id) .window(5m)")
    with pytest.raises(CheckError) as caught:
        compile_text(text)
    assert caught.value.message == "a join has one `.on(...)`"
