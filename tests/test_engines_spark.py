"""The Spark build step: every rewrite gives on Spark what the DuckDB construct gives on
DuckDB, on one-row (or few-row) inputs, and the model files all build."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import duckdb
import pytest
import sqlglot

from delegation_reports.analysis.config import load_config, write_config_tables
from delegation_reports.analysis.models import create_model_macros
from delegation_reports.engines.spark_sql import REWRITES, UnportableSQL, java_pattern, to_spark

# (rewrite, DuckDB query, the value DuckDB gives: the one Spark must give too)
CASES = [
    ("isodow", "SELECT isodow(DATE '2026-11-30'), isodow(DATE '2026-12-06')", (1, 7)),
    (
        "isodow",
        "SELECT isodow(timezone('Europe/Paris', TIMESTAMPTZ '2026-11-29 23:30:00+00'))",
        (1,),
    ),
    (
        "timezone",
        "SELECT strftime(timezone('Europe/Paris', TIMESTAMPTZ '2026-03-29 01:30:00+00'), '%Y-%m-%d %H:%M')",
        ("2026-03-29 03:30",),
    ),
    (
        "timezone",
        "SELECT epoch_us(timezone('Europe/Paris', TIMESTAMP '2026-07-01 00:00:00'))",
        (1782856800000000,),
    ),
    (
        "arg_max",
        "SELECT arg_max(x, k), arg_min(x, k) FROM (VALUES (NULL, 2), ('a', 1)) AS t(x, k)",
        ("a", "a"),
    ),
    (
        "arg_max",
        "SELECT arg_max(x, k) FILTER (k > 5) FROM (VALUES ('a', 1)) AS t(x, k)",
        (None,),
    ),
    ("list", "SELECT list(x) FILTER (k > 5) FROM (VALUES ('a', 1)) AS t(x, k)", (None,)),
    (
        "list",
        "SELECT (SELECT list(x) FROM (VALUES ('a', 1)) AS t(x, k) WHERE k > 5)",
        (None,),
    ),
    ("list", "SELECT list(x) FROM (VALUES (NULL, 1)) AS t(x, k)", ([None],)),
    (
        "list",
        "SELECT list(x ORDER BY k, x) FROM (VALUES ('b', 2), ('c', 3), ('a', 1), ('d', 1)) AS t(x, k)",
        (["a", "d", "b", "c"],),
    ),
    (
        "list",
        "SELECT list(x ORDER BY k) FILTER (k > 1) FROM (VALUES ('b', 3), ('c', 2), ('a', 1)) AS t(x, k)",
        (["c", "b"],),
    ),
    (
        "string_agg",
        "SELECT string_agg(x, ' et ' ORDER BY k) FROM (VALUES ('b', 2), ('a', 1)) AS t(x, k)",
        ("a et b",),
    ),
    (
        "intervals",
        "SELECT epoch_us(TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_days(CAST(2 AS BIGINT)) "
        "+ to_minutes(CAST(5 AS BIGINT)))",
        (1772496300000000,),
    ),
    (
        "clock_interval",
        "SELECT count(*) OVER (ORDER BY t RANGE BETWEEN CURRENT ROW AND INTERVAL '23:59:59.999999' FOLLOWING) "
        "FROM (VALUES (TIMESTAMPTZ '2026-03-01 00:00:00+00'), (TIMESTAMPTZ '2026-03-01 23:59:59+00'), "
        "(TIMESTAMPTZ '2026-03-02 00:00:00+00')) AS v(t) ORDER BY t",
        None,
    ),
    ("epoch", "SELECT epoch(TIMESTAMPTZ '2026-03-01 00:00:00.5+00')", (1772323200.5,)),
    (
        "strftime",
        "SELECT strftime(TIMESTAMPTZ '2026-03-01 10:20:30+00' AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')",
        ("2026-03-01T10:20:30Z",),
    ),
    (
        "glob",
        "SELECT 'svc_backup' GLOB 'svc*', 'a_c' GLOB 'a?c', 'abc' GLOB 'a_c', '50%' GLOB '5*'",
        (True, True, False, True),
    ),
    ("datediff_month", "SELECT datediff('month', DATE '2026-01-31', DATE '2026-02-01')", (1,)),
    (
        "naive_timestamp",
        "SELECT epoch_us(timezone('Europe/Paris', CAST(DATE '2026-03-01' AS TIMESTAMP) + INTERVAL 1 MONTH))",
        (1774994400000000,),
    ),
    ("list_distinct", "SELECT list_sort(list_distinct(['b', NULL, 'a', 'b']))", (["a", "b"],)),
    ("flatten", "SELECT flatten([['a'], NULL, ['b']])", (["a", "b"],)),
    (
        "row_in",
        "SELECT count(*) FROM (VALUES ('m', 'a'), ('m', 'b')) AS t(mailbox, actor) "
        "WHERE (mailbox, actor) IN (SELECT (mailbox, delegate) FROM (VALUES ('m', 'a')) AS p(mailbox, delegate))",
        (1,),
    ),
    (
        "prose_instants",
        "SELECT fr_when(TIMESTAMPTZ '2026-03-04 10:20:00+00'), fr_during(TIMESTAMPTZ '2026-03-04 10:20:00+00', "
        "TIMESTAMPTZ '2026-03-04 11:00:00+00')",
        None,
    ),
]


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    write_config_tables(con, load_config(), range(2026, 2027))
    create_model_macros(con)
    yield con
    con.close()


def _spark_rows(spark, sql: str) -> list[tuple]:
    return [tuple(row) for row in spark.sql(sql).collect()]


@pytest.mark.parametrize(
    ("rewrite", "query", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rewrite_gives_duckdb_result_on_spark(spark, duck, rewrite, query, expected):
    assert rewrite in {r.name for r in REWRITES}
    ours = duck.execute(query).fetchall()
    if expected is not None:
        assert ours == [expected]
    assert _spark_rows(spark, to_spark(query)) == ours


# The silent traps: sqlglot's own translation runs on Spark and gives another answer.
TRAPS = [
    "SELECT isodow(DATE '2026-11-30')",
    "SELECT arg_max(x, k) FROM (VALUES (NULL, 2), ('a', 1)) AS t(x, k)",
    "SELECT list(x) FILTER (k > 5) FROM (VALUES ('a', 1)) AS t(x, k)",
    "SELECT list(x ORDER BY k) FROM (VALUES ('b', 2), ('c', 3), ('a', 1)) AS t(x, k)",
    "SELECT strftime(TIMESTAMPTZ '2026-03-01 10:20:30+00' AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%SZ')",
]


@pytest.mark.parametrize("query", TRAPS)
def test_plain_translation_is_silently_wrong_where_a_rewrite_applies(spark, duck, query):
    ours = duck.execute(query).fetchall()
    plain = sqlglot.transpile(query, read="duckdb", write="spark")[0]
    try:
        theirs = _spark_rows(spark, plain)
    except Exception:  # noqa: BLE001 -- a failure is as good a proof as a wrong answer
        theirs = None
    assert theirs != ours
    assert _spark_rows(spark, to_spark(query)) == ours


def test_time_cast_is_refused_with_its_reason():
    with pytest.raises(UnportableSQL, match="AS TIME"):
        to_spark("SELECT CAST(TIMESTAMP '2026-03-01 10:00:00' AS TIME) >= TIME '08:00:00'")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM a ASOF LEFT JOIN b ON a.k = b.k AND a.t > b.t",
        "SELECT * EXCLUDE (x) FROM t",
        "SELECT * REPLACE (1 AS x) FROM t",
        "SELECT x < 'infinity'::TIMESTAMPTZ FROM t",
        "SELECT coalesce(x, TIMESTAMPTZ '-infinity') FROM t",
        "SELECT arg_max_null(x, k) FROM t",
        "SELECT arg_min_null(x, k) FROM t",
    ],
)
def test_unportable_constructs_are_refused(query):
    with pytest.raises(UnportableSQL):
        to_spark(query)


@pytest.mark.parametrize(
    "rows",
    [
        "(NULL, 2), ('a', 1), (NULL, 0)",  # NULL at both extremes
        "('b', 2), (NULL, 1), ('a', 0)",  # values at both extremes, NULL between
        "(NULL, 1)",
    ],
)
def test_value_at_the_extreme_key_keeps_null_alike_on_both_engines(spark, duck, rows):
    """What the models write instead of DuckDB's arg_max_null / arg_min_null: the field of the
    largest (key, value) pair, which a NULL value does not remove from the comparison."""
    table = f"(VALUES {rows}) AS t(x, k)"
    portable = (
        "SELECT max(struct_pack(k := k, v := x)).v, min(struct_pack(k := k, v := x)).v, "
        f"max(CASE WHEN k < 2 THEN struct_pack(k := k, v := x) END).v FROM {table}"
    )
    ours = duck.execute(portable).fetchall()
    assert (
        ours
        == duck.execute(
            f"SELECT arg_max_null(x, k), arg_min_null(x, k), arg_max_null(x, k) FILTER (k < 2) FROM {table}"
        ).fetchall()
    )
    assert _spark_rows(spark, to_spark(portable)) == ours


def _model_files():
    root = resources.files("delegation_reports") / "sql" / "models"
    for layer in (root, *(root / name for name in ("core", "marts", "month", "rules"))):
        for entry in sorted(layer.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                yield entry
    yield resources.files("delegation_reports") / "engines" / "spark_macros.sql"


def test_model_files_hold_no_infinite_instant():
    """Open bounds are unbounded_from() and unbounded_until() in the model files themselves:
    no ±infinity for an engine to rewrite, nor a test of it."""
    infinite = re.compile(r"infinity|isfinite|isinf", re.I)
    files = list(_model_files())
    assert len(files) >= 40
    for entry in files:
        code = re.sub(r"--[^\n]*", "", entry.read_text(encoding="utf-8"))
        assert not infinite.search(code), entry.name


def test_open_bounds_are_the_same_instants_and_compare_alike_on_both_engines(spark, duck):
    query = (
        "SELECT epoch_us(unbounded_from()), epoch_us(unbounded_until()), "
        "unbounded_from() < TIMESTAMPTZ '0001-01-01 00:00:00.000001+00', "
        "unbounded_until() > TIMESTAMPTZ '9999-12-31 23:59:59.999998+00', "
        "greatest(coalesce(NULL::TIMESTAMPTZ, unbounded_from()), TIMESTAMPTZ '2026-03-01 00:00:00+00') "
        "= TIMESTAMPTZ '2026-03-01 00:00:00+00', "
        "least(coalesce(NULL::TIMESTAMPTZ, unbounded_until()), unbounded_until()) = unbounded_until(), "
        "TIMESTAMPTZ '2026-03-01 00:00:00+00' >= unbounded_from() "
        "AND TIMESTAMPTZ '2026-03-01 00:00:00+00' < unbounded_until()"
    )
    ours = duck.execute(query).fetchall()
    assert ours == [(-62135596800000000, 253402300799999999, True, True, True, True, True)]
    assert _spark_rows(spark, to_spark(query)) == ours


def test_minutes_of_the_day_compare_alike(spark, duck):
    query = (
        "SELECT hour(t) * 60 + minute(t) FROM (SELECT timezone('Europe/Paris', "
        "TIMESTAMPTZ '2026-06-01 05:59:59.9+00') AS t)"
    )
    assert duck.execute(query).fetchall() == [(479,)]
    assert _spark_rows(spark, to_spark(query)) == [(479,)]


def test_finding_key_is_the_same_on_both_engines(spark, duck):
    query = (
        "SELECT finding_key('r', 'p', 'm', 'a', TIMESTAMPTZ '2026-03-04 10:20:00.5+00', ['e1', 'e2'], NULL, false), "
        "finding_key('r', 'p', 'm', 'a', TIMESTAMPTZ '2026-03-04 10:20:00+00', NULL, NULL, false), "
        "finding_key('r', 'p', 'm', 'a', NULL, NULL, 'k', true)"
    )
    ours = duck.execute(query).fetchall()
    assert _spark_rows(spark, to_spark(query)) == ours


def test_practice_key_is_the_same_on_both_engines(spark, duck):
    """What practice_access is sorted and filtered by, whichever engine wrote it."""
    query = (
        "SELECT practice_key('10099990011014'), practice_key('cabinet-médical-é'), "
        "practice_key(NULL)"
    )
    ours = duck.execute(query).fetchall()
    assert ours[0][2] == "d41d8cd9" and all(len(k) == 8 for k in ours[0])
    assert _spark_rows(spark, to_spark(query)) == ours


def test_parameters_are_bound_as_literals(spark):
    from datetime import UTC, date, datetime

    sql = to_spark(
        "SELECT $month, epoch_us($from_at), $n + 1, $names",
        {
            "month": date(2026, 3, 1),
            "from_at": datetime(2026, 2, 28, 23, tzinfo=UTC),
            "n": 2,
            "names": ["a"],
        },
    )
    assert _spark_rows(spark, sql) == [(date(2026, 3, 1), 1772319600000000, 3, ["a"])]


def test_java_pattern_quotes_literal_text():
    assert java_pattern("%Y-%m-%dT%H:%M:%SZ") == "yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'"


def test_every_model_builds_for_spark():
    root = resources.files("delegation_reports") / "sql" / "models"
    built = 0
    for layer in ("core", "marts", "month", "rules"):
        for entry in sorted((root / layer).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                sql = to_spark(entry.read_text(encoding="utf-8"))
                sqlglot.parse_one(sql, read="spark")  # written SQL reads back
                built += 1
    assert built >= 40


def test_rewrites_are_documented():
    text = (Path(__file__).resolve().parents[1] / "docs" / "scale-out.md").read_text(
        encoding="utf-8"
    )
    for rewrite in REWRITES:
        assert f"`{rewrite.name}`" in text, rewrite.name
