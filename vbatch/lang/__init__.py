"""The language front end: parse VPL text, check it, print it back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbatch.lang.nesting import ensure_recursion_room

if TYPE_CHECKING:
    from vbatch.lang.check import check
    from vbatch.lang.parser import parse
    from vbatch.lang.program import Program

# Every process that loads the language (the command line, notebooks, worker processes
# compiling kernels) walks trees up to MAX_NESTING deep.
ensure_recursion_room()


def compile_text(text: str, source_name: str = "<input>") -> Program:
    """Parse and check VPL source text.

    >>> compile_text("stream S = E .where(x > 1)").streams[0].name
    'S'
    """
    from vbatch.lang.check import check
    from vbatch.lang.parser import BOM, parse

    text = text.removeprefix(BOM)
    return check(parse(text, source_name), source_name, text)


def __getattr__(name: str) -> object:
    """`check`, `parse` and `Program`, imported on first use: a worker process imports the
    syntax tree and program types (through the plan) without the parser and lark."""
    if name == "check":
        from vbatch.lang.check import check

        return check
    if name == "parse":
        from vbatch.lang.parser import parse

        return parse
    if name == "Program":
        from vbatch.lang.program import Program

        return Program
    raise AttributeError(f"module 'vbatch.lang' has no attribute {name!r}")


__all__ = ["check", "compile_text", "parse", "Program"]
