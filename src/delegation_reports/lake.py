"""The Parquet lake: the warehouse's inputs and model outputs as hive-partitioned Parquet
folders, readable by DuckDB, Spark or any Parquet reader (the layout is in
docs/scale-out.md, "Lake layout").

``export_lake`` writes a lake from a warehouse: its input tables (``inputs/``), and with
``models`` the DuckDB model outputs (``models/`` and ``_state/refresh_state.json``). Each
partition is written to a temporary folder beside it and renamed into place, so a
re-export of a month replaces that month's partition whole; ``lake.json`` is written last.

``lake_catalog`` turns a lake into something every reading command already knows: a small
DuckDB file (in a private temporary folder) holding one view per warehouse table over the
lake's Parquet files, and the derived views (``attributed_access``, ``finding_status``...)
over those, so that the report and findings SQL runs unchanged. It refuses a lake without
model outputs, with an unknown format version, or whose inputs changed since its models
were refreshed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from . import __version__
from .errors import UserError
from .warehouse import has_tables, private_temp_directory, sql_statements, sql_text, storage_error

FORMAT = "delegation-reports-lake"
FORMAT_VERSION = 1
LAKE_FILE = "lake.json"
STATE_FILE = "_state/refresh_state.json"
# The version of the model outputs' layout and of their refresh state. 2: a validity's open
# bounds are the models' unbounded_from() and unbounded_until() instants, whichever engine
# wrote them (model outputs of format 1 held ±infinity where DuckDB wrote them).
STATE_FORMAT_VERSION = 2
# Present while a refresh puts its outputs in place (between its first rename and its state):
# the lake is then refused, never read half old and half new.
SWAP_FILE = "_state/refresh_swap.json"
INPUTS = "inputs"
MODELS = "models"
# A new Parquet file starts once the one being written passes this size: at scale, files of
# 256 to 512 MB (the last file of a partition is smaller).
FILE_SIZE_BYTES = 256 * 1024 * 1024
ROW_GROUP_SIZE = 122_880
FILE_MODE = 0o600
FOLDER_MODE = 0o700
# Characters escaped (%XX) in a partition folder's value, as Hive and Spark escape them;
# other characters, non-ASCII letters included, are written as they are (UTF-8).
_ESCAPED = frozenset("\"#%'*/:=?\\{[]^") | {chr(c) for c in (*range(0x20), 0x7F)}


@dataclass(frozen=True)
class Partition:
    """One level of a table's hive partitioning: the folder key, the column its value comes
    from, and how (``identity``: the column's text; ``month``: a DATE column's YYYY-MM;
    ``paris_month``: the YYYY-MM of a TIMESTAMPTZ column in Europe/Paris)."""

    key: str
    source: str
    transform: str

    def record(self) -> dict:
        return {"key": self.key, "source": self.source, "transform": self.transform}


PARIS_MONTH = Partition("month", "occurred_at", "paris_month")
BY_OPERATOR = Partition("operator", "operator", "identity")
BY_MONTH = Partition("month", "month", "month")


@dataclass(frozen=True)
class InputTable:
    """A warehouse input table as the lake stores it."""

    name: str
    partitions: tuple[Partition, ...] = ()
    sort_by: tuple[str, ...] = ()
    # A lake without it cannot be read; optional tables read as empty when absent.
    required: bool = True


# The tables the models and the reports read (not the ingestion's own bookkeeping: the
# hash chain, Microsoft 365 permission states, Dovecot sessions, failed loads). Rows inside
# each file are sorted by ``sort_by``.
INPUT_TABLES = (
    InputTable(
        "audit_event",
        (PARIS_MONTH, BY_OPERATOR),
        ("mailbox", "actor", "occurred_at", "event_id"),
    ),
    InputTable("delegation_event", (BY_OPERATOR,), ("mailbox", "delegate", "event_at", "event_id")),
    InputTable(
        "delegation_snapshot", (BY_OPERATOR,), ("mailbox", "delegate", "as_of_at", "source_file_id")
    ),
    InputTable("roster_member", (), ("practice_id", "member", "source_file_id")),
    InputTable("directory_entry", (), ("extracted_at", "address", "row_digest")),
    InputTable("ingest_file", (), ("file_id",)),
    InputTable("ingest_file_gap", (), ("file_id", "after_at"), required=False),
    InputTable("quarantine", (), ("file_id", "line_number"), required=False),
    InputTable("purge_record", (), ("purge_id",), required=False),
    InputTable("finding_review", (), ("review_id",), required=False),
    InputTable("report_run", (), ("run_id",), required=False),
    InputTable("report_run_finding", (), ("run_id", "finding_id"), required=False),
)
_INPUTS = {t.name: t for t in INPUT_TABLES}
# Warehouse tables that are neither inputs nor model outputs: the ingestion's and the
# refresh's bookkeeping (a lake's refresh state is `STATE_FILE`).
_NOT_EXPORTED = frozenset(
    {
        "chain_entry",
        "chain_head",
        "m365_permission_state",
        "dovecot_session",
        "ingest_failure",
        "core_state",
        "refresh_state",
        "mart_state",
        "model_state",
        "practice_access_state",
        # The refresh's store of each month's flagged accesses (a lake's months are built
        # from the events).
        "flagged_access",
        "flagged_state",
    }
)
# The configuration as the models read it (written by the refresh from the rules file).
CONFIG_TABLES = (
    "cfg_opening_hours",
    "cfg_holidays_closed",
    "cfg_rule_param",
    "cfg_rule_switch",
    "cfg_system_actor",
    "public_holiday",
)
# The model outputs a lake must hold for the reports and `findings` to read it.
REQUIRED_MODELS = (
    "finding",
    "practice_access",
    "mailbox_practice",
    "member_practice",
    "holder_departure",
    "delegation_period",
    "delegation_segment",
    "delegation_inconsistency",
    "mailbox_day",
    "actor_month",
    "actor_day",
    "client_month",
    "trace_month",
    "paris_hour",
    "system_account",
    *CONFIG_TABLES,
)
# Views the reading commands use, defined over the tables as in the warehouse.
_DERIVED_VIEWS = ("directory_change", "finding_status", "attributed_access")
# The table a lake catalog holds to say what it rests on.
SOURCE_TABLE = "lake_source"
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def partition_value(text: str) -> str:
    """A value as a partition folder holds it: Hive's escaping (``/`` as ``%2F``...)."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def _quote(text: str) -> str:
    """A SQL string literal (paths and names in COPY, which binds no parameter there)."""
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ---- writing --------------------------------------------------------------------------------


@dataclass
class LakeExport:
    """What an export wrote: the lake, its months, and whether model outputs came along."""

    folder: Path
    months: list[str]
    tables: dict[str, int]  # rows written per table
    models: bool
    lake_sha256: str


def _private(path: Path) -> None:
    """Everything under ``path`` (and itself) readable by its owner only."""
    for root, folders, files in os.walk(path):
        os.chmod(root, FOLDER_MODE)
        for name in folders:
            os.chmod(os.path.join(root, name), FOLDER_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), FILE_MODE)


def _mkdir(path: Path) -> Path:
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    return path


class _Writer:
    """Writes a lake's partitions, each to a temporary folder then renamed into place."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, folder: Path, file_size: int, row_group_size: int
    ) -> None:
        self.con = con
        self.folder = folder
        self.file_size = file_size
        self.row_group_size = row_group_size
        self.rows: dict[str, int] = {}

    def copy(self, query: str, params: dict, target: Path) -> int:
        """``query`` (bound with ``params``) as Parquet files in the folder ``target``."""
        return self.con.execute(
            f"COPY ({query}) TO {_quote(str(target))} (FORMAT parquet, COMPRESSION zstd, "
            f"FILE_SIZE_BYTES {int(self.file_size)}, ROW_GROUP_SIZE {int(self.row_group_size)})",
            params,
        ).fetchone()[0]

    def temporary(self, table_folder: Path, name: str) -> Path:
        _mkdir(table_folder)
        return _mkdir(table_folder / f".tmp-{name}-{secrets.token_hex(4)}")

    def replace(self, staged: Path, target: Path) -> None:
        """Put ``staged`` in place of ``target`` (a partition or a whole table): the old one
        is renamed aside, the new one renamed in, the old one removed."""
        _private(staged)
        old = None
        if target.exists():
            old = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
            target.rename(old)
        staged.rename(target)
        if old is not None:
            shutil.rmtree(old)

    def table(
        self,
        name: str,
        layer: str,
        query: str,
        params: dict,
        sort_by: Iterable[str],
        partition: Partition | None = None,
        key: str | None = None,
    ) -> None:
        """A table's whole folder (or, with ``partition`` and ``key``, one of its partition
        folders), each leaf written by one COPY, sorted."""
        table_folder = self.folder / layer / name
        order = ", ".join(_ident(c) for c in sort_by)
        ordered = f"{query} ORDER BY {order}" if order else query
        if partition is None:
            staged = self.temporary(table_folder.parent, name)
            n = self.copy(ordered, params, staged)
            self.replace(staged, table_folder)
        else:
            staged = self.temporary(table_folder, f"{partition.key}={key}")
            n = self.copy(ordered, params, staged)
            self.replace(staged, table_folder / f"{partition.key}={partition_value(key)}")
        self.rows[name] = self.rows.get(name, 0) + n

    def by_operator(
        self,
        name: str,
        query: str,
        params: dict,
        sort_by: Iterable[str],
        target: Path,
        operators: list[str],
    ) -> int:
        """One sub-folder ``operator=<name>`` per operator inside ``target`` (a temporary
        folder), each holding that operator's rows without the operator column."""
        n = 0
        for operator in operators:
            leaf = target / f"operator={partition_value(operator)}"
            order = ", ".join(_ident(c) for c in sort_by)
            n += self.copy(
                f"SELECT * EXCLUDE (operator) FROM ({query}) WHERE operator = $operator "
                f"ORDER BY {order}",
                {**params, "operator": operator},
                leaf,
            )
        self.rows[name] = self.rows.get(name, 0) + n
        return n


def table_columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def _table_record(
    con,
    table: str,
    layer: str,
    partitions: tuple[Partition, ...],
    sort_by: Iterable[str],
    months: list[str] | None = None,
) -> dict:
    record = {
        "name": table,
        "path": f"{layer}/{table}",
        "columns": [{"name": n, "type": t} for n, t in table_columns(con, table)],
        "partitioning": [p.record() for p in partitions],
        "sort_by": list(sort_by),
    }
    if months is not None:
        record["months"] = months
    return record


def _month_folders(table_folder: Path) -> list[str]:
    if not table_folder.is_dir():
        return []
    return sorted(
        p.name.removeprefix("month=") for p in table_folder.iterdir() if p.name.startswith("month=")
    )


def _clean_leftovers(folder: Path) -> None:
    """Temporary folders of an export that did not finish."""
    for layer in (INPUTS, MODELS):
        root = folder / layer
        if not root.is_dir():
            continue
        for path in [
            *root.glob(".tmp-*"),
            *root.glob("*/.tmp-*"),
            *root.glob(".old-*"),
            *root.glob("*/.old-*"),
        ]:
            shutil.rmtree(path, ignore_errors=True)


def _check_target(folder: Path) -> None:
    if folder.is_symlink():
        raise UserError(f"{folder} is a symbolic link: choose the lake's real folder")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write a lake into {folder}: it is a file, not a folder")
    if folder.is_dir():
        if (folder / LAKE_FILE).is_file():
            read_lake_file(folder)  # an unknown format version is refused, not overwritten
        elif any(folder.iterdir()):
            raise UserError(
                f"{folder} is not empty and holds no {LAKE_FILE}: choose an empty or new "
                "folder for the lake"
            )
    parent = folder.parent
    if not parent.is_dir():
        raise UserError(f"cannot create the lake {folder}: folder {parent} does not exist")


def _write_json(path: Path, value: dict) -> None:
    from .reports.output import write_file

    _mkdir(path.parent)
    write_file(path, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the lake's folder for one export at a time; a second one is
    refused rather than mixing its partitions with the first's."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"the lake {folder} is being written by another export-lake or spark refresh: wait "
                "for it to finish and try again"
            ) from None
        yield
    finally:
        os.close(handle)


@contextlib.contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """A failure of DuckDB while writing the lake as one clear error: no room left, or what
    went wrong; the partitions already renamed into place stay whole."""
    try:
        yield
    except duckdb.Error as exc:
        full = storage_error(exc)
        if full is not None:
            raise full from None
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot write the lake {folder}: {detail}") from None


def export_lake(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    *,
    months: list | None = None,
    models: bool = False,
    config=None,
    file_size: int = FILE_SIZE_BYTES,
    row_group_size: int = ROW_GROUP_SIZE,
) -> LakeExport:
    """Write the warehouse's inputs (every month with audit events, or ``months``) into the
    lake ``folder``, and with ``models`` its model outputs, refreshing stale months first
    (``con`` must then be writable). A new file starts when one passes ``file_size``
    bytes, checked after each row group of ``row_group_size`` rows. Returns what was
    written."""
    from .analysis.config import load_config
    from .analysis.models import covered_months, data_months, ensure_practice_access, is_stale
    from .analysis.models import refresh as refresh_models
    from .integrity.chain import chain_head

    folder = Path(folder)
    _check_target(folder)
    have = data_months(con)
    if not have:
        raise UserError("the warehouse holds no audit events yet: ingest an audit export first")
    chosen = have
    if months is not None:
        missing = [m for m in months if m not in have]
        if missing:
            raise UserError(
                f"no audit events for {', '.join(map(str, missing))}: the warehouse's events "
                f"cover {have[0]} to {have[-1]}"
            )
        chosen = sorted(set(months), key=lambda m: m.first_day)
    config = config or load_config()
    if models:
        stale = [m for m in covered_months(con) if is_stale(con, m, config)]
        if stale:
            refresh_models(con, stale, config)
        ensure_practice_access(con, covered_months(con))  # what the reports read
    _mkdir(folder)
    folder.chmod(FOLDER_MODE)
    with _locked(folder), _writing(folder):
        _clean_leftovers(folder)
        writer = _Writer(con, folder, file_size, row_group_size)
        _export_inputs(con, writer, chosen, replace_all=months is None)
        tables = [
            _table_record(
                con,
                t.name,
                INPUTS,
                t.partitions,
                t.sort_by,
                _month_folders(folder / INPUTS / t.name) if PARIS_MONTH in t.partitions else None,
            )
            for t in INPUT_TABLES
        ]
        lake = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "time_zone": "UTC",
            "source": {"kind": "warehouse", "chain_head": chain_head(con)},
            "tables": tables,
        }
        _write_json(folder / LAKE_FILE, lake)
        lake_sha = file_sha256(folder / LAKE_FILE)
        if models:
            # The months whose events the lake holds, and those the traces cover without
            # any event (nothing of theirs can be missing from the lake).
            lake_months = set(tables[0]["months"])
            with_events = set(have)
            built = [
                m for m in covered_months(con) if str(m) in lake_months or m not in with_events
            ]
            _export_models(con, writer, built, config, lake_sha)
        _private(folder)
    return LakeExport(folder, [str(m) for m in chosen], writer.rows, models, lake_sha)


def _export_inputs(con, writer: _Writer, months: list, replace_all: bool) -> None:
    from .analysis.models import month_bounds

    audit = _INPUTS["audit_event"]
    audit_folder = writer.folder / INPUTS / audit.name
    for month in months:
        from_at, until_at = month_bounds(con, month)
        params = {"from_at": from_at, "until_at": until_at}
        query = (
            "SELECT * FROM audit_event WHERE occurred_at >= $from_at AND occurred_at < $until_at"
        )
        operators = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT operator FROM ({query}) ORDER BY 1", params
            ).fetchall()
        ]
        staged = writer.temporary(audit_folder, f"month={month}")
        writer.by_operator(audit.name, query, params, audit.sort_by, staged, operators)
        writer.replace(staged, audit_folder / f"month={month}")
    if replace_all:  # months the warehouse no longer holds (purged) leave the lake too
        kept = {str(m) for m in months}
        for name in _month_folders(audit_folder):
            if name not in kept:
                shutil.rmtree(audit_folder / f"month={name}")
    for table in INPUT_TABLES[1:]:
        if not table.required and not has_tables(con, table.name):
            continue  # a warehouse made before the table existed: the lake reads it as empty
        query = f"SELECT * FROM {table.name}"
        if BY_OPERATOR in table.partitions:
            operators = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT operator FROM {table.name} ORDER BY 1"
                ).fetchall()
            ]
            table_folder = writer.folder / INPUTS / table.name
            staged = writer.temporary(table_folder.parent, table.name)
            writer.by_operator(table.name, query, {}, table.sort_by, staged, operators)
            writer.replace(staged, table_folder)
        else:
            writer.table(table.name, INPUTS, query, {}, table.sort_by)


def _model_tables(con) -> list[str]:
    """Every model output the warehouse holds: its tables that are neither inputs nor
    bookkeeping."""
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        if r[0] not in _INPUTS and r[0] not in _NOT_EXPORTED
    ]


def _month_scoped(con, table: str) -> bool:
    return ("month", "DATE") in table_columns(con, table)


def _export_models(con, writer: _Writer, months: list, config, lake_sha: str) -> None:
    from .analysis.models import PRACTICE_ACCESS_ORDER

    tables = []
    # Each table by its columns in order; practice_access as the warehouse stores it, so
    # that a report's query on one practice skips the other practices' row groups.
    orders = {"practice_access": ["month", *PRACTICE_ACCESS_ORDER]}
    for name in _model_tables(con):
        sort_by = orders.get(name) or [c for c, _ in table_columns(con, name)]
        if _month_scoped(con, name):
            table_folder = writer.folder / MODELS / name
            for month in months:
                writer.table(
                    name,
                    MODELS,
                    f"SELECT * EXCLUDE (month) FROM {_ident(name)} WHERE month = $month",
                    {"month": month.first_day},
                    [c for c in sort_by if c != "month"],
                    BY_MONTH,
                    str(month),
                )
            kept = {str(m) for m in months}
            for old in _month_folders(table_folder):
                if old not in kept:
                    shutil.rmtree(table_folder / f"month={old}")
            tables.append(
                _table_record(con, name, MODELS, (BY_MONTH,), [c for c in sort_by if c != "month"])
            )
        else:
            writer.table(name, MODELS, f"SELECT * FROM {_ident(name)}", {}, sort_by)
            tables.append(_table_record(con, name, MODELS, (), sort_by))
    state = {
        "format_version": STATE_FORMAT_VERSION,
        "engine": "duckdb",
        "engine_version": duckdb.__version__,
        "tool_version": __version__,
        "refreshed_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "lake_sha256": lake_sha,
        "config_digest": config.digest,
        "months": [str(m) for m in months],
        "tables": tables,
    }
    _write_json(writer.folder / STATE_FILE, state)


# ---- reading --------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"cannot read {what} {path}: expected a JSON object")
    return value


def _check_version(value: dict, path: Path) -> None:
    version = value.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{path}: lake format version {version!r} is not supported by this version of "
            f"delegation-reports (it reads version {FORMAT_VERSION})"
        )


def _check_state_version(state: dict, path: Path) -> None:
    version = state.get("format_version")
    if version == STATE_FORMAT_VERSION:
        return
    if version in range(1, STATE_FORMAT_VERSION):
        raise UserError(
            f"{path}: the lake's model outputs were written by an earlier version of "
            f"delegation-reports (refresh state format {version}, this version reads "
            f"{STATE_FORMAT_VERSION}): refresh them again with 'delegation-reports spark "
            "refresh --lake DIR', or export them again with 'delegation-reports export-lake "
            "DIR --models'"
        )
    raise UserError(
        f"{path}: refresh state format version {version!r} is not supported by this version "
        f"of delegation-reports (it reads version {STATE_FORMAT_VERSION})"
    )


def read_lake_file(folder: Path) -> dict:
    """The lake's ``lake.json``, its format checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no lake at {folder}: no such folder")
    path = folder / LAKE_FILE
    try:
        lake = _read_json(path, "the lake description")
    except FileNotFoundError:
        raise UserError(
            f"no lake at {folder}: {LAKE_FILE} is missing (write one with "
            "'delegation-reports export-lake')"
        ) from None
    if lake.get("format") != FORMAT:
        raise UserError(f"{path}: not a delegation-reports lake (format {lake.get('format')!r})")
    _check_version(lake, path)
    _check_tables(lake, path)
    return lake


def _check_tables(value: dict, path: Path) -> None:
    """Every table with a plain name, a path and columns whose types DuckDB knows; each
    type is rewritten as DuckDB spells it (never pasted into SQL as the file gives it)."""
    tables = value.get("tables")
    ok = isinstance(tables, list) and all(
        isinstance(t, dict)
        and isinstance(t.get("name"), str)
        and isinstance(t.get("path"), str)
        and isinstance(t.get("columns"), list)
        and all(isinstance(c, dict) and {"name", "type"} <= set(c) for c in t["columns"])
        for t in tables
    )
    if not ok:
        raise UserError(f"{path}: 'tables' must list tables with a name, a path and columns")
    for table in tables:
        name = table["name"]
        if not _TABLE_NAME.fullmatch(name) or name in (*_DERIVED_VIEWS, SOURCE_TABLE):
            raise UserError(f"{path}: {name!r} cannot name a lake table")
        for column in table["columns"]:
            try:
                column["type"] = str(duckdb.sqltype(str(column["type"])))
            except duckdb.Error:
                raise UserError(
                    f"{path}: table {name}, column {column['name']!r}: unknown type "
                    f"{column['type']!r}"
                ) from None


def read_state(folder: Path, lake_sha: str) -> dict:
    """The lake's refresh state: what its model outputs are and what they were built from;
    refused when missing or built from other inputs than the lake's."""
    path = Path(folder) / STATE_FILE
    if (Path(folder) / SWAP_FILE).exists():
        raise UserError(
            f"the lake {folder}'s model outputs are being replaced, or a refresh stopped while "
            f"replacing them ({SWAP_FILE} is there): wait for it to finish, or refresh the "
            "lake again"
        )
    try:
        state = _read_json(path, "the lake's refresh state")
    except FileNotFoundError:
        raise UserError(
            f"the lake {folder} holds no model outputs ({STATE_FILE} is missing): refresh "
            "it with 'delegation-reports spark refresh --lake DIR', or export a warehouse's "
            "with 'delegation-reports export-lake DIR --models'"
        ) from None
    _check_state_version(state, path)
    _check_tables(state, path)
    if state.get("lake_sha256") != lake_sha:
        raise UserError(
            f"the lake {folder}'s model outputs were refreshed from other inputs than those "
            f"its {LAKE_FILE} now describes: refresh its models again"
        )
    if not isinstance(state.get("months"), list):
        raise UserError(f"{path}: 'months' must list the months refreshed (YYYY-MM)")
    return state


@dataclass(frozen=True)
class LakeSource:
    """What a lake catalog rests on: the lake, the digests of its description and refresh
    state, which engine refreshed its models, when, for which months, with which rules."""

    path: str
    lake_sha256: str
    state_sha256: str
    engine: str
    refreshed_at: str
    months: tuple[str, ...]
    config_digest: str

    def require_month(self, month, config) -> None:
        """Refuse a month the lake's models do not cover, or another configuration than the
        one they were built with."""
        if str(month) not in self.months:
            covered = f"{self.months[0]} to {self.months[-1]}" if self.months else "no month"
            raise UserError(
                f"the lake {self.path} holds no model outputs for {month}: its models cover "
                f"{covered}; refresh them for that month"
            )
        if config is not None and config.digest != self.config_digest:
            raise UserError(
                f"the lake {self.path}'s models were built with another rules configuration "
                f"({self.config_digest}) than the one given ({config.digest}): refresh them "
                "with it, or read them without --config"
            )


@cache
def _warehouse_columns() -> dict[str, list[tuple[str, str]]]:
    """The warehouse's tables and their columns, from the packaged schema: the type of an
    optional input table a lake does not hold."""
    con = duckdb.connect()
    try:
        for statement in sql_statements("warehouse/schema.sql"):
            con.execute(statement)
        return {
            table: table_columns(con, table)
            for (table,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
        }
    finally:
        con.close()


def _parquet_files(folder: Path) -> list[str]:
    """The Parquet files of a table folder, hidden and ``_`` folders left out (temporary
    folders of a writer, as Spark and Hive ignore them)."""
    if not folder.is_dir():
        return []
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith((".", "_")))
        found.extend(
            os.path.join(root, f)
            for f in sorted(files)
            if f.endswith(".parquet") and not f.startswith((".", "_"))
        )
    return found


def _empty_view(columns: list[tuple[str, str]]) -> str:
    """A query of no rows with the given columns (a table without any file)."""
    return (
        "SELECT "
        + ", ".join(f"CAST(NULL AS {t}) AS {_ident(n)}" for n, t in columns)
        + (" WHERE false")
    )


def _view_sql(folder: Path, table: dict) -> str:
    """A view of one lake table with the warehouse's columns, in its order and types."""
    columns = [(c["name"], c["type"]) for c in table["columns"]]
    partitions = {p["source"]: p for p in table.get("partitioning", []) if isinstance(p, dict)}
    files = _parquet_files(folder / table["path"])
    if not files:
        return _empty_view(columns)
    keys = {p.get("key") for p in partitions.values()}
    hive_types = "{" + ", ".join(f"{_quote(k)}: 'VARCHAR'" for k in sorted(keys)) + "}"
    selected = []
    for name, type_ in columns:
        partition = partitions.get(name)
        if partition and partition.get("transform") == "month":
            value = f"CAST({_ident(partition['key'])} || '-01' AS DATE)"
        elif partition and partition.get("transform") == "identity":
            value = _ident(partition["key"])
        else:
            value = _ident(name)
        value = f"CAST({value} AS {type_})"
        selected.append(f"{value} AS {_ident(name)}")
    file_list = "[" + ", ".join(_quote(f) for f in files) + "]"
    options = "union_by_name = true"
    if keys:
        options += f", hive_partitioning = true, hive_types = {hive_types}"
    else:
        options += ", hive_partitioning = false"
    return f"SELECT {', '.join(selected)} FROM read_parquet({file_list}, {options})"


# Catalog files made by this process: the reading commands open them read-only, never for
# writing, and never record report runs into them.
_CATALOGS: set[str] = set()


def is_catalog(db: Path | str) -> bool:
    """Whether ``db`` is a lake catalog this process made (see `lake_catalog`)."""
    return str(Path(db).resolve()) in _CATALOGS


def lake_source(con: duckdb.DuckDBPyConnection) -> LakeSource | None:
    """What the lake catalog ``con`` is open on rests on; None for a warehouse."""
    if not has_tables(con, SOURCE_TABLE):
        return None
    row = con.execute(f"SELECT * FROM main.{SOURCE_TABLE}").fetchone()
    path, lake_sha, state_sha, engine, refreshed_at, months, config_digest = row
    return LakeSource(path, lake_sha, state_sha, engine, refreshed_at, tuple(months), config_digest)


def _derived_view(name: str) -> str:
    if name == "finding_status":
        return sql_text("marts/finding_status.sql")
    if name == "attributed_access":
        return sql_text("models/core/attributed_access.sql")
    prefix = f"CREATE OR REPLACE VIEW {name} AS"
    (statement,) = [s for s in sql_statements("warehouse/schema.sql") if s.startswith(prefix)]
    return statement.removeprefix(prefix)


def build_catalog(folder: Path, target: Path) -> LakeSource:
    """Write at ``target`` a DuckDB file of views over the lake ``folder`` named like the
    warehouse's tables (see the module's docstring); returns what it rests on."""
    folder = Path(folder).resolve()
    lake = read_lake_file(folder)
    lake_sha = file_sha256(folder / LAKE_FILE)
    state = read_state(folder, lake_sha)
    state_sha = file_sha256(folder / STATE_FILE)
    tables = {t["name"]: t for t in lake["tables"]}
    models = {t["name"]: t for t in state["tables"]}
    missing = [t.name for t in INPUT_TABLES if t.required and t.name not in tables]
    missing += [name for name in REQUIRED_MODELS if name not in models]
    if missing:
        raise UserError(f"the lake {folder} lacks the tables {', '.join(missing)}")
    for name, table in {**tables, **models}.items():
        if not (folder / table["path"]).resolve().is_relative_to(folder):
            raise UserError(f"{folder}: table {name}'s path {table['path']!r} leaves the lake")
    con = duckdb.connect(str(target))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, table in {**tables, **models}.items():
            # Each view is read once: a file that cannot be read, or whose columns do not
            # match, is refused here, naming the table.
            try:
                view = _view_sql(folder, table)
                con.execute(f"CREATE VIEW {_ident(name)} AS {view}")
                con.execute(f"SELECT * FROM {_ident(name)} LIMIT 0").fetchall()
            except duckdb.Error as exc:
                detail = str(exc).splitlines()[0]
                raise UserError(f"the lake {folder}: cannot read table {name}: {detail}") from None
        known = _warehouse_columns()
        for table in INPUT_TABLES:
            if table.name not in tables:  # an optional input the lake does not hold
                con.execute(f"CREATE VIEW {table.name} AS {_empty_view(known[table.name])}")
        for name in _DERIVED_VIEWS:
            con.execute(f"CREATE VIEW {name} AS {_derived_view(name)}")
        source = LakeSource(
            str(folder),
            lake_sha,
            state_sha,
            str(state.get("engine", "")),
            str(state.get("refreshed_at", "")),
            tuple(sorted(str(m) for m in state["months"])),
            str(state.get("config_digest", "")),
        )
        con.execute(
            f"CREATE TABLE {SOURCE_TABLE} (path VARCHAR, lake_sha256 VARCHAR, "
            "state_sha256 VARCHAR, engine VARCHAR, refreshed_at VARCHAR, months VARCHAR[], "
            "config_digest VARCHAR)"
        )
        con.execute(
            f"INSERT INTO {SOURCE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                source.path,
                source.lake_sha256,
                source.state_sha256,
                source.engine,
                source.refreshed_at,
                list(source.months),
                source.config_digest,
            ],
        )
    finally:
        con.close()
    return source


@contextlib.contextmanager
def lake_catalog(folder: Path) -> Iterator[Path]:
    """A catalog of the lake ``folder`` (see `build_catalog`) in a private temporary
    folder, for as long as the block runs: its path stands for ``--db`` in every reading
    command."""
    work = Path(tempfile.mkdtemp(prefix="lake-", dir=private_temp_directory()))
    target = (work / "lake-catalog.duckdb").resolve()
    try:
        build_catalog(Path(folder), target)
        _CATALOGS.add(str(target))
        yield target
    finally:
        _CATALOGS.discard(str(target))
        shutil.rmtree(work, ignore_errors=True)
