"""The DuckDB warehouse: opening the file, its schema, transactions and SQL files."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

from .errors import UserError, WarehouseInUse

DEFAULT_DB = "delegation.duckdb"
DB_ENV = "DELEGATION_REPORTS_DB"
MEMORY_ENV = "DELEGATION_REPORTS_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"


def default_db_path() -> Path:
    """The warehouse path: ``$DELEGATION_REPORTS_DB``, else ``./delegation.duckdb``."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


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
        con.close()
        raise UserError(
            f"invalid ${MEMORY_ENV} {limit!r}: expected a size such as 2GB or 512MB"
        ) from None
    if not read_only:
        from .integrity import chain

        with transaction(con):
            sealed = chain.has_chain(con)
            for statement in sql_statements("warehouse/schema.sql"):
                con.execute(statement)
            if not sealed:
                # A warehouse made before the chain existed: what it holds is sealed now.
                chain.seal_existing(con)
    for statement in sql_statements("ingest/macros.sql"):
        con.execute(statement)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together, or none does."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


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
