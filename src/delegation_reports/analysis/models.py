"""Building the SQL models: core tables, monthly marts, then each month's findings.

The models are ordinary ``.sql`` files under ``sql/models/`` (one model per file, grain stated
at the top); this module only runs them in dependency order, inside one transaction, with the
window and thresholds bound as parameters.

Three layers, built at different rates:

* core (``sql/models/core``): small tables (practices, delegation periods and their
  segments), rebuilt when delegations, rosters, directory or configuration change, and the
  ``attributed_access`` view, which attributes any event on the fly by one hash join against
  ``delegation_segment``;
* marts (``sql/models/marts``): one slice per month, computed from that month's events only
  and kept until an audit file touching the month arrives. Rules that look back over several
  months read these small slices, never the older events;
* month (``sql/models/month``): in-memory tables of the month being built, for its rules;
  and, written when a report first reads the month, its slice of ``practice_access``: its
  attributed accesses, stored in practice order (see `ensure_practice_access`);
* rules (``sql/models/rules``): the findings of a month, rebuilt when anything changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import duckdb

from ..errors import UserError
from ..warehouse import sql_statements, sql_text, stop_point, transaction
from . import prose
from .config import (
    DELEGATION_LEVEL_RULES,
    RULE_IDS,
    AnalysisConfig,
    load_config,
    write_config_tables,
)

# Built from delegations, rosters, the directory and the configuration, in build order:
# rebuilt only when one of them changed.
CORE_MODELS = (
    "mailbox_practice",
    "member_practice",
    "holder_departure",
    "delegation_period",
    "delegation_record",
    "delegation_inconsistency",
    "delegation_segment",
)
# Built from the audit data on every refresh: the hours it covers and the months its traces
# cover (small and quick), and the service accounts among its actors
# (`_refresh_system_accounts`: only new events are read).
AUDIT_CORE_MODELS = ("audit_span", "paris_hour", "trace_month")
# The tables the core models read, besides the configuration.
_CORE_INPUTS = ("delegation_event", "delegation_snapshot", "roster_member", "directory_entry")
# In-memory tables of the month being built, read by its rules, in build order.
MONTH_MODELS = (
    "month_setting",
    "month_idle_holder",
    "month_access",
    "month_heavy_reader",
    "month_failed_login",
    "month_failure_episode",
)
# Rules each of whose findings rests on rows of one table that a condition picks out (the rule
# joins that table, or reads it filtered by that condition): when no row meets it the rule finds
# nothing, and is not run (planning one of these statements costs more than running it on a
# few rows). One statement tells them apart (`rules_with_input`). In most months no holder is
# away while a délégataire works (`month_idle_holder`), no account reads enough for a burst
# (`month_heavy_reader`), no login fails in series (`month_failure_episode`), and no access
# falls outside a delegation, beyond its rights or after the holder left (`month_access`).
# Each condition must follow from the rule's own: tests/test_analysis_models.py checks that
# every finding of each rule rests on such a row.
_SUCCESS = "outcome = 'success' AND action <> 'login_failed'"
RULE_NEEDS = {
    "bulk_access": ("month_heavy_reader", "true"),
    "owner_inactive_delegate_active": ("month_idle_holder", "true"),
    "failed_login_burst": ("month_failure_episode", "true"),
    "login_after_failures": ("month_failure_episode", "true"),
    "off_hours_access": (
        "month_access",
        f"is_off_hours AND {_SUCCESS} AND attribution NOT IN ('system', 'owner')",
    ),
    "access_without_delegation": ("month_access", f"attribution = 'no_delegation' AND {_SUCCESS}"),
    "access_after_revocation": (
        "month_access",
        f"attribution = 'delegate_after_revocation' AND {_SUCCESS} AND NOT is_before_recording",
    ),
    "access_outside_validity": (
        "month_access",
        f"attribution = 'delegate_outside_period' AND {_SUCCESS} AND NOT is_before_recording",
    ),
    "access_before_grant_recorded": (
        "month_access",
        f"is_before_recording AND {_SUCCESS} "
        "AND attribution IN ('delegate_outside_period', 'delegate_after_revocation')",
    ),
    "right_exceeded": (
        "month_access",
        "attribution = 'delegate_beyond_rights' AND outcome = 'success'",
    ),
    "holder_left_delegate_active": (
        "month_access",
        f"attribution LIKE 'delegate_%' AND {_SUCCESS} "
        "AND mailbox IN (SELECT mailbox FROM holder_departure)",
    ),
    "attempt_without_delegation": (
        "month_access",
        "(outcome = 'failure' OR action = 'login_failed') "
        "AND attribution IN ('no_delegation', 'delegate_after_revocation', 'delegate_outside_period')",
    ),
    "delegation_inconsistency": (
        "delegation_inconsistency",
        "event_at >= $from_at AND event_at < $until_at",
    ),
    # Delegation-level rules, whatever the month (see `_delegation_history`): their conditions
    # leave the months aside.
    "delegation_not_by_holder": (
        "delegation_period",
        "source = 'events' AND (known_person(granted_by) IS NULL "
        "OR (known_person(granted_by) <> mailbox AND known_person(granted_by) <> delegate))",
    ),
    "delegation_self_granted": ("delegation_period", "source = 'events' AND granted_by = delegate"),
    "open_ended_replacement": (
        "delegation_period",
        "delegate_role = 'replacement' AND valid_until_at IS NULL",
    ),
    "replacement_while_holder_active": ("delegation_period", "delegate_role = 'replacement'"),
}
# Monthly slices computed from the month's events alone (no delegation, roster or setting).
MART_MODELS = ("mailbox_day", "actor_month", "client_month", "actor_day")
# The derived tables a month's refresh replaces the slice of (see `_replace_month`).
MONTH_SLICED = (*MART_MODELS, "finding")
# A finding as the rules give it and `findings` prints it.
FINDING_FIELDS = (
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
    "delegation_key",
    "delegation_ids",
)
# The `finding` table: the month, a stable id besides, and the first month of the run of
# months in which the finding holds.
FINDING_COLUMNS = (
    "month",
    "finding_id",
    *FINDING_FIELDS,
    "first_month",
)
PARIS = ZoneInfo("Europe/Paris")
# A burst or series (of reads, of failed logins) belongs to the month it starts in: rules with a
# time window follow it this far past the month's end, and look this far before its start to
# tell whether the month's first events continue one started earlier. Slow series of failed
# logins span less than this.
WINDOW_MARGIN = timedelta(days=1)
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_PARAM = re.compile(r"\$([a-z_]+)")
_COMMENT = re.compile(r"--[^\n]*")

_PRACTICE_ACCESS_STATE = """CREATE TABLE IF NOT EXISTS practice_access_state (
    month DATE PRIMARY KEY, built_for VARCHAR NOT NULL)"""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS finding (
        month DATE NOT NULL, finding_id VARCHAR NOT NULL, rule_id VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, practice_id VARCHAR, mailbox VARCHAR, actor VARCHAR,
        first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, n_events BIGINT NOT NULL,
        evidence VARCHAR[] NOT NULL, title_fr VARCHAR NOT NULL, explanation_fr VARCHAR NOT NULL,
        delegation_key VARCHAR, delegation_ids VARCHAR[], first_month DATE)""",
    # Columns added after the first release: older warehouses get them here, and their
    # months are rebuilt (the model code changed).
    "ALTER TABLE finding ADD COLUMN IF NOT EXISTS delegation_key VARCHAR",
    "ALTER TABLE finding ADD COLUMN IF NOT EXISTS delegation_ids VARCHAR[]",
    "ALTER TABLE finding ADD COLUMN IF NOT EXISTS first_month DATE",
    """CREATE TABLE IF NOT EXISTS mailbox_day (
        month DATE NOT NULL, operator VARCHAR NOT NULL, mailbox VARCHAR NOT NULL, day DATE NOT NULL,
        n_events BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS actor_month (
        month DATE NOT NULL, mailbox VARCHAR NOT NULL, actor VARCHAR NOT NULL, n_events BIGINT NOT NULL,
        n_success BIGINT NOT NULL, n_reads BIGINT NOT NULL, first_success_at TIMESTAMPTZ,
        last_success_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS actor_day (
        month DATE NOT NULL, mailbox VARCHAR NOT NULL, actor VARCHAR NOT NULL, day DATE NOT NULL,
        first_at TIMESTAMPTZ NOT NULL, last_at TIMESTAMPTZ NOT NULL, first_event_id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS client_month (
        month DATE NOT NULL, mailbox VARCHAR NOT NULL, actor VARCHAR NOT NULL, client_ip VARCHAR,
        user_agent VARCHAR, first_at TIMESTAMPTZ NOT NULL)""",
    # Which audit files and which mart code each month's slices were built from.
    """CREATE TABLE IF NOT EXISTS mart_state (
        month DATE PRIMARY KEY, audit_files VARCHAR NOT NULL, digest VARCHAR NOT NULL)""",
    # What the core models were last built from (see `_core_key`), and how many audit events,
    # up to which file, `system_account` has read (see `_refresh_system_accounts`).
    """CREATE TABLE IF NOT EXISTS core_state (built_from VARCHAR NOT NULL)""",
    "ALTER TABLE core_state ADD COLUMN IF NOT EXISTS audit_events BIGINT",
    "ALTER TABLE core_state ADD COLUMN IF NOT EXISTS audit_file_id BIGINT",
    """CREATE TABLE IF NOT EXISTS model_state (
        month DATE PRIMARY KEY, refreshed_at TIMESTAMPTZ NOT NULL, last_file_id INTEGER,
        config_digest VARCHAR NOT NULL)""",
    # What else the month's findings were computed from (see `_month_inputs`).
    "ALTER TABLE model_state ADD COLUMN IF NOT EXISTS inputs VARCHAR",
    # The last ingested file whose months a refresh after loading has rebuilt: the months of
    # later files are still to refresh (a refresh interrupted, or skipped with --no-refresh).
    # Written in the refresh's transaction, so a refresh that did not finish leaves it behind.
    """CREATE TABLE IF NOT EXISTS refresh_state (refreshed_through INTEGER NOT NULL)""",
    # Which build of each month's models its slice of `practice_access` was written from
    # (see `ensure_practice_access`).
    _PRACTICE_ACCESS_STATE,
    # Up to which file, and from how many of the month's events, each month's slice of
    # `flagged_access` was written (see `_build_flagged`).
    """CREATE TABLE IF NOT EXISTS flagged_state (
        month DATE PRIMARY KEY, last_file_id INTEGER NOT NULL, n_events BIGINT NOT NULL)""",
)


# What every rule returns (sql/models/rules/*.sql), before severity and finding id. A rule
# about a delegation (or judging accesses against one) also names it: `delegation_key` (see
# delegation_period.sql), and `delegation_delegate` when its délégataire is not the finding's
# actor (a third party who gave it). The finding's `delegation_ids`, the ids of the
# delegation's events, are joined from `delegation_record` once, in `FINDINGS_OF_MONTH`:
# rules never carry them. A rule may settle a finding's severity from its own settings
# (`severity`); otherwise the rule's severity applies.
_RULE_OUTPUT = (
    "rule_id VARCHAR NOT NULL, practice_id VARCHAR, mailbox VARCHAR, actor VARCHAR, "
    "first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, n_events BIGINT NOT NULL, evidence VARCHAR[], "
    "title_fr VARCHAR NOT NULL, explanation_fr VARCHAR NOT NULL, "
    "delegation_key VARCHAR, delegation_delegate VARCHAR, severity VARCHAR"
)
# The window parameters of a rule, which a delegation-level rule's history takes from each
# month of the grid instead (see `_delegation_history`).
_WINDOW_PARAM = re.compile(r"\$(month|from_at|until_at)\b")
# A rule's own `days` setting (see `_union_of_rules`).
_DAYS_PARAM = re.compile(r"\$days\b")
# The in-memory tables of the month being built: a rule reading them sees that month only.
_MONTH_TABLES = re.compile(r"\b(" + "|".join(MONTH_MODELS) + r")\b")


# The month's findings (the `finding` table's columns, in order) from the rules' rows
# (`rule_output`): severity, the `enabled` switch and the finding id settled once for all,
# and the ids of the events of the delegation a finding names, from `delegation_record` (a
# delegation seen only in snapshots has none: an empty list). Shared by every engine
# (engines/spark_runner.py); on DuckDB, `rule_output` and `finding_first_month` are parts of
# the same query (see `_findings_of_month`).
FINDINGS_OF_MONTH = """
SELECT
    $month::DATE AS month,
    r.finding_id,
    r.rule_id,
    coalesce(r.severity, own.severity, standard.severity) AS severity,
    r.practice_id, r.mailbox, r.actor, r.first_at, r.last_at, r.n_events,
    coalesce(r.evidence, []::VARCHAR[]) AS evidence,
    r.title_fr, r.explanation_fr, r.delegation_key,
    CASE WHEN r.delegation_key IS NOT NULL
         THEN coalesce(d.delegation_ids, []::VARCHAR[]) END AS delegation_ids,
    coalesce(h.first_month, $month::DATE) AS first_month
FROM (SELECT *, finding_key(rule_id, practice_id, mailbox, actor, first_at, evidence,
                            delegation_key, list_contains($levels, rule_id)) AS finding_id
      FROM rule_output) AS r
LEFT JOIN delegation_record AS d
    ON d.mailbox = r.mailbox AND d.delegate = coalesce(r.delegation_delegate, r.actor)
   AND d.delegation_key = r.delegation_key
LEFT JOIN finding_first_month AS h ON h.finding_id = r.finding_id
LEFT JOIN cfg_rule_switch AS own ON own.practice_id = r.practice_id AND own.rule_id = r.rule_id
JOIN cfg_rule_switch AS standard ON standard.practice_id IS NULL AND standard.rule_id = r.rule_id
-- `enabled = false` turns a rule off, for every practice or for one.
WHERE coalesce(own.enabled, standard.enabled)
"""


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

    def minus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 - months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_bounds(con, month: Month) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant, Paris midnight, in UTC."""
    # fetchall: the result is finished, so the connection can stream another one.
    return con.execute(
        "SELECT timezone('Europe/Paris', ?::TIMESTAMP), timezone('Europe/Paris', ?::TIMESTAMP)",
        [month.first_day, month.next().first_day],
    ).fetchall()[0]


def _folder_digest(folder) -> bytes:
    digest = hashlib.sha256()
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.is_dir():
            digest.update(entry.name.encode() + _folder_digest(entry))
        elif entry.name.endswith(".sql"):
            digest.update(entry.name.encode() + entry.read_bytes())
    return digest.digest()


@cache
def _models_digest(part: str = "") -> str:
    """A fingerprint of the model SQL (of one layer or file when given): what older code built
    is stale."""
    entry = resources.files("delegation_reports") / "sql" / "models"
    if part:
        entry = entry / part
    if entry.is_file():
        return hashlib.sha256(entry.read_bytes()).hexdigest()[:16]
    return _folder_digest(entry).hex()[:16]


def build_digest(config: AnalysisConfig) -> str:
    """What a month's results depend on besides the data: configuration and model code."""
    return f"{config.digest}:{_models_digest()}"


def _run(con, sql: str, params: dict) -> duckdb.DuckDBPyConnection:
    used = set(_PARAM.findall(_COMMENT.sub("", sql)))
    return con.execute(sql, {k: v for k, v in params.items() if k in used})


def data_months(con) -> list[Month]:
    """Every month (Paris) with audit events: without traces there is nothing to attribute."""
    rows = con.execute(
        "SELECT DISTINCT strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') FROM audit_event ORDER BY 1"
    ).fetchall()
    return [Month.parse(r[0]) for r in rows]


def purged_before(con) -> datetime | None:
    """The first instant of the traces kept by the latest retention purge (none: no purge)."""
    try:
        return con.execute("SELECT max(cutoff_at) FROM purge_record").fetchone()[0]
    except duckdb.CatalogException:  # a warehouse not yet opened by a version that purges
        return None


def _first_kept_month(con) -> date | None:
    cutoff = purged_before(con)
    return cutoff.astimezone(PARIS).date() if cutoff else None


# What a warehouse or a lake made before coverage gaps were recorded reads in their place.
_NO_GAP = (
    "(SELECT CAST(NULL AS INTEGER) AS file_id, CAST(NULL AS TIMESTAMPTZ) AS after_at, "
    "CAST(NULL AS TIMESTAMPTZ) AS before_at WHERE false) AS ingest_file_gap"
)


# What a refresh reads of the manifest, by connection while it refreshes: the manifest does
# not change during a refresh (nothing is ingested in its transaction), and its steps (the
# core models' key, the months' audit files, the coverage a rule looks back over) read it
# once instead of each on its own (see `_manifest_read_once`).
_MANIFEST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _manifest_read_once(con) -> Iterator[None]:
    """Inside the block, the manifest's spans and months' audit files are read once."""
    _MANIFEST[con] = {}
    try:
        yield
    finally:
        _MANIFEST.pop(con, None)


def _read_once(con, key: str, read):
    """``read()``, or what it gave earlier in the same refresh."""
    held = _MANIFEST.get(con)
    if held is None:
        return read()
    if key not in held:
        held[key] = read()
    return held[key]


def audit_spans(con, where: str = "TRUE", params: list | None = None) -> list[tuple]:
    """The spans (file_id, operator, from_at, to_at) of the audit files' coverage, read from
    the manifest (see models/core/audit_span.sql), of the files ``where`` selects."""
    if where == "TRUE" and not params:
        return _read_once(con, "spans", lambda: _audit_spans(con, where, params))
    return _audit_spans(con, where, params)


def _has_gap_table(con) -> bool:
    """Whether the coverage gaps are recorded (``ingest_file_gap``), looked up among tables
    and views: a lake's inputs, and the Spark runner's, are views."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ingest_file_gap'"
        ).fetchone()[0]
    )


def _audit_spans(con, where: str, params: list | None) -> list[tuple]:
    sql = sql_text("models/core/audit_span.sql")
    if not _read_once(con, "gaps", lambda: _has_gap_table(con)):
        sql = sql.replace("FROM ingest_file_gap", f"FROM {_NO_GAP}")
    return con.execute(
        f"SELECT file_id, operator, from_at, to_at FROM ({sql}) WHERE ({where}) "
        "ORDER BY file_id, from_at",
        params or [],
    ).fetchall()


def _month_runs(months: list[Month]) -> str:
    """Months as runs of consecutive ones: ``2026-01 to 2026-03, 2027-05``."""
    runs: list[list[Month]] = []
    for month in sorted(months, key=lambda m: m.first_day):
        if runs and runs[-1][-1].next() == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(f"{r[0]} to {r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def require_traces(con, month: Month) -> None:
    """Refuse a month the audit traces do not cover (from the manifest, less what a purge
    removed), naming the range they do: a month without traces would read as a month without
    findings. A month from the first to the last covered one is accepted unless it lies in a
    file's coverage gap that no other file covers."""
    spans = audit_spans(con)
    if not spans:
        raise UserError("the warehouse holds no audit traces yet: ingest an audit export first")
    kept = _first_kept_month(con)
    if kept and month.first_day < kept:
        raise UserError(
            f"no traces for {month}: traces before {kept:%Y-%m} were purged (retention)"
        )
    covered = {m for *_, start, end in spans for m in _months_covered(start, end)}
    first = min(covered, key=lambda m: m.first_day)
    last = max(covered, key=lambda m: m.first_day)
    # The months strictly between two spans of one file: no trace there means nothing.
    gaps = [
        (end.astimezone(PARIS).date().replace(day=1), start.astimezone(PARIS).date().replace(day=1))
        for (a, *_, end), (b, _, start, _) in zip(spans, spans[1:], strict=False)
        if a == b
    ]

    def held(m: Month) -> bool:
        return m in covered or not any(e < m.first_day < s for e, s in gaps)

    if not first.first_day <= month.first_day <= last.first_day or not held(month):
        runs = (
            f"{first} to {last}"
            if not gaps
            else _month_runs(
                [m for m in months_between(first.first_day, last.first_day) if held(m)]
            )
        )
        raise UserError(f"no traces for {month}: the warehouse's traces cover {runs}")


def practice_exists(con, practice_id: str) -> bool:
    """Whether a practice id is on a roster."""
    return bool(
        con.execute(
            "SELECT count(*) FROM roster_member WHERE practice_id = ?", [practice_id]
        ).fetchone()[0]
    )


def months_of_files(con, sha256s: list[str]) -> list[Month]:
    """The months new files change: those their audit events cover, or every month when they
    carry delegations, rosters or the directory. Other months are rebuilt when next read,
    since any new file makes them stale."""
    kinds = con.execute(
        "SELECT DISTINCT kind FROM ingest_file WHERE sha256 IN (SELECT unnest(?))", [sha256s]
    ).fetchall()
    if any(kind != "audit" for (kind,) in kinds):
        return data_months(con)
    spans = audit_spans(
        con,
        "file_id IN (SELECT file_id FROM ingest_file WHERE sha256 IN (SELECT unnest(?)))",
        [sha256s],
    )
    months = {m for *_, start, end in spans for m in _months_covered(start, end)}
    return sorted(months, key=lambda m: m.first_day)


def months_between(first: date, last: date) -> list[Month]:
    """The months from the one holding ``first`` to the one holding ``last``."""
    months, month = [], Month(first.year, first.month)
    while month.first_day <= last:
        months.append(month)
        month = month.next()
    return months


def _months_covered(start: datetime, end: datetime) -> list[Month]:
    """The Paris months an interval of instants touches."""
    return months_between(start.astimezone(PARIS).date(), end.astimezone(PARIS).date())


def _years(con) -> list[int]:
    """The years (Paris) the audit data covers, and one either side of each of its coverage
    spans, from the manifest (no scan of the events): this year's and its neighbours without
    audit data."""
    years = {
        year
        for *_, start, end in audit_spans(con)
        for year in range(start.astimezone(PARIS).year - 1, end.astimezone(PARIS).year + 2)
    }
    if not years:
        today = datetime.now(UTC).year
        years = set(range(today - 1, today + 2))
    return sorted(years)


# A temporary table created with the macros: they are temporary objects of the connection,
# created again only when it has none (a rolled-back transaction takes the macros, the
# functions and this table away together). Looking it up costs far less than creating them.
_MACROS_MARKER = "model_macros_created"


def create_model_macros(con) -> None:
    """The models' helper macros and functions, once per connection; the macros read the cfg_*
    tables, which must exist when a query uses them."""
    if con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'temp' AND table_name = ?",
        [_MACROS_MARKER],
    ).fetchone()[0]:
        return
    prose.register(con)
    for statement in sql_statements("models/macros.sql"):
        con.execute(statement)
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_MACROS_MARKER} (created BOOLEAN)")


# What `_SCHEMA` makes: its tables, and the columns it adds to older ones. When the warehouse
# has them all, its statements have nothing to do, and one look at the catalog costs less.
_SCHEMA_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", "\n".join(_SCHEMA)))
_SCHEMA_COLUMNS = frozenset(
    re.findall(r"ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+)", "\n".join(_SCHEMA))
)


def _main_catalog(con) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """The tables and views of the warehouse (name: ``BASE TABLE`` or ``VIEW``), and the
    columns of the tables `_SCHEMA` adds columns to, as (table, column)."""
    altered = ", ".join(f"'{table}'" for table in sorted({t for t, _ in _SCHEMA_COLUMNS}))
    here = "database_name = current_database() AND schema_name = 'main'"
    kinds, columns = {}, set()
    for name, kind, column in con.execute(
        f"SELECT table_name, 'BASE TABLE', NULL FROM duckdb_tables() WHERE {here} "
        f"UNION ALL SELECT view_name, 'VIEW', NULL FROM duckdb_views() WHERE {here} "
        "AND NOT internal "
        f"UNION ALL SELECT table_name, 'COLUMN', column_name FROM duckdb_columns() WHERE {here} "
        f"AND table_name IN ({altered})"
    ).fetchall():
        if column is None:
            kinds[name] = kind
        else:
            columns.add((name, column))
    return kinds, columns


def _retire_old_layout(con, kinds: dict[str, str]) -> bool:
    """Drop what an earlier layout stored; the data rebuilds what replaced it. ``kinds``: the
    warehouse's tables and views (see `_main_catalog`), updated with what is dropped. True
    when the core models must be rebuilt whatever their key says (the view is missing)."""
    if kinds.get("attributed_access") == "BASE TABLE":  # now a view
        con.execute("DROP TABLE attributed_access")
        del kinds["attributed_access"]
    if "read_burst" in kinds:  # bursts are now found by bulk_access itself
        con.execute("DROP TABLE read_burst")
        del kinds["read_burst"]
    # Marts built by other code may have other columns: dropped whole, then rebuilt.
    digests = set()
    if "mart_state" in kinds:
        digests = {r[0] for r in con.execute("SELECT DISTINCT digest FROM mart_state").fetchall()}
    if digests - {_marts_digest()}:
        for mart in (*MART_MODELS, "mart_state"):
            con.execute(f"DROP TABLE IF EXISTS {mart}")
            kinds.pop(mart, None)
    return "attributed_access" not in kinds


def _core_key(con, config: AnalysisConfig) -> str:
    """What the core models depend on: configuration and model code, the size of each input
    table (ingestion only ever adds rows), the last non-audit file, and the years the holidays
    table covers."""
    counts = con.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in _CORE_INPUTS) + ", "
        "(SELECT max(file_id) FROM ingest_file WHERE kind <> 'audit')"
    ).fetchone()
    years = _years(con)
    return f"{build_digest(config)}:{counts}:{','.join(map(str, years))}"


def build_core(con, config: AnalysisConfig, force: bool = False) -> bool:
    """Rebuild the configuration tables and the core models (small: delegations, practices),
    and (re)define the ``attributed_access`` view over them: only when their inputs changed
    (or ``force``). ``paris_hour`` and ``trace_month``, read from the manifest, are rebuilt
    every time, and ``system_account`` brought up to date with the audit events. Returns
    whether the core models were rebuilt."""
    kinds, columns = _main_catalog(con)
    if con in _MANIFEST and kinds.get("ingest_file_gap"):  # (`_audit_spans` need not look)
        _MANIFEST[con]["gaps"] = True
    force = _retire_old_layout(con, kinds) or force
    if not (
        all(kinds.get(table) == "BASE TABLE" for table in _SCHEMA_TABLES)
        and columns >= _SCHEMA_COLUMNS
    ):
        for statement in _SCHEMA:
            con.execute(statement)
    key = _core_key(con, config)
    built_from = con.execute("SELECT any_value(built_from) FROM core_state").fetchone()[0]
    # (A warehouse of a version without `flagged_access` gets it with a core rebuild.)
    force = force or kinds.get("flagged_access") != "BASE TABLE"
    if force or built_from != key:
        write_config_tables(con, config, _years(con))
    create_model_macros(con)
    # What reports read: every finding with its status, from the findings and the reviews.
    con.execute(f"CREATE OR REPLACE VIEW finding_status AS {sql_text('marts/finding_status.sql')}")
    for model in AUDIT_CORE_MODELS:
        con.execute(f"CREATE OR REPLACE TABLE {model} AS {sql_text(f'models/core/{model}.sql')}")
        stop_point(f"refresh: {model}")
    rebuild = force or built_from != key
    if rebuild:
        for model in CORE_MODELS:
            con.execute(
                f"CREATE OR REPLACE TABLE {model} AS {sql_text(f'models/core/{model}.sql')}"
            )
            stop_point(f"refresh: {model}")
        con.execute("DELETE FROM core_state")
        con.execute("INSERT INTO core_state (built_from) VALUES (?)", [key])
    _refresh_system_accounts(con, full=rebuild)
    if rebuild:
        # Every month's flagged accesses were attributed by the models just replaced.
        _run(
            con,
            "CREATE OR REPLACE TABLE flagged_access AS SELECT CAST(NULL AS DATE) AS month, * "
            f"FROM ({_access_sql('false', idle=False)}\n) LIMIT 0",
            {"from_at": _EPOCH, "until_at": _EPOCH},
        )
        con.execute("DELETE FROM flagged_state")
        con.execute(
            "CREATE OR REPLACE VIEW attributed_access AS "
            + sql_text("models/core/attributed_access.sql")
        )
        # Its columns follow the model code, part of the key: unchanged since the last build
        # otherwise (and `ensure_practice_access` looks again before writing).
        _ensure_practice_access(con)
    return rebuild


def _ensure_practice_access(con) -> None:
    """Create ``practice_access`` with the columns its model gives; made again, empty, when
    they changed (the model code changed: every month is stale, and each is written again
    when a report reads it)."""
    con.execute(_PRACTICE_ACCESS_STATE)
    create_model_macros(con)  # its model reads them
    sql = sql_text("models/month/practice_access.sql")
    bounds = {"from_at": None, "until_at": None}
    wanted = [(d[0], str(d[1])) for d in _run(con, f"{sql} LIMIT 0", bounds).description]
    have = None
    # Looked up, not tried: a failed statement would abort the refresh's transaction.
    if con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'practice_access'"
    ).fetchone()[0]:
        have = [
            (d[0], str(d[1]))
            for d in con.execute("SELECT * FROM practice_access LIMIT 0").description
        ]
    if have != wanted:
        _run(con, f"CREATE OR REPLACE TABLE practice_access AS {sql} LIMIT 0", bounds)
        con.execute("DELETE FROM practice_access_state")


# The order `practice_access` is written in (its model's ORDER BY), wherever it is stored.
PRACTICE_ACCESS_ORDER = ("practice_key", "practice_id", "mailbox", "occurred_at", "event_id")


# The months whose stored accesses were found up to date, by read-only connection: nothing
# can change under such a connection (no process writes to a warehouse while one is open on
# it), so the later reports of a batch read them without looking anything up.
_UP_TO_DATE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _read_only(con) -> bool:
    return con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]


def ensure_practice_access(con, months: Iterable[Month]) -> list[Month]:
    """Bring the given months' slices of ``practice_access`` up to date with their models, in
    one transaction; returns the months written. A slice is the month's events as
    ``attributed_access`` gives them (less the delegation judged against, see the model),
    written in practice, mailbox and time order, so that a report reading one practice's
    month skips the row groups of the others instead of attributing the month.

    The reports need it, the findings do not: it is written when a report first reads a
    month after what it is made from changed, not by every refresh (storing a month's events
    costs more than the rest of its refresh together). The core models must be built. On a
    read-only connection, months found up to date once are not looked up again."""
    from ..lake import lake_source  # the lake module reads the models' names

    months = list(months)
    if {m.first_day for m in months} <= _UP_TO_DATE.get(con, set()):
        return []
    if lake_source(con) is not None:
        return []  # a lake holds its own, written with its models
    # What a slice is made from: the core models (delegations, rosters, configuration), the
    # month's events, and its own code. The events are known from the manifest (a report reads
    # no event but its practice's stored ones): the audit files covering the month, less those
    # that loaded no row (an audit file sent again, every row a duplicate).
    core = con.execute("SELECT any_value(built_from) FROM core_state").fetchone()[0]
    code = f"{_models_digest('month/practice_access.sql')}:{_models_digest('core/attributed_access.sql')}"
    files = _audit_files_by_month(con)
    empty = {
        r[0]
        for r in con.execute(
            "SELECT file_id FROM ingest_file WHERE kind = 'audit' AND rows_loaded = 0"
        ).fetchall()
    }

    def loading(month: Month) -> str:
        ids = _file_ids(files.get(month.first_day, "")) - empty
        return ",".join(map(str, sorted(ids)))

    built_for = {m.first_day: f"{core}|{loading(m)}|{code}" for m in months}
    try:
        have = dict(con.execute("SELECT month, built_for FROM practice_access_state").fetchall())
    except duckdb.CatalogException:  # refreshed by a version that did not store them
        have = {}
    todo = sorted(
        {m for m in months if have.get(m.first_day) != built_for[m.first_day]},
        key=lambda m: m.first_day,
    )
    if not todo:
        if _read_only(con):
            _UP_TO_DATE.setdefault(con, set()).update(m.first_day for m in months)
        return []
    _ensure_practice_access(con)
    with transaction(con):
        for month in todo:
            from_at, until_at = month_bounds(con, month)
            con.execute("DELETE FROM practice_access WHERE month = ?", [month.first_day])
            _run(
                con,
                f"INSERT INTO practice_access BY NAME {sql_text('models/month/practice_access.sql')}",
                {"from_at": from_at, "until_at": until_at},
            )
            con.execute(
                "INSERT OR REPLACE INTO practice_access_state VALUES (?, ?)",
                [month.first_day, built_for[month.first_day]],
            )
            stop_point(f"practice_access {month}")
    return todo


def _refresh_system_accounts(con, full: bool) -> None:
    """Bring ``system_account`` up to date with the audit events. Ingestion adds events, each
    with the id of its file: when every event added since the last build comes from a file
    loaded since (and none was purged), only those events are read; otherwise (and when the
    patterns may have changed: ``full``, the core models being rebuilt) every account is
    matched again."""
    n_events, last_file = con.execute(
        "SELECT (SELECT count(*) FROM audit_event), (SELECT max(file_id) FROM ingest_file)"
    ).fetchone()
    seen_events, seen_file = con.execute(
        "SELECT any_value(audit_events), any_value(audit_file_id) FROM core_state"
    ).fetchone()
    sql = sql_text("models/core/system_account.sql")
    if not full and seen_events is not None and seen_file is not None:
        if (n_events, last_file) == (seen_events, seen_file):
            return
        full = _events_after(con, seen_file) != n_events - seen_events
    if full:
        con.execute(f"CREATE OR REPLACE TABLE system_account AS {sql}", {"after_file_id": -1})
    else:
        con.execute(
            f"INSERT INTO system_account SELECT actor FROM ({sql}) "
            "EXCEPT SELECT actor FROM system_account",
            {"after_file_id": seen_file},
        )
    con.execute("UPDATE core_state SET audit_events = ?, audit_file_id = ?", [n_events, last_file])


def _rule_params(config: AnalysisConfig, month: Month) -> dict:
    """The settings bound once for every practice, and the instants derived from them. Bounds
    that scans filter on are computed here: a time-zone expression in SQL would not be folded
    into a constant, and the scan would read every row group."""
    rules = config.for_practice(None)["rules"]
    # At least the margin before the month, so that a burst running over its start is whole.
    baseline_start = datetime(month.year, month.month, 1, tzinfo=PARIS) - max(
        timedelta(days=rules["bulk_access"]["baseline_days"]), WINDOW_MARGIN
    )
    return {
        "month": month.first_day,
        "baseline_from_at": datetime(baseline_start.year, baseline_start.month, 1, tzinfo=PARIS),
        "window_minutes": rules["failed_login_burst"]["window_minutes"],
        "after_failures_window": rules["login_after_failures"]["after_failures_window"],
        "gap_minutes": rules["bulk_access"]["gap_minutes"],
        "baseline_days": rules["bulk_access"]["baseline_days"],
        "history_month": month.minus(rules["new_client"]["lookback_months"]).first_day,
        # Which mailboxes' events `month_access` keeps for owner_inactive_delegate_active.
        "holder_away_days": rules["owner_inactive_delegate_active"]["days"],
        "days": None,  # set per rule below
    }


def _marts_digest() -> str:
    """What the monthly marts depend on besides the events: their code, and that of
    ``paris_hour`` (through which they place events on Paris days)."""
    return f"{_models_digest('marts')}:{_models_digest('core/paris_hour.sql')}"


def _audit_files_by_month(con) -> dict[date, str]:
    """For each month (Paris) holding audit events, the audit files that loaded some, from the
    manifest (months a purge removed left out): a month's marts are rebuilt when this list
    changes."""
    return dict(_read_once(con, "files", lambda: _read_audit_files_by_month(con)))


def _read_audit_files_by_month(con) -> dict[date, str]:
    files: dict[date, list[int]] = {}
    kept = _first_kept_month(con) or date.min
    for file_id, _, start, end in audit_spans(con):
        for month in _months_covered(start, end):
            # Months a purge removed hold no traces; two spans of a file may share a month.
            if month.first_day >= kept and file_id not in files.get(month.first_day, ()):
                files.setdefault(month.first_day, []).append(file_id)
    return {day: ",".join(map(str, ids)) for day, ids in files.items()}


def _month_params(con, month: Month, config: AnalysisConfig) -> dict:
    """What the month's SQL binds: its bounds and the global settings."""
    from_at, until_at = month_bounds(con, month)
    params = _rule_params(config, month)
    after = timedelta(minutes=params["after_failures_window"])
    return {
        "from_at": from_at,
        "until_at": until_at,
        # What rules with a time window read around the month (see WINDOW_MARGIN).
        "margin_from_at": from_at - WINDOW_MARGIN,
        "margin_until_at": until_at + WINDOW_MARGIN,
        "after_until_at": until_at + WINDOW_MARGIN + after,
        **params,
    }


def _replace_month(con, table: str, month: Month, sql: str, params: dict) -> None:
    """Make ``table``'s rows of ``month`` the rows ``sql`` gives (see `_replace_slices`)."""
    _replace_slices(con, month, {table: sql}, params)


# The column of `temp.month_slice` naming the table each row is built for.
_SLICE_OF = "slice_of"
# A column identifying each row of a table's month (never NULL): its slice is compared by
# it (`_replace_by_key`).
_SLICE_KEYS = {"finding": "finding_id"}


def _replace_slices(con, month: Month, slices: dict[str, str], params: dict, done=None) -> None:
    """Make each table's rows of ``month`` the rows its query in ``slices`` gives, writing only
    those that changed; ``done(table)`` is called once a table's slice is written. A new audit
    file changes a few days of a month, and rewriting every row of the month made each
    refresh write megabytes to the log (and a checkpoint every other one); the table's rows of
    a month are a set (each has a grain), so the difference both ways is exact, NULLs and
    lists compared as values.

    A slice a refresh does not change (a file re-sent, or overlapping an earlier one, whose
    rows were all already loaded; the findings, when the new events raise nothing new) is
    left as it is: when the new slice has the fingerprint of the stored one
    (`_slice_fingerprint`), the difference (two joins of the month's rows, as costly as
    building them) is not computed. A slice that changed is compared and written as before.
    A table whose rows have an id (`_SLICE_KEYS`: a finding's) is compared by it instead
    (`_replace_by_key`): one join on the id tells the rows that changed, without the two
    set differences over every column (a month's findings carry lists of event ids and long
    explanations).

    Every table's new slice is built by one statement (the union of the queries, each row
    tagged with its table), and every fingerprint, stored and built, is taken by another:
    each query alone keeps one of the two cores busy for much of its time (an aggregate over
    many groups, a small table's scan), and DuckDB runs the branches of one statement side
    by side."""
    for table in slices:
        if table not in MONTH_SLICED:
            raise ValueError(f"{table} is not a derived table kept by month")
    union = "\nUNION ALL BY NAME\n".join(
        f"SELECT '{table}' AS {_SLICE_OF}, * FROM ({sql}\n)" for table, sql in slices.items()
    )
    _run(con, f"CREATE OR REPLACE TEMP TABLE month_slice AS {union}", params)
    described = {
        table: con.execute(f"SELECT * FROM {table} LIMIT 0").description for table in slices
    }
    keyed = {
        table: _SLICE_KEYS[table]
        for table, columns in described.items()
        if _SLICE_KEYS.get(table) in {d[0] for d in columns}
    }
    fingerprints = []
    for table, columns in described.items():
        if table in keyed:
            continue
        fingerprint = _slice_fingerprint(
            [
                f"{name}, len({name})" if str(kind).endswith("[]") else name
                for name, kind, *_ in columns
            ]
        )
        fingerprints.append(
            f"({fingerprint} FROM {table} WHERE month = $month) IS DISTINCT FROM "
            f"({fingerprint} FROM temp.month_slice WHERE {_SLICE_OF} = '{table}')"
        )
    changed = iter(
        con.execute(f"SELECT {', '.join(fingerprints)}", {"month": month.first_day}).fetchone()
        if fingerprints
        else ()
    )
    for table, columns in described.items():
        listed = ", ".join(d[0] for d in columns)
        old = f"SELECT {listed} FROM {table} WHERE month = $month"
        new = f"SELECT {listed} FROM temp.month_slice WHERE {_SLICE_OF} = '{table}'"
        if table in keyed:
            _replace_by_key(con, table, keyed[table], [d[0] for d in columns], old, new, month)
        elif next(changed):
            same = " AND ".join(f"t.{d[0]} IS NOT DISTINCT FROM gone.{d[0]}" for d in columns)
            con.execute(
                f"DELETE FROM {table} AS t USING ({old} EXCEPT {new}) AS gone "
                f"WHERE t.month = $month AND {same}",
                {"month": month.first_day},
            )
            con.execute(
                f"INSERT INTO {table} ({listed}) {new} EXCEPT {old}", {"month": month.first_day}
            )
        if done is not None:
            done(table)
    con.execute("DROP TABLE temp.month_slice")


def _replace_by_key(
    con, table: str, key: str, columns: list[str], old: str, new: str, month: Month
) -> None:
    """Make ``table``'s slice of ``month`` (the rows of ``old``) the rows of ``new``, both
    holding ``key``, a column never NULL: the keys whose rows differ are told by one join of
    the two slices on the key alone (the other columns compared only for rows of the same key,
    NULLs and lists as values), and only their rows are deleted and written again. When the
    key is unique in each slice (a finding's id) that is exactly the rows that changed;
    otherwise every row of a key holding several is taken as changed, which writes more but
    gives the same slice."""
    same = " AND ".join(f"o.{name} IS NOT DISTINCT FROM n.{name}" for name in columns)
    # (Kept in a table, not fetched: a first build changes every key of the month.)
    [(changed,)] = con.execute(
        f"CREATE OR REPLACE TEMP TABLE slice_changed AS SELECT DISTINCT coalesce(o.{key}, "
        f"n.{key}) AS {key} FROM ({old}) AS o FULL JOIN ({new}) AS n ON o.{key} = n.{key} "
        f"WHERE NOT ({same})",
        {"month": month.first_day},
    ).fetchall()
    if changed:
        con.execute(
            f"DELETE FROM {table} WHERE month = $month "
            f"AND {key} IN (SELECT {key} FROM temp.slice_changed)",
            {"month": month.first_day},
        )
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT DISTINCT * FROM ({new}) "
            f"WHERE {key} IN (SELECT {key} FROM temp.slice_changed)"
        )
    con.execute("DROP TABLE temp.slice_changed")


def _slice_fingerprint(values: list[str]) -> str:
    """A query's start giving a fingerprint of a set of rows from the ``values`` of each row:
    their number, and the sum and the exclusive or of a hash of each row (values compared as
    `IS NOT DISTINCT FROM` does: NULLs alike, lists by value; a list's hash does not tell an
    empty or NULL list from one holding a NULL, so lists come with their length). Two sets
    with the same rows have the same fingerprint, whatever their order; two different sets
    have the same one only by a coincidence of two 64-bit combinations of hashes at once."""
    hashed = f"hash({', '.join(values)})"
    return f"SELECT struct_pack(n := count(*), total := sum({hashed}), mixed := bit_xor({hashed}))"


# How each mart's columns outside its grain combine when a month's events are counted in
# parts (see `_add_to_marts`): the value of a stored row (`t`) and that of the row of the
# same grain from the events loaded since (`a`) give what the model gives over all the
# events at once.
MART_COMBINE = {
    "mailbox_day": {"n_events": "t.n_events + a.n_events"},
    "actor_month": {
        "n_events": "t.n_events + a.n_events",
        "n_success": "t.n_success + a.n_success",
        "n_reads": "t.n_reads + a.n_reads",
        # (least and greatest skip NULLs: an account without success in one part.)
        "first_success_at": "least(t.first_success_at, a.first_success_at)",
        "last_success_at": "greatest(t.last_success_at, a.last_success_at)",
    },
    "client_month": {"first_at": "least(t.first_at, a.first_at)"},
    "actor_day": {
        "first_at": "least(t.first_at, a.first_at)",
        "last_at": "greatest(t.last_at, a.last_at)",
        # The first action's id follows its instant, ties broken by the id, as in the model.
        "first_event_id": "CASE WHEN a.first_at < t.first_at OR (a.first_at = t.first_at "
        "AND a.first_event_id < t.first_event_id) THEN a.first_event_id ELSE t.first_event_id END",
    },
}


def _file_ids(audit_files: str) -> set[int]:
    """The ids of a list of audit files as `_audit_files_by_month` gives it."""
    return {int(file_id) for file_id in audit_files.split(",") if file_id}


# The share of a month's events, at most, that the files loaded since its marts were built may
# hold for these events to be combined with the stored rows (`_build_marts`): beyond it,
# combining rows of most of the month's grain costs more than aggregating the month again.
COMBINE_SHARE = 0.25

# The month's events, and those loaded after the audit file `$last_file` (see `_build_marts`).
_IN_MONTH = "occurred_at >= $from_at AND occurred_at < $until_at"
_LOADED_AFTER = f"{_IN_MONTH} AND source_file_id > $last_file"


def _month_events_after(con, params: dict, last_file: int) -> tuple[int, int]:
    """How many of the month's events come from audit files loaded after ``last_file``, and
    how many events the month has."""
    return _run(
        con,
        "SELECT count(*) FILTER (source_file_id > $last_file), count(*) FROM audit_event "
        f"WHERE {_IN_MONTH}",
        {**params, "last_file": last_file},
    ).fetchone()


def _events_after(con, last_file: int) -> int:
    """How many audit events come from files loaded after ``last_file`` (ids grow with each
    load; appended, these are read without the other row groups)."""
    return con.execute(
        "SELECT count(*) FROM audit_event WHERE source_file_id > ?", [last_file]
    ).fetchone()[0]


def _build_marts(con, month: Month, params: dict, audit_files: str) -> None:
    """Bring the month's slice of every mart up to date with its events; ``audit_files`` is
    what it is built from (see `_audit_files_by_month`).

    Ingestion only ever adds events, each with the id of its file (ids grow with each load),
    and a purge removes whole months (their marts and state with them). A slice built from
    every event of the month when its files were those listed then has counted every event
    of files up to the last of them: the events it did not count are those of the files
    loaded since, whose ids are larger (a file loaded in between touched other months only,
    or it would be listed). When these are few (`COMBINE_SHARE` of the month's events at
    most), only they are aggregated and added to the stored rows (`_add_to_marts`): a new
    file touches a few days of a month, and aggregating the whole month again cost more than
    the rest of its refresh; being appended, they are read without the month's other row
    groups. Otherwise (first build, new mart code, a file gone from the list, most of the
    month new) each slice is recomputed from every event of the month and compared
    (`_replace_slices`)."""
    built = con.execute(
        "SELECT audit_files, digest FROM mart_state WHERE month = ?", [month.first_day]
    ).fetchone()

    def done(mart: str) -> None:
        stop_point(f"refresh {month}: {mart}")

    last_file = None
    if (
        built is not None
        and built[1] == _marts_digest()
        and _file_ids(built[0]) <= _file_ids(audit_files)
    ):
        last_file = max(_file_ids(built[0]), default=-1)
        new, total = _month_events_after(con, params, last_file)
        if new > COMBINE_SHARE * total:
            last_file = None
    if last_file is not None:
        # (A file sent again, or covering the month without events in it, adds nothing.)
        if new:
            _add_to_marts(con, month, {**params, "last_file": last_file}, done)
    else:
        _replace_slices(
            con,
            month,
            {mart: sql_text(f"models/marts/{mart}.sql") for mart in MART_MODELS},
            params,
            done=done,
        )
    con.execute(
        "INSERT OR REPLACE INTO mart_state VALUES (?, ?, ?)",
        [month.first_day, audit_files, _marts_digest()],
    )


def _add_to_marts(con, month: Month, params: dict, done) -> None:
    """Add to the month's stored slice of each mart the events of the month loaded after the
    audit file ``params["last_file"]`` (the last the slice was built from): the marts'
    models, run over these events only (one statement: as in `_replace_slices`, DuckDB runs
    the branches side by side), give rows that are merged into the stored ones
    (`_merge_into_mart`). ``done(mart)`` is called once a mart's slice is written."""
    events = f"WITH audit_event AS (SELECT * FROM main.audit_event WHERE {_LOADED_AFTER})\n"
    union = "\nUNION ALL BY NAME\n".join(
        f"SELECT '{mart}' AS {_SLICE_OF}, * FROM ({sql_text(f'models/marts/{mart}.sql')}\n)"
        for mart in MART_MODELS
    )
    _run(con, f"CREATE OR REPLACE TEMP TABLE month_slice AS {events}{union}", params)
    added = dict(
        con.execute(f"SELECT {_SLICE_OF}, count(*) FROM temp.month_slice GROUP BY ALL").fetchall()
    )
    for mart in MART_MODELS:
        if added.get(mart):
            _merge_into_mart(con, mart)
        done(mart)
    con.execute("DROP TABLE temp.month_slice")


def _merge_into_mart(con, table: str) -> None:
    """Merge the rows of the mart ``table`` in ``temp.month_slice`` (see `_add_to_marts`)
    into its stored rows: a row of a grain (every column `MART_COMBINE` does not name) already
    stored is combined with it (`MART_COMBINE`) and updated when that changes it; a row of a
    new grain is inserted. One statement per mart."""
    if table not in MART_MODELS:
        raise ValueError(f"{table} is not a monthly mart")
    combine = MART_COMBINE[table]
    columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    if not combine.keys() <= set(columns):
        raise ValueError(f"{table} lacks a column MART_COMBINE names")
    grain = [name for name in columns if name not in combine]
    listed = ", ".join(columns)
    on = " AND ".join(f"t.{name} IS NOT DISTINCT FROM a.{name}" for name in grain)
    changes = " OR ".join(f"t.{name} IS DISTINCT FROM ({value})" for name, value in combine.items())
    sets = ", ".join(f"{name} = {value}" for name, value in combine.items())
    con.execute(
        f"MERGE INTO {table} AS t "
        f"USING (SELECT {listed} FROM temp.month_slice WHERE {_SLICE_OF} = '{table}') AS a "
        f"ON {on} "
        f"WHEN MATCHED AND ({changes}) THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED THEN INSERT ({listed}) VALUES ({', '.join(f'a.{c}' for c in columns)})"
    )


def refresh_marts(con, config: AnalysisConfig, skip: Iterable[Month] = ()) -> list[Month]:
    """Bring every month's marts up to date with the audit files and the mart code; ``skip``
    names months about to be rebuilt anyway. Returns the months rebuilt."""
    wanted = _audit_files_by_month(con)
    digest = _marts_digest()
    built = {
        day: (files, mart_digest)
        for day, files, mart_digest in con.execute("SELECT * FROM mart_state").fetchall()
    }
    skipped = {m.first_day for m in skip}
    todo = [
        Month(day.year, day.month)
        for day, files in sorted(wanted.items())
        if day not in skipped and built.get(day) != (files, digest)
    ]
    for month in todo:
        _build_marts(con, month, _month_params(con, month, config), wanted[month.first_day])
    return todo


def covered_months(con) -> list[Month]:
    """The months (Paris) the audit traces cover, from the manifest: only they can have
    findings; a month before, between or after the audit files has no data, not no finding."""
    return [Month(day.year, day.month) for day in sorted(_audit_files_by_month(con))]


def _coverage_months(con, month: Month) -> list[date]:
    """The months up to ``month`` that the audit traces cover (from the manifest), and the
    month itself: where a delegation-level rule's condition can be known."""
    covered = {day for day in _audit_files_by_month(con) if day <= month.first_day}
    return sorted(covered | {month.first_day})


def _union_of_rules(rules: list[str], defaults: dict, select) -> tuple[str, dict]:
    """One statement giving the rows of every rule of ``rules``: the union (by column name)
    of ``select`` applied to each rule's SQL, and the parameters it binds besides the month's:
    each rule's own `days` setting, renamed ``$days_<rule>`` so that the rules do not share
    it. One statement instead of one per rule: the rules read small tables, each in one
    thread, and DuckDB can run the branches of a union side by side."""
    parts, days = [], {}
    for rule_id in rules:
        name = f"days_{rule_id}"
        sql = _DAYS_PARAM.sub(f"${name}", sql_text(f"models/rules/{rule_id}.sql"))
        parts.append(select(sql))
        days[name] = defaults[rule_id].get("days")
    return "\nUNION ALL BY NAME\n".join(parts), days


def reads_all_months(rule_id: str) -> bool:
    """Whether a rule can be evaluated for any month at once: it reads no in-memory table of
    the month being built (a delegation-level rule that does is evaluated for that month
    only, and its findings are `new` in every month: their run cannot be known without
    reading the events of the months before)."""
    return not _MONTH_TABLES.search(_COMMENT.sub("", sql_text(f"models/rules/{rule_id}.sql")))


def _delegation_history(con, month: Month, rules: list[str], params: dict, defaults: dict) -> None:
    """Evaluate the delegation-level ``rules`` for every month of trace coverage up to
    ``month``, in one statement over all those months (they read small tables: delegation
    periods, monthly marts), into the temp table ``delegation_history``, beside
    ``month_grid``, those months: their rows of ``month`` are findings of the month, and
    `finding_first_month.sql` reads from them, for each finding, the first month of the run
    of consecutive covered months, ending with ``month``, in which it holds (see
    `_findings_of_month`). The result depends on the data only, never on which months were
    built before."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE month_grid AS {sql_text('models/month/month_grid.sql')}",
        {"months": _coverage_months(con, month)},
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE delegation_history (month DATE, {_RULE_OUTPUT})")
    if rules:
        union, days = _union_of_rules(
            rules,
            defaults,
            lambda sql: (
                "SELECT g.month, r.* FROM month_grid AS g, "
                "LATERAL (" + _WINDOW_PARAM.sub(r"g.\1", sql) + "\n) AS r"
            ),
        )
        _run(con, f"INSERT INTO delegation_history BY NAME {union}", {**params, **days})


def _findings_of_month(rules: list[str], defaults: dict) -> tuple[str, dict]:
    """The query giving the month's findings (`FINDINGS_OF_MONTH`) from the rows of the
    month's ``rules`` and of the delegation-level rules (`delegation_history`, see
    `_delegation_history`), and the parameters it binds besides the month's: the rules' rows
    (`rule_output`, the columns and types of `_RULE_OUTPUT`: a rule leaves out those it never
    fills) and the first month of each delegation-level finding's run
    (`finding_first_month`) are parts of it. One statement from the rules to the findings:
    each step alone would keep one of the two cores idle while its slowest branch ends."""
    rows = "SELECT * EXCLUDE (month) FROM delegation_history WHERE month = $month"
    days = {}
    if rules:
        union, days = _union_of_rules(rules, defaults, lambda sql: f"SELECT * FROM ({sql}\n)")
        rows = f"{rows}\nUNION ALL BY NAME\n{union}"
    typed = ", ".join(
        f"CAST({name} AS {kind}) AS {name}"
        for name, kind, *_ in (column.split() for column in _RULE_OUTPUT.split(", "))
    )
    sql = (
        f"WITH finding_first_month AS ({sql_text('models/month/finding_first_month.sql')}\n),\n"
        f"rule_output AS (SELECT {typed} FROM (\n{rows}\n))"
        f"{FINDINGS_OF_MONTH}"
    )
    return sql, days


def rules_with_input(con, rules: list[str], params: dict) -> list[str]:
    """The rules of ``rules`` that can find something in the month being built: every rule
    but those of RULE_NEEDS with no row meeting their condition, all told in one statement
    (one scan of each table, whatever the number of rules reading it)."""
    needing = [r for r in rules if r in RULE_NEEDS]
    if not needing:
        return list(rules)
    tables: dict[str, list[str]] = {}
    for rule_id in needing:
        tables.setdefault(RULE_NEEDS[rule_id][0], []).append(rule_id)
    flags = ", ".join(
        "(SELECT "
        + ", ".join(f'coalesce(bool_or({RULE_NEEDS[r][1]}), false) AS "{r}"' for r in of_table)
        + f" FROM {table})"
        for table, of_table in tables.items()
    )
    cursor = _run(con, f"SELECT * FROM {flags}", params)
    found = dict(zip((c[0] for c in cursor.description), cursor.fetchone(), strict=True))
    return [r for r in rules if found.get(r, True)]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The month's events that are not the holder's own: the holder's concern only
# `month_idle_holder`'s part of `month_access`.
_NOT_OWN = f"{_IN_MONTH} AND actor <> mailbox"


def _access_sql(where: str, idle: bool) -> str:
    """`month_access.sql` over the audit events ``where`` selects (the attribution,
    `attributed_access`, made for these only), with the mailboxes whose holder may be away
    (`month_idle_holder`) when ``idle``, else none: then only the events a rule may flag for
    what they are (attribution, hours, the holder's departure) are kept."""
    idle_holders = (
        ""
        if idle
        else "month_idle_holder AS (SELECT CAST(NULL AS VARCHAR) AS mailbox WHERE false),\n"
    )
    return (
        f"WITH audit_event AS (SELECT * FROM main.audit_event WHERE {where}),\n{idle_holders}"
        f"attributed_access AS ({sql_text('models/core/attributed_access.sql')}\n)\n"
        f"SELECT * FROM ({sql_text('models/month/month_access.sql')}\n)"
    )


def _build_flagged(con, month: Month, params: dict, last_file: int) -> None:
    """Bring the month's slice of ``flagged_access`` up to date: what `month_access.sql` keeps
    of the month's events when no holder is away, the events a rule may flag for what they
    are (an access outside a delegation, off hours, in a departed holder's mailbox); each
    row depends on its event and on the core models only, and the table is made again
    (empty) whenever these are rebuilt. Ingestion only ever adds events, each with the id of
    its file (ids grow with each load): when the month's events are those the slice was
    written from and the files loaded since (``last_file`` is the last loaded now), only these
    are attributed and added; otherwise (a first build, events gone) the slice is written
    again. Attributing every event of the month again made a quarter of its refresh."""
    state = con.execute(
        "SELECT last_file_id, n_events FROM flagged_state WHERE month = ?", [month.first_day]
    ).fetchone()
    window = {**params, "last_file": state[0] if state else -1}
    new, total = _month_events_after(con, params, window["last_file"])
    where = _NOT_OWN
    if state is not None and total - new == state[1]:
        where = f"{_LOADED_AFTER} AND actor <> mailbox" if new else None
    elif state is not None:
        con.execute("DELETE FROM flagged_access WHERE month = ?", [month.first_day])
    if where is not None:
        _run(
            con,
            "INSERT INTO flagged_access BY NAME SELECT $month AS month, * "
            f"FROM ({_access_sql(where, idle=False)}\n)",
            window,
        )
    con.execute(
        "INSERT OR REPLACE INTO flagged_state VALUES (?, ?, ?)",
        [month.first_day, -1 if last_file is None else last_file, total],
    )


def _month_access(con, month: Month, params: dict) -> None:
    """Define the month's ``month_access``, the events the rules may flag (see
    `month_access.sql`), as a view of the month's rows of ``flagged_access``; when some
    holder may be away (`month_idle_holder`), what `month_access.sql` gives for the events of
    their mailboxes (kept in memory, ``month_idle_access``) takes the place of the stored rows
    of these. A view, not a copy: the rules read a few of its columns each, and a copy of every
    column of the stored rows cost nearly as much as attributing their events again."""
    stored = (
        "SELECT * EXCLUDE (month) FROM main.flagged_access "
        f"WHERE month = DATE '{month.first_day.isoformat()}'"
    )
    if con.execute("SELECT count(*) FROM temp.month_idle_holder").fetchone()[0]:
        idle = "mailbox IN (SELECT mailbox FROM temp.month_idle_holder)"
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE month_idle_access AS "
            + _access_sql(f"{_IN_MONTH} AND {idle}", idle=True),
            params,
        )
        stored = f"{stored} AND NOT {idle}\nUNION ALL BY NAME\nSELECT * FROM temp.month_idle_access"
    con.execute(f"CREATE OR REPLACE TEMP VIEW month_access AS {stored}")


def _month_inputs(con) -> tuple[str, int]:
    """What every month's findings are computed from besides the model code and configuration
    (``build_digest``): the core models' inputs as they were last built from (`_core_key`),
    the number of audit events, and the trace coverage the rules read (the covered months,
    and ``trace_month`` less what a purge removed); and the last ingested file. Ingestion only
    ever adds events, each with the id of its file (ids grow with each load), and never edits
    one; a purge removes some. So the events are those a month was built from when their
    number is the same and none comes from a file loaded after the last it had seen (see
    `_unchanged_since_built`)."""

    def read() -> tuple[str, int]:
        core, n_events, traced, last_file = con.execute(
            "SELECT (SELECT any_value(built_from) FROM core_state), "
            "(SELECT count(*) FROM audit_event), "
            "(SELECT string_agg(operator || '@' || month, ',' ORDER BY operator, month) "
            "FROM trace_month), "
            "(SELECT max(file_id) FROM ingest_file)"
        ).fetchone()
        covered = ",".join(str(day) for day in sorted(_audit_files_by_month(con)))
        return f"{core}|{n_events}|{covered}|{traced}", last_file

    return _read_once(con, "inputs", read)


def _unchanged_since_built(con, month: Month, config: AnalysisConfig, inputs: str) -> bool:
    """Whether the month's findings were computed from the very data and configuration they
    would be now (`_month_inputs`): the same model code and configuration, the same inputs,
    and no audit event from a file loaded after the last the month had seen. A file sent
    again (every row a duplicate), or covering months already covered without an event
    anywhere new, changes the manifest but not one finding."""
    built = con.execute(
        "SELECT last_file_id, config_digest, inputs FROM model_state WHERE month = ?",
        [month.first_day],
    ).fetchone()
    if built is None or built[0] is None or built[1:] != (build_digest(config), inputs):
        return False
    return _events_after(con, built[0]) == 0


def _record_built(con, month: Month, config: AnalysisConfig, inputs: tuple[str, int]) -> None:
    """Record that the month's models are up to date with the data and configuration."""
    summary, last_file = inputs
    con.execute(
        "INSERT OR REPLACE INTO model_state (month, refreshed_at, last_file_id, config_digest, "
        "inputs) VALUES (?, ?, ?, ?, ?)",
        [month.first_day, datetime.now(UTC), last_file, build_digest(config), summary],
    )


def build_month(
    con,
    month: Month,
    config: AnalysisConfig,
    rules: Iterable[str] = RULE_IDS,
    force: bool = False,
) -> None:
    """Recompute the month's marts and findings, replacing earlier results; the findings are
    left as they are when nothing they are computed from changed since they were (unless
    ``force``, or a subset of the ``rules``). The marts of the other months must be up to
    date (``refresh_marts``): rules look back and ahead."""
    params = _month_params(con, month, config)
    _build_marts(con, month, params, _audit_files_by_month(con).get(month.first_day, ""))
    inputs = _month_inputs(con)
    if (
        not force
        and tuple(rules) == RULE_IDS
        and _unchanged_since_built(con, month, config, inputs[0])
    ):
        _record_built(con, month, config, inputs)
        return
    defaults = config.for_practice(None)["rules"]
    _build_flagged(con, month, params, inputs[1])
    stop_point(f"refresh {month}: flagged_access")
    # The month's working tables, kept in memory for the rules (month_access: the month's
    # events some rule may flag, attributed once, with the columns the rules read, from
    # `flagged_access`).
    for model in MONTH_MODELS:
        if model == "month_access":
            _month_access(con, month, params)
        else:
            _run(
                con,
                f"CREATE OR REPLACE TEMP TABLE {model} AS {sql_text(f'models/month/{model}.sql')}",
                params,
            )
        stop_point(f"refresh {month}: {model}")
    # The rules that can find something this month. Delegation-level rules are evaluated over
    # every month of trace coverage up to this one (when they read no table of this month
    # only), which gives their rows of this month and the first month of each finding's run;
    # then the month's rules, and severity, the `enabled` switch and the finding id settled
    # once for all their rows, make the month's findings.
    runnable = rules_with_input(con, list(rules), params)
    across = [r for r in runnable if r in DELEGATION_LEVEL_RULES and reads_all_months(r)]
    _delegation_history(con, month, across, params, defaults)
    stop_point(f"refresh {month}: delegation-level rules")
    findings, days = _findings_of_month([r for r in runnable if r not in across], defaults)
    _replace_month(
        con,
        "finding",
        month,
        findings,
        {**params, **days, "month": month.first_day, "levels": sorted(DELEGATION_LEVEL_RULES)},
    )
    con.execute("DROP TABLE temp.delegation_history")
    con.execute("DROP TABLE temp.month_grid")
    stop_point(f"refresh {month}: findings inserted")
    _record_built(con, month, config, inputs)
    con.execute("DROP VIEW temp.month_access")
    for model in (*MONTH_MODELS, "month_idle_access"):
        if model != "month_access":
            con.execute(f"DROP TABLE IF EXISTS temp.{model}")


def refresh(
    con,
    months: Iterable[Month] | None = None,
    config: AnalysisConfig | None = None,
    force: bool = False,
    through: int | None = None,
) -> list[Month]:
    """Rebuild the core models when their inputs changed, the marts of months whose audit
    files changed, and the given months (default: every month with data), in one transaction.
    ``force`` rebuilds the core models and every month's marts whatever changed. ``through``
    records that the months of every file up to that id are now refreshed (see
    `refresh_pending`); it is written last, in the same transaction. Returns the months
    built."""
    config = config or load_config()
    with transaction(con), _manifest_read_once(con):
        # Core models rebuilt (even from the same inputs: an earlier layout retired, say):
        # the months' findings are computed again.
        rebuilt = build_core(con, config, force=force)
        if force:
            con.execute("DELETE FROM mart_state")
        todo = list(months) if months is not None else data_months(con)
        refresh_marts(con, config, skip=todo)
        for month in todo:
            build_month(con, month, config, force=force or rebuilt)
        if through is not None:
            con.execute("DELETE FROM refresh_state")
            con.execute("INSERT INTO refresh_state VALUES (?)", [through])
    return todo


def _refreshed_through(con) -> int:
    """The last file whose months a refresh after loading rebuilt; for a warehouse made before
    this was recorded, the last file the latest month built had seen."""
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name IN ('refresh_state', 'model_state')"
        ).fetchall()
    }
    if "refresh_state" in tables:
        through = con.execute("SELECT max(refreshed_through) FROM refresh_state").fetchone()[0]
        if through is not None:
            return through
    if "model_state" in tables:
        return con.execute("SELECT coalesce(max(last_file_id), 0) FROM model_state").fetchone()[0]
    return 0


def refresh_pending(con, config: AnalysisConfig | None = None) -> list[Month]:
    """Refresh the months of every file loaded since the last refresh after loading: the
    files just loaded, and those of a load whose refresh was interrupted (killed, out of
    space) or skipped (``--no-refresh``). Returns the months built (none when nothing is
    pending)."""
    through = _refreshed_through(con)
    pending, last = con.execute(
        "SELECT list(sha256 ORDER BY file_id), max(file_id) FROM ingest_file WHERE file_id > ?",
        [through],
    ).fetchone()
    if not pending:
        return []
    return refresh(con, months_of_files(con, pending), config, through=last)


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
