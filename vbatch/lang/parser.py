"""VPL text → syntax tree. The only module that knows about lark and translates its errors."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree, v_args
from lark.exceptions import (
    UnexpectedInput,
    VisitError,
)
from lark.visitors import Transformer_NonRecursive

from vbatch.errors import Span, VplSyntaxError
from vbatch.lang import ast
from vbatch.lang.durations import DURATION_UNITS_MS, format_duration  # noqa: F401
from vbatch.lang.functions_text import lift_functions
from vbatch.lang.nesting import MAX_NESTING
from vbatch.lang.syntax_errors import syntax_error, token_span

BOM = "\ufeff"  # a byte-order mark some editors put first: not part of the program
_MAX_NUMBER_CHARS = 40  # longer integer and duration literals are out of range anyway


def grammar_text() -> str:
    """The text of grammar/vpl.lark, from the installed package or the source tree."""
    try:
        packaged = resources.files("vbatch.grammar").joinpath("vpl.lark")
        if packaged.is_file():
            return packaged.read_text(encoding="utf-8")
    except ModuleNotFoundError:  # an editable install of another checkout: use this tree
        pass
    return (Path(__file__).resolve().parents[2] / "grammar" / "vpl.lark").read_text("utf-8")


@cache
def _lark() -> Lark:
    # cache=True keeps the built LALR tables in a temporary file keyed by the grammar's
    # hash: every later start loads them in milliseconds instead of building them again.
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
        start=["start", "expr"],  # `expr`: a function's body lines (lang/functions_text.py)
    )


def parse(text: str, source_name: str = "<input>") -> ast.Module:
    """Parse VPL source text into a syntax tree.

    >>> parse("context c").statements[0].name
    'c'
    """
    text = text.removeprefix(BOM)
    try:
        lifted = lift_functions(text, _parse_expr)
        tree = _lark().parse(lifted.text, start="start")
        _check_nesting(tree)
        module = _ToAst().transform(tree)
        if not lifted.functions:
            return module
        statements = sorted([*module.statements, *lifted.functions], key=_line_of)
        return ast.Module(tuple(statements))
    except UnexpectedInput as err:
        raise syntax_error(err, text).with_source(source_name, text) from None
    except VplSyntaxError as err:
        raise err.with_source(source_name, text) from None
    except VisitError as err:
        if isinstance(err.orig_exc, VplSyntaxError):
            raise err.orig_exc.with_source(source_name, text) from None
        raise


def _parse_expr(placed: str) -> ast.Expr:
    """One expression of a function body, at its place in the program's text."""
    tree = _lark().parse(placed, start="expr")
    _check_nesting(tree)
    expr = _ToAst().transform(tree)
    assert isinstance(expr, ast.Expr)
    return expr


def _line_of(statement: ast.Statement) -> int:
    span = statement.name_span if isinstance(statement, ast.StreamDecl) else statement.span
    return span.line


def _check_nesting(tree: Tree) -> None:
    """Refuse a tree deeper than MAX_NESTING, pointing at the first node too deep (the
    parser itself keeps an explicit stack, so any depth reaches this check)."""
    level, depth = [tree], 1  # one level of the tree at a time
    while level:
        if depth > MAX_NESTING:
            span = _span(level[0].meta)
            msg = f"the program nests deeper than {MAX_NESTING} levels here"
            hint = "split the expression, e.g. into named constants or a chain of streams"
            raise VplSyntaxError(msg, Span.point(span.line, span.column), hint=hint)
        level = [child for node in level for child in node.children if type(child) is Tree]
        depth += 1


# ---- tree → AST -------------------------------------------------------------


def _span(meta) -> Span:  # noqa: ANN001 - lark's Meta
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def duration_millis(text: str) -> Fraction:
    """`1.5s` → 1500 milliseconds, exactly.

    >>> duration_millis("1.5s")
    Fraction(1500, 1)
    """
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return Fraction(match.group(1)) * DURATION_UNITS_MS[match.group(2)]


_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "b": "\b",
    "f": "\f",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def unescape_string(token: Token) -> str:
    """The value of a quoted string token, escapes resolved."""
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        if nxt not in _ESCAPES:
            span = Span.point(token.line or 1, (token.column or 1) + i + 1, 2)
            msg = f"unknown escape `\\{nxt}` in string"
            raise VplSyntaxError(msg, span, hint="use \\n, \\t, \\r, \\\\, \\\", \\' or \\uXXXX")
        out.append(_ESCAPES[nxt])
        i += 2
    return "".join(out)


@v_args(meta=True, inline=True)
class _ToAst(Transformer_NonRecursive):
    """Builds ast nodes from lark's parse tree, bottom up without recursion; one method per
    rule alias."""

    # statements
    def start(self, meta, *statements):  # noqa: ANN001, ANN002
        return ast.Module(tuple(statements))

    def context_decl(self, meta, name, options=None):  # noqa: ANN001
        return ast.ContextDecl(str(name), tuple(options or ()), _span(meta))

    def context_options(self, meta, *options):  # noqa: ANN001, ANN002
        return tuple(o for o in options if o is not None)

    def context_option(self, meta, name, value):  # noqa: ANN001
        return ast.Item(str(name), value, _span(meta))

    def event_decl(self, meta, name, *fields):  # noqa: ANN001, ANN002
        return ast.EventDecl(str(name), tuple(f for f in fields if f is not None), _span(meta))

    def field_decl(self, meta, name, type_name):  # noqa: ANN001
        return ast.FieldDecl(str(name), str(type_name), _span(meta))

    def connector_decl(self, meta, name, kind, *params):  # noqa: ANN001, ANN002
        items = tuple(p for p in params if p is not None)
        return ast.ConnectorDecl(str(name), str(kind), items, _span(meta), token_span(kind))

    def config_decl(self, meta, name, *items):  # noqa: ANN001, ANN002
        return ast.ConfigDecl(str(name), tuple(i for i in items if i is not None), _span(meta))

    def named_arg(self, meta, name, value):  # noqa: ANN001
        return ast.Item(str(name), value, _span(meta))

    def binding_kind(self, meta, token):  # noqa: ANN001
        return ast.BindingKind(str(token))

    def binding_decl(self, meta, kind, name, type_name, value):  # noqa: ANN001
        kind_enum = kind
        type_text = str(type_name) if type_name is not None else None
        return ast.BindingDecl(kind_enum, str(name), type_text, value, _span(meta))

    def import_stmt(self, meta, path):  # noqa: ANN001
        return ast.Import(self.string(meta, path).value, _span(meta))

    def assignment(self, meta, target, value):  # noqa: ANN001
        name = str(target)[:-2].rstrip()
        line, column = target.line or 1, target.column or 1
        where = Span(line, column, line, column + len(name))
        return ast.Assignment(name, value, _span(meta), where)

    def stream_decl(self, meta, name, source, *operations):  # noqa: ANN001, ANN002
        source_value, source_span, item_spans = source
        return ast.StreamDecl(
            str(name),
            source_value,
            tuple(operations),
            _span(meta),
            source_span=source_span,
            name_span=token_span(name),
            item_spans=item_spans,
        )

    def source_ref(self, meta, token):  # noqa: ANN001
        return (str(token), token_span(token), ())

    def merge_source(self, meta, *items):  # noqa: ANN001, ANN002
        values: list[str | ast.StreamDecl] = []
        spans: list[Span] = []
        for item in items:
            if item is None:
                continue
            if isinstance(item, ast.StreamDecl):
                values.append(item)
                spans.append(item.name_span)
            else:
                values.append(item[0])
                spans.append(item[1])
        span = _span(meta)
        return (ast.Merge(tuple(values), span), span, tuple(spans))

    def join_item(self, meta, item, condition=None):  # noqa: ANN001
        if isinstance(item, ast.StreamDecl):
            return (item.name, item.name_span, item, condition)
        return (str(item), token_span(item), None, None)

    def join_source(self, meta, *items):  # noqa: ANN001, ANN002
        named = [item for item in items if item is not None]
        span = _span(meta)
        names = tuple(name for name, *_ in named)
        inline = tuple(decl for _, _, decl, _ in named if decl is not None)
        conditions = tuple(condition for *_, condition in named)
        if not any(c is not None for c in conditions):
            conditions = ()
        join = ast.Join(names, span, inline, conditions)
        return (join, span, tuple(where for _, where, *_ in named))

    # operations
    def on_op(self, meta, condition):  # noqa: ANN001
        return ast.OnOp(condition, _span(meta))

    def context_op(self, meta, name):  # noqa: ANN001
        return ast.ContextOp(str(name), _span(meta))

    def where_op(self, meta, condition):  # noqa: ANN001
        return ast.WhereOp(condition, _span(meta))

    def having_op(self, meta, condition):  # noqa: ANN001
        return ast.HavingOp(condition, _span(meta))

    def select_op(self, meta, *items):  # noqa: ANN001, ANN002
        return ast.SelectOp(tuple(i for i in items if i is not None), _span(meta))

    def emit_op(self, meta, *items):  # noqa: ANN001, ANN002
        targets = [i for i in items if isinstance(i, tuple)]
        fields = tuple(i for i in items if isinstance(i, ast.Item))
        if len(targets) > 1:
            msg = "`.emit` names `context:` more than once"
            raise VplSyntaxError(msg, targets[1][1])
        context, context_span = targets[0] if targets else (None, ast.NO_SPAN)
        return ast.EmitOp(fields, context, _span(meta), context_span)

    def emit_target(self, meta, name):  # noqa: ANN001
        return (str(name), token_span(name))

    def print_op(self, meta, *args):  # noqa: ANN001, ANN002
        return ast.PrintOp(tuple(a for a in args if a is not None), _span(meta))

    def partition_op(self, meta, *keys):  # noqa: ANN001, ANN002
        return ast.PartitionOp(tuple(str(k) for k in keys if k is not None), _span(meta))

    def aggregate_op(self, meta, *items):  # noqa: ANN001, ANN002
        return ast.AggregateOp(tuple(i for i in items if i is not None), _span(meta))

    def log_op(self, meta, *items):  # noqa: ANN001, ANN002
        return ast.LogOp(tuple(i for i in items if i is not None), _span(meta))

    def lateness_op(self, meta, value):  # noqa: ANN001
        return ast.LatenessOp(value, _span(meta))

    def watermark_op(self, meta, value):  # noqa: ANN001
        return ast.WatermarkOp(value, _span(meta))

    def from_op(self, meta, connector, *params):  # noqa: ANN001, ANN002
        items = tuple(p for p in params if p is not None)
        return ast.FromOp(str(connector), items, _span(meta))

    def to_op(self, meta, connector, *params):  # noqa: ANN001, ANN002
        return ast.ToOp(str(connector), tuple(p for p in params if p is not None), _span(meta))

    def named_item(self, meta, name, value):  # noqa: ANN001
        return ast.Item(str(name), value, _span(meta))

    def field_item(self, meta, name):  # noqa: ANN001
        return ast.Item(str(name), ast.Name(str(name), token_span(name)), _span(meta), True)

    def bare_item(self, meta, value):  # noqa: ANN001
        return ast.Item(_derived_name(value), value, _span(meta), True)

    def window_op(self, meta, spec):  # noqa: ANN001
        return ast.WindowOp(spec.syntax, spec.size, spec.slide, spec.tumbling_keyword, _span(meta))

    def fixed_window(self, meta, *children):  # noqa: ANN001, ANN002
        keyword, size = _split_tumbling(children)
        return ast.WindowOp(ast.WindowSyntax.FIXED, size, None, keyword, _span(meta))

    def sliding_window(self, meta, *children):  # noqa: ANN001, ANN002
        keyword, size, slide = _split_tumbling(children, 2)
        return ast.WindowOp(ast.WindowSyntax.SLIDING, size, slide, keyword, _span(meta))

    def session_window(self, meta, gap):  # noqa: ANN001
        return ast.WindowOp(ast.WindowSyntax.SESSION, gap, None, False, _span(meta))

    # expressions
    def or_(self, meta, left, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp.OR, left, right, _span(meta))

    def and_(self, meta, left, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp.AND, left, right, _span(meta))

    def if_expr(self, meta, condition, then, otherwise):  # noqa: ANN001
        return ast.Conditional(condition, then, otherwise, _span(meta))

    def not_(self, meta, operand):  # noqa: ANN001
        return ast.Unary(ast.UnaryOp.NOT, operand, _span(meta))

    def neg(self, meta, operand):  # noqa: ANN001
        return ast.Unary(ast.UnaryOp.NEG, operand, _span(meta))

    def compare(self, meta, left, op, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp(str(op)), left, right, _span(meta))

    def arith(self, meta, left, op, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp(str(op)), left, right, _span(meta))

    def in_(self, meta, left, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp.IN, left, right, _span(meta))

    def not_in(self, meta, left, right):  # noqa: ANN001
        return ast.Binary(ast.BinaryOp.NOT_IN, left, right, _span(meta))

    def name(self, meta, token):  # noqa: ANN001
        return ast.Name(str(token), _span(meta))

    def qualified_name(self, meta, source, field):  # noqa: ANN001
        return ast.Name(f"{source}.{field}", _span(meta))  # `A.price`: a joined source's field

    def call(self, meta, func, *args):  # noqa: ANN001, ANN002
        return ast.Call(str(func), tuple(a for a in args if a is not None), _span(meta))

    def list_(self, meta, *items):  # noqa: ANN001, ANN002
        return ast.ListExpr(tuple(i for i in items if i is not None), _span(meta))

    def duration(self, meta, token):  # noqa: ANN001
        if len(str(token)) > _MAX_NUMBER_CHARS:
            msg = f"duration `{str(token)[:20]}…` is longer than 2**61 ms (73 million years)"
            raise VplSyntaxError(msg, token_span(token))
        millis = duration_millis(str(token))
        if millis != int(millis):
            msg = f"duration `{token}` is not a whole number of milliseconds"
            raise VplSyntaxError(msg, token_span(token))
        return ast.Duration(int(millis), str(token), _span(meta))

    def number(self, meta, token):  # noqa: ANN001
        text = str(token)
        is_float = any(c in text for c in ".eE")
        if not is_float and len(text) > _MAX_NUMBER_CHARS:  # int() refuses 4,300+ digits
            raise VplSyntaxError(f"integer {text[:20]}… does not fit in 64 bits", token_span(token))
        return ast.Literal(float(text) if is_float else int(text), _span(meta))

    def string(self, meta, token):  # noqa: ANN001
        return ast.Literal(unescape_string(token), _span(meta))

    def true(self, meta):  # noqa: ANN001
        return ast.Literal(True, _span(meta))

    def false(self, meta):  # noqa: ANN001
        return ast.Literal(False, _span(meta))

    def null(self, meta):  # noqa: ANN001
        return ast.Literal(None, _span(meta))


def _split_tumbling(children: tuple, n_exprs: int = 1) -> tuple:
    keyword = isinstance(children[0], Token) and children[0].type == "TUMBLING"
    exprs = [c for c in children if not (isinstance(c, Token) and c.type == "TUMBLING")]
    exprs = [e for e in exprs if e is not None]
    if n_exprs == 1:
        return keyword, exprs[0]
    return keyword, exprs[0], exprs[1]


def _derived_name(value: ast.Expr) -> str:
    """A field name for an unnamed aggregate item: `sum(volume)` → `sum_volume`."""
    if isinstance(value, ast.Name):
        return value.name
    if isinstance(value, ast.Call):
        inner = [_derived_name(a) for a in value.args]
        return "_".join([value.func, *inner])
    return "value"
