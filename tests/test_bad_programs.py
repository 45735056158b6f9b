"""A table of malformed programs and the exact error each one gets."""

from __future__ import annotations

import pytest

from vbatch.errors import CheckError, VbatchError, VplSyntaxError
from vbatch.lang import compile_text

# (program, error class, line, column, message, hint or None)
BAD_PROGRAMS = [
    ("stream X = Y\n  .wher(a > 1)", VplSyntaxError, 2, 4, "unknown operation `.wher`", "did you mean `where`?"),
    ("strem X = Y", VplSyntaxError, 1, 1, "unknown statement `strem`", "did you mean `stream`?"),
    ("stream X = Y .where(a = 1)", VplSyntaxError, 1, 23, "unexpected `=`; expected `)` or `(`", "use `==` to compare"),
    ("stream X = Y .where(a > )", VplSyntaxError, 1, 25, "unexpected `)`; expected an expression", None),
    ('stream X = Y .where("abc)', VplSyntaxError, 1, 21, "unterminated string", "close it on the same line"),
    ("stream X = Y .where(a > 1", VplSyntaxError, 1, 26, "unexpected end of input; expected `)`", None),
    ("stream X = Y .emit(a: 1 b: 2)", VplSyntaxError, 1, 25, "unexpected name `b`; expected `)` or `,`", "separate arguments with commas"),
    ("stream X = Y where(a > 1)", VplSyntaxError, 1, 14, "missing `.` before `where`", "write `.where(...)`"),
    ("stream X = Y .where(a > 1 AND b)", VplSyntaxError, 1, 27, "unexpected name `AND`; expected `)`", "logical operators are lowercase: `and`"),
    ("stream = Y", VplSyntaxError, 1, 8, "unexpected `=`; expected a name", None),
    ("stream X = Y .where(a ~ 1)", VplSyntaxError, 1, 23, "unexpected character `~`", None),
    ("stream X = Y .where(x > 1 /* unclosed", VplSyntaxError, 1, 27, "unterminated `/*` comment", "close it with `*/`"),
    ('stream X = Y .where(s == "a\\q")', VplSyntaxError, 1, 28, "unknown escape `\\q` in string", "use \\n, \\t, \\r, \\\\, \\\", \\' or \\uXXXX"),
    ("stream X = Y\nstream X = Z", CheckError, 2, 8, "stream `X` is already declared as a stream", "give each declaration its own name"),
    ("context c\ncontext c", CheckError, 2, 1, "context `c` is already declared as a context", "give each declaration its own name"),
    ("stream A = B\nstream B = A", CheckError, 1, 12, "streams form a cycle: A → B → A", "a stream cannot read itself"),
    ("stream A = A .where(x > 1)", CheckError, 1, 12, "streams form a cycle: A → A", "a stream cannot read itself"),
    ("stream X = Y .context(nope)", CheckError, 1, 15, "unknown context `nope`", "declare it with `context nope`"),
    ("context c\nstream X = Y .emit(context: d, a: a)", CheckError, 2, 29, "`.emit` to unknown context `d`", "declare it with `context d`"),
    ("stream X = Y .where(avg(x) > 1)", CheckError, 1, 21, "aggregate `avg(...)` is only allowed inside `.aggregate(...)`", "add `.window(...)` and `.aggregate(...)`"),
    ("stream X = Y .window(1m) .aggregate(n: cnt())", CheckError, 1, 40, "unknown function `cnt`", "did you mean `count`?"),
    ("stream X = Y .window(1m) .aggregate(n: avg(a, b))", CheckError, 1, 40, "`avg` takes 1 argument, not 2", None),
    ("stream X = Y .aggregate(n: count())", CheckError, 1, 15, "`.aggregate` needs a `.window(...)` before it", "add e.g. `.window(1m)` before `.aggregate`"),
    ("stream X = Y .window(0s) .aggregate(n: count())", CheckError, 1, 22, "the window size must be positive, not 0ms", None),
    ("stream X = Y .window(-5) .aggregate(n: count())", CheckError, 1, 22, "the window size must be positive, not -5", None),
    ("context c (cores: [-1])", CheckError, 1, 20, "core id -1 is negative", "cores are numbered from 0"),
    ("context c (cpus: [1])", CheckError, 1, 12, "unknown context option `cpus`", "the only option is `cores: [1, 2]`"),
    ("stream X = Y .window(1m) .aggregate(v: value)", CheckError, 1, 40, "`value` is not a partition key, so it needs an aggregate here", "use `first(value)` or `last(value)`, or add it to `.partition_by(...)`"),
    ("stream X = Y .window(5m, sliding: 10m) .aggregate(n: count())", CheckError, 1, 35, "the slide (10m) is larger than the window (5m)", "use a slide no larger than the window"),
    ("stream X = Y .window(session: 10) .aggregate(n: count())", CheckError, 1, 31, "a session gap is a duration such as `5s`", None),
    ("stream X = Y .window(1m)", CheckError, 1, 15, "`.window` needs an `.aggregate(...)` after it", "add e.g. `.aggregate(n: count())`"),
    ("stream X = Y .window(1m) .window(2m) .aggregate(n: count())", CheckError, 1, 27, "a stream has one `.window`", None),
    ("stream X = Y .where(x > 1) .having(n > 1)", CheckError, 1, 29, "`.having` needs an `.aggregate(...)` before it", None),
    ("event E:\n  a: integr\nstream X = E", CheckError, 2, 3, "unknown type `integr`", "did you mean `integer`?"),
    ("event E:\n  a: int\nstream X = E .where(b > 1)", CheckError, 3, 21, "unknown field `b` in event `E`", None),
    ("event E:\n  a: int\nstream X = F", CheckError, 3, 12, "unknown stream or event type `F`", "declare it with `event Name:`"),
    ("stream ValidReadings = S .emit(a: a)\nstream W = ValidReading", CheckError, 2, 12, "unknown stream or event type `ValidReading`", "did you mean `ValidReadings`?"),
    ("stream X = Y .window(1m) .aggregate(n: sum(count()))", CheckError, 1, 44, "aggregate `count` inside another aggregate", None),
    ("stream X = Y .window(1m) .aggregate(n: count(), n: sum(x))", CheckError, 1, 49, "`n` is named twice in `.aggregate`", None),
    ("stream X = Y .watermark(out_of_order: -2s)", CheckError, 1, 39, "`out_of_order` cannot be negative", None),
    ("stream X = Y .window(1m) .aggregate(p: percentile(x, 150))", CheckError, 1, 54, "the percentile is a number from 0 to 100", "e.g. `percentile(latency, 99)`"),
    ("stream X = Y .where(distinct(x))", CheckError, 1, 21, "`distinct(...)` is only allowed inside `count(...)`", None),
    ("context a\ncontext b\nstream S = E .context(a) .emit(context: b, x: x)\nstream T = S .context(a)", CheckError, 4, 8, "`T` reads `S`, which emits to context `b`, but runs in `a`", "add `.context(b)` to `T`"),
    ("stream X = Y .emit(a: a) .where(a > 1)", CheckError, 1, 27, "`.emit` must be the last operation of a stream", "move this operation before `.emit(...)`"),
    ('stream X = Y .emit(msg: "hi {name")', CheckError, 1, 25, "bad interpolation `{` in string", "write `{field}` to insert a field, `{{` and `}}` for literal braces"),
    ("const K = 5\nconst K = 6", CheckError, 2, 1, "const `K` is already declared as a const", "give each declaration its own name"),
    ("const K = nope + 1", CheckError, 1, 11, "`nope` is not a constant", None),
]


@pytest.mark.parametrize(
    ("text", "kind", "line", "column", "message", "hint"),
    BAD_PROGRAMS,
    ids=[f"bad{i:02d}" for i in range(len(BAD_PROGRAMS))],
)
def test_bad_program_is_pinpointed(text, kind, line, column, message, hint) -> None:  # noqa: ANN001
    with pytest.raises(kind) as caught:
        compile_text(text, "bad.vpl")
    err = caught.value
    assert (err.line, err.column, err.message, err.hint) == (line, column, message, hint)


def test_rendered_error_has_location_line_and_caret() -> None:
    with pytest.raises(VbatchError) as caught:
        compile_text("stream X = Y\n  .wher(a > 1)", "bad.vpl")
    assert caught.value.render().splitlines() == [
        "bad.vpl:2:4: unknown operation `.wher`",
        "    2 |   .wher(a > 1)",
        "      |    ^^^^",
        "hint: did you mean `where`?",
    ]
