"""What the warehouse holds, for the ``status`` and ``quarantine`` commands."""

from __future__ import annotations

import duckdb

from .analysis.lifecycle import late_changes
from .reports.labels import late_findings
from .warehouse import has_tables, sql_text


def _records(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def warehouse_status(con: duckdb.DuckDBPyConnection) -> dict:
    """Rows and coverage per operator and kind, quarantine counts by reason, files ingested,
    files that failed as a whole, the gaps splitting audit files' coverage, and the reported months whose findings changed after their
    report (``late_findings``)."""
    files = _records(con, sql_text("status/files.sql"))
    warnings = [f"{f['file_name']}: {f['notes']}" for f in files if f["notes"]]
    late = late_changes(con)
    return {
        "late_findings": [
            {
                "month": str(c["month"])[:7],
                "practice_id": c["practice_id"],
                "reported_at": c["reported_at"],
                "appeared": [f["finding_id"] for f in c["appeared"]],
                "disappeared": [f["finding_id"] for f in c["disappeared"]],
                "text": late_findings(c),
            }
            for c in late
        ],
        "holdings": _records(con, sql_text("status/holdings.sql")),
        "quarantine": _records(con, sql_text("status/quarantine_by_reason.sql")),
        "files": files,
        "failures": _records(con, sql_text("status/failures.sql")),
        "coverage_gaps": _coverage_gaps(con),
        "warnings": warnings,
    }


def _coverage_gaps(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The gaps that split audit files' coverage (none recorded in a warehouse not yet
    opened for writing by a version that records them)."""
    if not has_tables(con, "ingest_file_gap"):
        return []
    return _records(con, sql_text("status/coverage_gaps.sql"))


def quarantined_rows(
    con: duckdb.DuckDBPyConnection, file: str | None = None, reason: str | None = None
) -> list[dict]:
    """Quarantined rows, optionally of one file (sha256 prefix, path or name) and reason."""
    return _records(con, sql_text("status/quarantine_rows.sql"), {"file": file, "reason": reason})
