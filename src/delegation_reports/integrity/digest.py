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
    # Kind of data: traces, delegations, reference (rosters, directory).
    role: str
    # The columns that tell rows apart: a row's bucket is a hash of them, so that a changed row
    # stays in its bucket.
    key: tuple[str, ...]


def _loaded(kind: Kind, role: str) -> TraceTable:
    return TraceTable(kind.table, "source_file_id", kind.stored, role, kind.key)


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
        ("operator", "mailbox", "delegate", "source_event_id"),
    ),
    TraceTable(
        "dovecot_session",
        "source_file_id",
        ("operator", "session_id", "owner", "master_user"),
        "traces",
        ("operator", "session_id"),
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
        ("line_number", "reason"),
    ),
)
TABLES = {t.name: t for t in TRACE_TABLES}


# Rows are also counted and summed per bucket (a hash of their key, modulo this), so that
# verification can tell how many rows changed: a changed row stays in its bucket.
BUCKETS = 64


@dataclass(frozen=True)
class Part:
    """The digest of some rows of one table: how many, the sum of their hashes, and both per
    bucket (``{bucket: (rows, sum)}``; empty for a digest made without them)."""

    rows: int
    total: int
    buckets: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def of(cls, buckets: dict[int, tuple[int, int]]) -> Part:
        kept = {b: v for b, v in buckets.items() if v != (0, 0)}
        return cls(
            sum(n for n, _ in kept.values()),
            sum(t for _, t in kept.values()),
            tuple((b, n, t) for b, (n, t) in sorted(kept.items())),
        )

    @property
    def by_bucket(self) -> dict[int, tuple[int, int]]:
        return {b: (n, t) for b, n, t in self.buckets}

    def _combine(self, other: Part, sign: int) -> Part:
        if not (self.buckets or not self.rows) or not (other.buckets or not other.rows):
            return Part(self.rows + sign * other.rows, self.total + sign * other.total)
        mine, theirs = self.by_bucket, other.by_bucket
        return Part.of(
            {
                b: (
                    mine.get(b, (0, 0))[0] + sign * theirs.get(b, (0, 0))[0],
                    mine.get(b, (0, 0))[1] + sign * theirs.get(b, (0, 0))[1],
                )
                for b in set(mine) | set(theirs)
            }
        )

    def __add__(self, other: Part) -> Part:
        return self._combine(other, 1)

    def __sub__(self, other: Part) -> Part:
        return self._combine(other, -1)

    def same(self, other: Part) -> bool:
        return (self.rows, self.total) == (other.rows, other.total)

    def difference(self, other: Part) -> tuple[int, int, int | None]:
        """Rows missing from ``other``, rows added to it, and rows changed in it (at least;
        None when either side has no buckets), ``self`` being what is expected."""
        if not (self.buckets and other.buckets):
            if other.rows == self.rows:
                return 0, 0, None
            return max(self.rows - other.rows, 0), max(other.rows - self.rows, 0), 0
        missing = added = changed = 0
        want, have = self.by_bucket, other.by_bucket
        for b in set(want) | set(have):
            (wn, wt), (hn, ht) = want.get(b, (0, 0)), have.get(b, (0, 0))
            missing += max(wn - hn, 0)
            added += max(hn - wn, 0)
            changed += wn == hn and wt != ht
        return missing, added, changed

    def to_json(self) -> dict:
        value = {"rows": self.rows, "sum": format(self.total, "x")}
        if self.buckets:
            value["buckets"] = {str(b): [n, format(t, "x")] for b, n, t in self.buckets}
        return value

    @classmethod
    def from_json(cls, value: dict) -> Part:
        if "buckets" in value:
            return cls.of({int(b): (n, int(t, 16)) for b, (n, t) in value["buckets"].items()})
        return cls(int(value["rows"]), int(value["sum"], 16))


ZERO = Part(0, 0)


def row_hash_sql(table: TraceTable, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return "hash(" + ", ".join(prefix + c for c in table.columns) + ")::HUGEINT"


def engine_supported(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this DuckDB hashes rows as the one the algorithm was fixed with."""
    return con.execute(_PROBE_SQL).fetchone()[0] == _PROBE_VALUE


def digest_query(table: TraceTable, where: str = "") -> str:
    """A grouped scan of the table: file id, bucket, rows and sum of row hashes."""
    return (
        f"SELECT {table.file_column}, hash({', '.join(table.key)}) % {BUCKETS}, count(*), "
        f"sum({row_hash_sql(table)}) FROM {table.name} {where} GROUP BY 1, 2"
    )


def fold(rows) -> dict[int, Part]:
    """The rows of a ``digest_query`` as one part per file."""
    buckets: dict[int, dict[int, tuple[int, int]]] = {}
    for file_id, bucket, n, total in rows:
        buckets.setdefault(file_id, {})[int(bucket)] = (n, int(total))
    return {file_id: Part.of(b) for file_id, b in buckets.items()}


def file_digest(con: duckdb.DuckDBPyConnection, file_id: int) -> dict[str, Part]:
    """The digest of one file's rows, per table (tables without rows left out)."""
    parts = {}
    for table in TRACE_TABLES:
        query = digest_query(table, f"WHERE {table.file_column} = $file_id")
        found = fold(con.execute(query, {"file_id": file_id}).fetchall())
        if found:
            parts[table.name] = found[file_id]
    return parts


def all_digests(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Part]]:
    """The digest of every file's rows as the tables hold them now: one scan per table."""
    out: dict[int, dict[str, Part]] = {}
    for table in TRACE_TABLES:
        for file_id, part in fold(con.execute(digest_query(table)).fetchall()).items():
            out.setdefault(file_id, {})[table.name] = part
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
