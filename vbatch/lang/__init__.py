"""The language front end: parse VPL text, check it, print it back."""

from __future__ import annotations

from vbatch.lang.check import check
from vbatch.lang.nesting import ensure_recursion_room
from vbatch.lang.parser import BOM, parse
from vbatch.lang.program import Program

# Every process that loads the language (the command line, notebooks, worker processes
# compiling kernels) walks trees up to MAX_NESTING deep.
ensure_recursion_room()


def compile_text(text: str, source_name: str = "<input>") -> Program:
    """Parse and check VPL source text.

    >>> compile_text("stream S = E .where(x > 1)").streams[0].name
    'S'
    """
    text = text.removeprefix(BOM)
    return check(parse(text, source_name), source_name, text)


__all__ = ["check", "compile_text", "parse", "Program"]
