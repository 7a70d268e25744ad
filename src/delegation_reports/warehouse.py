"""The DuckDB warehouse: opening the file, its schema, transactions and SQL files."""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

from .errors import StorageFull, UserError, WarehouseInUse

DEFAULT_DB = "delegation.duckdb"
DB_ENV = "DELEGATION_REPORTS_DB"
MEMORY_ENV = "DELEGATION_REPORTS_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"


def default_db_path() -> Path:
    """The warehouse path: ``$DELEGATION_REPORTS_DB``, else ``./delegation.duckdb``."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def has_tables(con: duckdb.DuckDBPyConnection, *names: str) -> bool:
    """Whether each of ``names`` is a table of a ``main`` schema the connection sees. Looked
    up, not queried (a failed query would end the caller's transaction), in DuckDB's own
    catalog function: ``information_schema.tables`` costs twice as much, and reports ask at
    every document."""
    wanted = sorted(set(names))
    found = con.execute(
        "SELECT count(DISTINCT table_name) FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND list_contains(?, table_name)",
        [wanted],
    ).fetchone()[0]
    return found == len(wanted)


@cache
def sql_text(name: str) -> str:
    """The text of a packaged SQL file, e.g. ``sql_text("ingest/stg_audit.sql")``."""
    return (resources.files("delegation_reports") / "sql" / name).read_text(encoding="utf-8")


def sql_statements(name: str) -> list[str]:
    """The statements of a packaged SQL file, split on ``;`` at the end of a line, so that
    each runs in its own ``execute()`` call inside the caller's transaction."""
    text = "\n".join(
        line for line in sql_text(name).splitlines() if not line.lstrip().startswith("--")
    )
    return [part.strip() for part in re.split(r";\s*$", text, flags=re.M) if part.strip()]


def row_groups_read(con, sql: str, params, table: str) -> tuple[int, int]:
    """The row groups of ``table`` a query reads, and those its scans of it could read, from
    DuckDB's profile of one run (``EXPLAIN ANALYZE``): what shows that a query on one practice
    skips the other practices' row groups."""
    plan = json.loads(con.execute("EXPLAIN (ANALYZE, FORMAT json) " + sql, params).fetchall()[0][1])
    read = total = 0
    nodes = list(plan["operator"])
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        if str(node.get("extra_info", {}).get("Table", "")).endswith(f".{table}"):
            read += node.get("row_groups_scanned", 0)
            total += node.get("total_row_groups_to_scan", 0)
    return read, total


@cache
def private_temp_directory() -> str:
    """A folder readable by the owner only (mkdtemp makes it 0700) for DuckDB's spill files,
    which hold warehouse rows: never the shared ``<db>.tmp`` beside the warehouse. Removed
    when the process exits."""
    folder = tempfile.mkdtemp(prefix="delegation-duckdb-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _lock_holder(message: str) -> str:
    match = re.search(r"PID (\d+)", message)
    return f" (process {match.group(1)})" if match else ""


def connect(
    path: Path | str | None = None, *, read_only: bool = False, create: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, creating its schema when writing (and the file, unless
    ``create`` is false: commands that only read or refresh never answer from an empty
    warehouse made by a mistyped path).

    Raises ``WarehouseInUse`` when another process holds the file, and ``UserError`` when a
    read-only open, or one that must not create, finds no warehouse.
    """
    path = Path(path) if path is not None else default_db_path()
    if (read_only or not create) and not path.exists():
        raise UserError(f"no warehouse at {path}: run 'delegation-reports ingest' first")
    if not read_only and path.parent and not path.parent.exists():
        raise UserError(f"cannot create the warehouse {path}: folder {path.parent} does not exist")
    created = not read_only and not path.exists()
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise WarehouseInUse(
                f"warehouse in use: {path} is held by another process"
                f"{_lock_holder(message)}, loading into it or making reports from it; wait "
                "for it to finish and try again"
            ) from None
        raise UserError(f"cannot open the warehouse {path}: {message}") from None
    except duckdb.Error as exc:
        raise UserError(f"cannot open the warehouse {path}: {exc}") from None
    try:
        _set_up(con, path, created=created, read_only=read_only)
    except BaseException:
        # A connection left open (its traceback kept by the caller) would hold the file with
        # this one's settings, and the next open with others would be refused.
        con.close()
        raise
    return con


def _set_up(con, path: Path, *, created: bool, read_only: bool) -> None:
    """The settings, schema and macros of a warehouse connection just opened."""
    if created:
        # The warehouse holds health data and names: its owner's only, whatever the umask
        # (the CLI also narrows the umask, for the WAL file DuckDB creates later).
        path.chmod(0o600)
    con.execute("SET temp_directory = ?", [private_temp_directory()])
    con.execute("SET TimeZone = 'UTC'")
    # The CLI draws its own progress bar; DuckDB's would garble it. In a notebook kernel
    # DuckDB refuses the setting without ipywidgets, and draws no bar there anyway.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    limit = os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY_LIMIT
    try:
        con.execute("SET memory_limit = ?", [limit])
    except duckdb.Error:
        raise UserError(
            f"invalid ${MEMORY_ENV} {limit!r}: expected a size such as 2GB or 512MB"
        ) from None
    if not read_only:
        from .ingest.manifest import fill_coverage_gaps
        from .integrity import chain

        with transaction(con):
            sealed = chain.has_chain(con)
            gaps_known = has_tables(con, "ingest_file_gap")
            for statement in sql_statements("warehouse/schema.sql"):
                con.execute(statement)
            if not sealed:
                # A warehouse made before the chain existed: what it holds is sealed now.
                chain.seal_existing(con)
            if not gaps_known:
                # A warehouse made before coverage gaps were recorded: found now.
                fill_coverage_gaps(con)
    for statement in sql_statements("ingest/macros.sql"):
        con.execute(statement)


# What the operating system says when a write finds no room: the device is full, a quota or a
# file-size limit is reached.
_NO_ROOM = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG))


def storage_error(exc: BaseException) -> StorageFull | None:
    """The clear error for a failure that comes from lack of room (disk, quota, file size,
    memory or temporary space) in DuckDB or in a file the tool writes, or None for any
    other failure."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StorageFull(
            f"no room left to write {exc.filename or 'a temporary file'} ({exc.strerror}): "
            "the interrupted step was undone; free some space and run the command again"
        )
    if not isinstance(exc, duckdb.Error):
        return None
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return StorageFull(
            f"not enough memory or temporary disk space ({detail}): the interrupted step was "
            f"undone; free some space or raise ${MEMORY_ENV} and run the command again"
        )
    if any(reason in str(exc) for reason in _NO_ROOM):
        return StorageFull(
            f"no room left to write the warehouse ({detail}): the interrupted step was undone; "
            "free some space and run the command again"
        )
    return None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together, or none does. A failure for lack of room,
    inside or at the commit, becomes a ``StorageFull`` error: nothing of the block is kept."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        stop_point("commit")
        con.execute("COMMIT")
    except BaseException as exc:
        # A commit that failed has already ended the transaction: there is nothing to roll
        # back, and the failure to report is the first one.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        full = storage_error(exc)
        if full is not None:
            # DuckDB writes the log into the file when the connection closes; without room,
            # a write failing halfway through would leave the file damaged. The log stays
            # beside it instead, and the next process, with room, applies it.
            with contextlib.suppress(duckdb.Error):
                con.execute("PRAGMA disable_checkpoint_on_shutdown")
            raise full from None
        raise
    stop_point("committed")


# A hook for the crash tests: with $DELEGATION_REPORTS_STOP_AT set to N, the process stops
# itself (SIGSTOP) at the N-th stop point, for a test to kill it there; with
# $DELEGATION_REPORTS_STEP_LOG set, each stop point reached is appended to that file (its
# number, its label, the process's CPU seconds so far). Read when the first stop point is
# reached.
STOP_AT_ENV = "DELEGATION_REPORTS_STOP_AT"
STEP_LOG_ENV = "DELEGATION_REPORTS_STEP_LOG"


class _StopPoints:
    def __init__(self) -> None:
        stop_at = os.environ.get(STOP_AT_ENV)
        self.stop_at = int(stop_at) if stop_at else None
        self.log = os.environ.get(STEP_LOG_ENV)
        self.active = bool(self.stop_at or self.log)
        self.count = 0

    def reached(self, label: str) -> None:
        self.count += 1
        if self.log:
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(f"{self.count}\t{label}\t{time.process_time():.3f}\n")
        if self.count == self.stop_at:
            os.kill(os.getpid(), signal.SIGSTOP)


_STOP_POINTS: _StopPoints | None = None


def stop_point(label: str) -> None:
    """A step boundary of a load or a refresh, where a crash test may stop the process (see
    `STOP_AT_ENV`); does nothing otherwise."""
    global _STOP_POINTS
    if _STOP_POINTS is None:
        _STOP_POINTS = _StopPoints()
    if _STOP_POINTS.active:
        _STOP_POINTS.reached(label)


@contextmanager
def opened(
    path: Path | str | None = None, *, read_only: bool = False, create: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``connect`` as a context manager that always closes the connection."""
    con = connect(path, read_only=read_only, create=create)
    try:
        yield con
    finally:
        con.close()


# Set by a report batch in its worker processes, which their kernels inherit: `reading` then
# keeps its connection open between documents.
KEEP_READER_ENV = "DELEGATION_REPORTS_KEEP_READER"
# The connection `reading` keeps, with the file it reads: (resolved path, device, inode).
_kept_reader: tuple[tuple, duckdb.DuckDBPyConnection] | None = None


def _file_key(path: Path | str) -> tuple:
    path = Path(path).resolve()
    if not path.exists():
        return (str(path),)
    stat = path.stat()
    return (str(path), stat.st_dev, stat.st_ino)


@contextmanager
def reading(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse for the block (``connect(path,
    read_only=True)``), closed after it.

    In a report batch's processes (``$DELEGATION_REPORTS_KEEP_READER`` set), the connection
    stays open for the process's next block on the same file instead: opening the warehouse
    costs about as much as a small report's queries. The batch holds the warehouse read-only
    from before its first document to after its last, so the file cannot change under a
    kept connection, and the batch's processes end with it. A block that fails closes the
    connection it used: the next document starts from a new one."""
    global _kept_reader
    if not os.environ.get(KEEP_READER_ENV):
        with opened(path, read_only=True) as con:
            yield con
        return
    key = _file_key(path)
    if _kept_reader is not None and _kept_reader[0] != key:
        close_kept_reader()
    if _kept_reader is None:
        _kept_reader = (key, connect(path, read_only=True))
    con = _kept_reader[1]
    try:
        yield con
    except BaseException:
        close_kept_reader()
        raise


def close_kept_reader() -> None:
    """Close the connection ``reading`` keeps, if any."""
    global _kept_reader
    if _kept_reader is not None:
        kept, _kept_reader = _kept_reader[1], None
        with contextlib.suppress(duckdb.Error):
            kept.close()
