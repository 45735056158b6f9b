"""How deeply a program may nest, and the Python recursion walking a tree that deep needs.

The parser builds trees without recursion, but the walkers after it (the checker, the
printer, the planner, the kernels in every worker process) recurse a few frames per level.
Machine-written programs chain hundreds of `and`s, so the front end admits MAX_NESTING
levels (refusing deeper ones with a located error) and every process that loads the
language gets the recursion room for them.
"""

from __future__ import annotations

import sys

MAX_NESTING = 1000  # levels of expressions (and statements) inside one another
FRAMES_PER_LEVEL = 12  # what the deepest walker takes per level, with a margin
_RECURSION_LIMIT = MAX_NESTING * FRAMES_PER_LEVEL + 2000


def ensure_recursion_room() -> None:
    """Raise Python's recursion limit (never lower it) so a tree of MAX_NESTING levels can be
    walked; 1000 levels of pure-Python recursion fit the C stack many times over."""
    if sys.getrecursionlimit() < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
