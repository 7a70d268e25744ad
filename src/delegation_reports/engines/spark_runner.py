"""``delegation-reports spark refresh``: the models on Apache Spark, over a Parquet lake.

The same model files as the DuckDB refresh (analysis/models.py), built for Spark by
``spark_sql``, run in the same dependency order:

1. the lake's inputs (``inputs/<table>/``, hive-partitioned Parquet) become temporary views
   named as the warehouse's tables; the configuration tables are written by DuckDB from the
   configuration, into the lake (``models/cfg_*``), and read from there;
2. the core models (practices, delegation periods and segments, service accounts, Paris
   hours, trace months) are computed once and cached; ``attributed_access`` is a view;
3. the monthly marts of every month of the lake are computed by one statement each, the month
   of each row taken from its event (Spark costs about a second per statement whatever the
   data size: a statement per month and mart would cost more than the work);
4. the delegation-level rules are evaluated for every month of trace coverage in one
   statement (a union of the rule over each month), then each month's working tables and
   event-level rules;
5. the outputs are written back: month-scoped tables (marts, findings) by overwriting the
   partitions of the months built (``month=YYYY-MM``), the others whole, and the refresh
   state (``_state/refresh_state.json``) last, so that a crash leaves the previous state
   readable. Nothing assumes local mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .. import __version__
from ..analysis import models
from ..analysis.config import (
    DELEGATION_LEVEL_RULES,
    RULE_IDS,
    AnalysisConfig,
    load_config,
    write_config_tables,
)
from ..errors import UserError
from ..lake import CONFIG_TABLES, FORMAT_VERSION, INPUTS, MODELS, STATE_FILE
from ..warehouse import sql_text
from . import spark_sql

LAKE_FILE = "lake.json"
# The inputs the models read; purge_record may be absent (no purge yet).
MODEL_INPUTS = (
    "audit_event",
    "delegation_event",
    "delegation_snapshot",
    "roster_member",
    "directory_entry",
    "ingest_file",
)
OPTIONAL_INPUTS = {"purge_record": "cutoff_at TIMESTAMP"}
# Core models computed from the inputs, in build order (system_account reads every file).
CORE_ORDER = (*models.AUDIT_CORE_MODELS, *models.CORE_MODELS, "system_account")
# DuckDB types of the rules' output, in Spark's words.
_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "TIMESTAMPTZ": "TIMESTAMP",
    "BIGINT": "BIGINT",
    "VARCHAR[]": "ARRAY<STRING>",
}
_MONTH_PARAMS = ("month", "from_at", "until_at")


@dataclass
class SparkRefresh:
    """What a refresh built."""

    months: list[models.Month]
    statements: int
    tables: dict[str, int]


def _rule_columns() -> list[tuple[str, str]]:
    columns = []
    for item in models._RULE_OUTPUT.split(", "):
        name, type_ = item.split()[:2]
        columns.append((name, _SPARK_TYPES[type_]))
    return columns


def read_layout(lake: Path) -> dict:
    """The lake's ``lake.json``: which input tables it holds and how they are partitioned."""
    path = lake / LAKE_FILE
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not a lake (no {LAKE_FILE}; see docs/scale-out.md)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(layout, dict) or layout.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: unknown lake format version {layout.get('format_version')!r}")
    return layout


def _input_folder(lake: Path, name: str) -> Path:
    return lake / INPUTS / name


class _Run:
    """One refresh: the Spark session, a DuckDB connection for the bookkeeping (manifest,
    months, configuration tables), and a count of the statements sent to Spark."""

    def __init__(self, spark, lake: Path, config: AnalysisConfig):
        self.spark = spark
        self.lake = lake
        self.config = config
        self.statements = 0
        self.duck = duckdb.connect()
        self.duck.execute("SET TimeZone = 'UTC'")
        self.staging = lake / "_staging" / secrets.token_hex(6)

    # -- statements -------------------------------------------------------------------------

    def sql(self, duckdb_sql: str, params: dict | None = None):
        """A statement of the models (DuckDB dialect), built for Spark and run: a DataFrame."""
        self.statements += 1
        return self.spark.sql(spark_sql.to_spark(duckdb_sql, params or {}))

    def cache(self, name: str, frame) -> None:
        """``frame`` computed once, as the view ``name``."""
        self.spark.catalog.dropTempView(name)
        frame = frame.persist()
        frame.count()
        frame.createOrReplaceTempView(name)

    def drop(self, name: str) -> None:
        if self.spark.catalog.tableExists(name):
            self.spark.table(name).unpersist()
        self.spark.catalog.dropTempView(name)

    # -- inputs -----------------------------------------------------------------------------

    def register_inputs(self, layout: dict) -> list[models.Month]:
        """Each input table as a view; the months of the audit events (its ``month=``
        folders)."""
        tables = {t.get("name"): t for t in layout.get("tables", []) if isinstance(t, dict)}
        for name in (*MODEL_INPUTS, *OPTIONAL_INPUTS):
            folder = _input_folder(self.lake, name)
            if not any(folder.rglob("*.parquet")):
                if name in OPTIONAL_INPUTS:
                    self.spark.sql(
                        f"SELECT CAST(NULL AS {OPTIONAL_INPUTS[name].split()[1]}) AS "
                        f"{OPTIONAL_INPUTS[name].split()[0]} WHERE false"
                    ).createOrReplaceTempView(name)
                    continue
                raise UserError(f"{folder}: the lake holds no {name} table")
            frame = self.spark.read.option("basePath", str(folder)).parquet(str(folder))
            derived = [
                p["key"]
                for p in (tables.get(name, {}).get("partitioning") or [])
                if p.get("key") != p.get("source")
            ]
            frame = frame.drop(*derived)
            frame.createOrReplaceTempView(name)
            if name in ("ingest_file", "purge_record"):
                self.duck.register(f"{name}_arrow", frame.toArrow())
                self.duck.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}_arrow")
        if "purge_record" not in {r[0] for r in self.duck.execute("SHOW TABLES").fetchall()}:
            self.duck.execute(
                "CREATE VIEW purge_record AS SELECT NULL::TIMESTAMPTZ AS cutoff_at WHERE false"
            )
        months = sorted(
            {
                p.name.split("=", 1)[1]
                for p in _input_folder(self.lake, "audit_event").glob("month=*")
                if p.is_dir()
            }
        )
        return [models.Month.parse(m) for m in months]

    def config_tables(self) -> None:
        """The configuration tables, written by DuckDB into the lake's models and read from
        there (their TIME columns left out: the models read minutes of the day)."""
        write_config_tables(self.duck, self.config, models._years(self.duck))
        for name in CONFIG_TABLES:
            columns = [
                c
                for c, t in self.duck.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [name],
                ).fetchall()
                if t != "TIME"
            ]
            target = self.staging / name
            target.mkdir(parents=True)
            self.duck.execute(
                f"COPY (SELECT {', '.join(columns)} FROM {name}) TO '{target / 'data.parquet'}' (FORMAT parquet)"
            )
            self.spark.read.parquet(str(target)).createOrReplaceTempView(name)

    # -- models -----------------------------------------------------------------------------

    def core(self) -> None:
        change = sql_text("warehouse/schema.sql").split(
            "CREATE OR REPLACE VIEW directory_change AS", 1
        )[1]
        self.sql(change.split(";", 1)[0]).createOrReplaceTempView("directory_change")
        for model in CORE_ORDER:
            self.cache(model, self.sql(sql_text(f"models/core/{model}.sql"), {"after_file_id": -1}))
        self.sql(sql_text("models/core/attributed_access.sql")).createOrReplaceTempView(
            "attributed_access"
        )

    def marts(self, months: list[models.Month]) -> None:
        """Every mart for every month at once: the window spans them all, and each row's
        month is its event's Paris month."""
        first, last = (
            models.month_bounds(self.duck, months[0])[0],
            models.month_bounds(self.duck, months[-1])[1],
        )
        for mart in models.MART_MODELS:
            tree = spark_sql.to_spark_tree(
                sql_text(f"models/marts/{mart}.sql"),
                {"from_at": first, "until_at": last, "month": None},
            )
            event_month = spark_sql._sql(
                "CAST(date_trunc('MONTH', from_utc_timestamp(occurred_at, 'Europe/Paris')) AS DATE)"
            )
            # `$month::DATE AS month`: the bound NULL replaced by the event's month.
            for alias in tree.find_all(spark_sql.exp.Alias):
                if alias.alias == "month":
                    alias.set("this", event_month.copy())
            self.statements += 1
            self.cache(mart, self.spark.sql(tree.sql(dialect="spark")))

    def _params(self, month: models.Month) -> dict:
        return models._month_params(self.duck, month, self.config)

    def _rule_frame(self, sql: str, params: dict, extra: str = ""):
        """A rule's rows with every column of the rules' output, in order (those it does not
        give are NULL), as a statement to union."""
        columns = {c.lower() for c in self.sql(sql, params).columns}
        self.statements -= 1  # only the schema was read
        select = ", ".join(
            f"CAST({name} AS {type_}) AS {name}"
            if name in columns
            else f"CAST(NULL AS {type_}) AS {name}"
            for name, type_ in _rule_columns()
        )
        return f"SELECT {extra}{select} FROM ({spark_sql.to_spark(sql, params)})"

    def history(self, grid: list[models.Month], rules: list[str]) -> None:
        """The delegation-level rules over every month of ``grid``: one statement, a union of
        each rule bound to each month."""
        defaults = self.config.for_practice(None)["rules"]
        rows = []
        parts = []
        for position, month in enumerate(grid, start=1):
            params = self._params(month)
            rows.append(
                f"SELECT {spark_sql.literal(month.first_day).sql('spark')} AS month, "
                f"{spark_sql.literal(params['from_at']).sql('spark')} AS from_at, "
                f"{spark_sql.literal(params['until_at']).sql('spark')} AS until_at, {position} AS position"
            )
            for rule_id in rules:
                rule_params = dict(params, days=defaults[rule_id].get("days"))
                month_literal = spark_sql.literal(month.first_day).sql("spark")
                parts.append(
                    self._rule_frame(
                        sql_text(f"models/rules/{rule_id}.sql"),
                        rule_params,
                        f"{month_literal} AS month, ",
                    )
                )
        self.statements += 1
        self.cache("month_grid", self.spark.sql(" UNION ALL ".join(rows)))
        if not parts:
            parts = [
                f"SELECT CAST(NULL AS DATE) AS month, {', '.join(f'CAST(NULL AS {t}) AS {n}' for n, t in _rule_columns())} WHERE false"
            ]
        self.statements += 1
        self.cache("delegation_history_all", self.spark.sql(" UNION ALL ".join(parts)))

    def month(self, month: models.Month, grid: list[models.Month], across: list[str]):
        """The month's findings, as the DuckDB refresh gives them (``build_month``)."""
        params = self._params(month)
        defaults = self.config.for_practice(None)["rules"]
        for model in models.MONTH_MODELS:
            self.cache(model, self.sql(sql_text(f"models/month/{model}.sql"), params))
        parts = []
        for rule_id in RULE_IDS:
            if rule_id in across:
                continue
            parts.append(
                self._rule_frame(
                    sql_text(f"models/rules/{rule_id}.sql"),
                    dict(params, days=defaults[rule_id].get("days")),
                )
            )
        when = spark_sql.literal(month.first_day).sql("spark")
        history_columns = ", ".join(n for n, _ in _rule_columns())
        parts.append(f"SELECT {history_columns} FROM delegation_history_all WHERE month = {when}")
        self.statements += 1
        self.cache("rule_output", self.spark.sql(" UNION ALL ".join(parts)))
        # The history and grid up to this month (a prefix of the whole grid: same positions).
        self.spark.sql(
            f"SELECT * FROM delegation_history_all WHERE month <= {when}"
        ).createOrReplaceTempView("delegation_history")
        self.spark.sql(f"SELECT * FROM month_grid WHERE month <= {when}").createOrReplaceTempView(
            "month_grid_upto"
        )
        first = sql_text("models/month/finding_first_month.sql").replace(
            "month_grid", "month_grid_upto"
        )
        self.cache("finding_first_month", self.sql(first, params))
        levels = sorted(DELEGATION_LEVEL_RULES)
        findings = self.sql(models.FINDINGS_OF_MONTH, {"month": month.first_day, "levels": levels})
        frame = findings.persist()
        frame.count()
        for name in (*models.MONTH_MODELS, "rule_output", "finding_first_month"):
            self.drop(name)
        return frame

    # -- writing ----------------------------------------------------------------------------

    def write_month_scoped(self, name: str, frame, months: list[models.Month]) -> None:
        """``frame``'s rows of ``months`` into ``models/<name>/month=YYYY-MM/``, replacing
        those partitions only (the month column is the folder)."""
        from pyspark.sql import functions as F

        target = self.lake / MODELS / name
        out = frame.withColumn("month", F.date_format("month", "yyyy-MM"))
        # Months without rows still replace what an earlier refresh wrote for them.
        for month in months:
            old = target / f"month={month}"
            if old.exists():
                shutil.rmtree(old)
        out.write.mode("overwrite").partitionBy("month").parquet(str(target))

    def write_whole(self, name: str, frame) -> None:
        target = self.lake / MODELS / name
        staged = self.staging / f"whole-{name}"
        frame.write.mode("overwrite").parquet(str(staged))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _table_record(duck, lake: Path, name: str, month_scoped: bool) -> dict:
    folder = lake / MODELS / name
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    columns = []
    if files:
        columns = duck.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false))",
            [files],
        ).fetchall()
    record_columns = [{"name": n, "type": t} for n, t in columns]
    if month_scoped:
        record_columns.insert(0, {"name": "month", "type": "DATE"})
    return {
        "name": name,
        "path": f"{MODELS}/{name}",
        "columns": record_columns,
        "partitioning": [{"key": "month", "source": "month", "transform": "month"}]
        if month_scoped
        else [],
        "sort_by": [],
    }


def refresh(
    lake: Path,
    master: str | None = None,
    months: list[models.Month] | None = None,
    config: AnalysisConfig | None = None,
    spark=None,
) -> SparkRefresh:
    """Refresh the lake's model outputs on Spark: every core model and mart, and the
    findings of ``months`` (default: every month of the lake's audit events)."""
    from .spark_session import DEFAULT_MASTER, session

    config = config or load_config()
    layout = read_layout(lake)
    spark = spark or session(master or DEFAULT_MASTER)
    run = _Run(spark, lake, config)
    try:
        data_months = run.register_inputs(layout)
        if not data_months:
            raise UserError(f"{lake}: the lake holds no audit events")
        todo = data_months if months is None else months
        unknown = [str(m) for m in todo if m not in data_months]
        if unknown:
            raise UserError(
                f"no audit events in the lake for {', '.join(unknown)}: it covers "
                f"{data_months[0]} to {data_months[-1]}"
            )
        run.config_tables()
        run.core()
        run.marts(data_months)
        covered = {m.first_day for m in models.covered_months(run.duck)}
        grid = sorted(
            {models.Month(d.year, d.month) for d in covered} | set(todo), key=lambda m: m.first_day
        )
        grid = [m for m in grid if m.first_day <= todo[-1].first_day]
        across = [r for r in RULE_IDS if r in DELEGATION_LEVEL_RULES and models.reads_all_months(r)]
        run.history(grid, across)
        frames = [run.month(month, grid, across) for month in todo]
        findings = frames[0]
        for frame in frames[1:]:
            findings = findings.unionByName(frame)
        # Outputs: marts and findings by month, then core and configuration tables whole.
        counts = {}
        for mart in models.MART_MODELS:
            run.write_month_scoped(mart, spark.table(mart), data_months)
            counts[mart] = spark.table(mart).count()
        run.write_month_scoped("finding", findings, todo)
        counts["finding"] = findings.count()
        for name in (*CORE_ORDER, *CONFIG_TABLES):
            run.write_whole(name, spark.table(name))
        tables = [_table_record(run.duck, lake, t, True) for t in (*models.MART_MODELS, "finding")]
        tables += [_table_record(run.duck, lake, t, False) for t in (*CORE_ORDER, *CONFIG_TABLES)]
        state = {
            "format_version": FORMAT_VERSION,
            "engine": "spark",
            "engine_version": spark.version,
            "tool_version": __version__,
            "refreshed_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "lake_sha256": _sha256(lake / LAKE_FILE),
            "config_digest": config.digest,
            "months": [str(m) for m in todo],
            "tables": tables,
        }
        # Written last, by rename: a crash before leaves the previous state.
        state_path = lake / STATE_FILE
        state_path.parent.mkdir(parents=True, exist_ok=True)
        staged = state_path.with_name(f".{state_path.name}.{secrets.token_hex(4)}")
        staged.write_text(json.dumps(state, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(staged, state_path)
        return SparkRefresh(todo, run.statements, counts)
    finally:
        for name in [t.name for t in spark.catalog.listTables() if t.isTemporary]:
            run.drop(name)
        spark.catalog.clearCache()
        shutil.rmtree(run.staging.parent, ignore_errors=True)
        run.duck.close()
