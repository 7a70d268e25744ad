"""Rows of a file that repeat a key: exact duplicates dropped, conflicting ones told apart."""

from __future__ import annotations

from ..warehouse import sql_text
from .kinds import DIRECTORY, Kind


def key_sql(kind: Kind, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + k for k in kind.key)


def content_sql(kind: Kind, alias: str) -> str:
    columns = ["row_digest"] if kind is DIRECTORY else list(kind.content)
    return "struct_pack(" + ", ".join(f"{c} := {alias}.{c}" for c in columns) + ")"


def key_join(kind: Kind, left: str, right: str) -> str:
    return " AND ".join(
        f"{left}.{k} IS NOT DISTINCT FROM {right}.{k}"
        if k in kind.nullable_key
        else f"{left}.{k} = {right}.{k}"
        for k in kind.key
    )


def settle_repeats(con, kind: Kind, file_id: int) -> tuple[int, bool]:
    """Remove this file's rows that repeat a key, keeping one row per new key.

    Returns the number of exact duplicates removed, and whether some keys repeat with a
    different content (conflicts, whose rows need their line numbers to be quarantined).
    """
    sql = sql_text("ingest/repeat_groups.sql").format(
        key_cols=key_sql(kind),
        t_key_cols=key_sql(kind, "t"),
        k_key_cols=key_sql(kind, "k"),
        o_content=content_sql(kind, "o"),
        t_content=content_sql(kind, "t"),
        table=kind.table,
        t_o_key_join=key_join(kind, "t", "o"),
        t_k_key_join=key_join(kind, "t", "k"),
        e_k_key_join=key_join(kind, "e", "k"),
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
        f"WHERE t.source_file_id = $file_id AND g.earlier_file_id IS NOT NULL AND {key_join(kind, 't', 'g')}",
        {"file_id": file_id},
    )
    # New keys repeated with one content: keep one row. Conflicting keys: keep none for now;
    # the first occurrence is put back once line numbers tell which one it is.
    con.execute(
        f"""
        DELETE FROM {kind.table} WHERE rowid IN (
            SELECT rowid FROM (
                SELECT t.rowid, g.n_contents,
                    row_number() OVER (PARTITION BY {key_sql(kind, "t")} ORDER BY t.rowid) AS occurrence
                FROM {kind.table} AS t
                JOIN repeat_groups AS g ON {key_join(kind, "t", "g")}
                WHERE t.source_file_id = $file_id AND g.earlier_file_id IS NULL
            ) WHERE occurrence > 1 OR n_contents > 1
        )
        """,
        {"file_id": file_id},
    )
    return n_duplicate, n_conflict_groups > 0
