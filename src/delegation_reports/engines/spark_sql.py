"""The model SQL in Spark SQL.

sqlglot (pinned: a release can change the SQL it writes) reads a model in DuckDB's dialect and
writes it in Spark's. Its translation is syntactic: it parses and writes every model without
a warning, yet some constructs come out meaning something else on Spark, silently (an ISO day
of week of a Monday comes out 3, ``arg_max`` keeps the NULLs DuckDB skips, ``list()`` over no
rows gives ``[]`` instead of NULL and loses its ``ORDER BY``). So the build step is:

1. the model's macros (``sql/models/macros.sql``, and for Spark the overrides in
   ``engines/spark_macros.sql``) are expanded in place: Spark has no SQL macros;
2. each rewrite of ``REWRITES`` is applied to the syntax tree, bottom up: it replaces a
   DuckDB construct by the Spark expression of the same meaning (one-row tests on both
   engines hold each of them, tests/test_engines_spark.py);
3. the parameters (``$month``...) are bound as literals;
4. sqlglot writes the tree in Spark SQL.

Constructs without a faithful rewrite (``CAST(... AS TIME)``, ASOF joins, ``SELECT *
EXCLUDE/REPLACE``) are refused with an error naming them: the models avoid them.

Timestamps: Spark runs with its session time zone set to UTC, and every instant is a Spark
``TIMESTAMP`` (DuckDB's ``TIMESTAMPTZ``); a DuckDB ``TIMESTAMP`` (a Paris wall-clock time,
from ``timezone('Europe/Paris', instant)``) is a ``TIMESTAMP`` holding that wall-clock time
as if it were UTC, which is what ``from_utc_timestamp`` gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp

from ..errors import UserError

_MACRO = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+TEMP\s+MACRO\s+(\w+)\s*\(([^)]*)\)\s+AS\s+(.*?);\s*$",
    re.S | re.M | re.I,
)
_COMMENT = re.compile(r"--[^\n]*")


class UnportableSQL(UserError):
    """A model uses a construct that has no faithful Spark form."""


@dataclass(frozen=True)
class Macro:
    name: str
    parameters: tuple[str, ...]
    body: exp.Expression


@dataclass(frozen=True)
class Rewrite:
    """One difference between the dialects and how the build step handles it."""

    name: str
    duckdb: str
    spark: str
    why: str
    apply: Callable[[exp.Expression], exp.Expression | None]


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _sql(text: str) -> exp.Expression:
    return sqlglot.parse_one(text, read="spark")


def _lambda(body: exp.Expression, name: str = "e") -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(name)])


def _field(name: str, of: str = "e") -> exp.Expression:
    return exp.Dot(this=exp.column(of), expression=exp.to_identifier(name))


def _is_naive_timestamp(node: exp.Expression) -> bool:
    """Whether an argument of timezone() is a wall-clock time (DuckDB TIMESTAMP) rather than
    an instant, from its form: a CAST to TIMESTAMP, plus or minus an interval. Anything else
    (a column, a function) is taken for an instant: the models name wall-clock times this way."""
    if isinstance(node, exp.Paren):
        return _is_naive_timestamp(node.this)
    if isinstance(node, exp.Add | exp.Sub):
        return _is_naive_timestamp(node.this)
    return isinstance(node, exp.Cast) and node.to.this in (
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.TIMESTAMPNTZ,
        exp.DataType.Type.DATETIME,
    )


def _timezone(node):
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        zone, value = node.expressions
        if _is_naive_timestamp(value):
            return _fn("to_utc_timestamp", value, zone)
        return _fn("from_utc_timestamp", value, zone)
    return None


def _isodow(node):
    if isinstance(node, exp.DayOfWeekIso):
        return exp.paren(exp.Add(this=_fn("weekday", node.this), expression=exp.Literal.number(1)))
    return None


def _arg_extreme(node):
    if isinstance(node, exp.ArgMax | exp.ArgMin):
        name = "max_by" if isinstance(node, exp.ArgMax) else "min_by"
        value, key = node.this, node.expression
        guarded = exp.If(
            this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(), false=key
        )
        return _fn(name, value, guarded)
    return None


def _ordered_items(node: exp.ArrayAgg) -> tuple[exp.Expression, list[exp.Expression]]:
    """The aggregated value and its sort keys (none: unordered)."""
    inner = node.this
    if not isinstance(inner, exp.Order):
        return inner, []
    keys = []
    for ordered in inner.expressions:
        if ordered.args.get("desc"):
            raise UnportableSQL("an ordered list aggregate sorted DESC has no Spark rewrite")
        keys.append(ordered.this)
    return inner.this, keys


def _collected(value: exp.Expression, keys: list[exp.Expression], where) -> exp.Expression:
    """The values in their order, NULLs kept (Spark's collect_list drops them): collected as
    structs, sorted by the keys (then the value, so that ties come out the same every run)."""
    fields = [exp.alias_(k, f"k{i}") for i, k in enumerate(keys)] + [exp.alias_(value, "v")]
    collected: exp.Expression = _fn("collect_list", exp.Struct(expressions=fields))
    if where is not None:
        collected = exp.Filter(this=collected, expression=where.copy())
    if keys:
        collected = _fn("array_sort", collected)
    return _fn("transform", collected, _lambda(_field("v")))


def _count_rows(where) -> exp.Expression:
    counted: exp.Expression = _fn("count", exp.Literal.number(1))
    if where is not None:
        counted = exp.Filter(this=counted, expression=where.copy())
    return counted


def _list(node):
    where = None
    agg = node
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        agg, where = node.this, node.expression
    elif not isinstance(node, exp.ArrayAgg) or isinstance(node.parent, exp.Filter):
        return None
    value, keys = _ordered_items(agg)
    # DuckDB: NULL over no rows; Spark: an empty array.
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.GT(this=_count_rows(where), expression=exp.Literal.number(0)),
                true=_collected(value, keys, where),
            )
        ]
    )


def _string_agg(node):
    if isinstance(node, exp.GroupConcat):
        value, keys = _ordered_items(node)
        separator = node.args.get("separator") or exp.Literal.string(",")
        return _fn("array_join", _collected(value, keys, None), separator)
    return None


def _time_cast(node):
    if isinstance(node, exp.Cast) and node.to.this in (
        exp.DataType.Type.TIME,
        exp.DataType.Type.TIMETZ,
    ):
        raise UnportableSQL(
            "CAST(... AS TIME) has no Spark equivalent (it becomes a timestamp): compare "
            "minutes of the day instead"
        )
    return None


def _interval_of(node):
    if isinstance(node, exp.ToDays):
        return _fn("make_dt_interval", node.this, *(exp.Literal.number(0) for _ in range(3)))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("to_minutes", "to_hours"):
        zero = exp.Literal.number(0)
        (count,) = node.expressions
        if node.name.lower() == "to_hours":
            return _fn("make_dt_interval", zero, count, zero.copy(), zero.copy())
        return _fn("make_dt_interval", zero, zero.copy(), count, zero.copy())
    return None


_CLOCK_INTERVAL = re.compile(r"\d{1,2}:\d{2}:\d{2}(\.\d+)?")


def _day_to_second(text: exp.Literal) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(f"0 {text.name}"), unit=exp.var("DAY TO SECOND"))


def _clock_interval(node):
    if (
        isinstance(node, exp.Interval)
        and node.args.get("unit") is None
        and isinstance(node.this, exp.Literal)
        and _CLOCK_INTERVAL.fullmatch(node.this.name)
    ):
        return _day_to_second(node.this)
    if isinstance(node, exp.WindowSpec):
        # sqlglot reads `INTERVAL '23:59:59' FOLLOWING` in a frame as an interval whose unit
        # is FOLLOWING.
        for bound, side in (("start", "start_side"), ("end", "end_side")):
            value = node.args.get(bound)
            unit = value.args.get("unit") if isinstance(value, exp.Interval) else None
            if unit is not None and unit.name.upper() in ("FOLLOWING", "PRECEDING"):
                if not _CLOCK_INTERVAL.fullmatch(value.this.name):
                    raise UnportableSQL(f"window frame bound {value.sql()} has no Spark rewrite")
                node.set(bound, _day_to_second(value.this))
                node.set(side, unit.name.upper())
    return None


def _microseconds(node):
    if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
        return _fn("unix_micros", *node.expressions)
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(
            this=_fn("unix_micros", node.this), expression=exp.Literal.number("1000000.0")
        )
    return None


# strftime's directives and the Java pattern letters Spark's date_format reads.
_STRFTIME = {
    "%Y": "yyyy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%%": "%",
}


def java_pattern(fmt: str) -> str:
    """A strftime format as a Java date pattern, literal text quoted (unquoted, ``T`` and
    ``Z`` are pattern letters, which sqlglot's own translation leaves as they are)."""
    out, literal = [], []
    for token in re.findall(r"%.|[^%]", fmt):
        if token in _STRFTIME:
            if literal:
                out.append("'" + "".join(literal).replace("'", "''") + "'")
                literal = []
            out.append(_STRFTIME[token])
        elif token.startswith("%"):
            raise UnportableSQL(f"strftime directive {token} has no Spark rewrite")
        else:
            literal.append(token)
    if literal:
        out.append("'" + "".join(literal).replace("'", "''") + "'")
    return "".join(out)


def _strftime(node):
    if isinstance(node, exp.TimeToStr):
        fmt = node.args["format"]
        if not isinstance(fmt, exp.Literal):
            raise UnportableSQL("strftime with a format that is not a constant")
        value = node.this
        if isinstance(value, exp.AtTimeZone):  # x AT TIME ZONE 'UTC': the session's zone
            zone = value.args.get("zone")
            if zone is None or zone.name.upper() != "UTC":
                raise UnportableSQL("AT TIME ZONE other than UTC has no Spark rewrite")
            value = value.this
        return _fn("date_format", value, exp.Literal.string(java_pattern(fmt.name)))
    return None


def _glob(node):
    if isinstance(node, exp.Glob):
        # * and ? become % and _ (the pattern's own % and _ escaped); bracket classes are not
        # translated: service-account patterns use * and ?.
        pattern = node.expression
        for old, new in (("\\", "\\\\"), ("%", "\\%"), ("_", "\\_"), ("*", "%"), ("?", "_")):
            pattern = _fn("replace", pattern, exp.Literal.string(old), exp.Literal.string(new))
        return exp.Like(this=node.this, expression=pattern)
    return None


def _month_diff(node):
    if isinstance(node, exp.DateDiff):
        unit = (node.args.get("unit") and node.args["unit"].name or "day").lower()
        if unit != "month":
            return None
        # DuckDB counts month boundaries crossed; Spark's datediff(MONTH) whole months elapsed.
        start, end = node.expression, node.this
        return _sql(
            f"((year({end.sql('spark')}) - year({start.sql('spark')})) * 12 "
            f"+ month({end.sql('spark')}) - month({start.sql('spark')}))"
        )
    return None


def _naive_timestamp(node):
    if isinstance(node, exp.DataType) and node.this in (
        exp.DataType.Type.TIMESTAMPNTZ,
        exp.DataType.Type.DATETIME,
    ):
        return exp.DataType.build("TIMESTAMP")
    return None


def _distinct(node):
    if isinstance(node, exp.ArrayDistinct):
        kept = exp.Not(this=exp.Is(this=exp.column("e"), expression=exp.Null()))
        return _fn("array_distinct", _fn("filter", node.this, _lambda(kept)))
    return None


def _flatten(node):
    if isinstance(node, exp.Flatten):
        kept = exp.Not(this=exp.Is(this=exp.column("e"), expression=exp.Null()))
        return _fn("flatten", _fn("filter", node.this, _lambda(kept)))
    return None


def _row_in(node):
    if isinstance(node, exp.In) and isinstance(node.this, exp.Tuple):
        query = node.args.get("query")
        select = query.this if isinstance(query, exp.Subquery) else query
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            (row,) = select.expressions
            if isinstance(row, exp.Tuple | exp.Paren) and isinstance(row.unnest(), exp.Tuple):
                select.set("expressions", [e.copy() for e in row.unnest().expressions])
    return None


@cache
def _prose_instants() -> dict[str, tuple[int, ...]]:
    """For each prose function (analysis/prose.py), the positions of its instant arguments."""
    from duckdb.sqltypes import TIMESTAMP_TZ

    from ..analysis import prose

    return {
        name: tuple(i for i, p in enumerate(parameters) if p == TIMESTAMP_TZ)
        for name, _, parameters, _ in prose.FUNCTIONS
    }


def _prose(node):
    if isinstance(node, exp.Anonymous) and node.name.lower() in _prose_instants():
        positions = _prose_instants()[node.name.lower()]
        if positions:
            args = [
                _fn("unix_micros", a) if i in positions else a
                for i, a in enumerate(node.expressions)
            ]
            return _fn(node.name.lower(), *args)
    return None


def _refused(node):
    if isinstance(node, exp.Join) and (node.args.get("kind") or "").upper() == "ASOF":
        raise UnportableSQL("ASOF join has no Spark rewrite")
    if isinstance(node, exp.Join) and "ASOF" in (node.args.get("method") or "").upper():
        raise UnportableSQL("ASOF join has no Spark rewrite")
    if isinstance(node, exp.Star) and any(
        node.args.get(k) for k in ("except", "except_", "replace", "rename")
    ):
        raise UnportableSQL("SELECT * EXCLUDE/REPLACE has no Spark rewrite: name the columns")
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        raise UnportableSQL("hash() differs between engines")
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("arg_max_null", "arg_min_null"):
        raise UnportableSQL(
            f"{node.name}() is DuckDB's own: the value at the extreme key, NULL kept, is "
            "max(struct_pack(k := key, v := value)).v (keys must not tie)"
        )
    if (
        isinstance(node, exp.Cast)
        and isinstance(node.this, exp.Literal)
        and node.this.is_string
        and node.this.name.strip().lower().lstrip("+-") == "infinity"
    ):
        raise UnportableSQL(
            f"the instant {node.this.name!r}: Spark has no infinite timestamps; an open bound "
            "is unbounded_from() or unbounded_until()"
        )
    return None


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "timezone",
        "timezone('Europe/Paris', instant) / timezone('Europe/Paris', wall_clock::TIMESTAMP)",
        "from_utc_timestamp(instant, 'Europe/Paris') / to_utc_timestamp(wall_clock, 'Europe/Paris')",
        "sqlglot keeps timezone(), which Spark lacks; the direction follows the argument's type",
        _timezone,
    ),
    Rewrite(
        "isodow",
        "isodow(d)",
        "(weekday(d) + 1)",
        "sqlglot writes (dayofweek(d) % 7) + 1: a Monday comes out 3, not 1",
        _isodow,
    ),
    Rewrite(
        "arg_max",
        "arg_max(x, k), arg_min(x, k)",
        "max_by(x, IF(x IS NULL, NULL, k)), min_by(...)",
        "DuckDB skips rows whose x is NULL, Spark's max_by keeps them",
        _arg_extreme,
    ),
    Rewrite(
        "list",
        "list(x [ORDER BY k...]) [FILTER (c)]",
        "CASE WHEN count(1) [FILTER c] > 0 THEN transform([array_sort](collect_list(struct(k..., x AS v))), e -> e.v) END",
        "collect_list gives [] over no rows (DuckDB: NULL), drops NULL values (DuckDB keeps "
        "them) and ignores ORDER BY",
        _list,
    ),
    Rewrite(
        "string_agg",
        "string_agg(x, sep ORDER BY k)",
        "array_join(transform(array_sort(collect_list(struct(k, x AS v))), e -> e.v), sep)",
        "the same ordered collection as list()",
        _string_agg,
    ),
    Rewrite(
        "time_cast",
        "CAST(t AS TIME)",
        "refused",
        "sqlglot writes CAST(t AS TIMESTAMP): the comparison with a time of day silently "
        "changes; the models compare minutes of the day",
        _time_cast,
    ),
    Rewrite(
        "intervals",
        "to_days(n), to_hours(n), to_minutes(n)",
        "make_dt_interval(n, 0, 0, 0)...",
        "Spark has no to_days/to_minutes",
        _interval_of,
    ),
    Rewrite(
        "clock_interval",
        "INTERVAL '23:59:59.999999'",
        "INTERVAL '0 23:59:59.999999' DAY TO SECOND",
        "Spark reads an interval without unit as a number of units",
        _clock_interval,
    ),
    Rewrite(
        "epoch",
        "epoch_us(t), epoch(t)",
        "unix_micros(t), unix_micros(t) / 1000000.0",
        "sqlglot writes unix_timestamp(t), whole seconds where DuckDB keeps the fraction",
        _microseconds,
    ),
    Rewrite(
        "strftime",
        "strftime(t [AT TIME ZONE 'UTC'], '%Y-%m-%dT%H:%M:%SZ')",
        "date_format(t, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")",
        "sqlglot leaves literal letters unquoted: T and Z are Java pattern letters",
        _strftime,
    ),
    Rewrite(
        "glob",
        "x GLOB p",
        "x LIKE replace(replace(p, '*', '%'), '?', '_') (with % and _ escaped)",
        "Spark has no GLOB",
        _glob,
    ),
    Rewrite(
        "datediff_month",
        "datediff('month', a, b)",
        "(year(b) - year(a)) * 12 + month(b) - month(a)",
        "DuckDB counts month boundaries, Spark's datediff(MONTH) whole months",
        _month_diff,
    ),
    Rewrite(
        "naive_timestamp",
        "CAST(x AS TIMESTAMP)",
        "CAST(x AS TIMESTAMP)",
        "sqlglot writes TIMESTAMP_NTZ, which does not mix with the session's timestamps",
        _naive_timestamp,
    ),
    Rewrite(
        "list_distinct",
        "list_distinct(l)",
        "array_distinct(filter(l, e -> e IS NOT NULL))",
        "DuckDB's list_distinct drops NULLs, Spark's array_distinct keeps one",
        _distinct,
    ),
    Rewrite(
        "flatten",
        "flatten(ls)",
        "flatten(filter(ls, e -> e IS NOT NULL))",
        "DuckDB skips NULL inner lists, Spark's flatten gives NULL",
        _flatten,
    ),
    Rewrite(
        "row_in",
        "(a, b) IN (SELECT (x, y) FROM t)",
        "(a, b) IN (SELECT x, y FROM t)",
        "DuckDB compares a row with a subquery's single row value; Spark wants as many columns",
        _row_in,
    ),
    Rewrite(
        "prose_instants",
        "fr_when(instant), fr_during(a, b)...",
        "fr_when(unix_micros(instant))...",
        "the French wording functions are Python on both engines and read an instant as "
        "microseconds since the epoch: no time zone conversion at the boundary",
        _prose,
    ),
    Rewrite(
        "refused",
        "ASOF JOIN, SELECT * EXCLUDE/REPLACE, hash(), arg_max_null(), '±infinity'::TIMESTAMPTZ",
        "refused",
        "no faithful Spark form: the models avoid them (open bounds are unbounded_from() and "
        "unbounded_until(), macros)",
        _refused,
    ),
)


def _parse_macros(text: str) -> dict[str, Macro]:
    found = {}
    for name, params, body in _MACRO.findall(_COMMENT.sub("", text)):
        parameters = tuple(p.strip().lower() for p in params.split(",") if p.strip())
        found[name.lower()] = Macro(
            name.lower(), parameters, sqlglot.parse_one(body, read="duckdb")
        )
    return found


@cache
def macros() -> dict[str, Macro]:
    """The models' macros, with the Spark overrides (``engines/spark_macros.sql``)."""
    models = resources.files("delegation_reports") / "sql" / "models" / "macros.sql"
    overrides = resources.files("delegation_reports") / "engines" / "spark_macros.sql"
    found = _parse_macros(models.read_text(encoding="utf-8"))
    found.update(_parse_macros(overrides.read_text(encoding="utf-8")))
    return found


def _substitute(body: exp.Expression, bound: dict[str, exp.Expression]) -> exp.Expression:
    def replace(node):
        if isinstance(node, exp.Column):
            if not node.table and node.name.lower() in bound:
                return exp.paren(bound[node.name.lower()].copy())
            if node.table.lower() in bound and not node.args.get("db"):
                # d.field of a struct argument d
                return exp.Dot(
                    this=exp.paren(bound[node.table.lower()].copy()),
                    expression=exp.to_identifier(node.name),
                )
        return node

    return body.copy().transform(replace)


def expand_macros(tree: exp.Expression, found: dict[str, Macro] | None = None) -> exp.Expression:
    """Every macro call replaced by its body, arguments in place of its parameters, until no
    call is left (macros call macros)."""
    found = macros() if found is None else found

    def expand(node):
        if isinstance(node, exp.Anonymous) and node.name.lower() in found:
            macro = found[node.name.lower()]
            if len(node.expressions) != len(macro.parameters):
                raise UnportableSQL(
                    f"macro {macro.name} takes {len(macro.parameters)} arguments, "
                    f"called with {len(node.expressions)}"
                )
            body = _substitute(
                macro.body, dict(zip(macro.parameters, node.expressions, strict=True))
            )
            return expand_macros(body, found)
        return node

    return tree.transform(expand)


def spark_type(duckdb_type: str) -> str:
    """A column type as DuckDB names it (``lake.json``), in Spark's words."""
    built = exp.DataType.build(duckdb_type, dialect="duckdb")
    if any(t.this == exp.DataType.Type.TIME for t in built.find_all(exp.DataType)):
        raise UnportableSQL(f"type {duckdb_type} has no Spark form (minutes of the day instead)")
    return built.sql(dialect="spark")


def literal(value) -> exp.Expression:
    """A parameter's value as a Spark literal."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise UnportableSQL(f"instant parameter without a time zone: {value}")
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build("TIMESTAMP"))
    if isinstance(value, date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise UnportableSQL(f"parameter of type {type(value).__name__} has no Spark literal")


def _bind(tree: exp.Expression, params: dict) -> exp.Expression:
    def bind(node):
        if isinstance(node, exp.Placeholder | exp.Parameter):
            name = node.name
            if name not in params:
                raise UnportableSQL(f"parameter ${name} is not bound")
            return literal(params[name])
        return node

    return tree.transform(bind)


def _apply_rewrites(node: exp.Expression) -> exp.Expression:
    """Every rewrite applied to every node, children first (a rewrite sees rewritten
    arguments, and its own output is not rewritten again)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _apply_rewrites(value))
        elif isinstance(value, list):
            node.set(
                key, [_apply_rewrites(v) if isinstance(v, exp.Expression) else v for v in value]
            )
    for rewrite in REWRITES:
        replaced = rewrite.apply(node)
        if replaced is not None:
            return replaced
    return node


def to_spark_tree(sql: str, params: dict | None = None) -> exp.Expression:
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = expand_macros(tree)
    if params is not None:
        tree = _bind(tree, params)
    return _apply_rewrites(tree)


def to_spark(sql: str, params: dict | None = None) -> str:
    """A model statement (DuckDB dialect) in Spark SQL, with ``params`` bound as literals
    (none: the parameters stay as they are)."""
    return to_spark_tree(sql, params).sql(dialect="spark")
