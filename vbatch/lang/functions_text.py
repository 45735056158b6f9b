"""User functions (`fn`) lifted out of a program's text before it is parsed.

The grammar ignores newlines, so a function body — `let` lines, then one expression — is
read by lines instead: each `fn` block (its header line and the lines indented under it)
is cut out of the text, and blank lines take its place, so that every other statement
keeps its line numbers. Each body line is then parsed on its own as an expression, at its
own line and column, so errors point into the function.

Only pure bodies are read: `let`/`var` lines and one result expression (optionally after
`return`). A body with loops, `if` blocks or `emit` statements is refused as VPL that
vbatch does not run yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vbatch.errors import Span, VplSyntaxError
from vbatch.lang import ast

_HEADER = re.compile(
    r"(?P<indent>[ \t]*)fn[ \t]+(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]*"
    r"\((?P<params>[^()]*)\)[ \t]*(?:->[ \t]*(?P<returns>[A-Za-z_][A-Za-z0-9_]*)[ \t]*)?:"
    r"[ \t]*(?:(?:#|//).*)?$"
)
_START = re.compile(r"[ \t]*fn[ \t]+[A-Za-z_]")
_PARAM = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*:[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*")
_LET = re.compile(
    r"(?:let|var)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?::[ \t]*[A-Za-z_]\w*)?[ \t]*=(?!=)"
)
_IMPERATIVE = ("for", "while", "if", "elif", "else", "emit", "match")
IMPERATIVE_BODY = "`fn` bodies with loops, `if` blocks or `emit` (imperative functions)"


@dataclass
class Lifted:
    """The text with its `fn` blocks blanked out, and the functions read from them."""

    text: str
    functions: list[ast.FnDecl]


ParseExpr = Callable[[str], ast.Expr]


def lift_functions(text: str, parse_expr: ParseExpr) -> Lifted:
    """Cut every `fn` block out of `text`; `parse_expr` reads one expression, given a text
    whose only non-blank part is the expression at its place."""
    lines = text.split("\n")
    if not any(_START.match(line) for line in lines):
        return Lifted(text, [])
    functions = []
    i = 0
    while i < len(lines):
        if not _START.match(lines[i]):
            i += 1
            continue
        header = _HEADER.match(lines[i])
        if header is None:
            raise VplSyntaxError(
                "a function starts `fn name(param: type, ...) -> type:` on one line",
                Span.point(i + 1, len(lines[i]) - len(lines[i].lstrip()) + 1, 2),
            )
        indent = len(header.group("indent").expandtabs())
        end = i + 1
        while end < len(lines) and _inside(lines[end], indent):
            end += 1
        body = [(n, lines[n]) for n in range(i + 1, end)]
        functions.append(_function(header, i, body, lines, parse_expr))
        for n in range(i, end):
            lines[n] = ""
        i = end
    return Lifted("\n".join(lines), functions)


def _blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(("#", "//"))


def _inside(line: str, indent: int) -> bool:
    """Whether a line belongs to the block above it: blank, a comment, or indented more."""
    if _blank(line):
        return True
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip()) > indent


def _function(
    header: re.Match[str],
    at: int,
    body: list[tuple[int, str]],
    lines: list[str],
    parse_expr: ParseExpr,
) -> ast.FnDecl:
    params = []
    text = header.group("params")
    for part in text.split(",") if text.strip() else []:
        match = _PARAM.fullmatch(part)
        if match is None:
            column = lines[at].index("(") + 2
            raise VplSyntaxError("a parameter is written `name: type`", Span.point(at + 1, column))
        params.append((match.group(1), match.group(2)))
    lets: list[tuple[str, ast.Expr]] = []
    result: ast.Expr | None = None
    code = [(n, line) for n, line in body if not _blank(line)]
    if not code:
        raise VplSyntaxError("a function needs a body: `let` lines, then one expression",
                             Span.point(at + 1, 1, len(lines[at])))  # fmt: skip
    for k, (n, line) in enumerate(code):
        column = len(line) - len(line.lstrip()) + 1
        stripped = line.strip()
        word = re.match(r"[A-Za-z_]\w*", stripped)
        first = word.group() if word is not None else ""
        if first in _IMPERATIVE and (first != "if" or stripped.endswith(":")):
            raise VplSyntaxError(f"{IMPERATIVE_BODY} are VPL that vbatch does not run yet",
                                 Span.point(n + 1, column, len(first)))  # fmt: skip
        let = _LET.match(stripped)
        last = k == len(code) - 1
        if let is not None and not last:
            offset = column - 1 + let.end()
            lets.append((let.group(1), parse_expr(_placed(line, n, offset))))
            continue
        if let is not None:
            raise VplSyntaxError("a function ends with its result expression, not a `let`",
                                 Span.point(n + 1, column, 3))  # fmt: skip
        if not last:
            raise VplSyntaxError("a function's lines before its result are `let` lines",
                                 Span.point(n + 1, column))  # fmt: skip
        offset = column - 1 + (len("return") if re.match(r"return\b", stripped) else 0)
        result = parse_expr(_placed(line, n, offset))
    assert result is not None
    name_column = header.start("name") + 1
    return ast.FnDecl(
        header.group("name"),
        tuple(params),
        header.group("returns"),
        tuple(lets),
        result,
        Span(at + 1, len(header.group("indent")) + 1, at + 1, len(lines[at]) + 1),
        Span.point(at + 1, name_column, len(header.group("name"))),
    )


def _placed(line: str, index: int, offset: int) -> str:
    """A text holding only `line[offset:]`, at its line and column in the program."""
    return "\n" * index + " " * offset + line[offset:]
