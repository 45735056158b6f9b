"""A small row-at-a-time reference interpreter of VPL, for property tests.

It follows docs/semantics.md one event at a time, with plain Python values, and shares
nothing with the engine's kernels: only the checked program (the syntax tree) is common.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vbatch.lang import ast
from vbatch.lang.functions import Aggregate, aggregate_of, scalar_name
from vbatch.lang.program import Program, Stream, WindowKind

Row = dict[str, object]

# ---- expressions -----------------------------------------------------------------


def evaluate(expr: ast.Expr, row: Row, aggregates: dict[int, object] | None = None) -> object:
    """The value of an expression for one row (aggregate calls read `aggregates`)."""
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Duration):
        return expr.millis
    if isinstance(expr, ast.Name):
        return row.get(expr.name)  # a field a merged input lacks is null
    if isinstance(expr, ast.Interpolation):
        return "".join(
            p if isinstance(p, str) else _text(evaluate(p, row, aggregates)) for p in expr.parts
        )
    if isinstance(expr, ast.ListExpr):
        return [evaluate(i, row, aggregates) for i in expr.items]
    if isinstance(expr, ast.Unary):
        value = evaluate(expr.operand, row, aggregates)
        if value is None:
            return None
        return (not value) if expr.op is ast.UnaryOp.NOT else -value  # type: ignore[operator]
    if isinstance(expr, ast.Conditional):
        chosen = expr.then if evaluate(expr.condition, row, aggregates) is True else expr.otherwise
        return evaluate(chosen, row, aggregates)
    if isinstance(expr, ast.Call):
        if aggregates is not None and aggregate_of(expr.func, len(expr.args)) is not None:
            return aggregates[id(expr)]
        args = [evaluate(a, row, aggregates) for a in expr.args]
        return _SCALARS[scalar_name(expr.func, len(args))](*args)
    assert isinstance(expr, ast.Binary)
    return _binary(expr, row, aggregates)


def _text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _binary(expr: ast.Binary, row: Row, aggregates: dict[int, object] | None) -> object:
    op = expr.op
    left = evaluate(expr.left, row, aggregates)
    if op in (ast.BinaryOp.EQ, ast.BinaryOp.NE) and _is_null_literal(expr.right):
        return (left is None) == (op is ast.BinaryOp.EQ)
    right = evaluate(expr.right, row, aggregates)
    if op is ast.BinaryOp.AND:
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if op is ast.BinaryOp.OR:
        if left is True or right is True:
            return True
        return None if left is None or right is None else False
    if op in (ast.BinaryOp.IN, ast.BinaryOp.NOT_IN):
        if left is None:
            return None
        found = left in right  # type: ignore[operator]
        return found if op is ast.BinaryOp.IN else not found
    if left is None or right is None:
        return None
    if op is ast.BinaryOp.ADD and (isinstance(left, str) or isinstance(right, str)):
        return _text(left) + _text(right)
    if op is ast.BinaryOp.DIV:
        return _divide(float(left), float(right))  # type: ignore[arg-type]
    if op is ast.BinaryOp.MOD:
        return None if right == 0 else left % right  # type: ignore[operator]
    return _OPERATORS[op](left, right)


def _is_null_literal(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Literal) and expr.value is None


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


_OPERATORS: dict[ast.BinaryOp, Callable[[object, object], object]] = {
    ast.BinaryOp.ADD: lambda a, b: a + b,  # type: ignore[operator]
    ast.BinaryOp.SUB: lambda a, b: a - b,  # type: ignore[operator]
    ast.BinaryOp.MUL: lambda a, b: a * b,  # type: ignore[operator]
    ast.BinaryOp.EQ: lambda a, b: a == b,
    ast.BinaryOp.NE: lambda a, b: a != b,
    ast.BinaryOp.LT: lambda a, b: a < b,  # type: ignore[operator]
    ast.BinaryOp.LE: lambda a, b: a <= b,  # type: ignore[operator]
    ast.BinaryOp.GT: lambda a, b: a > b,  # type: ignore[operator]
    ast.BinaryOp.GE: lambda a, b: a >= b,  # type: ignore[operator]
}

_SCALARS: dict[str, Callable[..., object]] = {
    "abs": lambda x: None if x is None else abs(x),
    "coalesce": lambda *xs: next((x for x in xs if x is not None), None),
    "upper": lambda s: None if s is None else s.upper(),
    "len": lambda s: None if s is None else len(s),
    "least": lambda *xs: None if None in xs else _widened(min(xs), xs),
    "greatest": lambda *xs: None if None in xs else _widened(max(xs), xs),
    "clamp": lambda x, lo, hi: None if None in (x, lo, hi) else _widened(min(max(x, lo), hi), (x, lo, hi)),
}


def _widened(value: object, values: tuple[object, ...]) -> object:
    """A number picked among ints and floats is a float, as in the engine."""
    if any(isinstance(v, float) for v in values) and isinstance(value, int):
        return float(value)
    return value

# ---- aggregates ------------------------------------------------------------------


def _numbers(values: list[object]) -> list[float]:
    return [v for v in values if v is not None]  # type: ignore[misc]


def _sum(values: list[object]) -> object:
    xs = _numbers(values)
    if not xs:
        return None
    total = 0.0 if any(isinstance(x, float) for x in xs) else 0
    for x in xs:
        total += x
    return total


def _avg(values: list[object]) -> object:
    xs = _numbers(values)
    if not xs:
        return None
    total = 0.0
    for x in xs:
        total += x
    return total / len(xs)


def _spread(values: list[object], sample: bool, root: bool) -> object:
    xs = [float(x) for x in _numbers(values)]
    n = len(xs)
    if n - (1 if sample else 0) <= 0:
        return None
    mean = sum(xs) / n
    variance = sum((x - mean) ** 2 for x in xs) / (n - 1 if sample else n)
    return math.sqrt(variance) if root else variance


def _ema(values: list[object], period: float) -> object:
    xs = _numbers(values)
    if not xs:
        return None
    alpha = 2.0 / (period + 1.0)
    ema = float(xs[0])
    for x in xs[1:]:
        ema = alpha * x + (1 - alpha) * ema
    return ema


def _percentile(values: list[object], p: float) -> object:
    xs = sorted(float(x) for x in _numbers(values))
    if not xs:
        return None
    rank = (len(xs) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return xs[low] + (xs[high] - xs[low]) * (rank - low)


def aggregate(func: Aggregate, values: list[object], param: float | None) -> object:
    """An aggregate over a window's argument values, in arrival order."""
    table: dict[Aggregate, Callable[[], object]] = {
        Aggregate.COUNT: lambda: len(values),
        Aggregate.SUM: lambda: _sum(values),
        Aggregate.AVG: lambda: _avg(values),
        Aggregate.MIN: lambda: min(_numbers(values), default=None),
        Aggregate.MAX: lambda: max(_numbers(values), default=None),
        Aggregate.STDDEV: lambda: _spread(values, False, True),
        Aggregate.STDDEV_POP: lambda: _spread(values, False, True),
        Aggregate.STDDEV_SAMP: lambda: _spread(values, True, True),
        Aggregate.VARIANCE: lambda: _spread(values, False, False),
        Aggregate.VAR_POP: lambda: _spread(values, False, False),
        Aggregate.VAR_SAMP: lambda: _spread(values, True, False),
        Aggregate.FIRST: lambda: values[0] if values else None,
        Aggregate.LAST: lambda: values[-1] if values else None,
        Aggregate.COLLECT: lambda: list(values),
        Aggregate.COUNT_DISTINCT: lambda: len({v for v in values if v is not None}),
        Aggregate.PERCENTILE: lambda: _percentile(values, param or 0.0),
        Aggregate.MEDIAN: lambda: _percentile(values, 50.0),
        Aggregate.EMA: lambda: _ema(values, param or 1.0),
    }
    return table[func]()


# ---- windows ----------------------------------------------------------------------


@dataclass
class _Window:
    key: tuple[object, ...]
    code: int
    start: int
    end: int
    rows: list[Row] = field(default_factory=list)
    last: int = 0


class RefStream:
    """One stream, fed one row at a time."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.watermark = -(1 << 62)
        self.windows: list[_Window] = []
        self.codes: dict[tuple[object, ...], int] = {}
        self.arrivals: dict[int, int] = {}
        self.closed = 0
        self.late = 0
        self.latest: dict[tuple[int, object], Row] = {}  # a join's latest row per source, key
        ops = list(stream.operations)
        cut = next((i for i, op in enumerate(ops) if isinstance(op, ast.AggregateOp)), None)
        self.before = ops if cut is None else ops[:cut]
        self.aggregate = None if cut is None else ops[cut]
        self.after = [] if cut is None else ops[cut + 1 :]

    def on_join_row(self, port: int, row: Row) -> list[Row]:
        """A join's outputs caused by one row of its source `port`: the latest row of every
        source for the row's key, when none is more than the window older than the row."""
        spec = self.stream.join
        assert spec is not None
        sources = [i.name for i in self.stream.inputs]
        key = row.get(spec.keys[port])
        if key is None:
            return []
        self.latest[(port, key)] = row
        parts = [self.latest.get((p, key)) for p in range(len(sources))]
        if any(part is None or part["_ts"] < row["_ts"] - spec.window_ms for part in parts):  # type: ignore[operator]
            return []
        joined: Row = {"_ts": max(part["_ts"] for part in parts), "_seq": row["_seq"]}  # type: ignore[index, type-var]
        for source, part in zip(sources, parts, strict=True):
            for name, value in part.items():  # type: ignore[union-attr]
                if name not in ("_ts", "_seq"):
                    joined[f"{source}.{name}"] = value
        for part in parts:
            for name, value in part.items():  # type: ignore[union-attr]
                joined.setdefault(name, value)
        out = _apply(self.before, joined)
        return [] if out is None else [out]

    def on_row(self, row: Row) -> list[Row]:
        """Outputs caused by one source row."""
        out = _apply(self.before, row)
        if self.aggregate is None:
            return [] if out is None else [out]
        before = self.watermark
        closed: list[_Window] = []
        if out is not None:
            closed += self._add(out, before, row["_seq"])  # type: ignore[arg-type]
        self.watermark = max(self.watermark, row["_ts"] - self.stream.watermark_ms)  # type: ignore[operator]
        closed += self._due()
        return self._emit(closed, row["_seq"])  # type: ignore[arg-type]

    def finish(self, end_seq: int) -> list[Row]:
        """Outputs at end of input."""
        spec = self.stream.window
        assert spec is not None
        remaining = [] if spec.kind is WindowKind.COUNT else list(self.windows)
        self.windows = []
        return self._emit(remaining, end_seq)

    def _code(self, row: Row) -> tuple[tuple[object, ...], int]:
        key = tuple(row.get(k) for k in self.stream.partition_keys)
        return key, self.codes.setdefault(key, len(self.codes))

    def _add(self, row: Row, watermark: int, seq: int) -> list[_Window]:
        spec = self.stream.window
        assert spec is not None
        key, code = self._code(row)
        ts: int = row["_ts"]  # type: ignore[assignment]
        if spec.kind is WindowKind.SESSION:
            return self._add_session(row, key, code, ts, watermark)
        if spec.kind is WindowKind.COUNT:
            return self._add_count(row, key, code, ts)
        first = (ts - spec.size) // spec.slide + 1
        on_time = False
        for k in range(first, ts // spec.slide + 1):
            start = k * spec.slide
            if start + spec.size <= watermark:
                continue
            on_time = True
            self._window(key, code, start, start + spec.size).rows.append(row)
        self.late += not on_time
        return []

    def _window(self, key: tuple[object, ...], code: int, start: int, end: int) -> _Window:
        for w in self.windows:
            if w.code == code and w.start == start:
                return w
        w = _Window(key, code, start, end)
        self.windows.append(w)
        return w

    def _add_count(self, row: Row, key: tuple[object, ...], code: int, ts: int) -> list[_Window]:
        spec = self.stream.window
        assert spec is not None
        position = self.arrivals.get(code, 0)
        self.arrivals[code] = position + 1
        if position % spec.slide == 0:
            self.windows.append(_Window(key, code, ts, ts, last=position // spec.slide))
        done = []
        for w in [w for w in self.windows if w.code == code]:
            number = w.last
            if number * spec.slide <= position < number * spec.slide + spec.size:
                w.rows.append(row)
                if position == number * spec.slide + spec.size - 1:
                    w.end = ts
                    done.append(w)
                    self.windows.remove(w)
        return done

    def _add_session(
        self, row: Row, key: tuple[object, ...], code: int, ts: int, watermark: int
    ) -> list[_Window]:
        gap = self.stream.window.size  # type: ignore[union-attr]
        near = [w for w in self.windows if w.code == code and w.start - gap <= ts <= w.last + gap]
        if not near:
            if ts + gap < watermark:
                self.late += 1
                return []
            self.windows.append(_Window(key, code, ts, 0, [row], ts))
            return []
        near.sort(key=lambda w: self.windows.index(w))
        target = near[0]
        for other in near[1:]:
            target.rows = sorted(target.rows + other.rows, key=lambda r: r["_seq"])  # type: ignore[arg-type, return-value]
            target.start = min(target.start, other.start)
            target.last = max(target.last, other.last)
            self.windows.remove(other)
        target.rows.append(row)
        target.start = min(target.start, ts)
        target.last = max(target.last, ts)
        return []

    def _due(self) -> list[_Window]:
        spec = self.stream.window
        assert spec is not None
        if spec.kind is WindowKind.COUNT:
            return []
        if spec.kind is WindowKind.SESSION:
            due = [w for w in self.windows if self.watermark > w.last + spec.size]
        else:
            due = [w for w in self.windows if w.end <= self.watermark]
        for w in due:
            self.windows.remove(w)
        return due

    def _emit(self, windows: list[_Window], seq: int) -> list[Row]:
        spec = self.stream.window
        assert spec is not None and self.aggregate is not None
        for w in windows:
            if spec.kind is WindowKind.SESSION:
                w.start = min(r["_ts"] for r in w.rows)  # type: ignore[type-var]
                w.end = w.last + spec.size
        windows = sorted(windows, key=lambda w: (w.end, w.code))
        out = []
        for w in windows:
            self.closed += 1
            row = self._window_row(w, seq)
            result = _apply(self.after, row)
            if result is not None:
                out.append(result)
        return out

    def _window_row(self, w: _Window, seq: int) -> Row:
        values: dict[int, object] = {}
        assert self.aggregate is not None
        for item in self.aggregate.items:
            for call in _calls(item.value):
                func = aggregate_of(call.func, len(call.args))
                assert func is not None
                arg = call.args[0] if call.args else None
                if func is Aggregate.COUNT and arg is None:
                    values[id(call)] = len(w.rows)
                    continue
                args = [evaluate(arg, r) for r in w.rows]  # type: ignore[arg-type]
                if func is Aggregate.COUNT:
                    values[id(call)] = sum(a is not None for a in args)
                    continue
                param = call.args[1].value if func in (Aggregate.PERCENTILE, Aggregate.EMA) else None  # type: ignore[attr-defined]
                values[id(call)] = aggregate(func, args, param)
        keys = dict(zip(self.stream.partition_keys, w.key, strict=True))
        row: Row = {"_ts": w.end, "_seq": seq}
        for item in self.aggregate.items:
            row[item.name] = evaluate(item.value, keys, values)
        for k, v in keys.items():
            row.setdefault(k, v)
        row["_window_start"] = w.start
        row["_window_end"] = w.end
        return row


def _calls(expr: ast.Expr) -> list[ast.Call]:
    if isinstance(expr, ast.Call) and aggregate_of(expr.func) is not None:
        return [expr]
    found: list[ast.Call] = []
    for child in vars(expr).values():
        if isinstance(child, ast.Expr):
            found += _calls(child)
        elif isinstance(child, tuple):
            for c in child:
                if isinstance(c, ast.Expr):
                    found += _calls(c)
    return found


def _apply(ops: list[ast.Operation], row: Row) -> Row | None:
    for op in ops:
        if isinstance(op, ast.WhereOp | ast.HavingOp):
            if evaluate(op.condition, row) is not True:
                return None
        elif isinstance(op, ast.SelectOp | ast.EmitOp) and op.items:
            new: Row = {"_ts": row["_ts"], "_seq": row["_seq"]}
            for item in op.items:
                new[item.name] = evaluate(item.value, row)
            for name in ("_window_start", "_window_end"):
                if name in row:
                    new[name] = row[name]
            row = new
    return row


def run_reference(program: Program, events: list[tuple[str, Row]]) -> dict[str, list[Row]]:
    """Every stream's outputs for events given in arrival order as (type, row with _ts).

    Each event goes through the streams in topological order; a stream takes the rows that
    reached it from the event in the order of its inputs (a merge's ports, as written).
    """
    order = program.topological_order()
    streams = {s.name: RefStream(s) for s in order}
    outputs: dict[str, list[Row]] = {name: [] for name in streams}

    def run(arrived: dict[str, list[Row]], end_seq: int | None) -> None:
        for s in order:
            rows = [(p, row) for p, i in enumerate(s.inputs) for row in arrived.get(i.name, [])]
            produced = []
            for port, row in rows:
                if s.join is not None:
                    produced += streams[s.name].on_join_row(port, row)
                else:
                    produced += streams[s.name].on_row(row)
            if end_seq is not None and s.window is not None:
                produced += streams[s.name].finish(end_seq)
            outputs[s.name] += produced
            arrived[s.name] = produced

    for seq, (event_type, row) in enumerate(events):
        run({event_type: [{**row, "_seq": seq}]}, None)
    run({}, len(events))
    return outputs
