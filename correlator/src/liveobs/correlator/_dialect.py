"""The one place where DuckDB SQL and ClickHouse SQL differ.

Every query and check is written once, in DuckDB's dialect (the embedded default).
For ClickHouse it is parsed with SQLGlot and rewritten by the rules below, then
printed in ClickHouse's dialect: lambdas and list functions become array functions,
``FILTER (WHERE …)`` becomes an ``-If`` combinator, ordered ``list()`` an array sort,
struct literals named tuples, ``$name`` and ``?`` typed query parameters.

Where the engines' semantics differ, the rules keep DuckDB's: a missing map key
reads as NULL (ClickHouse gives ``''``), ``list_position`` of a missing element is
NULL (ClickHouse's ``indexOf`` gives 0), an empty aggregate is NULL and an outer
join fills NULLs (:data:`SESSION_SETTINGS`), ClickHouse's global aliases give way
to column names, and a whole Nested column (``Events``) reads as a named tuple.

Known limits, each harmless for the packaged queries: ``list(x ORDER BY k DESC)``
sorts by ``-toFloat64(k)`` (numbers and times only); ``mode()`` is ``topK(1)``, whose
choice among equally frequent values may differ from DuckDB's; ``hash()`` is
``cityHash64``, so a sample cut by ``ORDER BY hash(…) LIMIT n`` holds other rows once
there are more than ``n``; ClickHouse has no NULL array, so an empty list joins
(``array_to_string``) to NULL as DuckDB's NULL list does.

A new check in DuckDB SQL runs on ClickHouse through these rules. A construct no
rule knows either fails :func:`to_clickhouse` (:class:`UnsupportedSQLError`) or
reaches ClickHouse under its DuckDB name and fails there; the tests run every
packaged query on chdb, so either shows up as a failing test naming the check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import sqlglot
from sqlglot import exp

# Settings under which the rewritten SQL keeps DuckDB's NULL semantics.
SESSION_SETTINGS: Final[dict[str, Any]] = {
    "join_use_nulls": 1,
    "prefer_column_name_to_alias": 1,
    "aggregate_functions_null_for_empty": 1,
    "enable_named_columns_in_function_tuple": 0,  # a struct literal is a CAST by position (_named_tuple)
    "session_timezone": "UTC",
}
_SETTINGS_CLAUSE: Final = " SETTINGS " + ", ".join(
    f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in SESSION_SETTINGS.items()
)
# Without the empty-aggregate rule, for statements that aggregate only in groups (a group is never
# empty, so the rule changes nothing there): ClickHouse reads a table's projections only without it.
_GROUPED_SETTINGS_CLAUSE: Final = " SETTINGS " + ", ".join(
    f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}"
    for k, v in SESSION_SETTINGS.items() if k != "aggregate_functions_null_for_empty"
)

_TYPE_SLOT: Final = "\x1f"
_SLOT_RE: Final = re.compile(r"\{(\w+):\s*\}")
_POSITIONAL_RE: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?")
_TEMP_RE: Final = re.compile(r"^CREATE OR REPLACE TEMPORARY TABLE (\w+) AS", re.IGNORECASE)


class UnsupportedSQLError(ValueError):
    """The query uses a DuckDB construct that no rule rewrites for ClickHouse."""


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _ch(node: exp.Expression) -> str:
    return node.sql(dialect="clickhouse")


def _lit(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _map_get(container: exp.Expression, key: exp.Expression) -> exp.Expression:
    """DuckDB's ``m[k]``: NULL for a missing key (ClickHouse reads the type's default)."""
    value = exp.Bracket(this=container.copy(), expressions=[key.copy()], offset=1)
    return exp.If(this=_call("mapContains", container, key), true=value, false=exp.Null())


def _is_key(node: exp.Expression) -> bool:
    """A map key: a bound parameter (the convention keys are strings) or a string literal."""
    return isinstance(node, exp.Placeholder) or (isinstance(node, exp.Literal) and node.is_string)


def _bracket(node: exp.Bracket) -> exp.Expression:
    keys = node.expressions
    if len(keys) == 1 and _is_key(keys[0]):
        return _map_get(node.this, keys[0])
    return node


def _ordered_list(value: exp.Expression, order: list[exp.Ordered], condition: exp.Expression | None) -> exp.Expression:
    """``list(x ORDER BY k…)``: the pairs gathered, sorted by the keys, the values kept."""
    distinct = isinstance(value, exp.Distinct)
    item = value.expressions[0] if isinstance(value, exp.Distinct) else value
    if distinct:
        if len(order) != 1 or order[0].this != item:
            raise UnsupportedSQLError("list(DISTINCT x ORDER BY y) with y other than x")
        gathered = _gather("groupUniqArray", [item], condition)
        return _call("arrayReverseSort" if order[0].args.get("desc") else "arraySort", gathered)
    keys = []
    for position, ordered in enumerate(order, start=2):
        key: exp.Expression = exp.Var(this=f"_t.{position}")
        if ordered.args.get("desc"):
            key = exp.Neg(this=_call("toFloat64", key))
        keys.append(key)
    pairs = _gather("groupArray", [exp.Tuple(expressions=[item, *(o.this for o in order)])], condition)
    sort_key = keys[0] if len(keys) == 1 else exp.Tuple(expressions=keys)
    sorted_pairs = _call("arraySort", exp.Var(this=f"_t -> {_ch(sort_key)}"), pairs)
    return _call("arrayMap", exp.Var(this="_t -> _t.1"), sorted_pairs)


def _gather(name: str, args: list[exp.Expression], condition: exp.Expression | None) -> exp.Expression:
    return _call(name + "If", *args, condition) if condition is not None else _call(name, *args)


def _aggregate(node: exp.Expression, condition: exp.Expression | None = None) -> exp.Expression | None:
    """An aggregate in ClickHouse's terms, with ``condition`` as its ``-If`` combinator; None if not one."""
    if isinstance(node, exp.IgnoreNulls):  # any_value(x) FILTER (…): ClickHouse's aggregates skip NULLs anyway
        return _aggregate(node.this, condition)
    if isinstance(node, exp.ArrayAgg):
        inner = node.this
        if isinstance(inner, exp.Order):
            return _ordered_list(inner.this, list(inner.expressions), condition)
        if isinstance(inner, exp.Distinct):
            return _gather("groupUniqArray", list(inner.expressions), condition)
        return _gather("groupArray", [inner], condition)
    if isinstance(node, exp.Count):
        inner = node.this
        if isinstance(inner, exp.Distinct):
            return _gather("uniqExact", list(inner.expressions), condition)
        if isinstance(inner, exp.Star) or inner is None:
            return _call("countIf", condition) if condition is not None else _call("count")
        return _gather("count", [inner], condition)
    simple: dict[type[exp.Expression], str] = {
        exp.Min: "min", exp.Max: "max", exp.Sum: "sum", exp.Avg: "avg", exp.AnyValue: "any",
    }
    for kind, name in simple.items():
        if isinstance(node, kind):
            return _gather(name, [node.this], condition)
    for kind, name in ((exp.ArgMax, "argMax"), (exp.ArgMin, "argMin")):
        if isinstance(node, kind):
            return _gather(name, [node.this, node.expression], condition)
    if isinstance(node, exp.LogicalOr | exp.LogicalAnd):
        name = "max" if isinstance(node, exp.LogicalOr) else "min"
        return exp.Cast(this=_gather(name, [_call("toUInt8", node.this)], condition),
                        to=exp.DataType.build("Nullable(Bool)", dialect="clickhouse"))
    if isinstance(node, exp.Mode) and condition is None:
        return exp.Bracket(this=exp.Var(this=f"topK(1)({_ch(node.this)})"), expressions=[exp.Literal.number(1)], offset=1)
    if isinstance(node, exp.PercentileCont) and condition is None:
        return exp.Var(this=f"quantileExactInclusive({_ch(node.expression)})({_ch(node.this)})")
    return None


def _epoch_ns(value: exp.Expression) -> exp.Expression:
    return _call("toUnixTimestamp64Nano", _call("toDateTime64", value, exp.Literal.number(9)))


def _epoch_seconds(value: exp.Expression) -> exp.Expression:
    """``epoch(t)`` in seconds; of a difference of two times (an interval in DuckDB), its length."""
    inner = value.this if isinstance(value, exp.Paren) else value
    if isinstance(inner, exp.Sub):
        nanos: exp.Expression = exp.Paren(this=exp.Sub(this=_epoch_ns(inner.this), expression=_epoch_ns(inner.expression)))
    else:
        nanos = _epoch_ns(value)
    return exp.Div(this=nanos, expression=exp.Literal.number("1e9"))


def _list_slice(node: exp.Anonymous) -> exp.Expression:
    items, begin, end = node.expressions
    length = exp.Add(this=exp.Sub(this=end.copy(), expression=begin.copy()), expression=exp.Literal.number(1))
    return _call("arraySlice", items, begin, exp.Paren(this=length))


def _try_cast(node: exp.TryCast) -> exp.Expression:
    target = node.to.sql(dialect="duckdb").upper()
    if target in ("INTEGER", "INT", "INT4"):
        return _call("toInt32OrNull", _call("toString", node.this))
    if target in ("BIGINT", "INT8"):
        return _call("toInt64OrNull", _call("toString", node.this))
    if target in ("DOUBLE", "FLOAT8"):
        return _call("toFloat64OrNull", _call("toString", node.this))
    raise UnsupportedSQLError(f"TRY_CAST to {target}")


def _named_tuple(fields: list[tuple[str, str]]) -> exp.Expression:
    """A named tuple of (name, ClickHouse SQL) fields, typed by its values.

    Not ``tuple(x AS name)``: ClickHouse's aliases are global to a query, so the field
    names would shadow columns of the same name.
    """
    values = ", ".join(sql for _, sql in fields)
    parts = ["'Tuple('"]
    for position, (name, sql) in enumerate(fields):
        parts += [f"'{', ' if position else ''}`{name}` '", f"toTypeName({sql})"]
    parts.append("')'")
    return exp.Var(this=f"CAST(tuple({values}), concat({', '.join(parts)}))")


def _struct(node: exp.Struct) -> exp.Expression:
    fields = []
    for item in node.expressions:
        if isinstance(item, exp.PropertyEQ):
            fields.append((item.this.name, _ch(item.expression)))
        elif isinstance(item, exp.Column):  # struct_pack(a, b): fields named after the columns
            fields.append((item.name, _ch(item)))
        else:
            raise UnsupportedSQLError("struct literal without field names")
    return _named_tuple(fields)


# DuckDB functions SQLGlot leaves as they are named, by lower-case name.
_ANONYMOUS: Final[dict[str, Callable[[exp.Anonymous], exp.Expression]]] = {
    "epoch_ns": lambda n: _epoch_ns(n.expressions[0]),
    "epoch_us": lambda n: _call("toUnixTimestamp64Micro", _call("toDateTime64", n.expressions[0], exp.Literal.number(9))),
    "make_timestamp_ns": lambda n: _call("fromUnixTimestamp64Nano", _call("toInt64", n.expressions[0])),
    "list_position": lambda n: _call("nullIf", _call("indexOf", *n.expressions), exp.Literal.number(0)),
    "map_values": lambda n: _call("mapValues", *n.expressions),
    "map_entries": lambda n: exp.Cast(
        this=n.expressions[0], to=exp.DataType.build("Array(Tuple(key String, value String))", dialect="clickhouse")),
    "map_extract_value": lambda n: _map_get(*n.expressions),
    "list_slice": _list_slice,
    "to_microseconds": lambda n: _call("toIntervalMicrosecond", *n.expressions),
    "to_minutes": lambda n: _call("toIntervalMinute", *n.expressions),
    # Only the order of a sample differs: both hash the same values, each its own way.
    "hash": lambda n: _call("cityHash64", *n.expressions),
    "list_intersect": lambda n: _call("arrayIntersect", *n.expressions),
    "list_has_all": lambda n: _call("hasAll", *n.expressions),
}


def _anonymous(node: exp.Anonymous) -> exp.Expression:
    rule = _ANONYMOUS.get(node.name.lower())
    return rule(node) if rule else node


def _trim(node: exp.Trim) -> exp.Expression:
    position = (node.args.get("position") or "").upper()
    name = {"TRAILING": "trimRight", "LEADING": "trimLeft"}.get(position, "trimBoth")
    chars = node.expression
    return _call(name, node.this, chars) if chars is not None else _call(name, node.this)


def _is_container(node: exp.Expression) -> bool:
    """A map or an array, which ClickHouse cannot make Nullable (told apart by how it is written)."""
    if isinstance(node, exp.Column):
        return node.name.endswith("Attributes")
    if isinstance(node, exp.Anonymous):
        return node.name.startswith(("array", "map"))
    return isinstance(node, exp.ArrayFilter | exp.Transform | exp.Array)


def _case(node: exp.Case) -> exp.Expression:
    """``CASE … END`` of a map or an array without ``ELSE``: empty instead of NULL (ClickHouse has no
    Nullable containers; the checks read both as nothing)."""
    if node.args.get("default") is None and node.args.get("ifs"):
        then = node.args["ifs"][0].args.get("true")
        if then is not None and _is_container(then):
            node.set("default", _call("defaultValueOfArgumentType", then.copy()))
    return node


_SPEC_RE: Final = re.compile(r"\{(:\.(\d+)f)?\}")


def _as_text(value: str) -> str:
    """``value`` as DuckDB's ``format`` prints it: a float keeps a decimal point (``25.0``)."""
    return (f"if(match(toTypeName({value}), 'Float'), if(match(toString({value}), '[.eEn]'), toString({value}), "
            f"concat(toString({value}), '.0')), toString({value}))")


def _format(node: exp.Format) -> exp.Expression:
    """``format('{} {:.1f}', …)``: ClickHouse's format has no specs, so a spec becomes a rounded decimal."""
    pattern = node.this
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise UnsupportedSQLError("format() with a pattern that is not a literal")
    args = [_ch(a) for a in node.expressions]
    specs = [m.group(2) for m in _SPEC_RE.finditer(pattern.name)]
    if len(specs) != len(args):
        raise UnsupportedSQLError(f"format({pattern.name!r}) with {len(args)} arguments")
    texts = [f"toDecimalString(toFloat64({a}), {d})" if d is not None else _as_text(a) for a, d in zip(args, specs, strict=True)]
    plain = _SPEC_RE.sub("{}", pattern.name).replace("'", "''")
    return exp.Var(this=f"format('{plain}', {', '.join(texts)})")


def _extract_all(node: exp.RegexpExtractAll) -> exp.Expression:
    """``regexp_extract_all(s, re[, group])``: every match, or one group of every match."""
    group = node.args.get("group")
    if group is None or (isinstance(group, exp.Literal) and group.name == "0"):
        return _call("extractAll", node.this, node.expression)
    groups = _ch(_call("extractAllGroupsHorizontal", node.this, node.expression))
    return exp.Bracket(this=exp.Var(this=groups), expressions=[group], offset=1)


def _cast(node: exp.Cast) -> exp.Expression:
    """``CAST(x AS VARCHAR)`` of a time prints as DuckDB does, without trailing fractional zeros;
    ``TIMESTAMP`` keeps DuckDB's microseconds (ClickHouse's ``DateTime`` has whole seconds)."""
    kind = node.to.this
    if kind in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):
        return _call("toDateTime64", node.this, exp.Literal.number(6))
    if kind == exp.DataType.Type.TIMESTAMP_NS:
        return _call("toDateTime64", node.this, exp.Literal.number(9))
    if kind not in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        return node
    value = _ch(node.this)
    return exp.Var(this=(
        f"if(match(toTypeName({value}), 'DateTime64'), replaceRegexpOne(replaceRegexpOne(toString({value}), "
        f"'(\\.\\d*?)0+$', '\\1'), '\\.$', ''), toString({value}))"))


def _insert(node: exp.Insert) -> exp.Expression:
    """``INSERT … VALUES (?, …)`` as ``INSERT … SELECT``: ClickHouse binds parameters in a query, not in VALUES."""
    values = node.expression
    if isinstance(values, exp.Values) and len(values.expressions) == 1:
        row = values.expressions[0]
        node.set("expression", exp.select(*(e.copy() for e in row.expressions)))
    return node


def _join(node: exp.Join) -> exp.Expression:
    if (node.args.get("kind") or "").upper() in ("SEMI", "ANTI") and not node.args.get("side"):
        node.set("side", "LEFT")
    return node


def _cte(node: exp.CTE) -> exp.Expression:
    node.set("materialized", None)
    return node


_RULES: Final[dict[type[exp.Expression], Callable[[Any], exp.Expression]]] = {
    exp.Anonymous: _anonymous,
    exp.Bracket: _bracket,
    exp.Struct: _struct,
    exp.TryCast: _try_cast,
    exp.Trim: _trim,
    exp.Join: _join,
    exp.Insert: _insert,
    exp.Case: _case,
    exp.Cast: _cast,
    exp.CTE: _cte,
    exp.Length: lambda n: _call("length", n.this),
    exp.IgnoreNulls: lambda n: n.this,
    exp.Format: lambda n: _format(n),
    exp.ArrayIntersect: lambda n: _call("arrayIntersect", *n.expressions),
    exp.ArrayContainsAll: lambda n: _call("hasAll", n.this, n.expression),
    exp.ArrayOverlaps: lambda n: _call("hasAny", n.this, n.expression),
    exp.RegexpReplace: lambda n: _call(
        "replaceRegexpAll" if "g" in (n.args.get("modifiers") or exp.Literal.string("")).name else "replaceRegexpOne",
        n.this, n.expression, n.args["replacement"]),
    exp.Flatten: lambda n: _call("arrayFlatten", n.this),
    exp.MapKeys: lambda n: _call("mapKeys", n.this),
    # MAP(keys, values) of two lists (a literal map is exp.ToMap, printed by SQLGlot).
    exp.Map: lambda n: _call("mapFromArrays", n.args["keys"], n.args["values"]),
    # ClickHouse has no NULL array: an empty one (a FILTER that kept nothing) joins to NULL, as DuckDB's NULL list does.
    exp.ArrayToString: lambda n: _call("nullIf", _call("arrayStringConcat", n.this, n.expression), _lit("")),
    # Before the first row lag() is NULL in DuckDB, the type's default in ClickHouse.
    exp.Lag: lambda n: _call("lag", _call("toNullable", n.this), *[a for a in (n.args.get("offset"),) if a]),
    exp.GenerateSeries: lambda n: _call(
        "range", n.args["start"], exp.Add(this=n.args["end"], expression=exp.Literal.number(1))),
    exp.RegexpExtractAll: lambda n: _extract_all(n),
    exp.RegexpExtract: lambda n: _call("regexpExtract", n.this, n.expression, n.args.get("group") or exp.Literal.number(0)),
    exp.SplitPart: lambda n: exp.Bracket(
        this=_call("splitByString", n.args["delimiter"], n.this), expressions=[n.args["part_index"]], offset=1),
    exp.TimeToUnix: lambda n: _epoch_seconds(n.this),
}


# The exporter's Nested columns, by table: ClickHouse stores each field as its own array column
# (``Events.Name``), DuckDB one struct of lists (``Events``). A whole one is read as a named tuple.
_NESTED: Final[dict[str, tuple[str, ...]]] = {
    "Events": ("Timestamp", "Name", "Attributes"),
    "Links": ("TraceId", "SpanId", "TraceState", "Attributes"),
    "Exemplars": ("FilteredAttributes", "TimeUnix", "Value", "SpanId", "TraceId"),
    "ValueAtQuantiles": ("Quantile", "Value"),
}
_EXPORTER_TABLES: Final = ("otel_traces", "otel_metrics_")


def _whole_nested(tree: exp.Expression) -> None:
    """A bare ``Events`` read from an exporter table becomes a tuple of its field columns."""
    for select in list(tree.find_all(exp.Select)):
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if isinstance(source, exp.From) else None
        if not isinstance(table, exp.Table) or not table.name.startswith(_EXPORTER_TABLES):
            continue
        for column in list(select.find_all(exp.Column)):
            fields = _NESTED.get(column.name)
            if fields is None or column.table or column.find_ancestor(exp.Select) is not select:
                continue
            column.replace(_named_tuple([(f, f"`{column.name}.{f}`") for f in fields]))


def _zip_unnests(tree: exp.Expression) -> None:
    """Several ``unnest()`` in one select list walk their lists side by side, as in DuckDB."""
    for select in tree.find_all(exp.Select):
        found = [u for p in select.expressions for u in p.find_all(exp.Unnest, exp.Explode)]
        if len(found) < 2:
            continue
        lists = [u.expressions[0] if isinstance(u, exp.Unnest) else u.this for u in found]
        zipped = _call("arrayJoin", _call("arrayZip", *(item.copy() for item in lists)))
        for position, node in enumerate(found, start=1):
            node.replace(_call("tupleElement", zipped.copy(), exp.Literal.number(position)))


def _rewrite(node: exp.Expression) -> exp.Expression:
    """Children first, then the node's own rule (a rule sees its arguments already rewritten)."""
    parent = node.parent
    under_filter = (isinstance(parent, exp.Filter) and node.arg_key == "this") or (
        isinstance(parent, exp.IgnoreNulls) and isinstance(parent.parent, exp.Filter))
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _rewrite(value))
        elif isinstance(value, list):
            node.set(key, [_rewrite(v) if isinstance(v, exp.Expression) else v for v in value])
    if isinstance(node, exp.Filter):
        where = node.expression
        converted = _aggregate(node.this, where.this if isinstance(where, exp.Where) else where)
        if converted is None:
            raise UnsupportedSQLError(f"FILTER on {node.this.sql(dialect='duckdb')}")
        return converted
    if not under_filter:
        converted = _aggregate(node)
        if converted is not None:
            return converted
    rule = _RULES.get(type(node))
    return rule(node) if rule else node


def _named_positionals(sql: str) -> str:
    """``?`` placeholders as ``$p1``, ``$p2``… (strings and comments left alone)."""
    count = 0

    def name(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"$p{count}"

    return _POSITIONAL_RE.sub(name, sql)


def _substitute(tree: exp.Expression, derived: tuple[tuple[str, str], ...]) -> None:
    """Each table named in ``derived`` read from its ClickHouse ``SELECT`` instead (a table not created)."""
    sources = dict(derived)
    for table in list(tree.find_all(exp.Table)):
        select = sources.get(table.name)
        if select is None or table.db:
            continue
        alias = table.alias or table.name
        table.replace(exp.Var(this=f"({select}) AS {alias}"))


# DuckDB's catalogue of tables, as far as the queries ask it (whether a table exists): this database's.
_DUCKDB_TABLES: Final = (
    "(SELECT database AS schema_name, name AS table_name FROM system.tables WHERE database = currentDatabase())"
)


def _catalogue(tree: exp.Expression) -> None:
    """``FROM duckdb_tables()`` reads ClickHouse's ``system.tables`` of the current database."""
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "duckdb_tables":
            alias = f" AS {table.alias}" if table.alias else ""
            table.replace(exp.Var(this=_DUCKDB_TABLES + alias))


@functools.lru_cache(maxsize=512)
def to_clickhouse(sql: str, derived: tuple[tuple[str, str], ...] = ()) -> str:
    """One DuckDB statement as ClickHouse SQL; parameters are left as ``{name:\\x1f}`` for :func:`bind`.

    ``derived`` names tables to read from a ClickHouse ``SELECT`` instead, as ``(table, select)``
    pairs: liveobs's index tables on a ClickHouse where ``liveobs clickhouse init`` never ran.
    """
    try:
        parsed = sqlglot.parse_one(_named_positionals(sql), read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise UnsupportedSQLError(f"cannot parse: {str(exc).splitlines()[0]}") from exc
    if not isinstance(parsed, exp.Expression):
        raise UnsupportedSQLError("not one statement")
    substituted = {name for name, _ in derived}
    grouped = _only_grouped_aggregates(parsed) and not any(
        t.name in substituted and not t.db for t in parsed.find_all(exp.Table))
    _whole_nested(parsed)
    _zip_unnests(parsed)
    _substitute(parsed, derived)
    _catalogue(parsed)
    tree = _rewrite(parsed)
    text = tree.sql(dialect="clickhouse", unsupported_level=sqlglot.ErrorLevel.RAISE)
    text = _TEMP_RE.sub(r"CREATE OR REPLACE TEMPORARY TABLE \1 ENGINE = Memory AS", text)
    text = _SLOT_RE.sub(lambda m: "{" + m.group(1) + ":" + _TYPE_SLOT + "}", text)
    return text + (_GROUPED_SETTINGS_CLAUSE if grouped else _SETTINGS_CLAUSE)


def _only_grouped_aggregates(tree: exp.Expression) -> bool:
    """Whether no ``SELECT`` of the statement can aggregate an empty input: each one whose own columns,
    ``HAVING`` or ``ORDER BY`` call an aggregate, a window or a function SQLGlot does not know (it may be an
    aggregate) has a ``GROUP BY``."""
    for select in tree.find_all(exp.Select):
        if select.args.get("group"):
            continue
        own = [*select.expressions, *(select.args.get(k) for k in ("having", "order", "qualify"))]
        if any(e is not None and e.find(exp.AggFunc, exp.Window, exp.Filter, exp.Anonymous) for e in own):
            return False
    return True


def clickhouse_type(value: object) -> str:
    """The ClickHouse type of a bound Python value."""
    if value is None:
        return "Nullable(String)"
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, datetime):
        return "DateTime64(6)"
    if isinstance(value, date):
        return "Date"
    if isinstance(value, list | tuple):
        inner = next((clickhouse_type(v) for v in value if v is not None), "String")
        return f"Array({inner})"
    return "String"


def bind(sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """ClickHouse SQL from :func:`to_clickhouse` with each parameter typed by its value, and the values by name."""
    if params is None:
        values: dict[str, Any] = {}
    elif isinstance(params, Mapping):
        values = dict(params)
    else:
        values = {f"p{i}": v for i, v in enumerate(params, start=1)}

    def typed(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UnsupportedSQLError(f"no value for parameter {name}")
        return "{" + name + ":" + clickhouse_type(values[name]) + "}"

    text = re.sub(r"\{(\w+):" + _TYPE_SLOT + "}", typed, sql)
    return text, {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
