"""A finding's life beyond one month: review decisions, and the report runs that showed it.

Both are kept in append-only tables (``finding_review``, ``report_run``,
``report_run_finding``; see ``sql/warehouse/schema.sql``): a decision or a run is inserted,
never changed or deleted. A finding's status in a month (``new``, ``ongoing``, ``accepted``)
is read from the ``finding_status`` view, which joins the findings and the latest decision
on each.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import duckdb

from ..errors import UserError
from ..integrity import chain
from ..warehouse import sql_text, transaction
from .models import Month

ACCEPT = "accept"
REOPEN = "reopen"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def parse_day(text: str, option: str = "--until") -> date:
    """A ``YYYY-MM-DD`` day typed by a user."""
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"invalid date {text!r} for {option}: expected YYYY-MM-DD") from None


def record_decision(
    con: duckdb.DuckDBPyConnection,
    finding_id: str,
    decision: str,
    *,
    by: str,
    reason: str | None = None,
    until: date | None = None,
    at: datetime | None = None,
) -> dict:
    """Append a review decision (``accept`` or ``reopen``) on a finding and return it. The
    decision keeps what the finding and its delegation were in the latest month that has it.
    An acceptance needs a reason; ``until`` (an acceptance's last day) is optional."""
    by = (by or "").strip()
    reason = (reason or "").strip() or None
    if decision not in (ACCEPT, REOPEN):
        raise UserError(f"unknown decision {decision!r}: expected {ACCEPT} or {REOPEN}")
    if not by:
        raise UserError("a review decision needs the name of who takes it (--by)")
    if decision == ACCEPT and not reason:
        raise UserError("accepting a finding needs a reason (--reason)")
    if decision == REOPEN and until is not None:
        raise UserError("--until applies to an acceptance, not to a reopening")
    params = {
        "finding_id": finding_id.strip(),
        "decision": decision,
        "reason": reason,
        "decided_by": by,
        "decided_at": at or datetime.now(UTC),
        "valid_until": until,
    }
    try:
        with transaction(con):
            rows = _records(con, sql_text("lifecycle/insert_review.sql"), params)
            if rows:  # each decision is a link of the warehouse's chain
                chain.append(con, chain.REVIEW, rows[0]["review_id"])
    except duckdb.CatalogException:  # no month was ever built: no finding at all
        rows = []
    if not rows:
        raise UserError(
            f"unknown finding {finding_id.strip()!r}: no month's findings have this id "
            "(see the finding_id column of 'delegation-reports findings --format json')"
        )
    return rows[0]


def decisions(con: duckdb.DuckDBPyConnection, finding_id: str | None = None) -> list[dict]:
    """Every review decision, in the order recorded (of one finding when given)."""
    try:
        return _records(con, sql_text("lifecycle/reviews.sql"), {"finding_id": finding_id})
    except duckdb.CatalogException:  # a warehouse not yet opened for writing by this version
        return []


def shown_findings(con: duckdb.DuckDBPyConnection, month: Month, practice_id: str) -> list[tuple]:
    """What a practice's monthly report shows: its findings of the month as they stand now,
    with their status (rows of ``report_run_finding`` without the run id)."""
    return shown_findings_of(con, month, [practice_id])[practice_id]


def shown_findings_of(
    con: duckdb.DuckDBPyConnection, month: Month, practice_ids: list[str]
) -> dict[str, list[tuple]]:
    """``shown_findings`` of each practice, in one query (a batch of a thousand practices
    reads the month's findings once, not once each)."""
    shown: dict[str, list[tuple]] = {p: [] for p in practice_ids}
    cursor = con.execute(
        sql_text("lifecycle/shown_findings.sql"),
        {"month": month.first_day, "practice_ids": list(shown)},
    )
    for practice_id, *row in cursor.fetchall():
        shown[practice_id].append(tuple(row))
    return shown


def record_report_run(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    practice_id: str,
    reported_at: datetime,
    shown: list[tuple] | None = None,
) -> int:
    """Append a report run of the practice's month, with the findings it shows: ``shown``
    (from ``shown_findings`` when the report was made), else those of the month as they stand
    now. Returns the run's id."""
    with transaction(con):
        if shown is None:
            shown = shown_findings(con, month, practice_id)
        return _insert_report_runs(con, month, reported_at, {practice_id: shown})[practice_id]


def record_report_runs(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    reported_at: datetime,
    shown: dict[str, list[tuple]],
) -> dict[str, int]:
    """``record_report_run`` of each practice of ``shown`` (practice id: the findings its
    report showed), in one transaction; each run's id by practice."""
    with transaction(con):
        return _insert_report_runs(con, month, reported_at, shown)


def _insert_report_runs(con, month: Month, reported_at: datetime, shown: dict) -> dict[str, int]:
    run_ids: dict[str, int] = {}
    rows = []
    for practice_id, findings in shown.items():
        run_id = con.execute(
            sql_text("lifecycle/insert_report_run.sql"),
            {"month": month.first_day, "practice_id": practice_id, "reported_at": reported_at},
        ).fetchone()[0]
        run_ids[practice_id] = run_id
        rows.extend((run_id, *row) for row in findings)
    if rows:
        con.executemany("INSERT INTO report_run_finding VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return run_ids


def report_changes(
    con: duckdb.DuckDBPyConnection,
    month: Month | None = None,
    practice_id: str | None = None,
) -> list[dict]:
    """For each month and practice already reported (optionally one of each): the latest
    report run, how many there were, and the findings that appeared or disappeared since."""
    try:
        return _records(
            con,
            sql_text("lifecycle/report_changes.sql"),
            {"month": month.first_day if month else None, "practice_id": practice_id},
        )
    except duckdb.CatalogException:  # no month built, or no report run table yet
        return []


def late_changes(con: duckdb.DuckDBPyConnection, up_to: Month | None = None) -> list[dict]:
    """The reported months whose findings changed after their latest report (data that
    arrived later), up to ``up_to`` when given."""
    return [
        c
        for c in report_changes(con)
        if (c["appeared"] or c["disappeared"]) and (up_to is None or c["month"] <= up_to.first_day)
    ]
