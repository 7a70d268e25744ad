"""Where a row is quarantined: the reasons, the rows with problems located by line number, and
the lines the readers rejected."""

from __future__ import annotations

from .repeats import content_sql, key_join, key_sql
from .source import Source
from .staging import staged_sql
from .staging_csv import fix_line_numbers

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


def locate_and_quarantine(con, source: Source, file_id: int, conflict_keys: bool) -> int:
    """Read the file again with line numbers, for the rows that need one: rows with problems,
    and every occurrence of a conflicting key. Returns the duplicates found among the latter."""
    kind = source.kind
    staged = staged_sql(source, with_lines=True)
    conflict_filter = ""
    if conflict_keys:
        conflict_filter = (
            f" OR hash({key_sql(kind)}) IN (SELECT hash({key_sql(kind)}) FROM repeat_groups "
            "WHERE earlier_file_id IS NOT NULL AND n_same_as_earlier < n_here "
            "OR earlier_file_id IS NULL AND n_contents > 1)"
        )
    con.execute(
        f"CREATE TEMP TABLE located AS SELECT * FROM ({staged.sql}) "
        f"WHERE len(problems) > 0{conflict_filter}",
        staged.params,
    )
    if source.detected.layout.container != "jsonl":
        fix_line_numbers(con, source)
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
            {content_sql(kind, "l")} AS content,
            g.earlier_content, g.earlier_file_id,
            first_value({content_sql(kind, "l")}) OVER (
                PARTITION BY {key_sql(kind, "l")} ORDER BY l.line_number) AS first_content,
            first_value(l.line_number) OVER (
                PARTITION BY {key_sql(kind, "l")} ORDER BY l.line_number) AS first_line
        FROM located AS l
        JOIN repeat_groups AS g ON {key_join(kind, "l", "g")}
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


def quarantine_rejects(con, source: Source, file_id: int) -> None:
    con.execute(
        "INSERT INTO quarantine SELECT ?, ?, line_number, reason, detail, raw_text FROM rejects",
        [file_id, source.fingerprint.sha256],
    )
