"""vbatch: a vectorised micro-batch engine for VPL (VarpulisQL) stream programs.

>>> import vbatch
>>> program = vbatch.load("examples/pipeline.vpl")
>>> result = program.simulate("examples/pipeline.evt")
>>> result["ZoneStats"].column("zone").to_pylist()
['north', 'south']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbatch.errors import (
    CheckError,
    ConfigError,
    EngineError,
    InputError,
    VbatchError,
    VplSyntaxError,
)

if TYPE_CHECKING:
    from vbatch.api import CompiledProgram, Result, compile, load

_API = {"CompiledProgram", "Result", "compile", "load"}


def __getattr__(name: str) -> object:
    """The API, imported on first use, so worker processes import vbatch without it."""
    if name in _API:
        from vbatch import api

        return getattr(api, name)
    raise AttributeError(f"module 'vbatch' has no attribute {name!r}")


__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext vbatch`: registers the `%%vpl` cell magic (see vbatch.notebook)."""
    from vbatch.notebook import load_ipython_extension as load

    load(ipython)


__all__ = [
    "CheckError",
    "CompiledProgram",
    "ConfigError",
    "EngineError",
    "InputError",
    "Result",
    "VbatchError",
    "VplSyntaxError",
    "compile",
    "load",
]
