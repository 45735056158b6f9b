"""A table of malformed programs and the exact error each one gets."""

from __future__ import annotations

import pytest

from vbatch.errors import CheckError, VbatchError, VplSyntaxError
from vbatch.lang import compile_text
from vbatch.plan.build import plan_program

RESERVED_HINT = "outputs carry `stream`, `_ts` and `_seq` themselves (`__` names are the engine's)"

# (program, error class, line, column, message, hint or None)
BAD_PROGRAMS = [
    (
        "stream X = Y\n  .wher(a > 1)",
        VplSyntaxError,
        2,
        4,
        "unknown operation `.wher`",
        "did you mean `where`?",
    ),
    ("strem X = Y", VplSyntaxError, 1, 1, "unknown statement `strem`", "did you mean `stream`?"),
    (
        'stream S = T .log(level: "loud", message: "x")',
        CheckError,
        1,
        26,
        "`.log` level is one of trace, debug, info, warn, error",
        None,
    ),
    (
        'stream S = T .log(mesage: "x")',
        CheckError,
        1,
        19,
        "unknown parameter `mesage` for `.log`",
        "did you mean `message`?",
    ),
    (
        "stream J = join(A, B) .window(5s)",
        CheckError,
        1,
        24,
        "`.on(...)` comes first after a `join(...)`",
        "write `.on(A.id == B.id)` right after the join",
    ),
    (
        "stream J = join(A, B) .on(A.k == C.k) .window(1s)",
        CheckError,
        1,
        34,
        "`C` is not a source of this join",
        None,
    ),
    (
        "stream J = join(A, B) .on(A.k > B.k) .window(1s)",
        CheckError,
        1,
        27,
        "`.on(...)` takes equalities of the sources' fields, joined by `and`",
        "e.g. `.on(A.symbol == B.symbol)`",
    ),
    (
        "stream J = join(A, B, C) .on(A.k == B.k) .window(1s)",
        CheckError,
        1,
        30,
        "`.on(...)` does not say how `C` meets the other sources",
        "add `and C.key == A.key`",
    ),
    (
        "stream J = join(A, B) .on(A.k == B.k) .window(5s, sliding: 1s)",
        CheckError,
        1,
        40,
        "a join's window is a duration such as `1m`: how much older than a row its partners may be",
        None,
    ),
    (
        "stream J = join(A, B) .on(A.k == B.k) .window(1s) .aggregate(n: count())",
        CheckError,
        1,
        52,
        "`.aggregate` on a join is not supported",
        "aggregate the joined rows in a stream that reads this one",
    ),
    (
        "stream J = A .on(A.k == B.k)",
        CheckError,
        1,
        15,
        "`.on(...)` says how the rows of a `join(...)` meet",
        "e.g. `stream J = join(A, B) .on(A.id == B.id)`",
    ),
    (
        "stream J = join(A, A) .on(A.k == A.k) .window(1s)",
        CheckError,
        1,
        17,
        "`join` reads `A` twice",
        None,
    ),
    (
        "stream J = join(A) .on(A.k == A.k) .window(1s)",
        CheckError,
        1,
        12,
        "a join reads two sources or more",
        "e.g. `join(Trade, Quote)`",
    ),
    (
        "event A:\n    x: int\nstream S = A .where(A.x > 1)",
        CheckError,
        3,
        21,
        "unknown field `A.x` in event `A`",
        "`Source.field` names a field of a join's source; write `x`",
    ),
    (
        "x := 5\nstream S = T",
        CheckError,
        1,
        1,
        "`x` is not declared above",
        "declare it first: `var x = ...`",
    ),
    (
        "let a = 1\na := 2",
        CheckError,
        2,
        1,
        "`a` is a let: only a `var` takes a new value",
        "declare it with `var a = ...`",
    ),
    (
        "stream X = Y .where(a = 1)",
        VplSyntaxError,
        1,
        23,
        "unexpected `=`; expected `)`, `(` or `.`",
        "use `==` to compare",
    ),
    (
        "stream X = Y .where(a > )",
        VplSyntaxError,
        1,
        25,
        "unexpected `)`; expected an expression",
        None,
    ),
    (
        'stream X = Y .where("abc)',
        VplSyntaxError,
        1,
        21,
        "unterminated string",
        "close it on the same line",
    ),
    (
        "stream X = Y .where(a > 1",
        VplSyntaxError,
        1,
        26,
        "unexpected end of input; expected `)`",
        None,
    ),
    (
        "stream X = Y .emit(a: 1 b: 2)",
        VplSyntaxError,
        1,
        25,
        "unexpected name `b`; expected `)` or `,`",
        "separate arguments with commas",
    ),
    (
        "stream X = Y where(a > 1)",
        VplSyntaxError,
        1,
        14,
        "missing `.` before `where`",
        "write `.where(...)`",
    ),
    (
        "stream X = Y .where(a > 1 AND b)",
        VplSyntaxError,
        1,
        27,
        "unexpected name `AND`; expected `)`",
        "logical operators are lowercase: `and`",
    ),
    ("stream = Y", VplSyntaxError, 1, 8, "unexpected `=`; expected a name", None),
    ("stream X = Y .where(a ~ 1)", VplSyntaxError, 1, 23, "unexpected character `~`", None),
    (
        "stream X = Y .where(x > 1 /* unclosed",
        VplSyntaxError,
        1,
        27,
        "unterminated `/*` comment",
        "close it with `*/`",
    ),
    (
        'stream X = Y .where(s == "a\\q")',
        VplSyntaxError,
        1,
        28,
        "unknown escape `\\q` in string",
        "use \\n, \\t, \\r, \\\\, \\\", \\' or \\uXXXX",
    ),
    (
        "stream X = Y\nstream X = Z",
        CheckError,
        2,
        8,
        "stream `X` is already declared as a stream",
        "give each declaration its own name",
    ),
    (
        "context c\ncontext c",
        CheckError,
        2,
        1,
        "context `c` is already declared as a context",
        "give each declaration its own name",
    ),
    (
        "stream A = B\nstream B = A",
        CheckError,
        1,
        12,
        "streams form a cycle: A → B → A",
        "a stream cannot read itself",
    ),
    (
        "stream A = A .where(x > 1)",
        CheckError,
        1,
        12,
        "streams form a cycle: A → A",
        "a stream cannot read itself",
    ),
    (
        "stream X = Y .context(nope)",
        CheckError,
        1,
        15,
        "unknown context `nope`",
        "declare it with `context nope`",
    ),
    (
        "context c\nstream X = Y .emit(context: d, a: a)",
        CheckError,
        2,
        29,
        "`.emit` to unknown context `d`",
        "declare it with `context d`",
    ),
    (
        "stream X = Y .where(avg(x) > 1)",
        CheckError,
        1,
        21,
        "aggregate `avg(...)` is only allowed inside `.aggregate(...)`",
        "add `.window(...)` and `.aggregate(...)`",
    ),
    (
        "stream X = Y .window(1m) .aggregate(n: cnt())",
        CheckError,
        1,
        40,
        "unknown function `cnt`",
        "did you mean `count`?",
    ),
    (
        "stream X = Y .window(1m) .aggregate(n: avg(a, b))",
        CheckError,
        1,
        40,
        "`avg` takes 1 argument, not 2",
        None,
    ),
    (
        "stream X = Y .aggregate(n: count())",
        CheckError,
        1,
        15,
        "`.aggregate` needs a `.window(...)` before it",
        "add e.g. `.window(1m)` before `.aggregate`",
    ),
    (
        "stream X = Y .window(0s) .aggregate(n: count())",
        CheckError,
        1,
        22,
        "the window size must be positive, not 0ms",
        None,
    ),
    (
        "stream X = Y .window(-5) .aggregate(n: count())",
        CheckError,
        1,
        22,
        "the window size must be positive, not -5",
        None,
    ),
    (
        "context c (cores: [-1])",
        CheckError,
        1,
        20,
        "core id -1 is negative",
        "cores are numbered from 0",
    ),
    (
        "context c (cpus: [1])",
        CheckError,
        1,
        12,
        "unknown context option `cpus`",
        "the only option is `cores: [1, 2]`",
    ),
    (
        "stream X = Y .window(1m) .aggregate(v: value)",
        CheckError,
        1,
        40,
        "`value` is not a partition key, so it needs an aggregate here",
        "use `first(value)` or `last(value)`, or add it to `.partition_by(...)`",
    ),
    (
        "stream X = Y .window(5m, sliding: 10m) .aggregate(n: count())",
        CheckError,
        1,
        35,
        "the slide (10m) is larger than the window (5m)",
        "use a slide no larger than the window",
    ),
    (
        "stream X = Y .window(session: 10) .aggregate(n: count())",
        CheckError,
        1,
        31,
        "a session gap is a duration such as `5s`",
        None,
    ),
    (
        "stream X = Y .window(1m)",
        CheckError,
        1,
        15,
        "`.window` needs an `.aggregate(...)` after it",
        "add e.g. `.aggregate(n: count())`",
    ),
    (
        "stream X = Y .window(1m) .window(2m) .aggregate(n: count())",
        CheckError,
        1,
        27,
        "a stream has one `.window`",
        None,
    ),
    (
        "stream X = Y .where(x > 1) .having(n > 1)",
        CheckError,
        1,
        29,
        "`.having` needs an `.aggregate(...)` before it",
        None,
    ),
    (
        "event E:\n  a: integr\nstream X = E",
        CheckError,
        2,
        3,
        "unknown type `integr`",
        "did you mean `integer`?",
    ),
    (
        "event E:\n  a: int\nstream X = E .where(b > 1)",
        CheckError,
        3,
        21,
        "unknown field `b` in event `E`",
        None,
    ),
    (
        "event Reading:\n  a: int\nstream X = Readng",
        CheckError,
        3,
        12,
        "unknown stream or event type `Readng`",
        "did you mean `Reading`?",
    ),
    (
        "stream ValidReadings = S .emit(a: a)\nstream W = ValidReading",
        CheckError,
        2,
        12,
        "unknown stream or event type `ValidReading`",
        "did you mean `ValidReadings`?",
    ),
    (
        "stream X = Y .window(1m) .aggregate(n: sum(count()))",
        CheckError,
        1,
        44,
        "aggregate `count` inside another aggregate",
        None,
    ),
    (
        "stream X = Y .window(1m) .aggregate(n: count(), n: sum(x))",
        CheckError,
        1,
        49,
        "`n` is named twice in `.aggregate`",
        None,
    ),
    (
        "stream X = Y .watermark(out_of_order: -2s)",
        CheckError,
        1,
        39,
        "`out_of_order` cannot be negative",
        None,
    ),
    (
        "stream X = Y .window(1m) .aggregate(p: percentile(x, 150))",
        CheckError,
        1,
        54,
        "the percentile is a number from 0 to 100",
        "e.g. `percentile(latency, 99)`",
    ),
    (
        "stream X = Y .where(distinct(x))",
        CheckError,
        1,
        21,
        "`distinct(...)` is only allowed inside `count(...)`",
        None,
    ),
    (
        "context a\ncontext b\nstream S = E .context(a) .emit(context: b, x: x)\nstream T = S .context(a)",
        CheckError,
        4,
        8,
        "`T` reads `S`, which emits to context `b`, but runs in `a`",
        "add `.context(b)` to `T`",
    ),
    (
        "stream X = Y .emit(a: a) .where(a > 1)",
        CheckError,
        1,
        27,
        "`.emit` must be the last operation of a stream",
        "move this operation before `.emit(...)`",
    ),
    (
        'stream X = Y .emit(msg: "hi {name")',
        CheckError,
        1,
        25,
        "bad interpolation `{` in string",
        "write `{field}` to insert a field, `{{` and `}}` for literal braces",
    ),
    (
        "const K = 5\nconst K = 6",
        CheckError,
        2,
        1,
        "const `K` is already declared as a const",
        "give each declaration its own name",
    ),
    ("const K = nope + 1", CheckError, 1, 11, "`nope` is not a constant", None),
    # values a program cannot run with are refused at check time (issue 13: 11, 12, 13)
    (
        "stream X = Y .where(v > 99999999999999999999)",
        CheckError,
        1,
        25,
        "integer 99999999999999999999 does not fit in 64 bits",
        None,
    ),
    (
        "stream X = Y .where(v > 1e309)",
        CheckError,
        1,
        25,
        "number too large for a float",
        "floats go up to about 1.8e308",
    ),
    (
        "stream X = Y .window(99999999999999999999s) .aggregate(n: count())",
        CheckError,
        1,
        22,
        "a duration of 99,999,999,999,999,999,999,000 ms is longer than 2**61 ms (73 million years)",
        None,
    ),
    (
        "stream X = Y .where(v > " + "9" * 5000 + ")",
        VplSyntaxError,
        1,
        25,
        "integer 99999999999999999999… does not fit in 64 bits",
        None,
    ),
    ("const Q = 5 % 0", CheckError, 1, 11, "modulo by zero in a constant", None),
    ("const K = 1 in 5", CheckError, 1, 11, "cannot apply `in` to an int and an int", None),
    (
        "const K = 9223372036854775807 + 1",
        CheckError,
        1,
        11,
        "integer 9223372036854775808 does not fit in 64 bits",
        None,
    ),
    (
        'const X = "ab" * 999999999999',
        CheckError,
        1,
        11,
        "this constant string would hold 1,999,999,999,998 characters; at most 1,048,576",
        None,
    ),
    (
        'const A0 = "abcdefghijklmnop"\n'
        + "".join(f"const A{i} = A{i - 1} + A{i - 1}\n" for i in range(1, 40)),
        CheckError,
        18,
        13,
        "this constant string would hold 2,097,152 characters; at most 1,048,576",
        None,
    ),
    (
        "stream X = Y .window(1d, sliding: 1ms) .aggregate(n: count())",
        CheckError,
        1,
        35,
        "each row would fall in 86,400,000 windows (1d / 1ms)",
        "a row is in at most 10,000: make the slide 8640ms or more",
    ),
    # names an output row cannot take (18)
    *(
        (text, CheckError, 1, column, f"`{name}` is a reserved output name", RESERVED_HINT)
        for text, column, name in [
            ('stream X = Y .emit(stream: "other")', 20, "stream"),
            ("stream X = Y .select(_ts: 5)", 22, "_ts"),
            ("stream X = Y .window(1m) .aggregate(__n: count())", 37, "__n"),
        ]
    ),
    # nesting beyond the documented limit is refused where it passes it (10)
    (
        "stream X = Y .where(" + "not " * 5000 + "v)",
        VplSyntaxError,
        1,
        4009,
        "the program nests deeper than 1000 levels here",
        "split the expression, e.g. into named constants or a chain of streams",
    ),
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


def test_a_join_on_keys_of_different_kinds_is_refused_where_the_join_is() -> None:
    text = "event A:\n    k: str\nevent B:\n    k: int\nstream J = join(A, B) .on(A.k == B.k) .window(1s)"
    with pytest.raises(CheckError) as caught:
        plan_program(compile_text(text, "bad.vpl"))
    err = caught.value
    assert (err.line, err.column) == (5, 1)
    assert err.message == "the sources of `J` meet on keys of different kinds: a string and an int"


def test_a_join_window_that_counts_rows_is_warned_about_and_means_a_minute() -> None:
    program = compile_text("stream J = join(A, B) .on(A.k == B.k) .window(2)", "j.vpl")
    (warning,) = program.warnings
    assert (warning.line, warning.column) == (1, 40)
    assert "this one counts rows, so partners may be up to 1m older" in warning.message
    assert program.streams[0].join is not None and program.streams[0].join.window_ms == 60_000


def test_log_lines_are_shown_per_row_with_their_level(tmp_path) -> None:  # noqa: ANN001
    from test_golden import run_vbatch

    program = tmp_path / "log.vpl"
    program.write_text('stream S = T .log(level: "warn", message: "hot", data: v) .where(v > 1)\n')
    events = tmp_path / "log.evt"
    events.write_text("T { v: 2 }\nT { v: 0 }\n")
    done = run_vbatch("simulate", "-p", str(program), "-e", str(events), "--immediate")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[lines.index("[warn] hot 2") :][:3] == [
        "[warn] hot 2",
        "=> S: { v: 2 }",
        "[warn] hot 0",
    ]
