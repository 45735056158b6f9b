"""The types of values in a plan: a small lattice, independent of Arrow.

`ANY` stands for "not known yet": the type of a field no `event` declaration gives, at
check time. When a plan is bound to the input's schema every field has a concrete type.
"""

from __future__ import annotations

from enum import Enum


class VType(Enum):
    """The type of a plan value."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    LIST = "list"
    NULL = "null"
    ANY = "any"

    @property
    def is_numeric(self) -> bool:
        """True for ints and floats, and for values that may be either."""
        return self in _NUMERIC

    @property
    def is_text(self) -> bool:
        """True for strings, and for values that may be strings."""
        return self in _TEXT

    @property
    def is_boolean(self) -> bool:
        """True for bools, and for values that may be bools."""
        return self in _BOOLEAN

    @property
    def known(self) -> bool:
        """False for ANY and NULL: nothing can be said against them."""
        return self not in (VType.ANY, VType.NULL)

    def describe(self) -> str:
        """How messages name the type: `a string`, `an int`..."""
        return _DESCRIPTIONS[self]


_NUMERIC = {VType.INT, VType.FLOAT, VType.ANY, VType.NULL}
_TEXT = {VType.STRING, VType.ANY, VType.NULL}
_BOOLEAN = {VType.BOOL, VType.ANY, VType.NULL}
_DESCRIPTIONS = {
    VType.BOOL: "a bool",
    VType.INT: "an int",
    VType.FLOAT: "a float",
    VType.STRING: "a string",
    VType.LIST: "a list",
    VType.NULL: "null",
    VType.ANY: "a value of unknown type",
}


def numeric_result(left: VType, right: VType) -> VType:
    """The type of `left op right` for +, -, *, %: int for ints, float once a float joins."""
    if VType.FLOAT in (left, right):
        return VType.FLOAT
    if VType.ANY in (left, right):
        return VType.ANY
    return VType.INT


def unify(types: list[VType]) -> VType | None:
    """One type holding every value of `types` (ints widen to floats); None if none does."""
    known = [t for t in types if t is not VType.NULL]
    if not known:
        return VType.NULL
    if VType.ANY in known:
        return VType.ANY
    distinct = set(known)
    if len(distinct) == 1:
        return known[0]
    if distinct == {VType.INT, VType.FLOAT}:
        return VType.FLOAT
    return None
