"""``delegation-reports spark refresh``: the models on Apache Spark, over a Parquet lake.

The same model files as the DuckDB refresh (analysis/models.py), built for Spark by
``spark_sql``, run in the same dependency order:

1. the lake's inputs (``inputs/<table>/``, hive-partitioned Parquet) become temporary views
   named as the warehouse's tables; the configuration tables are written by DuckDB from the
   configuration and read from there;
2. the core models (practices, delegation periods and segments, service accounts, Paris
   hours, trace months) are computed once each; ``attributed_access`` is a view over them;
3. the monthly marts and the stored attributed accesses (``practice_access``) of every month
   are computed by one statement each, the month of each row taken from its event (Spark
   costs about a second per statement whatever the data size: a statement per month and
   table would cost more than the work);
4. each delegation-level rule is evaluated for every month of trace coverage in one
   statement (the union of the rule bound to each month), then each month's working tables
   and event-level rules (one statement for all of the month's rules);
5. the outputs are written back.

Every table computed is written as Parquet under the lake's ``_staging/`` folder and read
back from there: a Spark view keeps the whole plan it is made of, and a view over views over
views made the analyser's plans grow until the driver ran out of memory; a table read from
files is a small plan whose size Spark knows (for its joins). Nothing assumes local mode:
the staging folder is in the lake, which every executor reads.

Writing back: every output is first written whole under ``_staging/`` (readers skip folders
whose name starts with ``_``): a refresh stopped then leaves the lake as it was. Then
``_state/refresh_swap.json`` is written (readers refuse the lake while it is there), each
month-scoped table's month partitions (``month=YYYY-MM``) and each other table are renamed
into place, the refresh state (``_state/refresh_state.json``) is written, last, and the swap
file removed: a refresh stopped during the renames leaves a lake that is refused with a clear
message until a refresh completes, never one read half old and half new.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
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
from ..lake import (
    BY_MONTH,
    CONFIG_TABLES,
    INPUTS,
    LAKE_FILE,
    MODELS,
    STATE_FILE,
    STATE_FORMAT_VERSION,
    SWAP_FILE,
    _locked,
    file_sha256,
    read_lake_file,
)
from ..warehouse import private_temp_directory, sql_text, stop_point
from . import spark_sql

# The inputs the models read; purge_record may be absent (no purge yet).
MODEL_INPUTS = (
    "audit_event",
    "delegation_event",
    "delegation_snapshot",
    "roster_member",
    "directory_entry",
    "ingest_file",
)
# Inputs a lake written by an earlier version may lack, and the columns the models read of
# them (read as empty).
OPTIONAL_INPUTS = {
    "purge_record": (("cutoff_at", "TIMESTAMPTZ"),),
    "ingest_file_gap": (
        ("file_id", "INTEGER"),
        ("after_at", "TIMESTAMPTZ"),
        ("before_at", "TIMESTAMPTZ"),
    ),
}
# Core models computed from the inputs, in build order (system_account reads every file).
CORE_ORDER = (*models.AUDIT_CORE_MODELS, *models.CORE_MODELS, "system_account")
# The attributed accesses the reports read, stored by month.
PRACTICE_ACCESS = "practice_access"
# Month-scoped outputs: the marts (every month with events), the findings and the stored
# accesses (the months refreshed).
MONTH_OUTPUTS = (*models.MART_MODELS, "finding", PRACTICE_ACCESS)
# Every table a refresh writes.
OUTPUTS = (*CORE_ORDER, *CONFIG_TABLES, *MONTH_OUTPUTS)
# DuckDB types of the rules' output, in Spark's words.
_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "TIMESTAMPTZ": "TIMESTAMP",
    "BIGINT": "BIGINT",
    "VARCHAR[]": "ARRAY<STRING>",
}
_PARIS_MONTH = "CAST(date_trunc('MONTH', from_utc_timestamp({}, 'Europe/Paris')) AS DATE)"


@dataclass
class SparkRefresh:
    """What a refresh built: the months whose findings it wrote, the statements it sent to
    Spark, and the rows of each table it wrote."""

    months: list[models.Month]
    statements: int
    tables: dict[str, int]


def _rule_columns() -> list[tuple[str, str]]:
    columns = []
    for item in models._RULE_OUTPUT.split(", "):
        name, type_ = item.split()[:2]
        columns.append((name, _SPARK_TYPES[type_]))
    return columns


def _partition_name(month: models.Month) -> str:
    return f"month={month}"


class _Run:
    """One refresh: the Spark session, a DuckDB connection for the bookkeeping (manifest,
    months, configuration tables), the staging folder, and a count of the statements sent
    to Spark."""

    def __init__(self, spark, lake: Path, config: AnalysisConfig):
        self.spark = spark
        self.lake = lake
        self.config = config
        self.statements = 0
        self.duck = duckdb.connect()
        self.duck.execute("SET TimeZone = 'UTC'")
        self.staging = lake / "_staging" / secrets.token_hex(6)
        self.work = self.staging / "work"  # intermediate tables
        self.out = self.staging / "out"  # the outputs, before they are put in place
        self.rule_columns: dict[str, set[str]] = {}

    # -- statements -------------------------------------------------------------------------

    def sql(self, duckdb_sql: str, params: dict | None = None):
        """A statement of the models (DuckDB dialect), built for Spark: a DataFrame."""
        return self.spark.sql(spark_sql.to_spark(duckdb_sql, params or {}))

    def _read(self, folder: Path, name: str, month_scoped: bool = False) -> None:
        frame = self.spark.read.parquet(str(folder))
        if month_scoped:  # the month is the folder's name: a DATE again
            from pyspark.sql import functions as F

            frame = frame.withColumn("month", F.to_date(F.concat("month", F.lit("-01"))))
        frame.createOrReplaceTempView(name)

    def materialize(self, name: str, frame, output: bool = False) -> None:
        """``frame`` computed once (one Spark job), written under the staging folder, and
        the view ``name`` over those files."""
        folder = (self.out if output else self.work) / name
        self.statements += 1
        frame.write.mode("overwrite").parquet(str(folder))
        self._read(folder, name)

    def write_months(self, name: str, frame, sort_by: list[str]) -> Path:
        """``frame`` (with a DATE ``month`` column) as ``month=YYYY-MM`` partitions under
        the staging folder, each sorted by ``sort_by``; the view ``name`` over them."""
        from pyspark.sql import functions as F

        folder = self.out / name
        out = frame.withColumn("month", F.date_format("month", "yyyy-MM"))
        self.statements += 1
        (
            out.repartition("month")
            .sortWithinPartitions("month", *sort_by)
            .write.mode("overwrite")
            .partitionBy("month")
            .parquet(str(folder))
        )
        self._read(folder, name, month_scoped=True)
        return folder

    # -- inputs -----------------------------------------------------------------------------

    def register_inputs(self, layout: dict) -> None:
        """Each input table as a view over its folder (its partition columns from the
        folder names, derived ones left out: the month of an audit event is its own); a
        table without any file (no row) with the columns ``lake.json`` gives it."""
        tables = {t["name"]: t for t in layout["tables"]}
        for name in (*MODEL_INPUTS, *OPTIONAL_INPUTS):
            table = tables.get(name)
            if table is None:
                if name in OPTIONAL_INPUTS:
                    table = {
                        "name": name,
                        "path": f"{INPUTS}/{name}",
                        "columns": [{"name": c, "type": t} for c, t in OPTIONAL_INPUTS[name]],
                    }
                else:
                    raise UserError(f"{self.lake / LAKE_FILE}: the lake lists no {name} table")
            folder = self.lake / table["path"]
            derived = [
                p["key"] for p in table.get("partitioning") or [] if p.get("key") != p.get("source")
            ]
            if any(folder.rglob("*.parquet")):
                frame = self.spark.read.option("basePath", str(folder)).parquet(str(folder))
                frame = frame.drop(*derived)
            else:
                frame = self.spark.sql(
                    "SELECT "
                    + ", ".join(
                        f"CAST(NULL AS {spark_sql.spark_type(c['type'])}) AS `{c['name']}`"
                        for c in table["columns"]
                        if c["name"] not in derived
                    )
                    + " WHERE false"
                )
            frame.createOrReplaceTempView(name)
            # Small: the months come from them.
            if name in ("ingest_file", "ingest_file_gap", "purge_record"):
                self.duck.register(f"{name}_arrow", frame.toArrow())
                self.duck.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}_arrow")

    def data_months(self) -> list[models.Month]:
        """The months of the lake's audit events (its ``month=`` folders)."""
        folder = self.lake / INPUTS / "audit_event"
        return sorted(
            (
                models.Month.parse(p.name.split("=", 1)[1])
                for p in folder.glob("month=*")
                if p.is_dir()
            ),
            key=lambda m: m.first_day,
        )

    def config_tables(self) -> None:
        """The configuration tables, written by DuckDB (they are outputs too) and read from
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
            # Spark cannot read a file with a TIME column: it reads a copy without them.
            for folder, query in (
                (self.out, name),
                (self.work, f"(SELECT {', '.join(columns)} FROM {name})"),
            ):
                (folder / name).mkdir(parents=True)
                target = folder / name / "data_0.parquet"
                self.duck.execute(f"COPY {query} TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            self.spark.read.parquet(str(self.work / name)).createOrReplaceTempView(name)

    # -- models -----------------------------------------------------------------------------

    def core(self) -> None:
        change = sql_text("warehouse/schema.sql").split(
            "CREATE OR REPLACE VIEW directory_change AS", 1
        )[1]
        self.sql(change.split(";", 1)[0]).createOrReplaceTempView("directory_change")
        for model in CORE_ORDER:
            frame = self.sql(sql_text(f"models/core/{model}.sql"), {"after_file_id": -1})
            self.materialize(model, frame, output=True)
        self.sql(sql_text("models/core/attributed_access.sql")).createOrReplaceTempView(
            "attributed_access"
        )

    def _all_months(self, sql: str, months: list[models.Month]):
        """A month model's statement over every month of ``months`` at once: its window
        spans them all, and each row's month (``$month::DATE AS month``) is its event's."""
        first = models.month_bounds(self.duck, months[0])[0]
        last = models.month_bounds(self.duck, months[-1])[1]
        tree = spark_sql.to_spark_tree(sql, {"from_at": first, "until_at": last, "month": None})
        event_month = spark_sql._sql(_PARIS_MONTH.format("occurred_at"))
        for alias in tree.find_all(spark_sql.exp.Alias):
            if alias.alias == "month" and isinstance(alias.this, spark_sql.exp.Cast):
                alias.set("this", event_month.copy())
        return self.spark.sql(tree.sql(dialect="spark"))

    def marts(self, months: list[models.Month]) -> None:
        """Every mart for every month at once, one statement each."""
        for mart in models.MART_MODELS:
            frame = self._all_months(sql_text(f"models/marts/{mart}.sql"), months)
            sort_by = [c for c in frame.columns if c != "month"]
            self.write_months(mart, frame, sort_by)

    def practice_access(self, months: list[models.Month]) -> None:
        """The attributed accesses of ``months``, in practice, mailbox and time order."""
        first = models.month_bounds(self.duck, months[0])[0]
        last = models.month_bounds(self.duck, months[-1])[1]
        sql = sql_text(f"models/month/{PRACTICE_ACCESS}.sql")
        frame = self.sql(sql, {"from_at": first, "until_at": last})
        wanted = {m.first_day for m in months}
        frame = frame.where(frame["month"].isin(list(wanted)))
        # Each month's files in the model's order (its ORDER BY: columns it outputs).
        order = spark_sql.sqlglot.parse_one(sql, read="duckdb").args["order"]
        self.write_months(PRACTICE_ACCESS, frame, [key.this.name for key in order.expressions])

    def _params(self, month: models.Month) -> dict:
        return models._month_params(self.duck, month, self.config)

    def _rule_sql(self, sql: str, params: dict, extra: str = "") -> str:
        """A rule's rows with every column of the rules' output, in order (those it does not
        give are NULL), as a statement to union."""
        if sql not in self.rule_columns:  # the same for every month: analysed once, not run
            self.rule_columns[sql] = {c.lower() for c in self.sql(sql, params).columns}
        columns = self.rule_columns[sql]
        select = ", ".join(
            f"CAST({name} AS {type_}) AS {name}"
            if name in columns
            else f"CAST(NULL AS {type_}) AS {name}"
            for name, type_ in _rule_columns()
        )
        return f"SELECT {extra}{select} FROM ({spark_sql.to_spark(sql, params)})"

    def history(self, grid: list[models.Month], rules: list[str]) -> None:
        """Each delegation-level rule of ``rules`` over every month of ``grid``, one
        statement per rule (the union of the rule bound to each month); the month grid."""
        defaults = self.config.for_practice(None)["rules"]
        rows = []
        for position, month in enumerate(grid, start=1):
            params = self._params(month)
            rows.append(
                f"SELECT {spark_sql.literal(month.first_day).sql('spark')} AS month, "
                f"{spark_sql.literal(params['from_at']).sql('spark')} AS from_at, "
                f"{spark_sql.literal(params['until_at']).sql('spark')} AS until_at, "
                f"{position} AS position"
            )
        self.materialize("month_grid", self.spark.sql(" UNION ALL ".join(rows)))
        empty = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in _rule_columns())
        parts = [f"SELECT CAST(NULL AS DATE) AS month, {empty} WHERE false"]
        for rule_id in rules:
            sql = sql_text(f"models/rules/{rule_id}.sql")
            each = []
            for month in grid:
                params = dict(self._params(month), days=defaults[rule_id].get("days"))
                when = spark_sql.literal(month.first_day).sql("spark")
                each.append(self._rule_sql(sql, params, f"{when} AS month, "))
            self.materialize(f"history_{rule_id}", self.spark.sql(" UNION ALL ".join(each)))
            parts.append(f"SELECT * FROM history_{rule_id}")
        self.spark.sql(" UNION ALL ".join(parts)).createOrReplaceTempView("delegation_history_all")

    def month(self, month: models.Month, across: list[str]) -> None:
        """The month's findings, as the DuckDB refresh gives them (``build_month``), written
        as the month's partition of ``finding`` under the staging folder."""
        params = self._params(month)
        defaults = self.config.for_practice(None)["rules"]
        for model in models.MONTH_MODELS:
            self.materialize(model, self.sql(sql_text(f"models/month/{model}.sql"), params))
        parts = [
            self._rule_sql(
                sql_text(f"models/rules/{rule_id}.sql"),
                dict(params, days=defaults[rule_id].get("days")),
            )
            for rule_id in RULE_IDS
            if rule_id not in across
        ]
        when = spark_sql.literal(month.first_day).sql("spark")
        history_columns = ", ".join(n for n, _ in _rule_columns())
        parts.append(f"SELECT {history_columns} FROM delegation_history_all WHERE month = {when}")
        self.materialize("rule_output", self.spark.sql(" UNION ALL ".join(parts)))
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
        self.materialize("finding_first_month", self.sql(first, params))
        levels = sorted(DELEGATION_LEVEL_RULES)
        findings = self.sql(models.FINDINGS_OF_MONTH, {"month": month.first_day, "levels": levels})
        self.statements += 1
        findings.drop("month").sortWithinPartitions("finding_id").coalesce(1).write.mode(
            "overwrite"
        ).parquet(str(self.out / "finding" / _partition_name(month)))


def _declared_tables() -> dict[str, dict]:
    """Each output table as the refresh state describes it: the columns and DuckDB types a
    DuckDB refresh gives it (the readers cast the files to them: a report reads the same
    types whatever engine refreshed the lake), found by refreshing an empty warehouse."""
    from .. import lake
    from ..warehouse import connect

    folder = tempfile.mkdtemp(prefix="spark-refresh-", dir=private_temp_directory())
    try:
        con = connect(Path(folder) / "empty.duckdb")
        try:
            models.refresh(con, config=load_config(), force=True)
            records = {}
            for name in OUTPUTS:
                month_scoped = name in MONTH_OUTPUTS
                records[name] = lake._table_record(
                    con, name, MODELS, (BY_MONTH,) if month_scoped else (), []
                )
            return records
        finally:
            con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _replace(staged: Path | None, target: Path) -> None:
    """``staged`` in place of ``target`` (none: ``target`` removed)."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
        target.rename(old)
        shutil.rmtree(old)
    if staged is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)


def _write_json(path: Path, value: dict) -> None:
    """``value`` at ``path``, whole or not at all (written beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    staged.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(staged, path)


def _private(folder: Path) -> None:
    from ..lake import _private as private

    private(folder)


def _previous_months(lake: Path, lake_sha: str, config: AnalysisConfig) -> set[str]:
    """The months of the previous refresh still current: those of a state built from the
    same inputs and configuration."""
    try:
        state = json.loads((lake / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if (
        not isinstance(state, dict)
        or state.get("format_version") != STATE_FORMAT_VERSION
        or state.get("lake_sha256") != lake_sha
        or state.get("config_digest") != config.digest
        or not isinstance(state.get("months"), list)
    ):
        return set()
    return {str(m) for m in state["months"]}


def _clean_leftovers(lake: Path) -> None:
    """What a refresh that did not finish left: its staging folders, and partitions renamed
    aside."""
    shutil.rmtree(lake / "_staging", ignore_errors=True)
    root = lake / MODELS
    if root.is_dir():
        for path in [*root.glob(".old-*"), *root.glob("*/.old-*")]:
            shutil.rmtree(path, ignore_errors=True)


def _put_in_place(run: _Run, data_months, todo) -> None:
    """Every staged output into ``models/``: month partitions of the months built, other
    tables whole."""
    for name in OUTPUTS:
        staged = run.out / name
        target = run.lake / MODELS / name
        if name not in MONTH_OUTPUTS:
            _replace(staged, target)
            continue
        months = data_months if name in models.MART_MODELS else todo
        for month in months:
            part = staged / _partition_name(month)
            _replace(part if part.is_dir() else None, target / _partition_name(month))
        if name in models.MART_MODELS:  # months the lake no longer holds (purged) go too
            kept = {_partition_name(m) for m in data_months}
            for old in target.glob("month=*"):
                if old.name not in kept:
                    _replace(None, old)
        target.mkdir(parents=True, exist_ok=True)


def refresh(
    lake: Path,
    master: str | None = None,
    months: list[models.Month] | None = None,
    config: AnalysisConfig | None = None,
    spark=None,
    spark_config: dict | None = None,
) -> SparkRefresh:
    """Refresh the lake's model outputs on Spark: every core model and mart, and the
    findings and stored accesses of ``months`` (default: every month the traces cover)."""
    from .spark_session import DEFAULT_MASTER, session

    lake = Path(lake)
    config = config or load_config()
    layout = read_lake_file(lake)
    lake_sha = file_sha256(lake / LAKE_FILE)
    spark = spark or session(master or DEFAULT_MASTER, config=spark_config)
    # One writer at a time (export-lake takes the same lock).
    with _locked(lake):
        return _refresh(spark, lake, layout, lake_sha, months, config)


def _refresh(spark, lake: Path, layout: dict, lake_sha: str, months, config) -> SparkRefresh:
    _clean_leftovers(lake)
    run = _Run(spark, lake, config)
    try:
        run.register_inputs(layout)
        data_months = run.data_months()
        if not data_months:
            raise UserError(f"{lake}: the lake holds no audit events")
        covered = models.covered_months(run.duck)
        available = sorted(set(covered) | set(data_months), key=lambda m: m.first_day)
        todo = available if months is None else sorted(set(months), key=lambda m: m.first_day)
        unknown = [str(m) for m in todo if m not in available]
        if unknown:
            raise UserError(
                f"no audit traces in the lake for {', '.join(unknown)}: they cover "
                f"{available[0]} to {available[-1]}"
            )
        run.config_tables()
        run.core()
        run.marts(data_months)
        run.practice_access(todo)
        grid = sorted(set(covered) | set(todo), key=lambda m: m.first_day)
        grid = [m for m in grid if m.first_day <= todo[-1].first_day]
        across = [r for r in RULE_IDS if r in DELEGATION_LEVEL_RULES and models.reads_all_months(r)]
        run.history(grid, across)
        for month in todo:
            run.month(month, across)
        declared = _declared_tables()
        counts = {}
        for name in OUTPUTS:
            files = sorted(str(p) for p in (run.out / name).rglob("*.parquet"))
            counts[name] = (
                run.duck.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0]
                if files
                else 0
            )
        _private(run.staging)
        stop_point("spark refresh: outputs staged")
        # The swap: readers refuse the lake from here until the state is written.
        _write_json(lake / SWAP_FILE, {"months": [str(m) for m in todo]})
        _put_in_place(run, data_months, todo)
        stop_point("spark refresh: outputs in place")
        state = {
            "format_version": STATE_FORMAT_VERSION,
            "engine": "spark",
            "engine_version": spark.version,
            "tool_version": __version__,
            "refreshed_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "lake_sha256": lake_sha,
            "config_digest": config.digest,
            "months": sorted(_previous_months(lake, lake_sha, config) | {str(m) for m in todo}),
            "tables": [declared[name] for name in OUTPUTS],
        }
        _write_json(lake / STATE_FILE, state)
        (lake / SWAP_FILE).unlink()
        _private(lake / MODELS)
        _private(lake / STATE_FILE.split("/")[0])
        return SparkRefresh(todo, run.statements, counts)
    finally:
        for name in [t.name for t in spark.catalog.listTables() if t.isTemporary]:
            spark.catalog.dropTempView(name)
        spark.catalog.clearCache()
        shutil.rmtree(run.staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            run.staging.parent.rmdir()
        run.duck.close()
