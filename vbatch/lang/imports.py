"""`import "file.vpl"`: another program file's statements, in the import's place.

A path is relative to the file that imports it (to the working directory for text that is
no file). Each file is included once, however many files import it; a file that imports
itself, through others or not, is an error naming the chain. An imported file's syntax
tree keeps its own name in every span, so an error in it is shown in that file, with its
line and caret.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vbatch.errors import IMPORTED_TEXTS, CheckError, InputError, Span, VbatchError
from vbatch.lang import ast
from vbatch.lang.files import read_program_text

MAX_IMPORTED_FILES = 1_000


def resolve_imports(module: ast.Module, source_name: str) -> ast.Module:
    """The module with each `import` replaced by the statements of the file it names."""
    if not any(isinstance(s, ast.Import) for s in module.statements):
        return module
    here = Path(source_name)
    origin = here.resolve() if here.is_file() else None
    resolver = _Resolver({origin} if origin else set())
    folder, chain = (origin.parent, [origin]) if origin else (Path.cwd(), [])
    statements = resolver.expand(module.statements, folder, chain)
    return dataclasses.replace(module, statements=tuple(statements))


class _Resolver:
    def __init__(self, included: set[Path]) -> None:
        self.included = included

    def expand(
        self, statements: tuple[ast.Statement, ...], folder: Path, chain: list[Path]
    ) -> list[ast.Statement]:
        out: list[ast.Statement] = []
        for statement in statements:
            if not isinstance(statement, ast.Import):
                out.append(statement)
                continue
            path = (folder / statement.path).resolve()
            if path in chain:
                names = " → ".join(p.name for p in [*chain[chain.index(path) :], path])
                raise CheckError(f"imports form a cycle: {names}", statement.span)
            if path in self.included:
                continue  # included once
            if len(self.included) >= MAX_IMPORTED_FILES:
                raise CheckError(f"more than {MAX_IMPORTED_FILES} files imported", statement.span)
            self.included.add(path)
            module = _parsed(path, statement)
            out += self.expand(module.statements, path.parent, [*chain, path])
        return out


def _parsed(path: Path, statement: ast.Import) -> ast.Module:
    """The syntax tree of an imported file, every span naming the file."""
    from vbatch.lang.parser import BOM, parse

    name = str(path)
    try:
        text = read_program_text(path).removeprefix(BOM)
    except InputError as err:
        msg = f'cannot import "{statement.path}": {err.message}'
        raise CheckError(msg, statement.span, hint=f"looked for {path}") from None
    IMPORTED_TEXTS[name] = text
    try:
        module = parse(text, name)
    except VbatchError as err:
        if err.span is not None:
            err.span = dataclasses.replace(err.span, source=name)
        raise
    tagged = ast.rewritten(
        module,
        lambda node: dataclasses.replace(node, source=name) if isinstance(node, Span) else None,
    )
    assert isinstance(tagged, ast.Module)
    return tagged
