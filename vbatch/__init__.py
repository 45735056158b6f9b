"""vbatch: a vectorised micro-batch engine for VPL (VarpulisQL) stream programs.

>>> import vbatch
>>> program = vbatch.load("examples/pipeline.vpl")
>>> result = program.simulate("examples/pipeline.evt")
>>> result["ZoneStats"].column("zone").to_pylist()
['north', 'south']
"""

from __future__ import annotations

from vbatch.api import CompiledProgram, Result, compile, load
from vbatch.errors import (
    CheckError,
    ConfigError,
    EngineError,
    InputError,
    VbatchError,
    VplSyntaxError,
)

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
