"""Type rules of plan expressions: one rule per `Fn`, errors located in the program.

The same rules run twice: when a program is checked (fields typed by `event`
declarations, `ANY` otherwise) and when a stream is bound to its input's schema (every
field typed), so an ill-typed program fails before any row is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vbatch.errors import CheckError
from vbatch.plan.expr import COMPARISONS, AggValue, Apply, Col, Fn, ListLit, Lit, PExpr
from vbatch.plan.types import VType, numeric_result, unify


@dataclass(frozen=True)
class Env:
    """The fields visible to an expression and their types.

    `closed`: every field is listed, so another name is an error (a bound schema);
    otherwise an unlisted name is of unknown type (an undeclared event at check time).
    """

    types: Mapping[str, VType]
    closed: bool = False
    aggregates: tuple[VType, ...] = ()
    names: tuple[str, ...] = field(default=())

    def field_type(self, node: Col) -> VType:
        """The type of a field reference (CheckError if a closed env lacks it)."""
        found = self.types.get(node.name)
        if found is not None:
            return found
        if not self.closed:
            return VType.ANY
        shown = [n for n in (self.names or tuple(self.types)) if not n.startswith("_")]
        msg = f"unknown field `{node.name}`"
        raise CheckError(msg, node.span, hint=f"the rows here have: {', '.join(shown) or 'none'}")


def type_of(expr: PExpr, env: Env) -> VType:
    """The type of `expr` in `env`; raises CheckError (with the span) for an ill-typed one.

    >>> from vbatch.plan.expr import Col, Lit
    >>> type_of(Apply(Fn.ADD, (Col("x"), Lit(1, VType.INT))), Env({"x": VType.FLOAT}))
    <VType.FLOAT: 'float'>
    """
    types: dict[int, VType] = {}
    # Post-order without recursion: machine-written programs nest deeply.
    stack: list[tuple[PExpr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded and node.children():
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.children()))
            continue
        types[id(node)] = _type_of_node(node, [types[id(c)] for c in node.children()], env)
    return types[id(expr)]


def _type_of_node(node: PExpr, args: list[VType], env: Env) -> VType:
    if isinstance(node, Col):
        return env.field_type(node)
    if isinstance(node, Lit):
        return node.vtype
    if isinstance(node, ListLit):
        return VType.LIST
    if isinstance(node, AggValue):
        return env.aggregates[node.index] if node.index < len(env.aggregates) else VType.ANY
    assert isinstance(node, Apply)
    return _RULES[node.fn](node, args)


def _fail(node: Apply, message: str, hint: str | None = None) -> CheckError:
    return CheckError(message, node.span, hint=hint)


def _operand_text(node: Apply, i: int) -> str:
    return f"`{node.args[i].text}`"


def _need(node: Apply, args: list[VType], test: Callable[[VType], bool], what: str) -> None:
    for i, t in enumerate(args):
        if not test(t):
            msg = f"`{node.text}` needs {what}, but {_operand_text(node, i)} is {t.describe()}"
            raise _fail(node, msg, hint=_HINTS.get(what))


_HINTS = {
    "numbers": "convert with to_float(...) or to_int(...), or compare instead",
    "true/false values": 'compare the value, e.g. `x > 0` or `s != ""`',
    "strings": "convert with to_string(...)",
}


def _numeric(t: VType) -> bool:
    return t.is_numeric


def _boolean(t: VType) -> bool:
    return t.is_boolean


def _text(t: VType) -> bool:
    return t.is_text


def _arith(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _numeric, "numbers")
    return numeric_result(*args)


def _add(node: Apply, args: list[VType]) -> VType:
    if VType.STRING in args:  # `+` joins text: "id-" + 5 is "id-5"
        return VType.STRING
    return _arith(node, args)


def _divide(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _numeric, "numbers")
    return VType.FLOAT


def _compare(node: Apply, args: list[VType]) -> VType:
    left, right = args
    if left.known and right.known and unify([left, right]) is None:
        msg = f"`{node.text}` compares {left.describe()} with {right.describe()}"
        hint = "compare values of one kind; convert with to_string(), to_int() or to_float()"
        raise _fail(node, msg, hint=hint)
    if node.fn not in (Fn.EQ, Fn.NE):
        for i, t in enumerate(args):
            if t in (VType.BOOL, VType.LIST):
                msg = f"`{node.text}` orders {t.describe()} ({_operand_text(node, i)})"
                raise _fail(node, msg, hint="only numbers and strings have an order")
    return VType.BOOL


def _logic(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _boolean, "true/false values")
    return VType.BOOL


def _negate(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _numeric, "numbers")
    return args[0]


def _membership(node: Apply, args: list[VType]) -> VType:
    right = node.args[1]
    if not isinstance(right, ListLit):
        raise _fail(node, "`in` needs a list such as [1, 2, 3] on its right")
    left = args[0]
    if left.known and right.item.known and unify([left, right.item]) is None:
        msg = f"`{node.text}` looks for {left.describe()} in a list of {right.item.value}s"
        raise _fail(node, msg)
    return VType.BOOL


def _same_numeric(node: Apply, args: list[VType]) -> VType:
    _need(node, args[:1], _numeric, "numbers")
    return args[0]


def _float_of_numbers(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _numeric, "numbers")
    return VType.FLOAT


def _round(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _numeric, "numbers")
    if len(args) > 1 and not isinstance(node.args[1], Lit):
        raise _fail(node, "`round` takes a constant number of digits")
    return args[0]


def _text_to(result: VType) -> Callable[[Apply, list[VType]], VType]:
    def rule(node: Apply, args: list[VType]) -> VType:
        _need(node, args, _text, "strings")
        return result

    return rule


def _pattern(node: Apply, args: list[VType]) -> VType:
    _need(node, args, _text, "strings")
    if not isinstance(node.args[1], Lit):
        raise _fail(node, f"the second argument of `{node.fn.value}` must be a constant string")
    return VType.BOOL


def _coalesce(node: Apply, args: list[VType]) -> VType:
    found = unify(args)
    if found is None:
        kinds = " and ".join(dict.fromkeys(t.describe() for t in args))
        raise _fail(node, f"`{node.text}` mixes {kinds}", hint="give coalesce values of one kind")
    return found


def _ordered_values(node: Apply, args: list[VType]) -> VType:
    """`least`, `greatest`, `clamp`: numbers (ints widen to floats) or strings, of one kind."""
    found = unify(args)
    if found is None or not (_numeric(found) or _text(found) or found is VType.NULL):
        kinds = " and ".join(dict.fromkeys(t.describe() for t in args))
        raise _fail(node, f"`{node.text}` compares {kinds}", hint="give it numbers, or strings")
    return found


def _if_else(node: Apply, args: list[VType]) -> VType:
    if not args[0].is_boolean:
        msg = f"`if` needs a condition, but {_operand_text(node, 0)} is {args[0].describe()}"
        raise _fail(node, msg, hint="compare it, e.g. `x > 0`")
    found = unify(args[1:])
    if found is None:
        kinds = " and ".join(dict.fromkeys(t.describe() for t in args[1:]))
        raise _fail(
            node, f"the branches of `{node.text}` are {kinds}", hint="give both branches one kind"
        )
    return found


def _always(result: VType) -> Callable[[Apply, list[VType]], VType]:
    return lambda node, args: result


def _to_number(result: VType) -> Callable[[Apply, list[VType]], VType]:
    def rule(node: Apply, args: list[VType]) -> VType:
        if args[0] is VType.LIST:
            raise _fail(node, f"`{node.text}` cannot convert a list to a number")
        return result

    return rule


_RULES: dict[Fn, Callable[[Apply, list[VType]], VType]] = {
    Fn.ADD: _add,
    Fn.SUB: _arith,
    Fn.MUL: _arith,
    Fn.MOD: _arith,
    Fn.DIV: _divide,
    **{fn: _compare for fn in COMPARISONS},
    Fn.AND: _logic,
    Fn.OR: _logic,
    Fn.NOT: _logic,
    Fn.NEG: _negate,
    Fn.IN: _membership,
    Fn.NOT_IN: _membership,
    Fn.IS_NULL: _always(VType.BOOL),
    Fn.IS_VALID: _always(VType.BOOL),
    Fn.FN_IS_NULL: _always(VType.BOOL),
    Fn.CONCAT: _always(VType.STRING),
    Fn.TO_STRING: _always(VType.STRING),
    Fn.ABS: _same_numeric,
    Fn.ROUND: _round,
    Fn.FLOOR: _float_of_numbers,
    Fn.CEIL: _float_of_numbers,
    Fn.SQRT: _float_of_numbers,
    Fn.EXP: _float_of_numbers,
    Fn.LN: _float_of_numbers,
    Fn.LOG10: _float_of_numbers,
    Fn.POW: _float_of_numbers,
    Fn.LEN: _text_to(VType.INT),
    Fn.UPPER: _text_to(VType.STRING),
    Fn.LOWER: _text_to(VType.STRING),
    Fn.TRIM: _text_to(VType.STRING),
    Fn.CONTAINS: _pattern,
    Fn.STARTS_WITH: _pattern,
    Fn.ENDS_WITH: _pattern,
    Fn.COALESCE: _coalesce,
    Fn.LEAST: _ordered_values,
    Fn.GREATEST: _ordered_values,
    Fn.CLAMP: _ordered_values,
    Fn.IF_ELSE: _if_else,
    Fn.TO_INT: _to_number(VType.INT),
    Fn.TO_FLOAT: _to_number(VType.FLOAT),
}


def require_boolean(expr: PExpr, env: Env, where: str) -> None:
    """A condition (`.where`, `.having`) must be true/false."""
    found = type_of(expr, env)
    if not found.is_boolean:
        msg = f"`.{where}` needs a condition, but `{expr.text}` is {found.describe()}"
        raise CheckError(msg, expr.span, hint="compare it, e.g. `x > 0`")
