"""The digest of the rows a loaded file contributed, recomputable from the tables.

Every row of the tables a file loads carries the file's id (``source_file_id``, or
``file_id`` in the quarantine). A file's digest is, per table, the number of its rows and
the sum of a hash of each row (DuckDB's ``hash`` over the row's columns, in the order listed
below, as a 128-bit integer). The sum does not depend on the order rows are stored or read
in, is computed by one grouped scan per table, and is additive: the digest of a file's rows
after a purge plus the digest of the rows the purge removed equals the digest recorded at
load time. What it does and does not guarantee is in docs/integrity.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from ..ingest.kinds import AUDIT, DELEGATIONS, DIRECTORY, ROSTER, SNAPSHOT, Kind

# The algorithm's name, recorded in each digest. A change of the hashed columns (below, and
# the kinds' stored columns), or of the engine's hash, is a new algorithm: digests made by the
# old one keep its name, and verification says it cannot recompute them.
ALGORITHM = "row-hash-sum-1"

# A value whose hash the engine gave when the algorithm was fixed: if a DuckDB version hashes
# differently, digests cannot be recomputed with it, and verification says so instead of
# reporting every file as changed.
_PROBE_SQL = (
    "SELECT hash('delegation-reports', 1::INTEGER, TIMESTAMPTZ '2026-01-01 00:00:00+00', "
    "['a', 'b'], NULL::VARCHAR, true)"
)
_PROBE_VALUE = 7400752966407532472


@dataclass(frozen=True)
class TraceTable:
    """A table whose rows are loaded from files: its file column and hashed columns."""

    name: str
    file_column: str
    columns: tuple[str, ...]
    # Kind of data, for the purge: traces, delegations, reference (rosters, directory).
    role: str


def _loaded(kind: Kind, role: str) -> TraceTable:
    return TraceTable(kind.table, "source_file_id", kind.stored, role)


# Every table a load writes to, with every column but the file's id (a test checks it against
# the schema). The columns of the kinds' tables are the loader's (key, then content).
TRACE_TABLES: tuple[TraceTable, ...] = (
    _loaded(AUDIT, "traces"),
    _loaded(DELEGATIONS, "delegations"),
    _loaded(SNAPSHOT, "delegations"),
    _loaded(ROSTER, "reference"),
    _loaded(DIRECTORY, "reference"),
    TraceTable(
        "m365_permission_state",
        "source_file_id",
        ("operator", "mailbox", "delegate", "changed_at", "source_event_id", "permissions"),
        "delegations",
    ),
    TraceTable(
        "dovecot_session",
        "source_file_id",
        ("operator", "session_id", "owner", "master_user"),
        "traces",
    ),
    TraceTable(
        "quarantine",
        "file_id",
        (
            "file_sha256",
            "line_number",
            "reason",
            "detail",
            "raw_text",
            "quarantined_at",
            "record_kind",
            "record_key",
        ),
        "traces",
    ),
)
TABLES = {t.name: t for t in TRACE_TABLES}


@dataclass(frozen=True)
class Part:
    """The digest of some rows of one table: how many, and the sum of their hashes."""

    rows: int
    total: int

    def __add__(self, other: Part) -> Part:
        return Part(self.rows + other.rows, self.total + other.total)

    def __sub__(self, other: Part) -> Part:
        return Part(self.rows - other.rows, self.total - other.total)

    def to_json(self) -> dict:
        return {"rows": self.rows, "sum": format(self.total, "x")}

    @classmethod
    def from_json(cls, value: dict) -> Part:
        return cls(int(value["rows"]), int(value["sum"], 16))


ZERO = Part(0, 0)


def row_hash_sql(table: TraceTable, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return "hash(" + ", ".join(prefix + c for c in table.columns) + ")::HUGEINT"


def engine_supported(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this DuckDB hashes rows as the one the algorithm was fixed with."""
    return con.execute(_PROBE_SQL).fetchone()[0] == _PROBE_VALUE


def digest_query(table: TraceTable, where: str = "") -> str:
    """A grouped scan of the table: file id, rows, sum of row hashes, per file."""
    return (
        f"SELECT {table.file_column}, count(*), sum({row_hash_sql(table)}) "
        f"FROM {table.name} {where} GROUP BY 1"
    )


def file_digest(con: duckdb.DuckDBPyConnection, file_id: int) -> dict[str, Part]:
    """The digest of one file's rows, per table (tables without rows left out)."""
    parts = {}
    for table in TRACE_TABLES:
        rows, total = con.execute(
            f"SELECT count(*), coalesce(sum({row_hash_sql(table)}), 0) FROM {table.name} "
            f"WHERE {table.file_column} = ?",
            [file_id],
        ).fetchone()
        if rows:
            parts[table.name] = Part(rows, int(total))
    return parts


def all_digests(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Part]]:
    """The digest of every file's rows as the tables hold them now: one scan per table."""
    out: dict[int, dict[str, Part]] = {}
    for table in TRACE_TABLES:
        for file_id, rows, total in con.execute(digest_query(table)).fetchall():
            out.setdefault(file_id, {})[table.name] = Part(rows, int(total))
    return out


def encode(parts: dict[str, Part]) -> str:
    """The digest as stored in the manifest (``ingest_file.rows_digest``)."""
    return json.dumps(
        {"algorithm": ALGORITHM, "tables": {k: v.to_json() for k, v in sorted(parts.items())}},
        sort_keys=True,
        separators=(",", ":"),
    )


def decode(text: str) -> tuple[str, dict[str, Part]]:
    value = json.loads(text)
    return value["algorithm"], {k: Part.from_json(v) for k, v in value["tables"].items()}
