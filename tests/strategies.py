"""Hypothesis strategies for VPL syntax trees."""

from __future__ import annotations

from hypothesis import strategies as st

from vbatch.lang import ast
from vbatch.lang.durations import DURATION_UNITS_MS

RESERVED = {
    "and", "or", "not", "in", "true", "false", "null", "stream", "context", "event", "let",
    "const", "var", "tumbling", "sliding", "session", "out_of_order",
    "where", "select", "emit", "print", "partition_by", "window", "aggregate", "having",
    "watermark", "if", "then", "else",
}  # fmt: skip

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in RESERVED)
type_names = st.sampled_from(["int", "float", "str", "bool", "timestamp"])
safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=12
)

literals = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(ast.Literal),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False).map(ast.Literal),
    safe_text.map(ast.Literal),
    st.booleans().map(ast.Literal),
    st.just(ast.Literal(None)),
)


@st.composite
def durations(draw: st.DrawFn) -> ast.Duration:
    """A duration literal such as `30s`."""
    amount = draw(st.integers(min_value=0, max_value=10_000))
    unit = draw(st.sampled_from(sorted(DURATION_UNITS_MS)))
    return ast.Duration(amount * DURATION_UNITS_MS[unit], f"{amount}{unit}")


def expressions(max_leaves: int = 12) -> st.SearchStrategy[ast.Expr]:
    """Expressions of every shape the grammar allows."""
    qualified = st.builds(lambda a, b: ast.Name(f"{a}.{b}"), names, names)
    leaves = st.one_of(literals, durations(), names.map(ast.Name), qualified)

    def extend(inner: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
        return st.one_of(
            st.builds(ast.Binary, st.sampled_from(list(ast.BinaryOp)), inner, inner),
            st.builds(ast.Unary, st.sampled_from(list(ast.UnaryOp)), inner),
            st.builds(ast.Conditional, inner, inner, inner),
            st.builds(ast.Call, names, st.lists(inner, max_size=3).map(tuple)),
            st.lists(inner, max_size=3).map(lambda items: ast.ListExpr(tuple(items))),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


exprs = expressions()
items = st.builds(ast.Item, names, exprs)


def _unique_items(values: list[ast.Item]) -> tuple[ast.Item, ...]:
    seen: dict[str, ast.Item] = {}
    for item in values:
        seen.setdefault(item.name, item)
    return tuple(seen.values())


item_lists = st.lists(items, max_size=4).map(_unique_items)

windows = st.one_of(
    st.builds(ast.WindowOp, st.just(ast.WindowSyntax.FIXED), exprs, st.none(), st.booleans()),
    st.builds(ast.WindowOp, st.just(ast.WindowSyntax.SLIDING), exprs, exprs, st.booleans()),
    st.builds(ast.WindowOp, st.just(ast.WindowSyntax.SESSION), exprs, st.none(), st.just(False)),
)

operations = st.one_of(
    names.map(ast.ContextOp),
    exprs.map(ast.WhereOp),
    exprs.map(ast.OnOp),
    exprs.map(ast.HavingOp),
    item_lists.map(ast.SelectOp),
    st.builds(ast.EmitOp, item_lists, st.none() | names),
    st.lists(exprs, max_size=3).map(lambda a: ast.PrintOp(tuple(a))),
    st.lists(names, min_size=1, max_size=3).map(lambda k: ast.PartitionOp(tuple(k))),
    windows,
    st.lists(items, min_size=1, max_size=4).map(lambda i: ast.AggregateOp(_unique_items(i))),
    exprs.map(ast.WatermarkOp),
    exprs.map(ast.LatenessOp),
    st.lists(items, max_size=3).map(lambda i: ast.LogOp(_unique_items(i))),
)

statements = st.one_of(
    st.builds(ast.ContextDecl, names, st.lists(items, max_size=2).map(tuple)),
    st.builds(
        ast.EventDecl,
        names,
        st.lists(st.builds(ast.FieldDecl, names, type_names), max_size=4).map(tuple),
    ),
    st.builds(
        ast.BindingDecl,
        st.sampled_from(list(ast.BindingKind)),
        names,
        st.none() | type_names,
        exprs,
    ),
    st.builds(ast.Assignment, names, exprs),
    st.builds(ast.Import, st.from_regex(r"[a-z/._]{1,12}\.vpl", fullmatch=True)),
    st.builds(ast.StreamDecl, names, names, st.lists(operations, max_size=6).map(tuple)),
    st.builds(
        ast.StreamDecl,
        names,
        st.lists(names, min_size=2, max_size=3).map(lambda n: ast.Join(tuple(n))),
        st.lists(operations, max_size=4).map(tuple),
    ),
)

modules = st.lists(statements, max_size=6).map(lambda s: ast.Module(tuple(s)))
