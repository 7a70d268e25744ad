"""The manifest: one `ingest_file` row per input file, and the result reported for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..integrity import chain, digest
from ..warehouse import transaction
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


def file_coverage(con, kind: Kind, file_id: int) -> tuple:
    """The first and last instant of the file's rows (none for kinds without a time)."""
    if not kind.coverage:
        return (None, None)
    return con.execute(
        f"SELECT min({kind.coverage}), max({kind.coverage}) FROM {kind.table} WHERE source_file_id = ?",
        [file_id],
    ).fetchone()


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
