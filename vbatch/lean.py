"""Processes that never use pandas do not import it.

pyarrow imports pandas, when it is installed, the first time it converts a Python value
(`pa.scalar`, `pa.array` of a list): 0.2 s of start-up for every process. The command line
and the context workers never hand pandas anything, so they refuse the import; pyarrow
treats pandas as not installed. The Python API and notebooks, which may, never call this.
"""

from __future__ import annotations

import importlib.abc
import sys


class _NoPandas(importlib.abc.MetaPathFinder):
    """A finder that answers every `import pandas` with ModuleNotFoundError."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not used by this process", name=name)
        return None


def without_pandas() -> None:
    """Refuse `import pandas` in this process from now on (unless it is imported already)."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
