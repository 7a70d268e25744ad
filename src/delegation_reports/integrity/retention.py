"""Retention: how long traces are kept, and the purge of those older than that.

Traces are kept ``retention_months`` whole months (Europe/Paris) before the current one
(configuration, default 12, 6 to 12 unless forced with a reason): a month is due for purge
once all of it is older than that. A purge removes, in one transaction, the audit events
before the first month kept, the quarantined rows and Dovecot sessions of audit files that
lie wholly before it, and the monthly marts and findings of the purged months; delegation
history is kept unless asked. The purge is recorded (range, rows per table, digest of the
removed rows of each file, who ran it) and sealed by a link of the chain, so that
verification accounts for the removed rows instead of reporting them missing.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from ..analysis.models import PARIS, Month
from ..errors import UserError
from ..warehouse import has_tables, transaction
from . import chain, digest
from .verify import verify

DEFAULT_MONTHS = 12
MIN_MONTHS, MAX_MONTHS = 6, 12
# Derived tables holding a month's results: rebuilt from the traces, dropped with them.
MONTH_TABLES = (
    "finding",
    "practice_access",
    "practice_access_state",
    "mailbox_day",
    "actor_month",
    "client_month",
    "actor_day",
    "mart_state",
    "model_state",
    "flagged_access",
    "flagged_state",
)


def retention_months(config) -> int:
    """The configured retention (``retention_months``), default 12."""
    return int(config.data.get("retention_months", DEFAULT_MONTHS))


def current_month(today: date | None = None) -> Month:
    today = today or datetime.now(PARIS).date()
    return Month(today.year, today.month)


def first_kept_month(months: int, today: date | None = None) -> Month:
    """The first month a retention of ``months`` keeps: every month before it is due."""
    return current_month(today).minus(months)


def _months_between(first: Month, last: Month) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def check_retention(months: int, before: Month, today: date | None, force_reason: str | None):
    """Refuse a retention outside 6 to 12 months, or a purge keeping fewer than 6, unless
    forced with a reason."""
    if force_reason is not None and not force_reason.strip():
        raise UserError("--force needs a reason (--reason): it is recorded with the purge")
    if force_reason:
        return
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise UserError(
            f"retention_months = {months} is outside {MIN_MONTHS} to {MAX_MONTHS} months: "
            "traces of access are kept 6 months to a year; to purge anyway, pass --force "
            "with --reason"
        )
    kept = _months_between(before, current_month(today))
    if kept < MIN_MONTHS:
        raise UserError(
            f"--before {before} keeps {max(kept, 0)} month(s) of traces, fewer than "
            f"{MIN_MONTHS}: to purge anyway, pass --force with --reason"
        )


def _cutoff_at(con, month: Month) -> datetime:
    return con.execute(
        "SELECT timezone('Europe/Paris', ?::TIMESTAMP)", [month.first_day]
    ).fetchone()[0]


def _exists(con, table: str) -> bool:
    return has_tables(con, table)


def _conditions(delegations: bool) -> dict[str, str]:
    """Which rows of each table a purge removes (``$cutoff``: the first instant kept)."""
    # Files that lie wholly before the cutoff: their last row, or their load when they have
    # none (every row quarantined).
    old_files = (
        "SELECT file_id FROM ingest_file WHERE kind IN ({kinds}) "
        "AND coalesce(covered_to_at, ended_at) < $cutoff"
    )
    kinds = "'audit', 'delegations', 'snapshot'" if delegations else "'audit'"
    where = {
        "audit_event": "occurred_at < $cutoff",
        "quarantine": f"file_id IN ({old_files.format(kinds=kinds)})",
        "dovecot_session": f"source_file_id IN ({old_files.format(kinds=kinds)})",
    }
    if delegations:
        where |= {
            "delegation_event": "event_at < $cutoff",
            "delegation_snapshot": "as_of_at < $cutoff",
            # The latest state of each delegate's permissions stays: the next Microsoft 365
            # export's changes are read against it.
            "m365_permission_state": (
                "changed_at < $cutoff AND EXISTS (SELECT 1 FROM m365_permission_state AS later "
                "WHERE later.operator = m365_permission_state.operator "
                "AND later.mailbox = m365_permission_state.mailbox "
                "AND later.delegate = m365_permission_state.delegate "
                "AND later.changed_at > m365_permission_state.changed_at)"
            ),
        }
    return where


@dataclass
class PurgeResult:
    purged_before: Month
    cutoff_at: datetime
    retention_months: int
    delegations: bool
    dry_run: bool
    performed_by: str
    row_counts: dict[str, int] = field(default_factory=dict)
    removed_digest: str = ""
    purge_id: int | None = None
    head: str | None = None

    @property
    def total(self) -> int:
        return sum(n for t, n in self.row_counts.items() if t in digest.TABLES)

    def to_json(self) -> dict:
        return {
            "purged_before": str(self.purged_before),
            "cutoff_at": self.cutoff_at.astimezone(UTC).isoformat(),
            "retention_months": self.retention_months,
            "delegations": self.delegations,
            "dry_run": self.dry_run,
            "performed_by": self.performed_by,
            "row_counts": self.row_counts,
            "removed_digest": self.removed_digest,
            "purge_id": self.purge_id,
            "chain_head": self.head,
        }


def _removed(con, where: dict[str, str], cutoff: datetime) -> tuple[dict, dict]:
    """Rows per table, and the digest of the removed rows of each file."""
    counts, by_file = {}, {}
    for name, condition in where.items():
        table = digest.TABLES[name]
        rows = con.execute(
            digest.digest_query(table, f"WHERE {condition}"), {"cutoff": cutoff}
        ).fetchall()
        parts = digest.fold(rows)
        counts[name] = sum(p.rows for p in parts.values())
        for file_id, part in parts.items():
            by_file.setdefault(str(file_id), {})[name] = part.to_json()
    return counts, by_file


def purge(
    con: duckdb.DuckDBPyConnection,
    *,
    months: int = DEFAULT_MONTHS,
    before: Month | None = None,
    delegations: bool = False,
    dry_run: bool = False,
    force_reason: str | None = None,
    by: str | None = None,
    today: date | None = None,
) -> PurgeResult:
    """Remove traces before ``before`` (default: what the retention of ``months`` no longer
    keeps), in one transaction, recorded and sealed; ``dry_run`` only counts."""
    before = before or first_kept_month(months, today)
    check_retention(months, before, today, force_reason)
    checked = verify(con)
    if not checked.ok:
        raise UserError(
            f"the warehouse does not verify ({checked.verdict}): a purge would seal changed "
            "data; run 'delegation-reports verify' to see what changed"
        )
    cutoff = _cutoff_at(con, before)
    result = PurgeResult(
        before, cutoff, months, delegations, dry_run, (by or "").strip() or getpass.getuser()
    )
    where = _conditions(delegations)
    counts, by_file = _removed(con, where, cutoff)
    removed = json.dumps(by_file, sort_keys=True, separators=(",", ":"))
    result.removed_digest = hashlib.sha256(removed.encode()).hexdigest()
    derived = [t for t in MONTH_TABLES if _exists(con, t)]
    for table in derived:
        counts[table] = con.execute(
            f"SELECT count(*) FROM {table} WHERE month < ?", [before.first_day]
        ).fetchone()[0]
    result.row_counts = counts
    if dry_run:
        return result
    with transaction(con):
        for name, condition in where.items():
            con.execute(f"DELETE FROM {name} WHERE {condition}", {"cutoff": cutoff})
        for table in derived:
            con.execute(f"DELETE FROM {table} WHERE month < ?", [before.first_day])
        result.purge_id = con.execute(
            """
            INSERT INTO purge_record (purged_before, cutoff_at, delegations, retention_months,
                forced_reason, performed_by, performed_at, row_counts, removed, removed_digest)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING purge_id
            """,
            [
                before.first_day,
                cutoff,
                delegations,
                months,
                force_reason,
                result.performed_by,
                datetime.now(UTC),
                json.dumps(counts, sort_keys=True),
                removed,
                result.removed_digest,
            ],
        ).fetchone()[0]
        result.head = chain.append(con, chain.PURGE, result.purge_id)
    return result


def retention_status(
    con: duckdb.DuckDBPyConnection, months: int, today: date | None = None
) -> dict:
    """The oldest trace held, the retention, and when the next purge is due (the day its
    month leaves the retention; today or earlier when overdue)."""
    oldest = con.execute("SELECT min(occurred_at) FROM audit_event").fetchone()[0]
    due = None
    if oldest is not None:
        local = oldest.astimezone(PARIS)
        month = Month(local.year, local.month).next()
        due = Month(month.year, month.month).minus(-months).first_day
    last = None
    with contextlib.suppress(duckdb.CatalogException):  # not yet opened by this version
        last = con.execute(
            "SELECT purged_before, performed_at, performed_by FROM purge_record "
            "ORDER BY purge_id DESC LIMIT 1"
        ).fetchone()
    today = today or datetime.now(PARIS).date()
    return {
        "retention_months": months,
        "oldest_trace_at": oldest,
        "next_purge_due_on": due,
        "purge_overdue": due is not None and due <= today,
        "last_purge": (
            {"purged_before": last[0], "performed_at": last[1], "performed_by": last[2]}
            if last
            else None
        ),
    }
