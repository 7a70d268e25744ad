"""A file's rows through its kind's staging model (`sql/ingest/stg_<kind>.sql`), straight into
the kind's table: the variables and time macros the model reads, and the insert of valid rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from ..warehouse import sql_statements, sql_text
from .detect import extraction_time
from .kinds import DIRECTORY
from .source import Source
from .staging_csv import csv_raw_sql, sql_literal


class ProgressWatch:
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
class Staged:
    sql: str
    params: dict


def staged_sql(source: Source, *, with_lines: bool) -> Staged:
    """The kind's staging model over the file: one row per record, typed, with its problems."""
    stg_sql = sql_text(f"ingest/stg_{source.kind.name}.sql")
    if source.detected.layout.container == "jsonl":
        raw_sql, params = "SELECT * FROM jsonl_rows", {}
    else:
        raw_sql, params = csv_raw_sql(source, with_lines=with_lines)
    return Staged(f"WITH raw_canonical AS ({raw_sql}) SELECT * FROM ({stg_sql})", params)


def insert_valid(con, source: Source, file_id: int, on_progress) -> int:
    """Insert the staged rows without problems straight into the kind's table; returns how
    many. Repeats and conflicts are settled afterwards."""
    kind = source.kind
    stored = ", ".join(kind.stored)
    staged = staged_sql(source, with_lines=False)
    with ProgressWatch(con, on_progress):
        return con.execute(
            f"INSERT INTO {kind.table} ({stored}, source_file_id) "
            f"SELECT {stored}, $file_id FROM ({staged.sql}) WHERE len(problems) = 0",
            {**staged.params, "file_id": file_id},
        ).fetchone()[0]


def set_variables(con, source: Source) -> None:
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


def define_time_macros(con, source: Source) -> None:
    spec = source.detected.layout.time
    if spec.style == "iso":
        statements = sql_statements("ingest/time_iso.sql")
    else:
        literals = {
            "timestamp_format": sql_literal(spec.timestamp_format),
            "date_format": sql_literal(spec.date_format),
            "timezone": sql_literal(spec.timezone),
            "ambiguous": sql_literal(spec.ambiguous),
            "nonexistent": sql_literal(spec.nonexistent),
        }
        statements = [s.format(**literals) for s in sql_statements("ingest/time_local.sql")]
    for statement in statements:
        con.execute(statement)
