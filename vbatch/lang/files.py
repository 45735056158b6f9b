"""Program files as every entry point reads them: bounded, UTF-8, newlines normalised."""

from __future__ import annotations

from pathlib import Path

from vbatch.errors import InputError

MAX_PROGRAM_BYTES = 16 << 20  # a longer program file is refused, not read to its end


def read_program_text(path: Path) -> str:
    """The text of a program file, or an InputError (exit 2) naming the file."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PROGRAM_BYTES + 1)
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a program file", path=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path=str(path)) from None
    if len(data) > MAX_PROGRAM_BYTES:
        msg = f"is larger than {MAX_PROGRAM_BYTES >> 20} MiB, the most a program file may hold"
        raise InputError(msg, path=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
        raise InputError(msg, path=str(path)) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
