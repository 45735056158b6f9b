"""How much of a corpus of VPL programs `vbatch check` accepts, and why it refuses the rest.

    python -m benchmarks.survey DIR [--list]

Every `*.vpl` file under DIR is compiled and planned in this process, as `vbatch check`
does. The first error of each refused program is grouped by its message (with quoted
names and numbers folded), most common first. The issue on the language measured it on
the 92 programs of the Varpulis repository (`git ls-files '*.vpl'` there).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from vbatch.errors import VbatchError
from vbatch.lang import compile_text
from vbatch.plan.build import plan_program


def first_error(path: Path) -> str | None:
    """None when the program checks; else its first error's message, one line."""
    try:
        program = compile_text(path.read_text(encoding="utf-8"), str(path))
        plan_program(program)
    except VbatchError as error:
        return error.message
    except RecursionError:
        return "RecursionError"
    return None


def fold(message: str) -> str:
    """The message with its particulars (quoted names, numbers) folded, for grouping."""
    return re.sub(r"\d+", "N", re.sub(r"`[^`]*`", "`…`", message))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--list", action="store_true", help="print every file's result")
    args = parser.parse_args()
    files = sorted(args.folder.rglob("*.vpl"))
    errors = {f: first_error(f) for f in files}
    passed = [f for f, e in errors.items() if e is None]
    if args.list:
        for f, e in errors.items():
            print(f"{'ok  ' if e is None else 'FAIL'} {f.relative_to(args.folder)}  {e or ''}")
    print(f"{len(passed)} of {len(files)} programs pass `vbatch check`")
    for message, n in Counter(fold(e) for e in errors.values() if e).most_common():
        print(f"{n:4d}  {message}")


if __name__ == "__main__":
    main()
