"""Loading one input file into the warehouse: all of it or none, nothing lost.

Every row read ends in exactly one place: the kind's table (loaded), the count of duplicates
(already in the warehouse or earlier in the file, with the same content), or the quarantine
(with a reason code). The counts are checked before the transaction commits.

This module orchestrates the stages, each in its own module: ``staging_csv`` and
``staging_json`` read a file as canonical rows, ``staging`` runs the kind's staging model and
inserts the valid rows, ``repeats`` settles repeated keys, ``quarantine`` keeps the rows that
cannot be loaded, ``manifest`` records the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from ..errors import InputFileError, StorageFull, UserError
from ..warehouse import sql_statements, stop_point, storage_error, transaction
from . import files
from .adapters import RowSink, Staging
from .detect import ADAPTER_FORMATS, detect
from .dovecot import DovecotReader
from .dovecot import time_macro_sql as dovecot_time_macros
from .kinds import KINDS
from .m365 import M365Reader
from .manifest import (
    NO_COVERAGE,
    CountMismatch,
    FileResult,
    Unchanged,
    already_ingested,
    describe_rows,
    file_coverage,
    record_failure,
    record_manifest,
)
from .quarantine import QUARANTINE_COLUMNS, REASONS, locate_and_quarantine, quarantine_rejects
from .repeats import settle_repeats
from .source import DEFAULT_TIMEZONE, Source
from .staging import define_time_macros, insert_valid, set_variables
from .staging_csv import count_records, screen_lines
from .staging_json import stage_jsonl

__all__ = ["REASONS", "FileResult", "ingest_file", "ingest_paths"]

_TEMP_TABLES = (
    "located",
    "raw_lines",
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
_PASS_TABLES = (
    "located",
    "raw_lines",
    "repeat_groups",
    "conflict_rows",
    "skipped_lines",
    "jsonl_rows",
)


_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")


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
    # Lack of room is no fault of the file: the command stops there, and the connection,
    # which DuckDB may have invalidated, is not used again.
    storage_full = False
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
        if seen_size and already_ingested(con, hashing.result(), result):
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
            read_path, transcoded, encoding = path, False, "utf-8"
            if detected.layout.container not in ("jsonl", *ADAPTER_FORMATS):
                encoding = files.file_encoding(path, detected.layout.encoding)
            if encoding != "utf-8":
                read_path, transcoded = Path(tmp) / "utf8.csv", True
                files.transcode_to_utf8(path, read_path, encoding)
            source = Source(
                path,
                detected,
                hashing,
                default_operator,
                read_path,
                transcoded,
                encoding=encoding,
                year=year,
                timezone=timezone,
            )
            if detected.layout.container in ("csv", "directory"):
                if detected.skip_lines:
                    source.read_path = Path(tmp) / "without_type_line.csv"
                    files.copy_without_first_lines(read_path, source.read_path, detected.skip_lines)
                    source.line_offset = detected.skip_lines
                screen_lines(source, Path(tmp))
            if detected.layout.container in ADAPTER_FORMATS:
                _load_adapter(con, source, result, started, on_progress)
            else:
                _load(con, source, result, started, on_progress)
    except Unchanged:
        pass
    except StorageFull as exc:
        storage_full = True
        raise StorageFull(f"{path}: nothing of it was loaded: {exc}") from None
    except UserError as exc:
        result.status = "failed"
        result.message = str(exc)
    except (duckdb.Error, OSError) as exc:
        full = storage_error(exc)
        if full is not None:
            storage_full = True
            raise StorageFull(f"{path}: nothing of it was loaded: {full}") from None
        if isinstance(exc, OSError):
            raise
        result.status = "failed"
        result.message = f"{path}: could not be loaded: {exc}".splitlines()[0]
    except RecursionError:
        result.status = "failed"
        result.message = f"{path}: could not be loaded: JSON nested too deep"
    finally:
        if not storage_full:
            _drop_temp(con)
    if result.status == "failed":
        record_failure(con, path, result, started)
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


def _load(con, source: Source, result: FileResult, started: datetime, on_progress) -> None:
    """Load the file's valid rows straight into the kind's table, then settle repeats and
    quarantine. The common case, a clean file, reads it twice in parallel scans: once to count
    records and collect the reader's rejects, once to validate and insert. Line numbers cost a
    sequential scan, so they are computed only when some row needs one (a quarantined row)."""
    kind = source.kind
    with transaction(con):
        file_id = con.execute("SELECT nextval('ingest_file_seq')").fetchone()[0]
        set_variables(con, source)
        define_time_macros(con, source)
        if source.detected.layout.container == "jsonl":
            n_records = stage_jsonl(con, source)
        else:
            n_records = count_records(con, source)
        source.n_records = n_records
        if already_ingested(con, source.fingerprint, result):
            raise Unchanged
        stop_point("load: staged")

        n_inserted = insert_valid(con, source, file_id, on_progress)
        stop_point("load: rows inserted")
        coverage = describe_rows(con, source, result, file_id)
        n_duplicate, conflict_keys = settle_repeats(con, kind, file_id)
        stop_point("load: repeats settled")
        if n_inserted < n_records or conflict_keys:
            n_duplicate += locate_and_quarantine(con, source, file_id, conflict_keys)
        quarantine_rejects(con, source, file_id)
        stop_point("load: quarantined")

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
        record_manifest(con, source, result, file_id, started, coverage)


def _load_adapter(con, source: Source, result: FileResult, started: datetime, on_progress) -> None:
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
        set_variables(con, source)
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
        if already_ingested(con, source.fingerprint, result):
            raise Unchanged
        stop_point("load: staged")

        n_duplicate = 0
        coverage: tuple = NO_COVERAGE
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
            n_inserted = insert_valid(con, part, file_id, on_progress)
            stop_point("load: rows inserted")
            if coverage == NO_COVERAGE:
                # Read before repeats are removed: a file loaded before still names its span.
                coverage = file_coverage(con, kind, file_id)
            repeated, conflict_keys = settle_repeats(con, kind, file_id)
            if n_inserted < n_rows or conflict_keys:
                repeated += locate_and_quarantine(con, part, file_id, conflict_keys)
            n_duplicate += repeated
            _drop_temp(con, _PASS_TABLES)
            stop_point("load: repeats settled")
        if staging.rejects:
            con.executemany(
                f"INSERT INTO quarantine ({QUARANTINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
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
        record_manifest(con, source, result, file_id, started, coverage, kind_name)
