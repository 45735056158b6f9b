"""Where a run will write, checked before anything is opened for writing.

A path the run cannot write (a missing right, a read-only file system, a file where a folder
should be, a name too long) is an InputError at once (exit 2) instead of a traceback
halfway through the run; a path that is one of the run's own inputs is a ConfigError
(exit 3): no run overwrites its program or its events.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vbatch.errors import ConfigError, InputError

NAME_MAX_BYTES = 255  # the longest file name Linux and macOS file systems take


def check_file_target(path: Path, what: str) -> None:
    """Refuse a file the run could not create or replace (`what` names it in messages)."""
    if path.is_dir():
        raise InputError(f"is a folder, not a file for the {what}", path=str(path))
    _check_name(path, path.name, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write the {what}: {_denied(path)}", path=str(path))
    _check_folder(path.parent, path, what)


def check_folder_target(path: Path, names: Iterable[str], what: str) -> None:
    """Refuse a folder the run could not create or write the files `names` into."""
    if path.exists() and not path.is_dir():
        raise InputError(f"is a file, not a folder for the {what}", path=str(path))
    for name in names:
        _check_name(path / name, name, what)
    _check_folder(path, path, what)


def refuse_inputs(targets: Sequence[tuple[str, Path]], inputs: Mapping[str, Path]) -> None:
    """A ConfigError when a target (by option) is one of the inputs (by role, e.g. "the
    program") or another target: the same path or inode. An existing file inside an input
    folder counts as an input.

    >>> refuse_inputs([("--output", Path("README.md"))], {"the events": Path("./README.md")})
    Traceback (most recent call last):
    ...
    vbatch.errors.ConfigError: --output README.md would overwrite the events
    """
    for index, (option, target) in enumerate(targets):
        earlier = [(other, path) for other, path in targets[:index] if other != option]
        for role, source in [*inputs.items(), *earlier]:
            if _same_file(target, source):
                msg = f"{option} {target} would overwrite {role}"
                raise ConfigError(msg, hint=f"give {option} a path of its own")


def _same_file(target: Path, source: Path) -> bool:
    if target.exists() and source.exists():
        if source.is_dir() and not target.is_dir():
            return target.resolve().is_relative_to(source.resolve())
        return os.path.samefile(target, source)
    return target.resolve() == source.resolve()


def _check_name(path: Path, name: str, what: str) -> None:
    if len(name.encode()) > NAME_MAX_BYTES:
        msg = f"cannot write the {what}: the file name {name[:40]}… is longer than 255 bytes"
        hint = "give the stream a shorter name" if what == "output" else None
        raise InputError(msg, path=str(path.parent), hint=hint)


def _check_folder(folder: Path, path: Path, what: str) -> None:
    """The nearest existing folder above `folder` must be a folder this run may write in."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot write the {what}: {existing} is not a folder", path=str(path))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the {what}: {_denied(existing)}", path=str(path))


def _denied(path: Path) -> str:
    flags = os.statvfs(path).f_flag if hasattr(os, "statvfs") else 0
    return "read-only file system" if flags & getattr(os, "ST_RDONLY", 1) else "permission denied"
