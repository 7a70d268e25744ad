"""The warehouse's hash chain: one link per manifest entry, review decision and purge.

A link holds the canonical JSON of its row (``content``) and a hash covering its position,
kind, reference, content and the previous link's hash: changing, removing or inserting a
link, or the row it seals, shows. The head (number of links and last hash) is stored apart
so that a cut at the end of the chain shows too; the head itself proves something only once
published somewhere the warehouse's holder cannot rewrite: reports carry it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from ..errors import ChainBroken

GENESIS = "0" * 64
FILE, REVIEW, PURGE = "file", "review", "purge"
# Each kind of link: the table of the rows it seals and their id column, in chain order.
SOURCES = {
    FILE: ("ingest_file", "file_id"),
    REVIEW: ("finding_review", "review_id"),
    PURGE: ("purge_record", "purge_id"),
}
VERIFY_HINT = (
    "run 'delegation-reports verify' to see what changed; 'report --allow-unverified' renders "
    "anyway and says so on every page"
)


@dataclass(frozen=True)
class Link:
    seq: int
    kind: str
    ref_id: int
    content: str
    previous_hash: str
    entry_hash: str

    def recomputed(self) -> str:
        return link_hash(self.seq, self.kind, self.ref_id, self.content, self.previous_hash)


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical(row: dict) -> str:
    """A row as canonical JSON: sorted keys, instants in UTC, no insignificant space."""
    return json.dumps(
        {k: _plain(v) for k, v in row.items()},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def link_hash(seq: int, kind: str, ref_id: int, content: str, previous_hash: str) -> str:
    text = "\x1f".join((str(seq), kind, str(ref_id), previous_hash, content))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_rows(con: duckdb.DuckDBPyConnection, kind: str, ref_id: int | None = None) -> dict:
    """The rows a kind of link seals, by id (one when ``ref_id`` is given), as dicts."""
    table, column = SOURCES[kind]
    where = f"WHERE {column} = ?" if ref_id is not None else ""
    cursor = con.execute(
        f"SELECT * FROM {table} {where} ORDER BY {column}", [] if ref_id is None else [ref_id]
    )
    names = [d[0] for d in cursor.description]
    return {
        row[names.index(column)]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()
    }


def has_chain(con: duckdb.DuckDBPyConnection) -> bool:
    from ..warehouse import has_tables

    return has_tables(con, "chain_entry", "chain_head")


def _stored_head(con) -> tuple[int, str] | None:
    return con.execute("SELECT n_entries, head_hash FROM chain_head").fetchone()


def append(con: duckdb.DuckDBPyConnection, kind: str, ref_id: int) -> str:
    """Seal the row ``ref_id`` of the kind's table with a new link, in the caller's
    transaction; returns the new head."""
    row = source_rows(con, kind, ref_id)[ref_id]
    head = _stored_head(con)
    seq, previous = (head[0] + 1, head[1]) if head else (1, GENESIS)
    content = canonical(row)
    new_hash = link_hash(seq, kind, ref_id, content, previous)
    con.execute(
        "INSERT INTO chain_entry VALUES (?, ?, ?, ?, ?, ?)",
        [seq, kind, ref_id, content, previous, new_hash],
    )
    con.execute("DELETE FROM chain_head")
    con.execute("INSERT INTO chain_head VALUES (?, ?)", [seq, new_hash])
    return new_hash


def seal_existing(con: duckdb.DuckDBPyConnection) -> int:
    """Give links to what a warehouse made before the chain holds (its files, then its review
    decisions), once: only when the chain is empty. Returns the links added."""
    if con.execute("SELECT count(*) FROM chain_entry").fetchone()[0]:
        return 0
    from .digest import encode, file_digest

    added = 0
    for kind in (FILE, REVIEW, PURGE):
        for ref_id in source_rows(con, kind):
            if kind == FILE:
                con.execute(
                    "UPDATE ingest_file SET rows_digest = ? WHERE file_id = ? AND rows_digest IS NULL",
                    [encode(file_digest(con, ref_id)), ref_id],
                )
            append(con, kind, ref_id)
            added += 1
    return added


def links(con: duckdb.DuckDBPyConnection) -> list[Link]:
    """Every link, in the order stored."""
    return [Link(*row) for row in con.execute("SELECT * FROM chain_entry ORDER BY seq").fetchall()]


def chain_head(con: duckdb.DuckDBPyConnection) -> str | None:
    """The hash of the chain's last link, as stored; None for an empty warehouse (or one no
    version with the chain opened for writing yet)."""
    if not has_chain(con):
        return None
    head = _stored_head(con)
    return head[1] if head else None


def _n_sealable(con) -> int:
    return sum(
        con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table, _ in SOURCES.values()
    )


def check_head(con: duckdb.DuckDBPyConnection) -> None:
    """The quick check (not a full verification): the stored head is the hash of the last
    link, recomputed; the chain has as many links as the head says, and as many as there are
    manifest entries, review decisions and purges; the last link's row still reads as
    sealed. Raises ``ChainBroken`` naming what fails."""

    def broken(reason: str) -> ChainBroken:
        return ChainBroken(f"the warehouse's chain of evidence is broken: {reason}; {VERIFY_HINT}")

    if not has_chain(con):
        if con.execute("SELECT count(*) FROM ingest_file").fetchone()[0]:
            raise ChainBroken(
                "the warehouse has no chain of evidence yet: open it once for writing with this "
                "version (e.g. 'delegation-reports refresh') to seal what it holds"
            )
        return
    head = _stored_head(con)
    n_links = con.execute("SELECT count(*) FROM chain_entry").fetchone()[0]
    if head is None:
        n_rows = _n_sealable(con)
        if n_links or n_rows:
            raise broken(
                f"its head is missing while it has {n_links} link(s) for {n_rows} manifest "
                "entries, review decisions and purges"
            )
        return
    n_entries, head_hash = head
    n_rows = _n_sealable(con)
    if n_links != n_entries:
        raise broken(f"the head counts {n_entries} link(s) but the chain holds {n_links}")
    last = con.execute("SELECT * FROM chain_entry WHERE seq = ?", [n_entries]).fetchall()
    if len(last) != 1:
        raise broken(f"link {n_entries}, the last, is missing or repeated")
    link = Link(*last[0])
    if link.recomputed() != link.entry_hash or link.entry_hash != head_hash:
        raise broken(f"the last link ({n_entries}) does not match the stored head")
    if n_rows != n_entries:
        raise broken(
            f"{n_rows} manifest entries, review decisions and purges but {n_entries} link(s)"
        )
    row = source_rows(con, link.kind, link.ref_id).get(link.ref_id)
    if row is None or not content_matches(link.content, row):
        raise broken(f"the {link.kind} {link.ref_id} sealed by the last link was changed")


def changed_fields(content: str, row: dict) -> list[str]:
    """The fields of a sealed row whose value differs from the sealed content. Columns added
    to the table after the row was sealed are not part of it."""
    sealed = json.loads(content)
    now = json.loads(canonical(row))
    return sorted(k for k in sealed if sealed[k] != now.get(k))


def content_matches(content: str, row: dict) -> bool:
    return not changed_fields(content, row)
