"""The console format of `vbatch simulate`, as the tutorial shows it.

Rules (docs/console.md explains them):
- `--verbose` shows one line per input event when some stream reading events emits per
  event; otherwise one `[  a-b] N events dispatched to K contexts` line per input chunk.
- Outputs follow the event (or window closing) that caused them; windows closed at end of
  input come after a blank line; alerts (outputs with an `alert_type` field) are shown as
  `ALERT:` blocks after everything else.
- `(filtered: ...)` explains why a stream that forwards to another context dropped an event.
- Floats show one decimal, rounded half away from zero; machine outputs keep full precision.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from vbatch.figures import Summary
from vbatch.io.source import EventBatch, InputChunk
from vbatch.kernels.protocol import EmitKind
from vbatch.plan.logical import LogicalPlan, StreamPlan
from vbatch.runtime.order import Keys, event_keys, merge_order, row_keys
from vbatch.runtime.pipeline import Emitted


def format_value(value: object, quote: bool = True) -> str:
    """One value as the console shows it: floats to one decimal, strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _one_decimal(value)
    if isinstance(value, str):
        return _quote(value) if quote else value
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, quote) for v in value) + "]"
    return str(value)


def _one_decimal(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_record(row: dict[str, object], names: list[str]) -> str:
    """`{ a: 1, b: "x" }`."""
    if not names:
        return "{ }"
    return "{ " + ", ".join(f"{n}: {format_value(row[n])}" for n in names) + " }"


def visible(names: list[str]) -> list[str]:
    """Field names a person sees: reserved `_` and hidden `__` columns left out."""
    return [n for n in names if not n.startswith("_")]


class ConsoleRenderer:
    """Writes the header, the trace of a run, and the summary block."""

    def __init__(
        self, plan: LogicalPlan, write: Callable[[str], None], *, verbose: bool, quiet: bool = False
    ) -> None:
        self.plan = plan
        self.write = write
        self.verbose = verbose
        self.quiet = quiet
        self.streams = {s.name: s for s in plan.streams}
        self.per_event = any(s.reads_events and s.is_per_event for s in plan.streams)
        self.section: str | None = None
        self.alerts: list[str] = []

    def start(self, contexts_declared: int) -> None:
        """The header."""
        if self.quiet:
            return
        self.write(
            f"Program loaded: {len(self.plan.streams)} streams, {contexts_declared} contexts\n"
        )
        self.write("\nStarting simulation...\n")
        self.section = "header"

    def chunk(self, chunk: InputChunk | None, emitted: list[Emitted]) -> None:
        """Everything one input chunk caused (chunk None: the end-of-input flush)."""
        lines = self._lines(chunk, emitted)
        if chunk is not None and self.verbose and not self.per_event and chunk.count:
            self._emit_section("range", [self._range_line(chunk)])
        section = "flush" if chunk is None or not self.per_event else "trace"
        self._emit_section(section, lines)

    def finish(self, summary: Summary) -> None:
        """Alerts, then the summary block."""
        self._emit_section("alerts", self.alerts)
        self.write("Simulation Complete\n" if self.quiet else "\nSimulation Complete\n")
        self.write("======================\n")
        self.write(f"Events processed: {summary.events}\n")
        self.write(f"Contexts used:    {summary.contexts_used}\n")
        if summary.cross_context_events is not None:
            self.write(f"Cross-context events: {summary.cross_context_events}\n")
        for noun, count in summary.window_counts:
            self.write(f"{noun.capitalize() + 's closed:':<17} {count}\n")
        if summary.late_events:
            self.write(f"Late events dropped: {summary.late_events}\n")
        if summary.bad_records:
            self.write(f"Bad records skipped: {summary.bad_records}\n")

    def _emit_section(self, section: str, lines: list[str]) -> None:
        if not lines:
            return
        if section != self.section:
            self.write("\n")
            self.section = section
        self.write("".join(line + "\n" for line in lines))

    def _range_line(self, chunk: InputChunk) -> str:
        first, last = chunk.first_seq + 1, chunk.first_seq + chunk.count
        types = {b.event_type for b in chunk.batches}
        contexts = {
            s.context
            for s in self.plan.streams
            if s.context is not None and any(i.name in types for i in s.inputs)
        }
        label = f"[{first:>3}-{last}] {chunk.count} events"
        if not contexts:
            return f"  {label} processed"
        plural = "s" if len(contexts) != 1 else ""
        return f"  {label} dispatched to {len(contexts)} context{plural}"

    # ---- ordering ----------------------------------------------------------

    def _lines(self, chunk: InputChunk | None, emitted: list[Emitted]) -> list[str]:
        parts: list[tuple[Callable[[int], tuple[str | None, str]], Keys]] = []
        if chunk is not None and self.verbose and self.per_event:
            for event in chunk.batches:
                parts.append(
                    (self._event_lines(event), event_keys(event.batch.column("_seq").to_numpy()))
                )
        for item in emitted:
            if item.kind is EmitKind.FILTERED and not self.verbose:
                continue
            stream = self.streams[item.stream]
            parts.append((self._row_lines(item, stream), row_keys(item.batch, stream, item.kind)))
        which, rows = merge_order([keys for _, keys in parts])
        lines = []
        for part, row in zip(which.tolist(), rows.tolist(), strict=True):
            alert, line = parts[part][0](row)
            if alert is not None:
                self.alerts.append(alert)
            else:
                lines.append(line)
        return lines

    def _event_lines(self, item: EventBatch) -> Callable[[int], tuple[None, str]]:
        seq = item.batch.column("_seq").to_numpy()
        ts = item.batch.column("_ts").to_numpy()

        def line(row: int) -> tuple[None, str]:
            return None, f"  [{seq[row] + 1:>3}] @{ts[row]:>6}ms {item.event_type} {{ ... }}"

        return line

    def _row_lines(
        self, item: Emitted, stream: StreamPlan
    ) -> Callable[[int], tuple[str | None, str]]:
        rows = item.batch.to_pylist()
        names = item.batch.schema.names
        render = _RENDERERS[item.kind]
        return lambda row: render(self, stream, rows[row], names)

    # ---- one row -----------------------------------------------------------

    def _output(self, stream: StreamPlan, row: dict, names: list[str]) -> tuple[str | None, str]:
        fields = visible(names)
        if "alert_type" in row:
            return self._alert(row, fields), ""
        if stream.window is not None and not stream.emits_after_window:
            return self._window(stream, row, names)
        target = f" -> {stream.emit_context}" if stream.emit_context else ""
        return None, f"  => {stream.name}{target}: {format_record(row, fields)}"

    def _window(self, stream: StreamPlan, row: dict, names: list[str]) -> tuple[None, str]:
        window = stream.window
        assert window is not None
        tag = window.window.facts.label
        fields = [name for name, _ in window.outputs]
        label = ""
        if window.keys:
            label = " (" + ", ".join(format_value(row[k], quote=False) for k in window.keys) + ")"
        return None, f"  [{tag}] {stream.name}{label}: {format_record(row, fields)}"

    def _filtered(self, stream: StreamPlan, row: dict, names: list[str]) -> tuple[None, str]:
        return None, f"  (filtered: {row['reason']})"

    def _printed(self, stream: StreamPlan, row: dict, names: list[str]) -> tuple[None, str]:
        return None, f"  {row['text']}"

    def _alert(self, row: dict, fields: list[str]) -> str:
        lines = [f"ALERT: {format_value(row['alert_type'], quote=False)}"]
        lines += [
            f"  {f}: {format_value(row[f], quote=False)}" for f in fields if f != "alert_type"
        ]
        return "\n".join(lines)


_RENDERERS = {
    EmitKind.OUTPUT: ConsoleRenderer._output,
    EmitKind.WINDOW: ConsoleRenderer._window,
    EmitKind.FILTERED: ConsoleRenderer._filtered,
    EmitKind.PRINT: ConsoleRenderer._printed,
}
