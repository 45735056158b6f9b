"""Syntax tree → VPL text. Printing then parsing gives back an equal tree."""

from __future__ import annotations

import json
from functools import singledispatch

from vbatch.lang import ast

# Binding strength of each operator: higher binds tighter.
_PRECEDENCE = {
    ast.BinaryOp.OR: 1,
    ast.BinaryOp.AND: 2,
    ast.BinaryOp.EQ: 4,
    ast.BinaryOp.NE: 4,
    ast.BinaryOp.LT: 4,
    ast.BinaryOp.LE: 4,
    ast.BinaryOp.GT: 4,
    ast.BinaryOp.GE: 4,
    ast.BinaryOp.IN: 4,
    ast.BinaryOp.NOT_IN: 4,
    ast.BinaryOp.ADD: 5,
    ast.BinaryOp.SUB: 5,
    ast.BinaryOp.MUL: 6,
    ast.BinaryOp.DIV: 6,
    ast.BinaryOp.MOD: 6,
}
_NOT_PRECEDENCE = 3
_NEG_PRECEDENCE = 7
_ATOM = 8


def print_module(module: ast.Module) -> str:
    """VPL text for a whole module, one statement per paragraph.

    >>> from vbatch.lang.parser import parse
    >>> print_module(parse("context   c"))
    'context c\\n'
    """
    return "\n".join(print_statement(s) for s in module.statements) + (
        "" if module.statements else "\n"
    )


@singledispatch
def print_statement(statement: object) -> str:
    """VPL text for one statement, ending in a newline."""
    raise TypeError(f"cannot print {type(statement).__name__}")


@print_statement.register
def _(statement: ast.ContextDecl) -> str:
    if not statement.options:
        return f"context {statement.name}\n"
    return f"context {statement.name} ({_items_named(statement.options)})\n"


@print_statement.register
def _(statement: ast.EventDecl) -> str:
    fields = "".join(f"    {f.name}: {f.type_name}\n" for f in statement.fields)
    return f"event {statement.name}:\n{fields}"


@print_statement.register
def _(statement: ast.BindingDecl) -> str:
    typed = f": {statement.type_name}" if statement.type_name else ""
    return f"{statement.kind.value} {statement.name}{typed} = {print_expr(statement.value)}\n"


@print_statement.register
def _(statement: ast.FnDecl) -> str:
    params = ", ".join(f"{name}: {kind}" for name, kind in statement.params)
    returns = f" -> {statement.return_type}" if statement.return_type else ""
    lets = "".join(f"    let {name} = {print_expr(value)}\n" for name, value in statement.lets)
    return f"fn {statement.name}({params}){returns}:\n{lets}    {print_expr(statement.body)}\n"


@print_statement.register
def _(statement: ast.Import) -> str:
    return f"import {print_expr(ast.Literal(statement.path))}\n"


@print_statement.register
def _(statement: ast.Assignment) -> str:
    return f"{statement.name} := {print_expr(statement.value)}\n"


@print_statement.register
def _(statement: ast.ConnectorDecl) -> str:
    return f"connector {statement.name} = {statement.kind}({_items_named(statement.params)})\n"


@print_statement.register
def _(statement: ast.ConfigDecl) -> str:
    items = "".join(f"    {i.name}: {print_expr(i.value)},\n" for i in statement.items)
    return f"config {statement.name} {{\n{items}}}\n"


def _items_named(items: tuple[ast.Item, ...]) -> str:
    """`name: value` for every item, even where the value is a field of the same name."""
    return ", ".join(f"{i.name}: {print_expr(i.value)}" for i in items)


@print_statement.register
def _(statement: ast.StreamDecl) -> str:
    lines = [f"stream {statement.name} = {_source(statement.source)}"]
    lines += [f"    .{print_operation(op)}" for op in statement.operations]
    return "\n".join(lines) + "\n"


def _source(source: str | ast.Merge | ast.Join) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, ast.Join):
        inline = {decl.name: decl for decl in source.inline}
        conditions = source.conditions or (None,) * len(source.items)
        parts = []
        for name, condition in zip(source.items, conditions, strict=True):
            part = print_statement(inline[name]).rstrip("\n") if name in inline else name
            parts.append(part + (f" on {print_expr(condition)}" if condition is not None else ""))
        return "join(" + ", ".join(parts) + ")"
    items = [i if isinstance(i, str) else print_statement(i).rstrip("\n") for i in source.items]
    return "merge(" + ", ".join(items) + ")"


@singledispatch
def print_operation(op: object) -> str:
    """VPL text for one stream operation, without its leading dot."""
    raise TypeError(f"cannot print {type(op).__name__}")


@print_operation.register
def _(op: ast.ContextOp) -> str:
    return f"context({op.context})"


@print_operation.register
def _(op: ast.OnOp) -> str:
    return f"on({print_expr(op.condition)})"


@print_operation.register
def _(op: ast.WhereOp) -> str:
    return f"where({print_expr(op.condition)})"


@print_operation.register
def _(op: ast.HavingOp) -> str:
    return f"having({print_expr(op.condition)})"


@print_operation.register
def _(op: ast.SelectOp) -> str:
    return f"select({_items(op.items)})"


@print_operation.register
def _(op: ast.EmitOp) -> str:
    target = [f"context: {op.context}"] if op.context else []
    return f"emit({', '.join(target + [_item(i) for i in op.items])})"


@print_operation.register
def _(op: ast.PrintOp) -> str:
    return f"print({', '.join(print_expr(a) for a in op.args)})"


@print_operation.register
def _(op: ast.PartitionOp) -> str:
    return f"partition_by({', '.join(op.keys)})"


@print_operation.register
def _(op: ast.WindowOp) -> str:
    if op.syntax is ast.WindowSyntax.SESSION:
        return f"window(session: {print_expr(op.size)})"
    keyword = "tumbling " if op.tumbling_keyword else ""
    size = f"{keyword}{print_expr(op.size)}"
    if op.syntax is ast.WindowSyntax.SLIDING:
        assert op.slide is not None
        return f"window({size}, sliding: {print_expr(op.slide)})"
    return f"window({size})"


@print_operation.register
def _(op: ast.AggregateOp) -> str:
    return f"aggregate({_items(op.items)})"


@print_operation.register
def _(op: ast.LogOp) -> str:
    return f"log({_items_named(op.items)})"


@print_operation.register
def _(op: ast.LatenessOp) -> str:
    return f"allowed_lateness({print_expr(op.lateness)})"


@print_operation.register
def _(op: ast.WatermarkOp) -> str:
    return f"watermark(out_of_order: {print_expr(op.out_of_order)})"


@print_operation.register
def _(op: ast.FromOp) -> str:
    return f"from({_binding(op)})"


@print_operation.register
def _(op: ast.ToOp) -> str:
    return f"to({_binding(op)})"


def _binding(op: ast.FromOp | ast.ToOp) -> str:
    return ", ".join([op.connector, _items_named(op.params)] if op.params else [op.connector])


def _items(items: tuple[ast.Item, ...]) -> str:
    return ", ".join(_item(i) for i in items)


def _item(item: ast.Item) -> str:
    if isinstance(item.value, ast.Name) and item.value.name == item.name:
        return item.name
    return f"{item.name}: {print_expr(item.value)}"


def print_expr(expr: ast.Expr) -> str:
    """VPL text for an expression, with only the parentheses it needs."""
    return _expr(expr, 0)


@singledispatch
def _expr(expr: object, context: int) -> str:
    raise TypeError(f"cannot print {type(expr).__name__}")


@_expr.register
def _(expr: ast.Literal, context: int) -> str:
    value = expr.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, float):
        return _float_text(value)
    return str(value)


@_expr.register
def _(expr: ast.Duration, context: int) -> str:
    return expr.text


@_expr.register
def _(expr: ast.Name, context: int) -> str:
    return expr.name


@_expr.register
def _(expr: ast.Call, context: int) -> str:
    return f"{expr.func}({', '.join(_expr(a, 0) for a in expr.args)})"


@_expr.register
def _(expr: ast.ListExpr, context: int) -> str:
    return f"[{', '.join(_expr(i, 0) for i in expr.items)}]"


@_expr.register
def _(expr: ast.Interpolation, context: int) -> str:
    text = "".join(
        p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{" + _expr(p, 0) + "}"
        for p in expr.parts
    )
    return quote_string(text)


@_expr.register
def _(expr: ast.Conditional, context: int) -> str:
    # The loosest construct: wrapped inside any operator, and its first two parts wrapped
    # when they are conditionals themselves.
    parts = (_expr(expr.condition, 1), _expr(expr.then, 1), _expr(expr.otherwise, 0))
    return _wrap("if {} then {} else {}".format(*parts), 0, context)


@_expr.register
def _(expr: ast.Unary, context: int) -> str:
    if expr.op is ast.UnaryOp.NOT:
        text = f"not {_expr(expr.operand, _NOT_PRECEDENCE)}"
        return _wrap(text, _NOT_PRECEDENCE, context)
    text = f"-{_expr(expr.operand, _NEG_PRECEDENCE)}"
    return _wrap(text, _NEG_PRECEDENCE, context)


@_expr.register
def _(expr: ast.Binary, context: int) -> str:
    own = _PRECEDENCE[expr.op]
    # Comparisons do not chain, and all other operators are left-associative.
    left_context = own + 1 if own == 4 else own
    left = _expr(expr.left, left_context)
    right = _expr(expr.right, own + 1)
    return _wrap(f"{left} {expr.op.value} {right}", own, context)


def _wrap(text: str, own: int, context: int) -> str:
    return f"({text})" if own < context else text


def quote_string(value: str) -> str:
    """A double-quoted VPL string literal for `value`."""
    return json.dumps(value, ensure_ascii=False)


def _float_text(value: float) -> str:
    text = repr(value)
    if text in {"inf", "-inf", "nan"}:
        raise ValueError(f"VPL has no literal for {text}")
    return text if any(c in text for c in ".e") else text + ".0"
