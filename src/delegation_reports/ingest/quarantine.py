"""Where a row is quarantined: the reasons, the rows with problems located by line number, and
the lines the readers rejected."""

from __future__ import annotations

from . import files
from .content import scrub_csv_line
from .kinds import Kind
from .repeats import content_sql, key_join, key_sql
from .source import Source
from .staging import staged_sql
from .staging_csv import fix_line_numbers, quote_char

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


# The columns every insert names; `quarantined_at` takes its default, the load's time.
QUARANTINE_COLUMNS = "file_id, file_sha256, line_number, reason, detail, raw_text"


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
    _collect_raw_lines(con, source)
    record_key = _record_key_sql(kind, "l")
    detail = (
        "array_to_string(list_transform(l.problems, "
        "lambda p: p.reason || coalesce(': ' || p.detail, '')), '; ')"
    )
    # A record quarantined from an earlier file with the same problems (the same record, maybe
    # in another container) is a duplicate, not a new quarantine row.
    already = (
        "EXISTS (SELECT 1 FROM quarantine AS q WHERE q.record_kind = $kind "
        f"AND q.record_key = {record_key} AND q.reason = l.problems[1].reason "
        f"AND q.detail = {detail} AND q.file_id <> $file_id)"
    )
    params = {
        "file_id": file_id,
        "sha": source.fingerprint.sha256,
        "offset": source.line_offset,
        "kind": kind.name,
    }
    n_requarantined = con.execute(
        f"SELECT count(*) FROM located AS l WHERE len(l.problems) > 0 AND {already}",
        {"file_id": file_id, "kind": kind.name},
    ).fetchone()[0]
    con.execute(
        f"INSERT INTO quarantine ({QUARANTINE_COLUMNS}, record_kind, record_key) "
        f"SELECT $file_id, $sha, l.line_number + $offset, l.problems[1].reason, {detail}, "
        f"coalesce(r.raw_text, l.raw_text), $kind, {record_key} "
        "FROM located AS l LEFT JOIN raw_lines AS r USING (line_number) "
        f"WHERE len(l.problems) > 0 AND NOT {already}",
        params,
    )
    if not conflict_keys:
        return n_requarantined
    stored = ", ".join(kind.stored)
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
        INSERT INTO quarantine ({QUARANTINE_COLUMNS}, record_kind, record_key)
        SELECT $file_id, $sha, c.line_number + $offset, 'conflicting_duplicate',
            CASE WHEN c.earlier_file_id IS NOT NULL
                THEN 'same key as a row of file ' || c.earlier_file_id || ', different content'
                ELSE 'same key as line ' || (c.first_line + $offset) || ' of this file, different content' END,
            r.raw_text, $kind, {_record_key_sql(kind, "c")}
        FROM conflict_rows AS c LEFT JOIN raw_lines AS r USING (line_number)
        WHERE c.content IS DISTINCT FROM coalesce(c.earlier_content, c.first_content)
        """,
        params,
    )
    return (
        n_requarantined
        + con.execute(
            "SELECT count(*) FROM conflict_rows "
            "WHERE content IS NOT DISTINCT FROM coalesce(earlier_content, first_content) "
            "AND NOT (earlier_file_id IS NULL AND line_number = first_line)"
        ).fetchone()[0]
    )


def quarantine_rejects(con, source: Source, file_id: int) -> None:
    con.execute(
        f"INSERT INTO quarantine ({QUARANTINE_COLUMNS}) "
        "SELECT ?, ?, line_number + ?, reason, detail, raw_text FROM rejects",
        [file_id, source.fingerprint.sha256, source.line_offset],
    )


def _record_key_sql(kind: Kind, alias: str) -> str:
    """A row's identity as text (its kind's key fields), NULL when a field is missing."""
    required = [f"{alias}.{k}::VARCHAR" for k in kind.key if k not in kind.nullable_key]
    fields = [
        f"coalesce({alias}.{k}::VARCHAR, '')" if k in kind.nullable_key else f"{alias}.{k}::VARCHAR"
        for k in kind.key
    ]
    return f"CASE WHEN {' AND '.join(f + ' IS NOT NULL' for f in required)} THEN concat_ws(chr(31), {', '.join(fields)}) END"


def _collect_raw_lines(con, source: Source) -> None:
    """`raw_lines`: the text of each located row's line as it is in the file (after decoding,
    message content blanked), not a re-serialisation of the parsed fields."""
    con.execute("CREATE TEMP TABLE raw_lines (line_number BIGINT, raw_text VARCHAR)")
    if source.detected.layout.container == "jsonl":
        # JSON Lines and adapters staged each row with its line's text.
        con.execute(
            "INSERT INTO raw_lines SELECT line_number, any_value(raw_text) FROM jsonl_rows "
            "WHERE line_number IN (SELECT line_number FROM located) GROUP BY line_number"
        )
        return
    numbers = {r[0] for r in con.execute("SELECT DISTINCT line_number FROM located").fetchall()}
    if not numbers:
        return
    detected = source.detected
    found = files.raw_records(source.read_path, numbers, quote_char(detected.layout.container))
    con.executemany(
        "INSERT INTO raw_lines VALUES (?, ?)",
        [
            (number, scrub_csv_line(text, detected.header, detected.delimiter))
            for number, text in found.items()
        ],
    )
