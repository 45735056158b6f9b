"""Binding a stream to the types of its input: every operator type-checked, outputs derived.

`vbatch check` binds each stream to what the program declares (open environments: an
undeclared field is of unknown type); a run binds each stream again to the schema of the
rows that actually arrive (closed environments), before the first row is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatch

from vbatch.errors import CheckError
from vbatch.plan.aggregates import result_type
from vbatch.plan.logical import (
    ExplainFilter,
    Filter,
    Operator,
    Print,
    Project,
    ShowWindowRows,
    StreamPlan,
    WindowAggregate,
)
from vbatch.plan.typecheck import Env, require_boolean, type_of
from vbatch.plan.types import VType, unify

ROW_FIELDS = {"_ts": VType.INT, "_seq": VType.INT}
WINDOW_FIELDS = {"_window_start": VType.INT, "_window_end": VType.INT}


def bind_stream(stream: StreamPlan, inputs: Env) -> Env:
    """Type-check the stream's operators over `inputs`; the environment of its output rows."""
    env = inputs
    for op in stream.operators:
        env = bind_operator(op, env)
    return env


def joined_env(stream: StreamPlan, ports: list[Env]) -> Env:
    """The fields of a join: `A.f` for each field of each source, `f` alone for the first
    source that has it; each source's key of one kind with the others'."""
    assert stream.join is not None
    types: dict[str, VType] = dict(ROW_FIELDS)
    for port, env in zip(stream.inputs, ports, strict=True):
        for name, t in env.types.items():
            if name not in ROW_FIELDS:
                types[f"{port.name}.{name}"] = t
    for env in ports:
        for name, t in env.types.items():
            types.setdefault(name, t)
    keys = [env.types.get(key, VType.ANY) for env, key in zip(ports, stream.join.keys, strict=True)]
    known: list[VType] = [t for t in keys if t is not VType.ANY]
    if known and unify(known) is None:
        kinds = " and ".join(dict.fromkeys(t.describe() for t in known))
        msg = f"the sources of `{stream.name}` meet on keys of different kinds: {kinds}"
        raise CheckError(msg, stream.span, hint="convert one key in a stream before the join")
    return Env(types, closed=all(p.closed for p in ports))


def merged_env(stream: StreamPlan, ports: list[Env]) -> Env:
    """The fields of a merge: every port's fields, one type each (ints widen to floats)."""
    types: dict[str, VType] = {}
    seen: dict[str, list[VType]] = {}
    for env in ports:
        for name, t in env.types.items():
            seen.setdefault(name, []).append(t)
    for name, found in seen.items():
        merged = unify(found)
        if merged is None:
            kinds = " and ".join(sorted({t.describe() for t in found}))
            msg = f"the inputs of `{stream.name}` disagree on `{name}`: {kinds}"
            hint = "declare the field's type with `event ...`, or convert it in each input"
            raise CheckError(msg, stream.span, hint=hint)
        types[name] = merged
    return Env(types, closed=all(p.closed for p in ports))


@singledispatch
def bind_operator(op: Operator, env: Env) -> Env:
    """The environment after `op`, given the one before it."""
    raise TypeError(f"cannot bind {type(op).__name__}")


@bind_operator.register
def _(op: Filter, env: Env) -> Env:
    require_boolean(op.condition, env, "where")
    return env


@bind_operator.register
def _(op: ExplainFilter, env: Env) -> Env:
    return env


@bind_operator.register
def _(op: ShowWindowRows, env: Env) -> Env:
    return env


@bind_operator.register
def _(op: Print, env: Env) -> Env:
    if op.text is not None:
        type_of(op.text, env)
    return env


@bind_operator.register
def _(op: Project, env: Env) -> Env:
    if not op.items:
        return env
    types = {name: type_of(expr, env) for name, expr in op.items}
    carried = {k: v for k, v in env.types.items() if k in WINDOW_FIELDS}
    return Env({**ROW_FIELDS, **types, **carried}, closed=True)


@bind_operator.register
def _(op: WindowAggregate, env: Env) -> Env:
    for key in op.keys:
        _require_key(key, op, env)
    values = tuple(
        result_type(call, type_of(call.arg, env) if call.arg is not None else None)
        for call in op.aggregates
    )
    key_types = {k: env.types.get(k, VType.ANY) for k in op.keys}
    window_env = Env(key_types, closed=True, aggregates=values)
    types = {name: type_of(expr, window_env) for name, expr in op.outputs}
    for key, t in key_types.items():
        types.setdefault(key, t)
    return Env({**ROW_FIELDS, **types, **WINDOW_FIELDS}, closed=True)


def _require_key(key: str, op: WindowAggregate, env: Env) -> None:
    if key in env.types or not env.closed:
        return
    shown = ", ".join(n for n in env.types if not n.startswith("_")) or "none"
    msg = f"`.partition_by({key})`: the rows here have no field `{key}`"
    raise CheckError(msg, op.keys_span, hint=f"the rows here have: {shown}")


def env_of(types: Mapping[str, VType] | None) -> Env:
    """An environment from declared field types (None: nothing is known, all fields allowed)."""
    if types is None:
        return Env({}, closed=False)
    return Env({**ROW_FIELDS, **types}, closed=True)
