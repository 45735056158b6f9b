"""Plan expressions: frozen nodes that say what to compute, built once from the syntax tree.

Every operator and scalar function is one `Fn`, so type rules (plan/typecheck.py) and
column implementations (kernels/expr.py) are each one table keyed by `Fn`. Every node
keeps its span and VPL text, so errors found at any later stage point into the program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from vbatch.errors import CheckError, Span
from vbatch.lang import ast
from vbatch.lang.ast import NO_SPAN
from vbatch.lang.functions import scalar_name
from vbatch.lang.printer import print_expr
from vbatch.plan.types import VType, unify


class Fn(Enum):
    """Everything an expression can apply: operators, then scalar functions."""

    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    AND = "and"
    OR = "or"
    IN = "in"
    NOT_IN = "not in"
    NOT = "not"
    NEG = "neg"
    IS_NULL = "is null"
    IS_VALID = "is not null"
    CONCAT = "concat"  # string interpolation and `.print` lines
    ABS = "abs"
    ROUND = "round"
    FLOOR = "floor"
    CEIL = "ceil"
    SQRT = "sqrt"
    EXP = "exp"
    LN = "ln"
    LOG10 = "log10"
    POW = "pow"
    LEN = "len"
    UPPER = "upper"
    LOWER = "lower"
    TRIM = "trim"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    COALESCE = "coalesce"
    TO_STRING = "to_string"
    TO_INT = "to_int"
    TO_FLOAT = "to_float"
    FN_IS_NULL = "is_null"
    IF_ELSE = "if"  # `if c then a else b`
    LEAST = "least"
    GREATEST = "greatest"
    CLAMP = "clamp"


COMPARISONS = frozenset({Fn.EQ, Fn.NE, Fn.LT, Fn.LE, Fn.GT, Fn.GE})


def _meta() -> object:
    return field(default=NO_SPAN, compare=False, repr=False)


def _origin() -> object:
    return field(default=None, compare=False, repr=False)


class PExpr:
    """Base of plan expressions; `span` and `text` say where and what it is in the program."""

    span: Span

    @property
    def text(self) -> str:
        """The expression as written in the program (VPL text)."""
        origin = getattr(self, "origin", None)
        if origin is None:
            return _fallback_text(self)
        try:
            return print_expr(origin)
        except (ValueError, RecursionError):
            return "<expression>"

    def children(self) -> tuple[PExpr, ...]:
        """Sub-expressions."""
        return ()

    def walk(self) -> Iterator[PExpr]:
        """This node and every node below it (without recursion)."""
        stack: list[PExpr] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

    def fields(self) -> set[str]:
        """Names of the fields the expression reads."""
        return {n.name for n in self.walk() if isinstance(n, Col)}


@dataclass(frozen=True)
class Col(PExpr):
    """A field of the rows."""

    name: str
    span: Span = _meta()  # type: ignore[assignment]
    origin: object = _origin()


@dataclass(frozen=True)
class Lit(PExpr):
    """A constant (durations are int milliseconds)."""

    value: int | float | str | bool | None
    vtype: VType
    span: Span = _meta()  # type: ignore[assignment]
    origin: object = _origin()


@dataclass(frozen=True)
class ListLit(PExpr):
    """A constant list, as the right side of `in`."""

    values: tuple[int | float | str | bool | None, ...]
    item: VType
    span: Span = _meta()  # type: ignore[assignment]
    origin: object = _origin()


@dataclass(frozen=True)
class Apply(PExpr):
    """An operator or scalar function applied to arguments."""

    fn: Fn
    args: tuple[PExpr, ...]
    span: Span = _meta()  # type: ignore[assignment]
    origin: object = _origin()

    def children(self) -> tuple[PExpr, ...]:
        return self.args


@dataclass(frozen=True)
class AggValue(PExpr):
    """The value of a window's aggregate number `index` (inside `.aggregate` outputs)."""

    index: int
    span: Span = _meta()  # type: ignore[assignment]
    origin: object = _origin()


# ---- from the syntax tree ------------------------------------------------------


_BINARY = {op: Fn(op.value) for op in ast.BinaryOp}


AggregateHook = Callable[[ast.Call], "PExpr | None"]


def from_ast(expr: ast.Expr, aggregate: AggregateHook | None = None) -> PExpr:
    """The plan expression of a checked syntax-tree expression.

    `aggregate` turns an aggregate call into its plan value (inside `.aggregate`); it
    returns None for the other calls.
    """
    if isinstance(expr, ast.Literal):
        return Lit(expr.value, literal_type(expr.value), expr.span, expr)
    if isinstance(expr, ast.Duration):
        return Lit(expr.millis, VType.INT, expr.span, expr)
    if isinstance(expr, ast.Name):
        return Col(expr.name, expr.span, expr)
    if isinstance(expr, ast.ListExpr):
        return _list(expr)
    if isinstance(expr, ast.Interpolation):
        parts = tuple(
            Lit(p, VType.STRING, expr.span) if isinstance(p, str) else from_ast(p, aggregate)
            for p in expr.parts
        )
        return Apply(Fn.CONCAT, parts, expr.span, expr)
    if isinstance(expr, ast.Unary):
        fn = Fn.NOT if expr.op is ast.UnaryOp.NOT else Fn.NEG
        return Apply(fn, (from_ast(expr.operand, aggregate),), expr.span, expr)
    if isinstance(expr, ast.Binary):
        return _binary(expr, aggregate)
    if isinstance(expr, ast.Conditional):
        branches = (expr.condition, expr.then, expr.otherwise)
        args = tuple(from_ast(b, aggregate) for b in branches)
        return Apply(Fn.IF_ELSE, args, expr.span, expr)
    if isinstance(expr, ast.Call):
        lifted = aggregate(expr) if aggregate is not None else None
        if lifted is not None:
            return lifted
        args = tuple(from_ast(a, aggregate) for a in expr.args)
        return Apply(Fn(scalar_name(expr.func, len(args))), args, expr.span, expr)
    raise TypeError(f"no plan expression for {type(expr).__name__}")


def _binary(expr: ast.Binary, aggregate: AggregateHook | None) -> PExpr:
    if expr.op in (ast.BinaryOp.EQ, ast.BinaryOp.NE):
        # `x == null` tests for null (and `!=` for a value) rather than yielding null.
        sides = [expr.left, expr.right]
        nulls = [isinstance(s, ast.Literal) and s.value is None for s in sides]
        if any(nulls):
            other = from_ast(sides[1] if nulls[0] else sides[0], aggregate)
            fn = Fn.IS_NULL if expr.op is ast.BinaryOp.EQ else Fn.IS_VALID
            return Apply(fn, (other,), expr.span, expr)
    args = (from_ast(expr.left, aggregate), from_ast(expr.right, aggregate))
    return Apply(_BINARY[expr.op], args, expr.span, expr)


def _list(expr: ast.ListExpr) -> PExpr:
    values: list[int | float | str | bool | None] = []
    for item in expr.items:
        if isinstance(item, ast.Literal):
            values.append(item.value)
        elif isinstance(item, ast.Duration):
            values.append(item.millis)
        else:
            raise CheckError("list items must be constants", item.span)
    item_type = unify([literal_type(v) for v in values])
    if item_type is None:
        raise CheckError("a list holds values of one type", expr.span)
    return ListLit(tuple(values), item_type, expr.span, expr)


def literal_type(value: object) -> VType:
    """The type of a constant value."""
    if value is None:
        return VType.NULL
    if isinstance(value, bool):
        return VType.BOOL
    if isinstance(value, int):
        return VType.INT
    if isinstance(value, float):
        return VType.FLOAT
    if isinstance(value, str):
        return VType.STRING
    return VType.LIST


def _fallback_text(expr: PExpr) -> str:
    if isinstance(expr, Col):
        return expr.name
    if isinstance(expr, Lit):
        return repr(expr.value)
    if isinstance(expr, AggValue):
        return f"<aggregate {expr.index}>"
    if isinstance(expr, Apply):
        return f"{expr.fn.value}({', '.join(a.text for a in expr.args)})"
    return "<expression>"
