"""Reading findings, and writing them safely as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb

from ..warehouse import sql_text
from .config import AnalysisConfig
from .models import FINDING_FIELDS, Month, create_model_macros, is_stale, refresh

# What `findings` prints: the rule's fields, then the finding's identity and lifecycle.
FIELDS = (*FINDING_FIELDS, "finding_id", "status", "first_month")
STATUSES = ("new", "ongoing", "accepted")
PARIS = ZoneInfo("Europe/Paris")
# Cells a spreadsheet would run as formulas.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The instants findings_for_month.sql gives as microseconds since the epoch.
_INSTANTS = frozenset({"first_at", "last_at", "accepted_at"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What the reports say of a finding's rule (rule_texts.sql's label, who and advice).
_RULE_TEXTS = ("rule_label", "rule_who", "advice_fr")


def ensure_month(con: duckdb.DuckDBPyConnection, month: Month, config: AnalysisConfig) -> None:
    """Build the month's models when missing or older than the data or configuration. A
    lake is never rebuilt here: a month its models do not cover is refused."""
    from ..lake import lake_source

    source = lake_source(con)
    if source is not None:
        source.require_month(month, config)
        create_model_macros(con)
    elif is_stale(con, month, config):
        refresh(con, [month], config)
    else:
        create_model_macros(con)


def month_findings(
    con: duckdb.DuckDBPyConnection,
    month: Month,
    practice_id: str | None = None,
    rule_id: str | None = None,
) -> list[dict]:
    """The month's findings as dicts (fields of ``FIELDS``, and an acceptance's who, when,
    why and until), most severe first."""
    cursor = con.execute(
        sql_text("marts/findings_for_month.sql"),
        {"month": month.first_day, "practice_id": practice_id, "rule_id": rule_id},
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    texts = {
        (practice, rule): words
        for practice, rule, *words in con.execute(sql_text("marts/rule_texts.sql")).fetchall()
    }
    unset = (None, None, None)
    for row in rows:
        for name in _INSTANTS:
            if row[name] is not None:
                row[name] = _EPOCH + timedelta(microseconds=row[name])
        # The practice's own text of each, else the default one.
        own = texts.get((row["practice_id"], row["rule_id"]), unset)
        base = texts.get((None, row["rule_id"]), unset)
        for name, mine, default in zip(_RULE_TEXTS, own, base, strict=True):
            row[name] = default if mine is None else mine
    return rows


def _iso(value: date) -> str:
    """A day as YYYY-MM-DD; an instant as Paris time with its offset
    (2026-03-04T11:20:00+01:00), so that whoever reads it sees the wall-clock time and the
    zone."""
    if isinstance(value, datetime):
        return value.astimezone(PARIS).isoformat()
    return value.isoformat()


def _plain(value):
    if isinstance(value, date):
        return _iso(value)
    if isinstance(value, list):
        return "|".join(value)
    return value


def guard_cell(value) -> str:
    """Text a spreadsheet shows as text: formula starts get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def guard_column(values) -> list[str]:
    """``guard_cell`` of each value, at a fraction of the cost of a call per value."""
    texts = ["" if v is None else str(v) for v in values]
    return ["'" + t if t.startswith(_FORMULA_STARTS) else t for t in texts]


def to_csv(findings: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for finding in findings:
        writer.writerow([guard_cell(_plain(finding[f])) for f in FIELDS])
    return out.getvalue()


def to_json(findings: list[dict]) -> str:
    rows = [
        {f: (_iso(v) if isinstance(v := finding[f], date) else v) for f in FIELDS}
        for finding in findings
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False)
