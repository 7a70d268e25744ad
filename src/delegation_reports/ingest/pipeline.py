"""Loading one input file into the warehouse: all of it or none, nothing lost.

Every row read ends in exactly one place: the kind's table (loaded), the count of duplicates
(already in the warehouse or earlier in the file, with the same content), or the quarantine
(with a reason code). The counts are checked before the transaction commits.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from .. import __version__
from ..errors import InputFileError, UserError
from ..warehouse import sql_statements, sql_text, transaction
from . import files
from .adapters import RowSink, Staging
from .detect import ADAPTER_FORMATS, Detected, detect, extraction_time
from .dovecot import DovecotReader
from .dovecot import time_macro_sql as dovecot_time_macros
from .kinds import CONTENT_COLUMNS, DIRECTORY, KINDS, Kind, is_content_column
from .m365 import M365Reader

# Local times of Dovecot logs are read in this zone unless --timezone says otherwise.
DEFAULT_TIMEZONE = "Europe/Paris"

# The closed list of quarantine reasons (documented in docs/quarantine.md).
REASONS = {
    "wrong_column_count": "the row has more or fewer fields than the header",
    "malformed_row": "the row cannot be parsed (unbalanced quotes, invalid JSON...)",
    "undecodable_bytes": "bytes that are not valid in the file's encoding",
    "missing_required_field": "a required field is empty",
    "bad_timestamp": "a date or time that cannot be read",
    "missing_offset": "a canonical timestamp without a UTC offset",
    "ambiguous_local_time": "a local time in the autumn fall-back hour, which happens twice",
    "nonexistent_local_time": "a local time in the spring-forward hour, which does not exist",
    "unknown_action": "an action or event type outside the known list",
    "invalid_value": "a value outside its column's accepted values",
    "invalid_address": "a mailbox or account that is not an e-mail address",
    "invalid_identifier": "an identifier with the wrong shape",
    "invalid_check_digit": "an RPPS, FINESS, SIREN or SIRET whose check digit is wrong",
    "invalid_range": "a validity period that ends before it starts",
    "conflicting_duplicate": "same key as a row already loaded, with different content",
    "line_too_long": "a line longer than the reader accepts",
}

_REJECT_REASONS = {
    "MISSING COLUMNS": "wrong_column_count",
    "TOO MANY COLUMNS": "wrong_column_count",
    "INVALID ENCODING": "undecodable_bytes",
    "INVALID UNICODE": "undecodable_bytes",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}


_JSONL_BATCH = 50_000
_TEMP_TABLES = (
    "located",
    "repeat_groups",
    "conflict_rows",
    "skipped_lines",
    "rejects",
    "jsonl_rows",
    "reject_rows",
    "reject_scans",
    "reject_rows_2",
    "reject_scans_2",
    "stage_audit",
    "stage_delegations",
)
# Temporary tables of one kind's pass over an adapter's rows.
_PASS_TABLES = ("located", "repeat_groups", "conflict_rows", "skipped_lines", "jsonl_rows")
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")


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


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _ProgressWatch:
    """Reports DuckDB's progress on the running statement from a background thread."""

    def __init__(self, con: duckdb.DuckDBPyConnection, report: Callable[[float], None] | None):
        self.con, self.report = con, report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                value = self.con.query_progress()
            except duckdb.Error:
                return
            if value is not None and value >= 0:
                self.report(value)

    def __enter__(self):
        if self.report:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.report:
            self._thread.join()


@dataclass
class _Source:
    """A detected file and everything the loader derives from it."""

    path: Path
    detected: Detected
    hashing: Future
    operator: str | None
    read_path: Path
    transcoded: bool
    n_records: int = 0
    year: int | None = None
    timezone: str = DEFAULT_TIMEZONE

    @property
    def kind(self) -> Kind:
        return self.detected.layout.kind

    @property
    def fingerprint(self) -> files.Fingerprint:
        return self.hashing.result()


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    *,
    fmt: str = "auto",
    profile: str | None = None,
    operator: str | None = None,
    on_file: Callable[[Path, int], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_done: Callable[[FileResult], None] | None = None,
    year: int | None = None,
    timezone: str | None = None,
) -> list[FileResult]:
    """Ingest several files, each in its own transaction; a failed file does not stop the rest."""
    results = []
    for path in paths:
        path = Path(path)
        if on_file:
            on_file(path, path.stat().st_size if path.is_file() else 0)
        result = ingest_file(
            con,
            path,
            fmt=fmt,
            profile=profile,
            operator=operator,
            on_progress=on_progress,
            year=year,
            timezone=timezone,
        )
        results.append(result)
        if on_done:
            on_done(result)
    return results


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    fmt: str = "auto",
    profile: str | None = None,
    operator: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    year: int | None = None,
    timezone: str | None = None,
) -> FileResult:
    """Load one file in one transaction. User mistakes give a ``failed`` result, not an error.

    ``year`` and ``timezone`` apply to Dovecot logs: the year of syslog dates that have none,
    and the zone of local times (default Europe/Paris).
    """
    path = Path(path)
    result = FileResult(file=str(path))
    started = datetime.now(UTC)
    try:
        timezone = _checked_timezone(timezone)
        detected = detect(path, fmt, profile)
        result.format = detected.format_name
        result.kind = detected.layout.kind.name
        # Hashing runs beside the load; a file of a size already seen is hashed first, since
        # it may be a repetition that needs no load at all.
        size = path.stat().st_size
        hashing = _HASHER.submit(files.fingerprint, path)
        seen_size = con.execute(
            "SELECT count(*) FROM ingest_file WHERE size_bytes = ?", [size]
        ).fetchone()[0]
        if seen_size and _already_ingested(con, hashing.result(), result):
            return result
        default_operator = operator or detected.layout.constants.get("operator")
        if detected.layout.container in ADAPTER_FORMATS and not default_operator:
            raise InputFileError(
                f"{path}: {detected.layout.description} do not name the operator: pass --operator NAME"
            )
        if (
            detected.layout.kind.name not in ("roster", "directory")
            and "operator" not in detected.positions
            and not default_operator
        ):
            raise InputFileError(f"{path}: no 'operator' column: pass --operator NAME")
        result.operator = default_operator
        with tempfile.TemporaryDirectory(prefix="delegation-reports-") as tmp:
            read_path, transcoded = path, False
            if detected.layout.container != "jsonl" and not detected.layout.is_utf8:
                read_path, transcoded = Path(tmp) / "utf8.csv", True
                files.transcode_to_utf8(path, read_path, detected.layout.encoding)
            source = _Source(
                path,
                detected,
                hashing,
                default_operator,
                read_path,
                transcoded,
                year=year,
                timezone=timezone,
            )
            if detected.layout.container in ADAPTER_FORMATS:
                _load_adapter(con, source, result, started, on_progress)
            else:
                _load(con, source, result, started, on_progress)
    except _Unchanged:
        pass
    except UserError as exc:
        result.status = "failed"
        result.message = str(exc)
    except duckdb.Error as exc:
        result.status = "failed"
        result.message = f"{path}: could not be loaded: {exc}".splitlines()[0]
    finally:
        _drop_temp(con)
    return result


def _drop_temp(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = _TEMP_TABLES) -> None:
    existing = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
    ).fetchall()
    for name, table_type in existing:
        if name in names:
            con.execute(f"DROP {'VIEW' if table_type == 'VIEW' else 'TABLE'} temp.{name}")


def _checked_timezone(timezone: str | None) -> str:
    if not timezone:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"unknown time zone {timezone!r} (--timezone): use a name like Europe/Paris"
        ) from None
    return timezone


class _Unchanged(Exception):
    """Raised inside the load transaction when the file turns out to be already ingested."""


def _already_ingested(con, fingerprint: files.Fingerprint, result: FileResult) -> bool:
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


def _load(con, source: _Source, result: FileResult, started: datetime, on_progress) -> None:
    """Load the file's valid rows straight into the kind's table, then settle repeats and
    quarantine. The common case, a clean file, reads it twice in parallel scans: once to count
    records and collect the reader's rejects, once to validate and insert. Line numbers cost a
    sequential scan, so they are computed only when some row needs one (a quarantined row)."""
    kind = source.kind
    with transaction(con):
        file_id = con.execute("SELECT nextval('ingest_file_seq')").fetchone()[0]
        _set_variables(con, source)
        _define_time_macros(con, source)
        if source.detected.layout.container == "jsonl":
            n_records = _stage_jsonl(con, source)
        else:
            n_records = _count_records(con, source)
        source.n_records = n_records
        if _already_ingested(con, source.fingerprint, result):
            raise _Unchanged

        n_inserted = _insert_valid(con, source, file_id, on_progress)
        coverage = _describe_rows(con, source, result, file_id)
        n_duplicate, conflict_keys = _settle_repeats(con, kind, file_id)
        if n_inserted < n_records or conflict_keys:
            n_duplicate += _locate_and_quarantine(con, source, file_id, conflict_keys)
        _quarantine_rejects(con, source, file_id)

        result.rows_read = (
            n_records + con.execute("SELECT count(DISTINCT line_number) FROM rejects").fetchone()[0]
        )
        result.rows_loaded = con.execute(
            f"SELECT count(*) FROM {kind.table} WHERE source_file_id = ?", [file_id]
        ).fetchone()[0]
        result.rows_duplicate = n_duplicate
        result.rows_quarantined = con.execute(
            "SELECT count(DISTINCT line_number) FROM quarantine WHERE file_id = ?", [file_id]
        ).fetchone()[0]
        if result.rows_read != result.rows_loaded + result.rows_duplicate + result.rows_quarantined:
            raise CountMismatch(
                f"{source.path}: {result.rows_read} rows read but {result.rows_loaded} loaded + "
                f"{result.rows_duplicate} duplicate + {result.rows_quarantined} quarantined"
            )
        _record_manifest(con, source, result, file_id, started, coverage)


def _load_adapter(con, source: _Source, result: FileResult, started: datetime, on_progress) -> None:
    """Load a file read by an adapter (m365, dovecot) in one transaction.

    The adapter turns the file's records into canonical rows of one or two kinds (a Microsoft
    365 export mixes mailbox accesses and permission changes). Each kind then goes through
    the same staging model, deduplication and quarantine as a canonical file, one pass per
    kind. Here rows_read counts the canonical rows produced plus the source records that could
    not be read at all (each quarantined once): rows_read = loaded + duplicate + quarantined
    still holds. Source records deliberately not loaded are counted in rows_skipped.
    """
    layout = source.detected.layout
    is_m365 = layout.container == "m365"
    kinds = ("audit", "delegations") if is_m365 else ("audit",)
    with transaction(con):
        file_id = con.execute("SELECT nextval('ingest_file_seq')").fetchone()[0]
        _set_variables(con, source)
        if is_m365:
            statements = sql_statements("ingest/time_iso.sql")
        else:
            statements = dovecot_time_macros(source.timezone)
        for statement in statements:
            con.execute(statement)
        sink = RowSink(con, kinds)
        if is_m365:
            reader = M365Reader(
                con,
                source.path,
                source.detected.header,
                source.operator,
                sink,
                delimiter=source.detected.delimiter or ",",
            )
        else:
            reader = DovecotReader(
                con, source.path, source.operator, sink, source.year, source.timezone
            )
        staging: Staging = reader.read()
        if _already_ingested(con, source.fingerprint, result):
            raise _Unchanged

        n_duplicate = 0
        coverage: tuple = (None, None)
        for name in kinds:
            n_rows = sink.counts[name]
            if not n_rows:
                continue
            kind = KINDS[name]
            part = replace(
                source,
                detected=replace(
                    source.detected, layout=replace(layout, kind=kind, container="jsonl")
                ),
                n_records=n_rows,
            )
            con.execute(f"CREATE TEMP VIEW jsonl_rows AS SELECT * FROM stage_{name}")
            n_inserted = _insert_valid(con, part, file_id, on_progress)
            if coverage == (None, None):
                # Read before repeats are removed: a file loaded before still names its span.
                coverage = _coverage(con, kind, file_id)
            repeated, conflict_keys = _settle_repeats(con, kind, file_id)
            if n_inserted < n_rows or conflict_keys:
                repeated += _locate_and_quarantine(con, part, file_id, conflict_keys)
            n_duplicate += repeated
            _drop_temp(con, _PASS_TABLES)
        if staging.rejects:
            con.executemany(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
                [(file_id, source.fingerprint.sha256, *reject) for reject in staging.rejects],
            )
        if staging.persist:
            staging.persist(con, file_id)

        result.operator = source.operator
        result.rows_read = sum(sink.counts.values()) + len(staging.rejects)
        result.rows_loaded = sum(
            con.execute(
                f"SELECT count(*) FROM {KINDS[name].table} WHERE source_file_id = ?", [file_id]
            ).fetchone()[0]
            for name in kinds
        )
        result.rows_duplicate = n_duplicate
        # Rows, not lines: one source record may stand for several rows (an aggregated
        # Microsoft 365 record), each quarantined on its own.
        result.rows_quarantined = con.execute(
            "SELECT count(*) FROM quarantine WHERE file_id = ?", [file_id]
        ).fetchone()[0]
        result.rows_skipped = sum(staging.skipped.values())
        if result.rows_read != result.rows_loaded + result.rows_duplicate + result.rows_quarantined:
            raise CountMismatch(
                f"{source.path}: {result.rows_read} rows read but {result.rows_loaded} loaded + "
                f"{result.rows_duplicate} duplicate + {result.rows_quarantined} quarantined"
            )
        if staging.n_source != staging.n_mapped + len(staging.rejects) + result.rows_skipped:
            raise CountMismatch(
                f"{source.path}: {staging.n_source} source records but {staging.n_mapped} mapped + "
                f"{len(staging.rejects)} unreadable + {result.rows_skipped} skipped"
            )
        kind_name = (
            "delegations"
            if is_m365 and not sink.counts["audit"] and sink.counts["delegations"]
            else "audit"
        )
        result.kind = kind_name
        result.notes.extend(staging.notes)
        source.detected.content_columns = sorted(staging.content_keys)
        _record_manifest(con, source, result, file_id, started, coverage, kind_name)


def _describe_rows(con, source: _Source, result: FileResult, file_id: int) -> tuple:
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
    return _coverage(con, kind, file_id)


def _coverage(con, kind: Kind, file_id: int) -> tuple:
    """The first and last instant of the file's rows (none for kinds without a time)."""
    if not kind.coverage:
        return (None, None)
    return con.execute(
        f"SELECT min({kind.coverage}), max({kind.coverage}) FROM {kind.table} WHERE source_file_id = ?",
        [file_id],
    ).fetchone()


def _insert_valid(con, source: _Source, file_id: int, on_progress) -> int:
    """Insert the staged rows without problems straight into the kind's table; returns how
    many. Repeats and conflicts are settled afterwards."""
    kind = source.kind
    stored = ", ".join(kind.stored)
    staged = _staged_sql(source, with_lines=False)
    with _ProgressWatch(con, on_progress):
        return con.execute(
            f"INSERT INTO {kind.table} ({stored}, source_file_id) "
            f"SELECT {stored}, $file_id FROM ({staged.sql}) WHERE len(problems) = 0",
            {**staged.params, "file_id": file_id},
        ).fetchone()[0]


def _record_manifest(
    con,
    source: _Source,
    result: FileResult,
    file_id: int,
    started: datetime,
    coverage: tuple,
    kind: str | None = None,
) -> None:
    if source.detected.content_columns:
        result.notes.append(
            "message content columns dropped: " + ", ".join(source.detected.content_columns)
        )
    con.execute(
        """
        INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format,
            operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined,
            ignored_columns, dropped_content_columns, covered_from_at, covered_to_at,
            started_at, ended_at, tool_version, notes, rows_skipped)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        ],
    )


@dataclass
class _Staged:
    sql: str
    params: dict


def _staged_sql(source: _Source, *, with_lines: bool) -> _Staged:
    """The kind's staging model over the file: one row per record, typed, with its problems."""
    stg_sql = sql_text(f"ingest/stg_{source.kind.name}.sql")
    if source.detected.layout.container == "jsonl":
        raw_sql, params = "SELECT * FROM jsonl_rows", {}
    else:
        raw_sql, params = _csv_raw_sql(source, with_lines=with_lines)
    return _Staged(f"WITH raw_canonical AS ({raw_sql}) SELECT * FROM ({stg_sql})", params)


def _key_sql(kind: Kind, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + k for k in kind.key)


def _content_sql(kind: Kind, alias: str) -> str:
    columns = ["row_digest"] if kind is DIRECTORY else list(kind.content)
    return "struct_pack(" + ", ".join(f"{c} := {alias}.{c}" for c in columns) + ")"


def _key_join(kind: Kind, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in kind.key)


def _settle_repeats(con, kind: Kind, file_id: int) -> tuple[int, bool]:
    """Remove this file's rows that repeat a key, keeping one row per new key.

    Returns the number of exact duplicates removed, and whether some keys repeat with a
    different content (conflicts, whose rows need their line numbers to be quarantined).
    """
    sql = sql_text("ingest/repeat_groups.sql").format(
        key_cols=_key_sql(kind),
        t_key_cols=_key_sql(kind, "t"),
        k_key_cols=_key_sql(kind, "k"),
        o_content=_content_sql(kind, "o"),
        t_content=_content_sql(kind, "t"),
        table=kind.table,
        t_o_key_join=_key_join(kind, "t", "o"),
        t_k_key_join=_key_join(kind, "t", "k"),
        e_k_key_join=_key_join(kind, "e", "k"),
    )
    con.execute(f"CREATE TEMP TABLE repeat_groups AS {sql}", {"file_id": file_id})
    n_groups, n_duplicate, n_conflict_groups = con.execute(
        """
        SELECT count(*),
            coalesce(sum(CASE
                WHEN earlier_file_id IS NOT NULL AND n_same_as_earlier = n_here THEN n_here
                WHEN earlier_file_id IS NULL AND n_contents = 1 THEN n_here - 1
                ELSE 0 END), 0),
            count(*) FILTER (earlier_file_id IS NOT NULL AND n_same_as_earlier < n_here
                             OR earlier_file_id IS NULL AND n_contents > 1)
        FROM repeat_groups
        """
    ).fetchone()
    if not n_groups:
        return 0, False
    # Keys already loaded from an earlier file: none of this file's rows stays.
    con.execute(
        f"DELETE FROM {kind.table} AS t USING repeat_groups AS g "
        f"WHERE t.source_file_id = $file_id AND g.earlier_file_id IS NOT NULL AND {_key_join(kind, 't', 'g')}",
        {"file_id": file_id},
    )
    # New keys repeated with one content: keep one row. Conflicting keys: keep none for now;
    # the first occurrence is put back once line numbers tell which one it is.
    con.execute(
        f"""
        DELETE FROM {kind.table} WHERE rowid IN (
            SELECT rowid FROM (
                SELECT t.rowid, g.n_contents,
                    row_number() OVER (PARTITION BY {_key_sql(kind, "t")} ORDER BY t.rowid) AS occurrence
                FROM {kind.table} AS t
                JOIN repeat_groups AS g ON {_key_join(kind, "t", "g")}
                WHERE t.source_file_id = $file_id AND g.earlier_file_id IS NULL
            ) WHERE occurrence > 1 OR n_contents > 1
        )
        """,
        {"file_id": file_id},
    )
    return n_duplicate, n_conflict_groups > 0


def _locate_and_quarantine(con, source: _Source, file_id: int, conflict_keys: bool) -> int:
    """Read the file again with line numbers, for the rows that need one: rows with problems,
    and every occurrence of a conflicting key. Returns the duplicates found among the latter."""
    kind = source.kind
    staged = _staged_sql(source, with_lines=True)
    conflict_filter = ""
    if conflict_keys:
        conflict_filter = (
            f" OR hash({_key_sql(kind)}) IN (SELECT hash({_key_sql(kind)}) FROM repeat_groups "
            "WHERE earlier_file_id IS NOT NULL AND n_same_as_earlier < n_here "
            "OR earlier_file_id IS NULL AND n_contents > 1)"
        )
    con.execute(
        f"CREATE TEMP TABLE located AS SELECT * FROM ({staged.sql}) "
        f"WHERE len(problems) > 0{conflict_filter}",
        staged.params,
    )
    if source.detected.layout.container != "jsonl":
        _fix_line_numbers(con, source)
    con.execute(
        "INSERT INTO quarantine SELECT $file_id, $sha, line_number, problems[1].reason, "
        "array_to_string(list_transform(problems, lambda p: p.reason || coalesce(': ' || p.detail, '')), '; '), "
        "raw_text FROM located WHERE len(problems) > 0",
        {"file_id": file_id, "sha": source.fingerprint.sha256},
    )
    if not conflict_keys:
        return 0
    stored = ", ".join(kind.stored)
    # A conflicting row passed validation, so its raw text was not kept: show it as parsed.
    as_parsed = "to_json(struct_pack(" + ", ".join(f"{c} := l.{c}" for c in kind.stored) + "))"
    con.execute(
        f"""
        CREATE TEMP TABLE conflict_rows AS
        SELECT l.*,
            {_content_sql(kind, "l")} AS content,
            g.earlier_content, g.earlier_file_id,
            first_value({_content_sql(kind, "l")}) OVER (
                PARTITION BY {_key_sql(kind, "l")} ORDER BY l.line_number) AS first_content,
            first_value(l.line_number) OVER (
                PARTITION BY {_key_sql(kind, "l")} ORDER BY l.line_number) AS first_line
        FROM located AS l
        JOIN repeat_groups AS g ON {_key_join(kind, "l", "g")}
        WHERE len(l.problems) = 0
        """
    )
    # New conflicting keys: the first occurrence in the file is the one loaded.
    con.execute(
        f"INSERT INTO {kind.table} ({stored}, source_file_id) "
        f"SELECT {stored}, $file_id FROM conflict_rows "
        "WHERE earlier_file_id IS NULL AND line_number = first_line",
        {"file_id": file_id},
    )
    con.execute(
        f"""
        INSERT INTO quarantine
        SELECT $file_id, $sha, line_number, 'conflicting_duplicate',
            CASE WHEN earlier_file_id IS NOT NULL
                THEN 'same key as a row of file ' || earlier_file_id || ', different content'
                ELSE 'same key as line ' || first_line || ' of this file, different content' END,
            {as_parsed.replace("l.", "")}
        FROM conflict_rows
        WHERE content IS DISTINCT FROM coalesce(earlier_content, first_content)
        """,
        {"file_id": file_id, "sha": source.fingerprint.sha256},
    )
    return con.execute(
        "SELECT count(*) FROM conflict_rows "
        "WHERE content IS NOT DISTINCT FROM coalesce(earlier_content, first_content) "
        "AND NOT (earlier_file_id IS NULL AND line_number = first_line)"
    ).fetchone()[0]


def _set_variables(con, source: _Source) -> None:
    layout = source.detected.layout
    con.execute("SET VARIABLE default_operator = ?::VARCHAR", [source.operator])
    for column, value in layout.constants.items():
        con.execute(f"SET VARIABLE const_{column} = ?::VARCHAR", [value])
    for column, mapping in layout.values.items():
        con.execute(
            f"SET VARIABLE map_{column} = MAP(?::VARCHAR[], ?::VARCHAR[])",
            [list(mapping), list(mapping.values())],
        )
    if layout.kind is DIRECTORY:
        stamp = extraction_time(source.path)
        if stamp:
            con.execute(
                "SET VARIABLE extracted_at = timezone('Europe/Paris', ?::TIMESTAMP)", [stamp]
            )
        else:
            mtime = datetime.fromtimestamp(source.path.stat().st_mtime, UTC)
            con.execute("SET VARIABLE extracted_at = ?::TIMESTAMPTZ", [mtime])
    con.execute("SET VARIABLE list_separator = ?::VARCHAR", [layout.list_separator])


def _define_time_macros(con, source: _Source) -> None:
    spec = source.detected.layout.time
    if spec.style == "iso":
        statements = sql_statements("ingest/time_iso.sql")
    else:
        literals = {
            "timestamp_format": _sql_literal(spec.timestamp_format),
            "date_format": _sql_literal(spec.date_format),
            "timezone": _sql_literal(spec.timezone),
            "ambiguous": _sql_literal(spec.ambiguous),
            "nonexistent": _sql_literal(spec.nonexistent),
        }
        statements = [s.format(**literals) for s in sql_statements("ingest/time_local.sql")]
    for statement in statements:
        con.execute(statement)


def _csv_field(expr: str, delimiter: str) -> str:
    """SQL that writes one field back as CSV text, quoted when needed."""
    return (
        f"CASE WHEN {expr} IS NULL THEN '' "
        f"WHEN contains({expr}, '\"') OR contains({expr}, {_sql_literal(delimiter)}) "
        f"OR contains({expr}, chr(10)) OR contains({expr}, chr(13)) "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


def _csv_raw_sql(
    source: _Source,
    *,
    with_lines: bool,
    rejects: tuple[str, str] = ("reject_rows_2", "reject_scans_2"),
) -> tuple[str, dict]:
    """The `raw_canonical` query over the CSV file: canonical names, labels mapped. Line
    numbers (ordinal + 1, right while no line was skipped) make the scan sequential: asked
    only when needed."""
    detected = source.detected
    layout = detected.layout
    header = detected.header
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    content = {i for i, h in enumerate(header) if is_content_column(h)}
    kept = [n for i, n in enumerate(names) if i not in content]
    delimiter = detected.delimiter
    quote = "" if layout.container == "directory" else '"'

    select = ["ordinality + 1 AS line_number" if with_lines else "NULL::BIGINT AS line_number"]
    canonical = layout.kind.columns
    for column in canonical:
        position = detected.positions.get(column)
        if position is None or position in content:
            value = (
                f"getvariable('const_{column}')" if column in layout.constants else "NULL::VARCHAR"
            )
        else:
            value = names[position]
            if column in layout.values and column == "rights":
                value = (
                    f"array_to_string(list_transform(string_split({value}, getvariable('list_separator')), "
                    f"lambda r: coalesce(map_extract_value(getvariable('map_rights'), lower(trim(r))), trim(r))), '|')"
                )
            elif column in layout.values:
                value = f"coalesce(map_extract_value(getvariable('map_{column}'), lower(trim({value}))), {value})"
            elif column == "rights" and layout.list_separator != "|":
                value = f"replace({value}, getvariable('list_separator'), '|')"
        select.append(f"{value} AS {column}")
    if source.transcoded and kept:
        select.append(f"contains(concat_ws('', {', '.join(kept)}), chr(65533)) AS has_bad_bytes")
    elif kept:
        # Never true: the reader rejects bad bytes itself, but only in the columns a query
        # reads. Reading every kept column here makes every scan reject the same lines.
        lengths = " + ".join(f"coalesce(strlen({n}), 0)" for n in kept)
        select.append(f"({lengths}) < 0 AS has_bad_bytes")
    else:
        select.append("false AS has_bad_bytes")
    fields = [_csv_field(n, delimiter) if i not in content else "''" for i, n in enumerate(names)]
    select.append(f"concat_ws({_sql_literal(delimiter)}, {', '.join(fields)}) AS raw_text")

    options = (
        f"columns = {columns}, header = true, auto_detect = false, "
        f"delim = {_sql_literal(delimiter)}, quote = {_sql_literal(quote)}, "
        f"escape = {_sql_literal(quote)}, allow_quoted_nulls = false, "
        f"store_rejects = true, rejects_table = '{rejects[0]}', rejects_scan = '{rejects[1]}', "
        "max_line_size = 1048576, parallel = true"
    )
    ordinality = " WITH ORDINALITY" if with_lines else ""
    sql = f"SELECT {', '.join(select)} FROM read_csv($path, {options}){ordinality}"
    return sql, {"path": str(source.read_path)}


def _scrub_content(raw: str, source: _Source) -> str:
    """Blank the message-content fields of a rejected line before it is kept."""
    content = [i for i, h in enumerate(source.detected.header) if is_content_column(h)]
    if not content:
        return raw
    row = next(csv.reader(io.StringIO(raw), delimiter=source.detected.delimiter), [])
    for i in content:
        if i < len(row):
            row[i] = ""
    out = io.StringIO()
    csv.writer(out, delimiter=source.detected.delimiter, lineterminator="").writerow(row)
    return out.getvalue()


def _count_records(con, source: _Source) -> int:
    """Count the file's records in a fast parallel scan that also collects the lines the CSV
    reader rejects (wrong field count, bad bytes...) into `rejects`."""
    raw_sql, params = _csv_raw_sql(
        source, with_lines=False, rejects=("reject_rows", "reject_scans")
    )
    # The reader checks the encoding of the columns a query reads only: count(*) would let
    # bad bytes through. has_bad_bytes reads every kept column, as the load's scans do.
    n_records = con.execute(f"SELECT count(has_bad_bytes) FROM ({raw_sql})", params).fetchone()[0]
    rejected = con.execute(
        "SELECT line, min(line_byte_position), list(DISTINCT error_type ORDER BY error_type), "
        "first(csv_line), first(error_message) FROM reject_rows GROUP BY line ORDER BY line"
    ).fetchall()
    rows = []
    for line, offset, error_types, csv_line, message in rejected:
        reason = next(
            (_REJECT_REASONS[t] for t in error_types if t in _REJECT_REASONS), "malformed_row"
        )
        if reason == "undecodable_bytes" and not source.transcoded:
            raw = files.raw_line(source.path, offset)
        else:
            raw = (csv_line or "").strip("\r\n")
        detail = (message or "").splitlines()[0] if message else None
        rows.append((int(line), reason, detail, _scrub_content(raw, source)))
    con.execute(
        "CREATE TEMP TABLE rejects (line_number BIGINT, reason VARCHAR, detail VARCHAR, raw_text VARCHAR)"
    )
    if rows:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)", rows)
    con.execute("DROP TABLE IF EXISTS temp.reject_rows")
    con.execute("DROP TABLE IF EXISTS temp.reject_scans")
    return n_records


def _quarantine_rejects(con, source: _Source, file_id: int) -> None:
    con.execute(
        "INSERT INTO quarantine SELECT ?, ?, line_number, reason, detail, raw_text FROM rejects",
        [file_id, source.fingerprint.sha256],
    )


def _fix_line_numbers(con, source: _Source) -> None:
    """Staged line numbers assume no line was skipped; shift them past the rejected and blank
    lines before each row."""
    rejected = [r[0] for r in con.execute("SELECT DISTINCT line_number FROM rejects").fetchall()]
    blank = source.fingerprint.blank_lines
    if (
        blank
        and source.detected.layout.container == "csv"
        and (1 + source.n_records + len(rejected) + len(blank) != source.fingerprint.n_lines)
    ):
        # Some quoted value spans lines and counts as one line (docs/quarantine.md): number
        # the blank lines the same way, not physically.
        blank = files.logical_blank_lines(source.read_path, source.detected.delimiter)
    skipped = sorted(set(rejected) | set(blank))
    if not skipped:
        return
    # The row with ordinal k sits after the i-th skipped line s_i exactly when
    # k > s_i - i - 1: before s_i come s_i - 2 lines after the header, i - 1 of them skipped.
    con.execute("CREATE TEMP TABLE skipped_lines (good_before BIGINT, n_skipped BIGINT)")
    con.executemany(
        "INSERT INTO skipped_lines VALUES (?, ?)",
        [(s - i - 1, i) for i, s in enumerate(skipped, start=1)],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE located AS
        SELECT s.* REPLACE (s.line_number + coalesce(k.n_skipped, 0) AS line_number)
        FROM located AS s
        ASOF LEFT JOIN (SELECT good_before, max(n_skipped) AS n_skipped
                        FROM skipped_lines GROUP BY good_before) AS k
            ON s.line_number - 1 > k.good_before
        """
    )


def _jsonl_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _stage_jsonl(con, source: _Source) -> int:
    """Read a JSON Lines file into `jsonl_rows` (the same columns as `raw_canonical`); lines
    that are not JSON objects go to `rejects`. Returns the number of objects read."""
    import pyarrow as pa

    kind = source.kind
    columns = ["line_number", *kind.columns, "has_bad_bytes", "raw_text"]
    schema = pa.schema(
        [("line_number", pa.int64())]
        + [(c, pa.string()) for c in kind.columns]
        + [("has_bad_bytes", pa.bool_()), ("raw_text", pa.string())]
    )
    con.execute(
        "CREATE TEMP TABLE rejects (line_number BIGINT, reason VARCHAR, detail VARCHAR, raw_text VARCHAR)"
    )
    con.execute(
        "CREATE TEMP TABLE jsonl_rows ("
        + ", ".join(
            f"{c} {'BIGINT' if c == 'line_number' else 'BOOLEAN' if c == 'has_bad_bytes' else 'VARCHAR'}"
            for c in columns
        )
        + ")"
    )
    batch: dict[str, list] = {c: [] for c in columns}
    bad = []
    dropped: set[str] = set()
    extra_seen: set[str] = set()
    known_keys = set(kind.columns)

    def flush():
        if batch["line_number"]:
            con.register("jsonl_batch", pa.table(batch, schema=schema))
            con.execute("INSERT INTO jsonl_rows SELECT * FROM jsonl_batch")
            con.unregister("jsonl_batch")
            for values in batch.values():
                values.clear()

    with source.path.open("rb") as handle:
        for line_number, data in enumerate(handle, start=1):
            text = data.rstrip(b"\r\n")
            if not text.strip():
                continue
            try:
                record = json.loads(text.decode("utf-8-sig" if line_number == 1 else "utf-8"))
            except UnicodeDecodeError:
                bad.append(
                    (
                        line_number,
                        "undecodable_bytes",
                        "bytes that are not UTF-8",
                        _scrub_json_text(text.decode("utf-8", errors="backslashreplace")),
                    )
                )
                continue
            except json.JSONDecodeError as exc:
                bad.append(
                    (
                        line_number,
                        "malformed_row",
                        f"invalid JSON: {exc.msg}",
                        _scrub_json_text(text.decode("utf-8")),
                    )
                )
                continue
            if not isinstance(record, dict):
                bad.append(
                    (line_number, "malformed_row", "not a JSON object", text.decode("utf-8"))
                )
                continue
            kept = {k: v for k, v in record.items() if not is_content_column(k)}
            if len(kept) < len(record):
                dropped.update(k for k in record if is_content_column(k))
            if not known_keys.issuperset(kept):
                extra_seen.update(set(kept) - known_keys)
                known_keys.update(kept)
            batch["line_number"].append(line_number)
            for c in kind.columns:
                batch[c].append(_jsonl_value(kept.get(c)))
            batch["has_bad_bytes"].append(False)
            batch["raw_text"].append(json.dumps(kept, ensure_ascii=False))
            if len(batch["line_number"]) >= _JSONL_BATCH:
                flush()
    flush()
    if bad:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)", bad)
    # Keys first met after line 1 are recorded in the manifest too.
    source.detected.content_columns = sorted(set(source.detected.content_columns) | dropped)
    source.detected.ignored_columns = sorted(set(source.detected.ignored_columns) | extra_seen)
    return con.execute("SELECT count(*) FROM jsonl_rows").fetchone()[0]


_CONTENT_KEY_VALUE = re.compile(
    r'("(?:'
    + "|".join(re.escape(c) for c in sorted(CONTENT_COLUMNS))
    + r')"\s*:\s*)"(?:[^"\\]|\\.)*"',
    flags=re.I,
)


def _scrub_json_text(text: str) -> str:
    """Blank values of content keys in a line that could not be parsed as JSON."""
    return _CONTENT_KEY_VALUE.sub(r'\1""', text)
