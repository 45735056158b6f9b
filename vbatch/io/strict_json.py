"""JSON text as the readers accept it: one rule for JSON lines in `.evt` files and in JSON-lines
files.

Standard JSON only: no `NaN` or `Infinity`, no key twice in one object, integers that fit in
64 bits, numbers a float can hold, no lone surrogate escapes (`"\\ud800"`), and lists or objects
nested at most MAX_NESTING deep. Anything else is a bad record, never a crash.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from vbatch.io.source import MAX_NESTING

_DIGITS_64 = 19  # an integer of more digits cannot fit in 64 bits
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_LONE_SURROGATE = re.compile(
    r"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)(?:\\\\)*\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class JsonProblem(ValueError):
    """Why a JSON text is refused, the 0-based position of the problem in it, maybe a hint."""

    def __init__(self, reason: str, pos: int, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos
        self.hint = hint


def loads(text: str) -> Any:
    """The value of one JSON text, or JsonProblem when vbatch refuses it.

    >>> loads('{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> loads('{"a": NaN}')
    Traceback (most recent call last):
    ...
    vbatch.io.strict_json.JsonProblem: NaN is not a JSON number
    """
    _check_nesting(text)
    hooks = _Hooks(text)
    try:
        value = json.loads(
            text,
            parse_constant=hooks.constant,
            parse_int=hooks.integer,
            parse_float=hooks.number,
            object_pairs_hook=hooks.object,
        )
    except json.JSONDecodeError as err:
        raise JsonProblem(err.msg, err.pos) from None
    lone = _LONE_SURROGATE.search(text) if "\\u" in text else None
    if lone is not None:
        escape = lone.group().lstrip("\\")
        raise JsonProblem(f"lone surrogate \\{escape} in a string", lone.end() - 6)
    return value


def _check_nesting(text: str) -> None:
    """Refuse lists and objects nested deeper than MAX_NESTING (before any recursive parse)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                msg = f"lists or objects nested deeper than {MAX_NESTING} levels"
                raise JsonProblem(msg, match.start())
        elif token in "]}":
            depth -= 1


class _Hooks:
    """json.loads hooks that refuse what vbatch does not read.

    Values pass without any search of the text; only a refused value is looked for, to
    say where it stands: its first occurrence in a value position (an earlier occurrence
    of the same token would have been refused first).
    """

    def __init__(self, text: str) -> None:
        self._text = text

    def _find(self, token: str) -> int:
        """Where the value `token` first stands in the text (0 when it cannot be told)."""
        match = re.compile(r"[\[:,]\s*(" + re.escape(token) + ")").search(self._text)
        return 0 if match is None else match.start(1)

    def constant(self, token: str) -> float:
        raise JsonProblem(f"{token.lstrip('-')} is not a JSON number", self._find(token))

    def integer(self, token: str) -> int:
        if len(token.lstrip("-")) > _DIGITS_64 or not -(2**63) <= (value := int(token)) < 2**63:
            shown = token if len(token) <= 24 else token[:20] + "…"
            hint = "write it as a float (e.g. 1.0e20) or as a string"
            raise JsonProblem(f"integer {shown} does not fit in 64 bits", self._find(token), hint)
        return value

    def number(self, token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            shown = token if len(token) <= 24 else token[:20] + "…"
            raise JsonProblem(f"number {shown} is too large for a float", self._find(token))
        return value

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) == len(pairs):
            return value
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        keys = list(re.finditer(re.escape(json.dumps(twice)) + r"\s*:", self._text))
        at = keys[1].start() if len(keys) > 1 else 0
        raise JsonProblem(f"key {json.dumps(twice)} appears twice in an object", at)
