"""One error hierarchy for vbatch; every user-facing error can render itself with a caret."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Control characters but tab: C0 (newline included: a message is one line), DEL and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""`text` safe to print on a terminal: control characters (ESC, BEL, newlines) that came
    from the input are shown as escapes, so they neither drive the terminal nor forge lines.

    >>> printable("A\x1b[31mB\x07")
    'A\\x1b[31mB\\x07'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _shown(line: str) -> str:
    """A source line with each control character as one replacement character (carets below
    it stay aligned)."""
    return _CONTROL.sub("\ufffd", line)


def suggest(word: str, choices: Iterable[str], cutoff: float = 0.7) -> str | None:
    """A "did you mean" hint naming the closest of `choices`, if one is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean `{close[0]}`?" if close else None


@dataclass(frozen=True)
class Span:
    """A region of source text: 1-based line and column, end exclusive; `source` names the
    file when it is not the program's own (a file it imports)."""

    line: int
    column: int
    end_line: int
    end_column: int
    source: str | None = field(default=None, compare=False)

    @classmethod
    def point(cls, line: int, column: int, width: int = 1) -> Span:
        """A span of `width` characters starting at line:column."""
        return cls(line, column, line, column + width)


# The text of every file a program imports, by the name its spans give (for carets).
IMPORTED_TEXTS: dict[str, str] = {}


class VbatchError(Exception):
    """Base of every error vbatch reports to a user; `exit_code` is what the CLI returns."""

    exit_code = 4
    label = ""  # put before the message: `warning: ` for a CheckWarning

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        hint: str | None = None,
        source_name: str | None = None,
        source_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.source_name = source_name
        self.source_text = source_text

    @property
    def line(self) -> int | None:
        """1-based line of the error, when known."""
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        """1-based column of the error, when known."""
        return self.span.column if self.span else None

    def with_source(self, name: str, text: str | None) -> VbatchError:
        """Attach the file name and text so the error can show the offending line."""
        if self.source_name is None:
            self.source_name = name
        if self.source_text is None:
            self.source_text = text
        return self

    def render(self) -> str:
        """`file:line:col: message`, the source line, a caret underline and a hint."""
        name, text = self.source_name, self.source_text
        if self.span is not None and self.span.source is not None:  # in an imported file
            name, text = self.span.source, IMPORTED_TEXTS.get(self.span.source)
        where = printable(name or "<input>")
        message, hint = self.label + printable(self.message), printable(self.hint or "")
        if self.span is None:
            head = f"{where}: {message}" if name else message
            if not name and not self.label:
                head = f"error: {message}"
            return head + (f"\nhint: {hint}" if hint else "")
        head = f"{where}:{self.span.line}:{self.span.column}: {message}"
        lines = [head]
        source_line = _line_of(text, self.span.line)
        if source_line is not None:
            source_line = _shown(source_line)
            gutter = f"{self.span.line:>5} | "
            lines.append(gutter + source_line)
            width = _caret_width(self.span, len(source_line))
            lines.append(
                " " * (len(gutter) - 2) + "| " + " " * (self.span.column - 1) + "^" * width
            )
        if hint:
            lines.append(f"hint: {hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render() if self.source_name else self.message


def _line_of(text: str | None, line: int) -> str | None:
    if text is None:
        return None
    all_lines = text.splitlines()
    if 1 <= line <= len(all_lines):
        return all_lines[line - 1].expandtabs(1)
    return None


def _caret_width(span: Span, line_length: int) -> int:
    if span.end_line != span.line:
        return max(1, line_length - span.column + 1)
    return max(1, min(span.end_column, line_length + 1) - span.column)


class VplSyntaxError(VbatchError):
    """The program text does not follow the VPL grammar."""

    exit_code = 1


class CheckError(VbatchError):
    """The program parses but is not valid: unknown names, bad arguments, cycles."""

    exit_code = 1


class CheckWarning(CheckError):
    """Something a program may do but should not: reported, and the program still runs."""

    label = "warning: "


class InputError(VbatchError):
    """An input file is missing, unreadable or holds a malformed record."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        span = Span.point(line, column or 1) if line is not None else None
        super().__init__(message, span, hint=hint, source_name=path)
        self.path = path
        self.record_line = line

    def render(self) -> str:
        where = printable(self.path or "<input>")
        if self.record_line is not None:
            where += f":{self.record_line}"
            if self.span is not None and self.span.column:
                where += f":{self.span.column}"
        text = f"{where}: {printable(self.message)}"
        return text + (f"\nhint: {printable(self.hint)}" if self.hint else "")


class ConfigError(VbatchError):
    """The run was asked for something this machine or these options cannot give."""

    exit_code = 3


class EngineError(VbatchError):
    """The engine failed while running a valid program (a worker died, a kernel raised)."""

    exit_code = 4


class EvaluationError(EngineError):
    """An expression could not be computed over the rows that reached it (a kernel failed)."""


class SchemaError(VbatchError):
    """The rows that reach a stream do not fit its program (a field missing or mistyped)."""

    exit_code = 1


class OutputClosed(VbatchError):
    """Standard output was closed by its reader (`vbatch ... | head`): stop quietly."""

    exit_code = 0
