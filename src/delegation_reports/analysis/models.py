"""Building the SQL models: core tables, then each month's attributed accesses and findings.

The models are ordinary ``.sql`` files under ``sql/models/`` (one model per file, grain stated
at the top); this module only runs them in dependency order, inside one transaction, with the
window and thresholds bound as parameters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import duckdb

from ..errors import UserError
from ..warehouse import sql_statements, sql_text, transaction
from .config import RULE_IDS, AnalysisConfig, load_config, write_config_tables

CORE_MODELS = ("mailbox_practice", "delegation_period", "delegation_inconsistency")
FINDING_COLUMNS = (
    "month",
    "finding_id",
    "rule_id",
    "severity",
    "practice_id",
    "mailbox",
    "actor",
    "first_at",
    "last_at",
    "n_events",
    "evidence",
    "title_fr",
    "explanation_fr",
)
PARIS = ZoneInfo("Europe/Paris")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_PARAM = re.compile(r"\$([a-z_]+)")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS attributed_access (
        month DATE NOT NULL, operator VARCHAR NOT NULL, event_id VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL, occurred_local TIMESTAMP NOT NULL, practice_id VARCHAR,
        mailbox VARCHAR NOT NULL, holder_name VARCHAR, actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL, outcome VARCHAR NOT NULL, auth_method VARCHAR NOT NULL,
        client_ip VARCHAR, user_agent VARCHAR, session_id VARCHAR, message_id VARCHAR,
        attribution VARCHAR NOT NULL, delegate_role VARCHAR, rights_in_force VARCHAR[],
        right_needed VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finding (
        month DATE NOT NULL, finding_id VARCHAR NOT NULL, rule_id VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, practice_id VARCHAR, mailbox VARCHAR, actor VARCHAR,
        first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, n_events BIGINT NOT NULL,
        evidence VARCHAR[] NOT NULL, title_fr VARCHAR NOT NULL, explanation_fr VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS read_burst (
        month DATE NOT NULL, practice_id VARCHAR, mailbox VARCHAR NOT NULL, actor VARCHAR NOT NULL,
        first_at TIMESTAMPTZ NOT NULL, last_at TIMESTAMPTZ NOT NULL, n_reads BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS model_state (
        month DATE PRIMARY KEY, refreshed_at TIMESTAMPTZ NOT NULL, last_file_id INTEGER,
        config_digest VARCHAR NOT NULL)""",
)


@dataclass(frozen=True)
class Month:
    """A calendar month in Europe/Paris."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.fullmatch(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise UserError(f"invalid month {text!r}: expected YYYY-MM, e.g. 2026-03")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_bounds(con, month: Month) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant, Paris midnight, in UTC."""
    return con.execute(
        "SELECT timezone('Europe/Paris', ?::TIMESTAMP), timezone('Europe/Paris', ?::TIMESTAMP)",
        [month.first_day, month.next().first_day],
    ).fetchone()


@cache
def _models_digest() -> str:
    """A fingerprint of the model SQL: a month built by older models is stale."""
    folder = resources.files("delegation_reports") / "sql" / "models"
    digest = hashlib.sha256()
    for layer in sorted(folder.iterdir(), key=lambda p: p.name):
        if layer.is_dir():
            for entry in sorted(layer.iterdir(), key=lambda p: p.name):
                if entry.name.endswith(".sql"):
                    digest.update(entry.name.encode() + entry.read_bytes())
        elif layer.name.endswith(".sql"):
            digest.update(layer.name.encode() + layer.read_bytes())
    return digest.hexdigest()[:16]


def build_digest(config: AnalysisConfig) -> str:
    """What a month's results depend on besides the data: configuration and model code."""
    return f"{config.digest}:{_models_digest()}"


def _run(con, sql: str, params: dict) -> duckdb.DuckDBPyConnection:
    used = set(_PARAM.findall(sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in used})


def data_months(con) -> list[Month]:
    """Every month (Paris) with audit events: without traces there is nothing to attribute."""
    rows = con.execute(
        "SELECT DISTINCT strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') FROM audit_event ORDER BY 1"
    ).fetchall()
    return [Month.parse(r[0]) for r in rows]


def months_of_files(con, sha256s: list[str]) -> list[Month]:
    """The months new files change: those their audit events cover, or every month when they
    carry delegations, rosters or the directory. Other months are rebuilt when next read,
    since any new file makes them stale."""
    rows = con.execute(
        "SELECT kind, covered_from_at, covered_to_at FROM ingest_file WHERE sha256 IN (SELECT unnest(?))",
        [sha256s],
    ).fetchall()
    if any(kind != "audit" for kind, _, _ in rows):
        return data_months(con)
    months: set[Month] = set()
    for _, start, end in rows:
        if start is None:
            continue
        first, last = (t.astimezone(PARIS) for t in (start, end))
        month, last_month = Month(first.year, first.month), Month(last.year, last.month)
        while month.first_day <= last_month.first_day:
            months.add(month)
            month = month.next()
    return sorted(months, key=lambda m: m.first_day)


def _years(con) -> range:
    """The years the audit data covers, from the manifest (no scan of the events)."""
    lo, hi = con.execute(
        "SELECT min(year(timezone('Europe/Paris', covered_from_at))), "
        "max(year(timezone('Europe/Paris', covered_to_at))) FROM ingest_file WHERE kind = 'audit'"
    ).fetchone()
    today = datetime.now(UTC).year
    return range((lo or today) - 1, (hi or today) + 2)


def create_model_macros(con) -> None:
    """The models' helper macros; they read the cfg_* tables, which must exist."""
    for statement in sql_statements("models/macros.sql"):
        con.execute(statement)


def build_core(con, config: AnalysisConfig) -> None:
    """Rebuild the configuration tables and the core models (small: delegations, practices)."""
    for statement in _SCHEMA:
        con.execute(statement)
    write_config_tables(con, config, _years(con))
    create_model_macros(con)
    for model in CORE_MODELS:
        con.execute(f"CREATE OR REPLACE TABLE {model} AS {sql_text(f'models/core/{model}.sql')}")


def _rule_params(config: AnalysisConfig) -> dict:
    rules = config.for_practice(None)["rules"]
    return {
        "window_minutes": rules["failed_login_burst"]["window_minutes"],
        "gap_minutes": rules["bulk_access"]["gap_minutes"],
        "baseline_days": rules["bulk_access"]["baseline_days"],
        "lookback_days": rules["new_client"]["lookback_days"],
        "days": None,  # set per rule below
    }


def build_month(con, month: Month, config: AnalysisConfig, rules: Iterable[str] = RULE_IDS) -> None:
    """Attribute the month's accesses and compute its findings, replacing earlier results."""
    from_at, until_at = month_bounds(con, month)
    params = {"from_at": from_at, "until_at": until_at, **_rule_params(config)}
    defaults = config.for_practice(None)["rules"]
    con.execute("DELETE FROM attributed_access WHERE month = ?", [month.first_day])
    # Stored by practice and time: a practice's month is then a contiguous, cheap range.
    con.execute(
        "INSERT INTO attributed_access BY NAME SELECT $month::DATE AS month, * "
        f"FROM ({sql_text('models/core/attributed_access.sql')}) ORDER BY practice_id, occurred_at",
        {"from_at": from_at, "until_at": until_at, "month": month.first_day},
    )
    # A view cannot take parameters; the date comes from two validated integers.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW month_access AS SELECT * FROM attributed_access "
        f"WHERE month = DATE '{month.first_day.isoformat()}'"
    )
    con.execute("DELETE FROM read_burst WHERE month = ?", [month.first_day])
    _run(
        con,
        f"INSERT INTO read_burst BY NAME {sql_text('models/marts/read_burst.sql')}",
        dict(params, month=month.first_day),
    )
    con.execute("DELETE FROM finding WHERE month = ?", [month.first_day])
    for rule_id in rules:
        rule_params = dict(params, days=defaults[rule_id].get("days"))
        sql = sql_text(f"models/rules/{rule_id}.sql")
        _run(
            con,
            f"""
            INSERT INTO finding BY NAME
            SELECT
                $month::DATE AS month,
                md5(concat_ws('|', r.rule_id, r.practice_id, r.mailbox, r.actor, r.first_at,
                              array_to_string(r.evidence, ','))) AS finding_id,
                coalesce(own.value, standard.value) AS severity,
                r.* REPLACE (coalesce(r.evidence, []::VARCHAR[]) AS evidence, CAST(r.n_events AS BIGINT) AS n_events)
            FROM ({sql}) AS r
            LEFT JOIN cfg_rule_param AS own
                ON own.practice_id = r.practice_id AND own.rule_id = r.rule_id AND own.name = 'severity'
            LEFT JOIN cfg_rule_param AS standard
                ON standard.practice_id IS NULL AND standard.rule_id = r.rule_id AND standard.name = 'severity'
            -- `enabled = false` turns a rule off, for every practice or for one.
            WHERE coalesce(rule_text(r.practice_id, r.rule_id, 'enabled'), 'true') <> 'false'
            """,
            dict(rule_params, month=month.first_day),
        )
    last_file = con.execute("SELECT max(file_id) FROM ingest_file").fetchone()[0]
    con.execute(
        "INSERT OR REPLACE INTO model_state VALUES (?, ?, ?, ?)",
        [month.first_day, datetime.now(UTC), last_file, build_digest(config)],
    )
    con.execute("DROP VIEW IF EXISTS temp.month_access")


def refresh(
    con, months: Iterable[Month] | None = None, config: AnalysisConfig | None = None
) -> list[Month]:
    """Rebuild the core models and the given months (default: every month with data), in one
    transaction. Returns the months built."""
    config = config or load_config()
    with transaction(con):
        build_core(con, config)
        todo = list(months) if months is not None else data_months(con)
        for month in todo:
            build_month(con, month, config)
    return todo


def is_stale(con, month: Month, config: AnalysisConfig) -> bool:
    """True when files were ingested or the configuration changed since the month was built."""
    try:
        row = con.execute(
            "SELECT last_file_id, config_digest FROM model_state WHERE month = ?", [month.first_day]
        ).fetchone()
    except duckdb.CatalogException:
        return True
    last_file = con.execute("SELECT max(file_id) FROM ingest_file").fetchone()[0]
    return row is None or row[0] != last_file or row[1] != build_digest(config)
