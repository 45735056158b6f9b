"""What a stream has declared so far while its operations are checked in order."""

from __future__ import annotations

from vbatch.errors import CheckError, Span, suggest
from vbatch.lang import ast
from vbatch.lang.constants import MAX_DURATION_MS, Millis, fold
from vbatch.lang.durations import format_duration
from vbatch.lang.names import WINDOW_FIELDS, Scope
from vbatch.lang.program import Context, WindowKind, WindowSpec

MAX_WINDOWS_PER_ROW = 10_000  # of a sliding window: size / slide


class StreamState:
    """A stream's context, partition keys, window and watermark, set as its operations come."""

    def __init__(self, decl: ast.StreamDecl) -> None:
        self.decl = decl
        self.context: str | None = None
        self.partition_keys: tuple[str, ...] = ()
        self.partition_span: Span | None = None
        self.window: WindowSpec | None = None
        self.window_span: Span | None = None
        self.watermark_ms = 0
        self.watermark_seen = False
        self.lateness_seen = False
        self.aggregated = False
        self.emit_context: str | None = None
        self.emitted = False
        self.join_keys: tuple[str, ...] | None = None  # a join's `.on(...)`, per source
        self.join_window_ms: int | None = None

    def set_context(self, op: ast.ContextOp, contexts: dict[str, Context]) -> None:
        if self.context is not None:
            raise CheckError("a stream runs in one context; `.context` is given twice", op.span)
        if op.context not in contexts:
            msg = f"unknown context `{op.context}`"
            hint = suggest(op.context, contexts) or f"declare it with `context {op.context}`"
            raise CheckError(msg, op.span, hint=hint)
        self.context = op.context

    def set_watermark(self, op: ast.WatermarkOp, constants: dict[str, object]) -> None:
        if self.watermark_seen:
            raise CheckError("`.watermark` is given twice", op.span)
        self._delay_closing(".watermark", "out_of_order", op.out_of_order, op.span, constants)
        self.watermark_seen = True

    def set_lateness(self, op: ast.LatenessOp, constants: dict[str, object]) -> None:
        """Rows up to this far behind the watermark still join their window: each window
        is emitted once, when the watermark has passed its end by the lateness too."""
        if self.lateness_seen:
            raise CheckError("`.allowed_lateness` is given twice", op.span)
        name = ".allowed_lateness"
        self._delay_closing(name, name, op.lateness, op.span, constants)
        self.lateness_seen = True

    def _delay_closing(
        self, op_name: str, name: str, value: ast.Expr, span: Span, constants: dict[str, object]
    ) -> None:
        """Add a duration to how far the watermark stays behind the newest row (the
        out-of-orderness and the allowed lateness add up)."""
        if self.window is not None:
            raise CheckError(f"`{op_name}` must come before `.window`", span)
        delay = fold(value, constants)
        if not isinstance(delay, Millis):
            raise CheckError(f"`{name}` takes a duration such as `2s`", value.span)
        if delay < 0:
            raise CheckError(f"`{name}` cannot be negative", value.span)
        self.watermark_ms += int(delay)

    def set_partition(self, op: ast.PartitionOp, scope: Scope) -> None:
        if self.partition_keys:
            raise CheckError("`.partition_by` is given twice", op.span)
        if self.window is not None:
            raise CheckError("`.partition_by` must come before `.window`", op.span)
        if len(set(op.keys)) != len(op.keys):
            raise CheckError("`.partition_by` names a key twice", op.span)
        for key in op.keys:
            if not scope.has(key):
                msg = f"unknown field `{key}` in {scope.describe}"
                raise CheckError(msg, op.span, hint=suggest(key, scope.fields or ()))
        self.partition_keys = op.keys
        self.partition_span = op.span

    def set_window(self, op: ast.WindowOp, constants: dict[str, object]) -> None:
        if self.window is not None:
            raise CheckError("a stream has one `.window`", op.span)
        self.window = window_spec(op, constants)
        self.window_span = op.span

    def set_emit(self, op: ast.EmitOp, contexts: dict[str, Context]) -> None:
        if op.context is not None and op.context not in contexts:
            msg = f"`.emit` to unknown context `{op.context}`"
            hint = suggest(op.context, contexts) or f"declare it with `context {op.context}`"
            raise CheckError(msg, op.context_span, hint=hint)
        self.emit_context = op.context
        self.emitted = True

    def require_no_emit_before(self, op: ast.Operation) -> None:
        if self.emitted and not isinstance(op, ast.PrintOp):
            msg = "`.emit` must be the last operation of a stream"
            raise CheckError(msg, op.span, hint="move this operation before `.emit(...)`")

    def scope_after(self, op: ast.Operation, scope: Scope) -> Scope:
        describe = f"stream `{self.decl.name}`"
        if isinstance(op, ast.AggregateOp):
            names = [i.name for i in op.items]
            names += [k for k in self.partition_keys if k not in names]
            return Scope((*names, *WINDOW_FIELDS), describe)
        if isinstance(op, ast.SelectOp | ast.EmitOp) and op.items:
            carried = WINDOW_FIELDS if self.aggregated else ()
            return Scope((*(i.name for i in op.items), *carried), describe)
        return scope


def window_spec(op: ast.WindowOp, constants: dict[str, object]) -> WindowSpec:
    size = _positive(op.size, constants, "window size")
    if op.syntax is ast.WindowSyntax.SESSION:
        if not isinstance(size, Millis):
            raise CheckError("a session gap is a duration such as `5s`", op.size.span)
        return WindowSpec(WindowKind.SESSION, int(size), int(size), op.span)
    kind = WindowKind.TIME if isinstance(size, Millis) else WindowKind.COUNT
    if op.slide is None:
        return WindowSpec(kind, int(size), int(size), op.span)
    slide = _positive(op.slide, constants, "slide")
    if isinstance(slide, Millis) != (kind is WindowKind.TIME):
        msg = "the slide must be of the same kind as the size (both durations or both counts)"
        raise CheckError(msg, op.slide.span)
    if slide > size:
        msg = f"the slide ({_show(slide)}) is larger than the window ({_show(size)})"
        raise CheckError(msg, op.slide.span, hint="use a slide no larger than the window")
    per_row = -(-size // slide)
    if per_row > MAX_WINDOWS_PER_ROW:
        least = -(-size // MAX_WINDOWS_PER_ROW)
        least = Millis(least) if isinstance(size, Millis) else least
        msg = f"each row would fall in {per_row:,} windows ({_show(size)} / {_show(slide)})"
        hint = f"a row is in at most {MAX_WINDOWS_PER_ROW:,}: make the slide {_show(least)} or more"
        raise CheckError(msg, op.slide.span, hint=hint)
    return WindowSpec(kind, int(size), int(slide), op.span)


def _positive(expr: ast.Expr, constants: dict[str, object], what: str) -> int:
    value = fold(expr, constants)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"the {what} must be a duration such as `30s` or a whole number of events"
        raise CheckError(msg, expr.span)
    if value <= 0:
        raise CheckError(f"the {what} must be positive, not {_show(value)}", expr.span)
    if value > MAX_DURATION_MS:
        raise CheckError(f"the {what} must be at most 2**61, not {value:,}", expr.span)
    return value


def _show(value: int) -> str:
    return format_duration(int(value)) if isinstance(value, Millis) else str(value)
