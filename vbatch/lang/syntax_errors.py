"""lark's parse errors → VplSyntaxError with a precise message and a hint."""

from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from vbatch.errors import Span, VplSyntaxError, suggest

OPERATIONS = (
    "context",
    "where",
    "select",
    "emit",
    "print",
    "partition_by",
    "window",
    "aggregate",
    "having",
    "watermark",
    "on",
    "allowed_lateness",
    "log",
)
STATEMENTS = (
    "stream",
    "context",
    "event",
    "let",
    "const",
    "var",
    "connector",
    "config",
    "import",
    "fn",
)

# VPL that Varpulis documents and vbatch does not run yet: refused with what it is, rather
# than as a typo. Keyed by the word that starts it.
NOT_YET_OPERATIONS = {
    "forecast": "`.forecast(...)`",
    "enrich": "`.enrich(...)`",
    "trend_aggregate": "`.trend_aggregate(...)`",
    "pattern": "`.pattern(...)`",
    "within": "`.within(...)` (sequence patterns)",
    "not": "`.not(...)` (sequence negation)",
    "process": "`.process(...)`",
    "tap": "`.tap(...)`",
    "score": "`.score(...)`",
    "concurrent": "`.concurrent(...)`",
}
NOT_YET_STATEMENTS = {
    "pattern": "`pattern` (named sequence patterns)",
    "for": "a top-level `for` loop",
}
NOT_YET_SOURCES = {"timer": "`timer(...)` sources"}
SEQUENCE = "sequence patterns (`A as a -> B ...`)"

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a duration",
    "STRING": "a string",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "SEMICOLON": "`;`",
    "DOT": "`.`",
    "EQUAL": "`=`",
    "MINUS": "`-`",
    "PLUS": "`+`",
    "COMPARE": "a comparison",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*`, `/` or `%`",
    "$END": "end of input",
}


def syntax_error(err: UnexpectedInput, text: str) -> VplSyntaxError:
    """The error to report for a failed parse of `text`."""
    if isinstance(err, UnexpectedCharacters):
        position = err.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        span = Span.point(err.line, err.column)
        if text.startswith("/*", position):
            return VplSyntaxError("unterminated `/*` comment", span, hint="close it with `*/`")
        if char in "\"'":
            return VplSyntaxError("unterminated string", span, hint="close it on the same line")
        return VplSyntaxError(f"unexpected character `{char}`", span)
    if isinstance(err, UnexpectedToken):
        return _unexpected_token(err, text)
    if isinstance(err, UnexpectedEOF):
        line, column = _end_position(text)
        return VplSyntaxError("unexpected end of input", Span.point(line, column))
    return VplSyntaxError(str(err), Span.point(err.line, err.column))


def _unexpected_token(err: UnexpectedToken, text: str) -> VplSyntaxError:
    token = err.token
    expected = _accepted(err)
    if token.type == "$END":
        line, column = _end_position(text)
        msg = f"unexpected end of input; expected {_describe(expected)}"
        return VplSyntaxError(msg, Span.point(line, column))
    span = token_span(token)
    word = str(token)
    start = token.start_pos or 0
    if text[max(start - 1, 0) : start + 1] == "/*":
        where = Span.point(token.line, max(token.column - 1, 1), 2)
        return VplSyntaxError("unterminated `/*` comment", where, hint="close it with `*/`")
    not_yet = _not_yet(token, expected, text)
    keyword = _unsupported_keyword_before(token, text)
    if not_yet is None and keyword is not None:
        not_yet, span = NOT_YET_STATEMENTS[keyword[0]], keyword[1]
    if not_yet is not None:
        verb = "are" if not_yet in (SEQUENCE, NOT_YET_SOURCES["timer"]) else "is"
        return VplSyntaxError(f"{not_yet} {verb} VPL that vbatch does not run yet", span)
    if "WHERE" in expected and token.type == "NAME":
        return VplSyntaxError(
            f"unknown operation `.{word}`", span, hint=suggest(word, OPERATIONS, cutoff=0.6)
        )
    if word in OPERATIONS and "DOT" in expected:
        return VplSyntaxError(f"missing `.` before `{word}`", span, hint=f"write `.{word}(...)`")
    if "STREAM" in expected and token.type == "NAME":
        hint = suggest(word, STATEMENTS, cutoff=0.6) or "statements start with " + ", ".join(
            f"`{s}`" for s in STATEMENTS
        )
        return VplSyntaxError(f"unknown statement `{word}`", span, hint=hint)
    msg = f"unexpected {_token_words(token)}; expected {_describe(expected)}"
    return VplSyntaxError(msg, span, hint=_token_hint(token, expected))


def _not_yet(token: Token, expected: set[str], text: str) -> str | None:
    """What documented but unsupported construct the unexpected token starts, if any."""
    word = str(token)
    start = token.start_pos or 0
    if token.type == "NAME" and "WHERE" in expected:
        return NOT_YET_OPERATIONS.get(word)
    if "STREAM" in expected:
        if token.type == "NAME" and word == "as" or text.startswith("->", start):
            return SEQUENCE
        if token.type == "NAME" and word in NOT_YET_STATEMENTS:
            return NOT_YET_STATEMENTS[word]
        if token.type == "LPAR":
            before = text[:start].rstrip()
            called = before[len(before.rstrip("abcdefghijklmnopqrstuvwxyz_")) :]
            return NOT_YET_SOURCES.get(called)
    return None


def _unsupported_keyword_before(token: Token, text: str) -> tuple[str, Span] | None:
    """`fn` / `pattern` / `import` / `for` starting the line of a token the parser did not
    expect: after an `event` block the parser reads such a line as a field, so the error
    arrives one token late."""
    start = token.start_pos or 0
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    word = before.strip()
    if token.type != "NAME" or word not in NOT_YET_STATEMENTS:
        return None
    column = len(before) - len(before.lstrip()) + 1
    return word, Span.point(token.line or 1, column, len(word))


def _accepted(err: UnexpectedToken) -> set[str]:
    """The terminals the parser could really take here (LALR lookaheads over-approximate)."""
    try:
        accepted = set(err.interactive_parser.accepts())
    except (AttributeError, UnexpectedInput):
        accepted = set()
    return accepted or {str(e) for e in err.expected}


def _token_words(token: Token) -> str:
    if token.type in {"NAME", "NUMBER", "DURATION", "STRING"}:
        return f"{_TERMINAL_WORDS[token.type].split(' ', 1)[1]} `{token}`"
    return f"`{token}`"


def _token_hint(token: Token, expected: set[str]) -> str | None:
    if token.type == "EQUAL" and "COMPARE" in expected:
        return "use `==` to compare"
    if token.type == "NAME" and "COMMA" in expected and "RPAR" in expected:
        return "separate arguments with commas"
    if token.type == "NAME" and str(token) in {"AND", "OR", "NOT", "And", "Or"}:
        return f"logical operators are lowercase: `{str(token).lower()}`"
    if token.type == "NAME" and "DOT" in expected:
        return "stream operations start with a dot, e.g. `.where(...)`"
    return None


_CLOSERS = ("RPAR", "RSQB", "RBRACE", "COMMA", "COLON", "EQUAL", "LPAR", "DOT")


def _describe(expected: set[str]) -> str:
    """A short English list of what the parser could have taken instead."""
    if {"NAME", "NUMBER", "STRING"} <= expected:
        return "an expression"
    if "STREAM" in expected and "EVENT" in expected:
        return "a statement (`stream`, `context`, `event`, `let`, `const`, `var`)"
    closers = [c for c in _CLOSERS if c in expected]
    names = closers or sorted(expected)
    words = list(dict.fromkeys(_word(n) for n in names))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _word(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    return f"`{terminal.lower()}`"


def _end_position(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


def token_span(token: Token) -> Span:
    """Where a token stands in the text."""
    return Span(token.line or 1, token.column or 1, token.end_line or 1, token.end_column or 1)
