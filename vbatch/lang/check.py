"""Syntax tree → checked Program: resolve names, fold constants, validate every operation."""

from __future__ import annotations

import difflib
from dataclasses import replace

from vbatch.errors import CheckError, CheckWarning, Span, suggest
from vbatch.lang import ast
from vbatch.lang.connectors import (
    Binding,
    Connector,
    check_binding,
    check_config,
    check_connector,
    config_warning,
)
from vbatch.lang.constants import fold
from vbatch.lang.durations import format_duration
from vbatch.lang.functions import all_function_names
from vbatch.lang.imports import resolve_imports
from vbatch.lang.names import ExprChecker, Scope, check_output_name, interpolate
from vbatch.lang.program import (
    TYPE_NAMES,
    Context,
    EventSchema,
    JoinSpec,
    Program,
    SourceKind,
    Stream,
    StreamInput,
    WindowKind,
)
from vbatch.lang.stream_state import StreamState, window_spec


def check(module: ast.Module, source_name: str = "<input>", text: str = "") -> Program:
    """Validate a parsed module and resolve it into a Program.

    >>> from vbatch.lang.parser import parse
    >>> check(parse("stream S = E .where(x > 1)")).streams[0].inputs[0].name
    'E'
    """
    try:
        return _Checker(resolve_imports(module, source_name), source_name, text).run()
    except CheckError as err:
        raise err.with_source(source_name, text) from None


class _Checker:
    def __init__(self, module: ast.Module, source_name: str, text: str) -> None:
        self.module = module
        self.source_name = source_name
        self.text = text
        self.contexts: dict[str, Context] = {}
        self.events: dict[str, EventSchema] = {}
        self.constants: dict[str, object] = {}
        self.functions: dict[str, ast.FnDecl] = {}
        self.stream_decls: dict[str, ast.StreamDecl] = {}
        self.outputs: dict[str, tuple[str, ...] | None] = {}
        self._close: dict[str, list[str]] = {}
        self.connectors: dict[str, Connector] = {}
        self.warnings: list[CheckWarning] = []
        self.aggregating: set[str] = set()  # streams whose rows are window results

    def run(self) -> Program:
        self._collect_declarations()
        self._check_cycles()
        streams = []
        for index, decl in enumerate(self.stream_decls.values()):
            streams.append(self._check_stream(index, decl))
        self._check_emit_targets(streams)
        return Program(
            self.source_name,
            self.text,
            tuple(self.contexts.values()),
            tuple(self.events.values()),
            tuple(self.constants.items()),
            tuple(streams),
            connectors=tuple(self.connectors.values()),
            warnings=tuple(self.warnings),
        )

    # ---- declarations ------------------------------------------------------

    def _collect_declarations(self) -> None:
        seen: dict[str, str] = {}
        for statement in self.module.statements:
            assert not isinstance(statement, ast.Import), "imports are resolved first"
            if isinstance(statement, ast.Assignment):
                self._assign(statement, seen)
                continue
            if isinstance(statement, ast.FnDecl):
                self._function(statement)
                continue
            kind, name, span = _declared(statement)
            namespace = kind if kind in ("context", "connector") else "value"
            key = f"{namespace}:{name}"
            if key in seen:
                msg = f"{kind} `{name}` is already declared as a {seen[key]}"
                raise CheckError(msg, span, hint="give each declaration its own name")
            seen[key] = kind
            if isinstance(statement, ast.ContextDecl):
                self.contexts[name] = self._context(statement)
            elif isinstance(statement, ast.EventDecl):
                self.events[name] = self._event(statement)
            elif isinstance(statement, ast.BindingDecl):
                self.constants[name] = self._binding(statement)
            elif isinstance(statement, ast.ConnectorDecl):
                self.connectors[name] = check_connector(statement, self.constants)
            elif isinstance(statement, ast.ConfigDecl):
                self.connectors[name] = check_config(statement, self.constants)
                warning = config_warning(statement)
                warning.with_source(self.source_name, self.text)
                self.warnings.append(warning)
            else:
                self._collect_stream(statement, seen)

    def _collect_stream(self, decl: ast.StreamDecl, seen: dict[str, str]) -> None:
        """A stream, after the streams declared inline in its `merge(...)` or `join(...)`."""
        if isinstance(decl.source, ast.Merge | ast.Join):
            items = decl.source.inline if isinstance(decl.source, ast.Join) else decl.source.items
            for item in items:
                if isinstance(item, str):
                    continue
                key = f"value:{item.name}"
                if key in seen:
                    msg = f"stream `{item.name}` is already declared as a {seen[key]}"
                    raise CheckError(msg, item.name_span, hint="give each declaration its own name")
                seen[key] = "stream"
                self._collect_stream(item, seen)
        self.stream_decls[decl.name] = decl

    def _context(self, decl: ast.ContextDecl) -> Context:
        cores: tuple[int, ...] | None = None
        for option in decl.options:
            if option.name != "cores":
                msg = f"unknown context option `{option.name}`"
                raise CheckError(msg, option.span, hint="the only option is `cores: [1, 2]`")
            value = fold(option.value, self.constants)
            if not isinstance(value, list) or not value:
                raise CheckError("`cores` takes a non-empty list of core ids", option.value.span)
            for item, node in zip(value, option.value.items, strict=True):  # type: ignore[attr-defined]
                if isinstance(item, bool) or not isinstance(item, int):
                    raise CheckError("a core id is a whole number", node.span)
                if item < 0:
                    msg = f"core id {item} is negative"
                    raise CheckError(msg, node.span, hint="cores are numbered from 0")
            if len(set(value)) != len(value):
                raise CheckError("`cores` lists a core twice", option.value.span)
            cores = tuple(value)
        return Context(decl.name, cores, decl.span)

    def _event(self, decl: ast.EventDecl) -> EventSchema:
        fields = []
        seen: set[str] = set()
        for f in decl.fields:
            if f.name in seen:
                raise CheckError(f"field `{f.name}` is declared twice in `{decl.name}`", f.span)
            seen.add(f.name)
            if f.type_name not in TYPE_NAMES:
                msg = f"unknown type `{f.type_name}`"
                hint = (
                    suggest(f.type_name, TYPE_NAMES) or "types are int, float, str, bool, timestamp"
                )
                raise CheckError(msg, f.span, hint=hint)
            fields.append((f.name, TYPE_NAMES[f.type_name]))
        return EventSchema(decl.name, tuple(fields), decl.span)

    def _binding(self, decl: ast.BindingDecl) -> object:
        return fold(decl.value, self.constants)

    def _function(self, decl: ast.FnDecl) -> None:
        """A user function, inlined where it is called."""
        if decl.name in self.functions:
            msg = f"function `{decl.name}` is already declared"
            raise CheckError(msg, decl.name_span, hint="give each function its own name")
        if decl.name in all_function_names():
            msg = f"function `{decl.name}` has the name of a built-in function"
            raise CheckError(msg, decl.name_span, hint="give it another name")
        names = [name for name, _ in decl.params]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise CheckError(f"`{decl.name}` names parameter `{twice}` twice", decl.span)
        self.functions[decl.name] = decl

    def _assign(self, statement: ast.Assignment, seen: dict[str, str]) -> None:
        """`name := expr`: the `var` declared above takes the value from here on."""
        kind = seen.get(f"value:{statement.name}")
        if kind is None:
            msg = f"`{statement.name}` is not declared above"
            hint = f"declare it first: `var {statement.name} = ...`"
            raise CheckError(msg, statement.name_span, hint=hint)
        if kind != "var":
            msg = f"`{statement.name}` is a {kind}: only a `var` takes a new value"
            hint = f"declare it with `var {statement.name} = ...`"
            raise CheckError(msg, statement.name_span, hint=hint)
        self.constants[statement.name] = fold(statement.value, self.constants)

    def _check_cycles(self) -> None:
        """Streams read each other along a DAG (a depth-first search, without recursion)."""
        done: set[str] = set()
        for root in self.stream_decls:
            if root in done:
                continue
            path: list[str] = [root]
            on_path = {root}
            stack = [iter(self._upstream(root))]
            while stack:
                current = next(stack[-1], None)
                if current is None:
                    stack.pop()
                    done.add(path[-1])
                    on_path.discard(path.pop())
                    continue
                if current in on_path:
                    cycle = [*path[path.index(current) :], current]
                    span = self.stream_decls[cycle[0]].source_span_of(cycle[1])
                    msg = f"streams form a cycle: {' → '.join(cycle)}"
                    raise CheckError(msg, span, hint="a stream cannot read itself")
                if current in done:
                    continue
                path.append(current)
                on_path.add(current)
                stack.append(iter(self._upstream(current)))

    def _upstream(self, name: str) -> list[str]:
        names = self.stream_decls[name].source_names
        return [n for n in names if n in self.stream_decls]

    def _check_emit_targets(self, streams: list[Stream]) -> None:
        by_name = {s.name: s for s in streams}
        for s in streams:
            for name in s.upstream():
                self._check_emit_target(s, by_name[name])

    def _check_emit_target(self, s: Stream, source: Stream) -> None:
        if source.emit_context is None or s.context == source.emit_context:
            return
        decl = self.stream_decls[s.name]
        where = f"runs in `{s.context}`" if s.context else "has no `.context(...)`"
        msg = f"`{s.name}` reads `{source.name}`, which emits to context "
        msg += f"`{source.emit_context}`, but {where}"
        hint = f"add `.context({source.emit_context})` to `{s.name}`"
        raise CheckError(msg, decl.name_span, hint=hint)

    # ---- streams -----------------------------------------------------------

    def _check_stream(self, index: int, decl: ast.StreamDecl) -> Stream:
        inputs, scope = self._inputs(decl)
        state = StreamState(decl)
        if isinstance(decl.source, ast.Join) and decl.source.conditions:
            state.join_keys = join_keys(_all_of(decl.source.conditions), decl.source.items, scope)
        operations: list[ast.Operation] = []
        sources: list[Binding] = []
        sinks: list[Binding] = []
        for op in decl.operations:
            if isinstance(op, ast.FromOp):
                sources.append(self._from(op, [*operations, *sources], inputs))
                continue
            if isinstance(op, ast.ToOp):
                sinks.append(check_binding(op, self.connectors, self.constants))
                continue
            checked = self._operation(op, state, scope)
            if checked is not None:
                operations.append(checked)
            scope = state.scope_after(op, scope)
        if state.window is not None and not state.aggregated:
            msg = "`.window` needs an `.aggregate(...)` after it"
            raise CheckError(msg, state.window_span, hint="add e.g. `.aggregate(n: count())`")
        join = self._join_spec(decl, state)
        self.outputs[decl.name] = scope.fields
        if state.aggregated:
            self.aggregating.add(decl.name)
        return Stream(
            name=decl.name,
            index=index,
            inputs=inputs,
            context=state.context,
            operations=tuple(operations),
            partition_keys=state.partition_keys,
            partition_span=state.partition_span,
            window=state.window,
            watermark_ms=state.watermark_ms,
            emit_context=state.emit_context,
            span=decl.span,
            sources=tuple(sources),
            sinks=tuple(sinks),
            join=join,
        )

    def _join_spec(self, decl: ast.StreamDecl, state: StreamState) -> JoinSpec | None:
        if not isinstance(decl.source, ast.Join):
            return None
        if state.join_keys is None:
            sources = ", ".join(decl.source.items)
            msg = f"`join({sources})` needs `.on(...)`: the fields its rows meet on"
            first = decl.source.items
            hint = f"e.g. `.on({first[0]}.id == {first[1]}.id)`"
            raise CheckError(msg, decl.source.span, hint=hint)
        window = state.join_window_ms if state.join_window_ms is not None else JOIN_DEFAULT_MS
        return JoinSpec(state.join_keys, window)

    def _from(
        self, op: ast.FromOp, before: list[object], inputs: tuple[StreamInput, ...]
    ) -> Binding:
        """`.from(...)` reads an event type from a connector, before anything else is done
        (`before`: the operations and bindings the stream has so far)."""
        if len(inputs) != 1 or inputs[0].kind is not SourceKind.EVENT:
            msg = "`.from(...)` binds an event type to a connector"
            hint = f"e.g. `stream S = EventType.from({op.connector}, ...)`"
            raise CheckError(msg, op.span, hint=hint)
        if before:
            msg = "`.from(...)` comes right after the stream's source, once"
            raise CheckError(msg, op.span)
        return check_binding(op, self.connectors, self.constants)

    def _inputs(self, decl: ast.StreamDecl) -> tuple[tuple[StreamInput, ...], Scope]:
        """What the stream reads, and the fields visible at its start."""
        names = decl.source_names
        word = "join" if isinstance(decl.source, ast.Join) else "merge"
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise CheckError(f"`{word}` reads `{twice}` twice", decl.source_span_of(twice))
        inputs, scopes = [], []
        for name in names:
            kind, scope = self._source(decl, name)
            inputs.append(StreamInput(name, kind))
            scopes.append(scope)
        if isinstance(decl.source, ast.Join):
            if len(names) < 2:
                msg = "a join reads two sources or more"
                raise CheckError(msg, decl.source.span, hint="e.g. `join(Trade, Quote)`")
            return tuple(inputs), _joined_scope(decl.source, scopes, self._aliases(decl.source))
        if len(scopes) == 1:
            return tuple(inputs), scopes[0]
        known = [sc.fields for sc in scopes]
        merged = None if any(f is None for f in known) else tuple(dict.fromkeys(
            field for fields in known for field in fields or ()
        ))  # fmt: skip
        return tuple(inputs), Scope(merged, f"the merge of {', '.join(names)}")

    def _aliases(self, join: ast.Join) -> tuple[tuple[str, str], ...]:
        """Other names of a join's sources: the event type a source stream reads directly
        (`join(Trades, Quotes).on(Trade.symbol == Quote.symbol)`, as Varpulis allows)."""
        found: dict[str, str] = {}
        for name in join.items:
            decl = self.stream_decls.get(name)
            if decl is not None and isinstance(decl.source, str) and decl.source not in join.items:
                found[decl.source] = name if decl.source not in found else ""
        return tuple((alias, name) for alias, name in found.items() if name)

    def _source(self, decl: ast.StreamDecl, name: str) -> tuple[SourceKind, Scope]:
        if name in self.stream_decls:
            fields = self.outputs.get(name)
            return SourceKind.STREAM, Scope(fields, f"stream `{name}`")
        if name in self.events:
            fields = tuple(field for field, _ in self.events[name].fields)
            return SourceKind.EVENT, Scope(fields, f"event `{name}`")
        # An undeclared event type is legal input; a near miss of a known name is a typo.
        near = [n for n in self._near_misses(name) if n != decl.name]
        if near:
            msg = f"unknown stream or event type `{name}`"
            raise CheckError(msg, decl.source_span_of(name), hint=f"did you mean `{near[0]}`?")
        return SourceKind.EVENT, Scope(None, f"event `{name}`")

    def _near_misses(self, name: str) -> list[str]:
        """Declared names close to `name` (once per name: many streams read one type)."""
        if name not in self._close:
            known = [*self.stream_decls, *self.events]
            self._close[name] = difflib.get_close_matches(name, known, n=2, cutoff=0.8)
        return self._close[name]

    def _operation(
        self, op: ast.Operation, state: StreamState, scope: Scope
    ) -> ast.Operation | None:
        if isinstance(state.decl.source, ast.Join):
            return self._join_operation(op, state, scope)
        if isinstance(op, ast.OnOp):
            msg = "`.on(...)` says how the rows of a `join(...)` meet"
            raise CheckError(msg, op.span, hint="e.g. `stream J = join(A, B) .on(A.id == B.id)`")
        return self._plain_operation(op, state, scope)

    def _join_operation(
        self, op: ast.Operation, state: StreamState, scope: Scope
    ) -> ast.Operation | None:
        """A join's operations: `.on` first, then `.window(duration)`, then per-row ones."""
        source = state.decl.source
        assert isinstance(source, ast.Join)
        if isinstance(op, ast.OnOp):
            if state.join_keys is not None:
                raise CheckError("a join has one `.on(...)`", op.span)
            state.join_keys = join_keys(op.condition, source.items, scope)
            return None
        if isinstance(op, ast.ContextOp):
            return self._plain_operation(op, state, scope)
        if state.join_keys is None:
            msg = "`.on(...)` comes first after a `join(...)`"
            raise CheckError(msg, op.span, hint="write `.on(A.id == B.id)` right after the join")
        if isinstance(op, ast.WindowOp):
            if state.join_window_ms is not None:
                raise CheckError("a join has one `.window`", op.span)
            window_ms = join_window(op, self.constants)
            if window_ms is None:
                default = format_duration(JOIN_DEFAULT_MS)
                msg = (
                    "a join's window is a duration; this one counts rows, so partners "
                    f"may be up to {default} older, as in Varpulis"
                )
                warning = CheckWarning(msg, op.span, hint="write a duration, e.g. `.window(30s)`")
                warning.with_source(self.source_name, self.text)
                self.warnings.append(warning)
            state.join_window_ms = JOIN_DEFAULT_MS if window_ms is None else window_ms
            return None
        if isinstance(
            op, ast.AggregateOp | ast.HavingOp | ast.PartitionOp | ast.WatermarkOp | ast.LatenessOp
        ):
            name = type(op).__name__.removesuffix("Op").lower().replace("partition", "partition_by")
            msg = f"`.{name}` on a join is not supported"
            hint = "aggregate the joined rows in a stream that reads this one"
            raise CheckError(msg, op.span, hint=hint)
        return self._plain_operation(op, state, scope)

    def _plain_operation(
        self, op: ast.Operation, state: StreamState, scope: Scope
    ) -> ast.Operation | None:
        if isinstance(op, ast.ContextOp):
            state.set_context(op, self.contexts)
            return None
        if isinstance(op, ast.WatermarkOp):
            state.set_watermark(op, self.constants)
            return None
        if isinstance(op, ast.LatenessOp):
            state.set_lateness(op, self.constants)
            return None
        if isinstance(op, ast.PartitionOp):
            state.set_partition(op, scope)
            return None
        if isinstance(op, ast.WindowOp):
            state.set_window(op, self.constants)
            return None
        state.require_no_emit_before(op)
        if isinstance(op, ast.AggregateOp):
            return self._aggregate(op, state, scope)
        if isinstance(op, ast.HavingOp):
            if not state.aggregated and self._reads_only_aggregates(state.decl):
                # Filtering window results downstream (`Stats.having(n > 5)`): a `.where`.
                return ast.WhereOp(self._expr(op.condition, scope), op.span)
            if not state.aggregated:
                raise CheckError("`.having` needs an `.aggregate(...)` before it", op.span)
            return replace(op, condition=self._expr(op.condition, scope))
        if isinstance(op, ast.WhereOp):
            if state.window is not None and not state.aggregated:
                msg = "`.where` between `.window` and `.aggregate`"
                hint = "filter before `.window(...)`, or use `.having(...)` after `.aggregate`"
                raise CheckError(msg, op.span, hint=hint)
            return replace(op, condition=self._expr(op.condition, scope))
        if isinstance(op, ast.SelectOp):
            return replace(op, items=self._items(op.items, scope, "select"))
        if isinstance(op, ast.EmitOp):
            state.set_emit(op, self.contexts)
            return replace(op, items=self._items(op.items, scope, "emit"))
        if isinstance(op, ast.PrintOp):
            args = tuple(self._expr(interpolate(a), scope) for a in op.args)
            return replace(op, args=args)
        if isinstance(op, ast.LogOp):
            return self._plain_operation(log_as_print(op, self.constants), state, scope)
        raise TypeError(op)

    def _reads_only_aggregates(self, decl: ast.StreamDecl) -> bool:
        return all(name in self.aggregating for name in decl.source_names)

    def _items(self, items: tuple[ast.Item, ...], scope: Scope, where: str) -> tuple[ast.Item, ...]:
        seen: set[str] = set()
        checked = []
        for item in items:
            if item.name in seen:
                raise CheckError(f"`{item.name}` is named twice in `.{where}`", item.span)
            check_output_name(item)
            seen.add(item.name)
            checked.append(replace(item, value=self._expr(interpolate(item.value), scope)))
        return tuple(checked)

    def _aggregate(self, op: ast.AggregateOp, state: StreamState, scope: Scope) -> ast.AggregateOp:
        if state.window is None:
            msg = "`.aggregate` needs a `.window(...)` before it"
            raise CheckError(msg, op.span, hint="add e.g. `.window(1m)` before `.aggregate`")
        if state.aggregated:
            raise CheckError("a stream can aggregate only once", op.span)
        if not op.items:
            raise CheckError("`.aggregate` needs at least one field", op.span)
        state.aggregated = True
        seen: set[str] = set()
        items = []
        for item in op.items:
            if item.name in seen:
                raise CheckError(f"`{item.name}` is named twice in `.aggregate`", item.span)
            check_output_name(item)
            seen.add(item.name)
            value = self._agg_expr(item.value, scope, state.partition_keys)
            items.append(replace(item, value=value))
        return replace(op, items=tuple(items))

    # ---- expressions -------------------------------------------------------

    def _expr(self, expr: ast.Expr, scope: Scope) -> ast.Expr:
        """Check an expression outside `.aggregate`: no aggregate calls allowed."""
        checker = ExprChecker(
            self.constants, scope, allow_aggregates=False, keys=(), functions=self.functions
        )
        return checker.visit(expr)

    def _agg_expr(self, expr: ast.Expr, scope: Scope, keys: tuple[str, ...]) -> ast.Expr:
        checker = ExprChecker(
            self.constants, scope, allow_aggregates=True, keys=keys, functions=self.functions
        )
        return checker.visit(expr)


def _declared(statement: ast.Statement) -> tuple[str, str, Span]:
    assert not isinstance(statement, ast.Import | ast.Assignment | ast.FnDecl)
    if isinstance(statement, ast.ContextDecl):
        return "context", statement.name, statement.span
    if isinstance(statement, ast.EventDecl):
        return "event", statement.name, statement.span
    if isinstance(statement, ast.BindingDecl):
        return statement.kind.value, statement.name, statement.span
    if isinstance(statement, ast.ConnectorDecl | ast.ConfigDecl):
        return "connector", statement.name, statement.span
    return "stream", statement.name, statement.name_span


def _joined_scope(
    join: ast.Join, scopes: list[Scope], aliases: tuple[tuple[str, str], ...]
) -> Scope:
    """A join's fields: `A.f` for each field of each source, and `f` alone for the first
    source that has it."""
    describe = f"`join({', '.join(join.items)})`"
    sources = tuple((name, sc.fields) for name, sc in zip(join.items, scopes, strict=True))
    if any(sc.fields is None for sc in scopes):
        return Scope(None, describe, sources, aliases)
    qualified = [
        f"{name}.{f}" for name, sc in zip(join.items, scopes, strict=True) for f in sc.fields or ()
    ]
    plain = dict.fromkeys(f for sc in scopes for f in sc.fields or ())
    return Scope((*qualified, *plain), describe, sources, aliases)


def join_keys(condition: ast.Expr, sources: tuple[str, ...], scope: Scope) -> tuple[str, ...]:
    """Each source's key field from `.on(A.k == B.k and B.k == C.id ...)`, in source order."""
    keys: dict[str, str] = {}
    linked: dict[str, str] = {s: s for s in sources}

    def root(s: str) -> str:
        while linked[s] != s:
            s = linked[s]
        return s

    for part in _conjuncts(condition):
        if not isinstance(part, ast.Binary) or part.op is not ast.BinaryOp.EQ:
            msg = "`.on(...)` takes equalities of the sources' fields, joined by `and`"
            raise CheckError(msg, part.span, hint="e.g. `.on(A.symbol == B.symbol)`")
        sides = []
        for side in (part.left, part.right):
            if not isinstance(side, ast.Name) or "." not in side.name:
                msg = "each side of a join's `==` names a source's field, as `A.symbol`"
                raise CheckError(msg, side.span)
            source, field = scope.canonical(side.name).split(".", 1)
            if source not in sources:
                msg = f"`{source}` is not a source of this join"
                raise CheckError(msg, side.span, hint=suggest(source, sources))
            if not scope.has(f"{source}.{field}"):
                msg = f"unknown field `{side.name}` in {scope.describe}"
                raise CheckError(msg, side.span, hint=suggest(side.name, scope.fields or ()))
            if keys.setdefault(source, field) != field:
                msg = (
                    f"`{source}` meets the others on one field; "
                    f"`.on` names `{keys[source]}` and `{field}`"
                )
                raise CheckError(msg, side.span)
            sides.append(source)
        if sides[0] == sides[1]:
            raise CheckError("a join's `==` compares two different sources", part.span)
        linked[root(sides[0])] = root(sides[1])
    missing = [s for s in sources if s not in keys]
    if missing or len({root(s) for s in sources}) > 1:
        lonely = missing[0] if missing else sources[-1]
        msg = f"`.on(...)` does not say how `{lonely}` meets the other sources"
        raise CheckError(msg, condition.span, hint=f"add `and {lonely}.key == {sources[0]}.key`")
    return tuple(keys[s] for s in sources)


def _all_of(conditions: tuple[ast.Expr | None, ...]) -> ast.Expr:
    """The `on` conditions of a join's items as one `and`."""
    present = [c for c in conditions if c is not None]
    combined = present[0]
    for condition in present[1:]:
        combined = ast.Binary(ast.BinaryOp.AND, combined, condition, condition.span)
    return combined


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.Binary) and expr.op is ast.BinaryOp.AND:
        return [*_conjuncts(expr.left), *_conjuncts(expr.right)]
    return [expr]


JOIN_DEFAULT_MS = 60_000  # a join without a duration window: Varpulis's default


def join_window(op: ast.WindowOp, constants: dict[str, object]) -> int | None:
    """A join's window in ms: a duration, without a slide (checked as every window is);
    None for a window that counts rows, which a join reads as Varpulis does (a minute)."""
    spec = window_spec(op, constants)
    if spec.kind is WindowKind.COUNT and op.slide is None:
        return None
    if spec.kind is not WindowKind.TIME or op.slide is not None:
        msg = (
            "a join's window is a duration such as `1m`: "
            "how much older than a row its partners may be"
        )
        raise CheckError(msg, op.span)
    return spec.size


LOG_LEVELS = ("trace", "debug", "info", "warn", "error")


def log_as_print(op: ast.LogOp, constants: dict[str, object]) -> ast.PrintOp:
    """`.log(level: "warn", message: "m", data: x)` is the console line `[warn] m x` per row
    (as `.print("[warn]", "m", x)`); the level is one of LOG_LEVELS, `info` by default."""
    items = {item.name: item for item in op.items}
    unknown = [name for name in items if name not in ("level", "message", "data")]
    if unknown:
        msg = f"unknown parameter `{unknown[0]}` for `.log`"
        hint = suggest(unknown[0], ("level", "message", "data")) or "it takes level, message, data"
        raise CheckError(msg, items[unknown[0]].span, hint=hint)
    level = fold(items["level"].value, constants) if "level" in items else "info"
    if level not in LOG_LEVELS:
        where = items["level"].value.span if "level" in items else op.span
        raise CheckError(f"`.log` level is one of {', '.join(LOG_LEVELS)}", where)
    args: list[ast.Expr] = [ast.Literal(f"[{level}]", op.span)]
    args += [items[name].value for name in ("message", "data") if name in items]
    return ast.PrintOp(tuple(args), op.span)
