"""The manifest: one `ingest_file` row per input file, and the result reported for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .. import __version__
from ..integrity import chain, digest
from ..warehouse import sql_text, transaction
from . import files
from .kinds import Kind
from .source import Source


@dataclass
class FileResult:
    """What happened to one input file."""

    file: str
    sha256: str | None = None
    format: str | None = None
    kind: str | None = None
    operator: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    # Source records an adapter (m365, dovecot) deliberately did not load; outside rows_read.
    rows_skipped: int = 0
    status: str = "loaded"  # loaded | unchanged | failed
    message: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("notes")
        return out


class CountMismatch(RuntimeError):
    """Raised when rows read differ from loaded + duplicate + quarantined (a bug: never commit)."""


class Unchanged(Exception):
    """Raised inside the load transaction when the file turns out to be already ingested."""


def already_ingested(con, fingerprint: files.Fingerprint, result: FileResult) -> bool:
    result.sha256 = fingerprint.sha256
    known = con.execute(
        "SELECT file_id, started_at FROM ingest_file WHERE sha256 = ? ORDER BY file_id LIMIT 1",
        [fingerprint.sha256],
    ).fetchone()
    if not known:
        return False
    result.status = "unchanged"
    result.message = (
        f"already ingested as file {known[0]} on {known[1]:%Y-%m-%d %H:%M} UTC; nothing changed"
    )
    return True


def describe_rows(con, source: Source, result: FileResult, file_id: int) -> tuple:
    """The file's operator and coverage, from its valid rows: read before repeats are removed,
    so that a file whose rows were all loaded before still names them."""
    kind = source.kind
    if "operator" in kind.columns:
        found = con.execute(
            f"SELECT string_agg(DISTINCT operator, ', ' ORDER BY operator) FROM {kind.table} "
            "WHERE source_file_id = ?",
            [file_id],
        ).fetchone()[0]
        result.operator = found or source.operator
    return file_coverage(con, kind, file_id)


# Two consecutive events of an audit file further apart than this split its coverage: the
# months between them are not covered (docs/formats.md#coverage). Longer than any quarter, so
# that a month without a trace inside an export's period stays covered (maybe an audit gap).
COVERAGE_GAP = timedelta(days=92)
NO_COVERAGE: tuple = (None, None, [])


def file_coverage(con, kind: Kind, file_id: int) -> tuple:
    """The first and last instant of the file's rows (none for kinds without a time), and,
    for audit events, the gaps of more than ``COVERAGE_GAP`` between two consecutive ones."""
    if not kind.coverage:
        return NO_COVERAGE
    first, last = con.execute(
        f"SELECT min({kind.coverage}), max({kind.coverage}) FROM {kind.table} WHERE source_file_id = ?",
        [file_id],
    ).fetchone()
    gaps = []
    if kind.name == "audit" and first is not None and last - first > COVERAGE_GAP:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW file_event AS SELECT source_file_id AS file_id, "
            f"occurred_at FROM audit_event WHERE source_file_id = {int(file_id)}"
        )
        gaps = [row[1:] for row in coverage_gaps(con)]
        con.execute("DROP VIEW temp.file_event")
    return (first, last, gaps)


def coverage_gaps(con) -> list[tuple]:
    """The gaps (file_id, after_at, before_at) of the events of the temp view ``file_event``."""
    return con.execute(
        sql_text("ingest/coverage_gaps.sql"), {"gap_days": COVERAGE_GAP.days}
    ).fetchall()


def fill_coverage_gaps(con) -> None:
    """Record the coverage gaps of the audit files loaded by a version that did not (run
    once, when the table is created). A file's rows that repeated earlier ones are kept under
    the earlier file's id, so its instants are read as every event of its operators within its
    first and last one (its operators are named in the manifest, joined by ", "): a gap found
    there is one of the file's own, and none is made up."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW file_event AS
        WITH audit_file AS (
            -- A file of 92 days or less has no gap: its events are not read.
            SELECT file_id, operator, covered_from_at, covered_to_at FROM ingest_file
            WHERE kind = 'audit' AND covered_to_at - covered_from_at > to_days({COVERAGE_GAP.days})
        ),
        file_operator AS (
            SELECT file_id, unnest(string_split(operator, ', ')) AS operator,
                   covered_from_at, covered_to_at
            FROM audit_file
        )
        SELECT f.file_id, e.occurred_at
        FROM file_operator AS f
        JOIN audit_event AS e
            ON e.operator = f.operator
            AND e.occurred_at BETWEEN f.covered_from_at AND f.covered_to_at
        UNION ALL SELECT file_id, covered_from_at FROM audit_file
        UNION ALL SELECT file_id, covered_to_at FROM audit_file
        """
    )
    gaps = coverage_gaps(con)
    con.execute("DROP VIEW temp.file_event")
    if gaps:
        con.executemany(
            "INSERT INTO ingest_file_gap (file_id, after_at, before_at) VALUES (?, ?, ?)", gaps
        )


def _gap_note(gaps: list[tuple]) -> str:
    """What the manifest notes of a file whose coverage is split."""
    spans = "; ".join(
        f"{after.astimezone(UTC):%Y-%m-%d %H:%M:%S} to {before.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        for after, before in gaps
    )
    return (
        f"coverage split: no event for more than {COVERAGE_GAP.days} days from {spans}; "
        "the months between are not covered"
    )


def record_manifest(
    con,
    source: Source,
    result: FileResult,
    file_id: int,
    started: datetime,
    coverage: tuple,
    kind: str | None = None,
) -> None:
    """Record the file's manifest entry, with the digest of the rows it loaded, and seal it
    with a link of the warehouse's chain, in the load's transaction."""
    if source.detected.content_columns:
        result.notes.append(
            "message content columns dropped: " + ", ".join(source.detected.content_columns)
        )
    if coverage[2]:
        result.notes.append(_gap_note(coverage[2]))
    con.execute(
        """
        INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format,
            operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined,
            ignored_columns, dropped_content_columns, covered_from_at, covered_to_at,
            started_at, ended_at, tool_version, notes, rows_skipped, encoding, rows_digest)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            file_id,
            str(source.path.resolve()),
            source.path.name,
            source.fingerprint.size_bytes,
            source.fingerprint.sha256,
            kind or source.kind.name,
            result.format,
            result.operator,
            result.rows_read,
            result.rows_loaded,
            result.rows_duplicate,
            result.rows_quarantined,
            source.detected.ignored_columns,
            source.detected.content_columns,
            coverage[0],
            coverage[1],
            started,
            datetime.now(UTC),
            __version__,
            "; ".join(result.notes) or None,
            result.rows_skipped,
            source.encoding,
            digest.encode(digest.file_digest(con, file_id)),
        ],
    )
    if coverage[2]:
        con.executemany(
            "INSERT INTO ingest_file_gap (file_id, after_at, before_at) VALUES (?, ?, ?)",
            [(file_id, after, before) for after, before in coverage[2]],
        )
    chain.append(con, chain.FILE, file_id)


def record_failure(con, path: Path, result: FileResult, started: datetime) -> None:
    """Record a file that failed as a whole, in its own transaction (the load's was rolled
    back): its size, hash and number of lines when it can be read, and the reason."""
    fingerprint = None
    if path.is_file():
        try:
            fingerprint = files.fingerprint(path)
        except OSError:
            fingerprint = None
    if fingerprint:
        result.sha256 = fingerprint.sha256
    with transaction(con):
        con.execute(
            """
            INSERT INTO ingest_failure (path, file_name, size_bytes, sha256, n_lines, kind,
                format, operator, rows_read, reason, started_at, ended_at, tool_version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                str(path.resolve()),
                path.name,
                fingerprint.size_bytes if fingerprint else None,
                fingerprint.sha256 if fingerprint else None,
                fingerprint.n_lines if fingerprint else None,
                result.kind,
                result.format,
                result.operator,
                result.rows_read,
                result.message,
                started,
                datetime.now(UTC),
                __version__,
            ],
        )
