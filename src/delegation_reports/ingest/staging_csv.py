"""Reading a delimited file (canonical CSV, operator profile, directory) as canonical rows:
the `raw_canonical` query over DuckDB's CSV reader, the lines the reader rejects, and the
physical line numbers of rows."""

from __future__ import annotations

from pathlib import Path

from . import files
from .content import is_content_column, scrub_csv_line
from .source import Source

_REJECT_REASONS = {
    "MISSING COLUMNS": "wrong_column_count",
    "TOO MANY COLUMNS": "wrong_column_count",
    "INVALID ENCODING": "undecodable_bytes",
    "INVALID UNICODE": "undecodable_bytes",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _csv_field(expr: str, delimiter: str) -> str:
    """SQL that writes one field back as CSV text, quoted when needed."""
    return (
        f"CASE WHEN {expr} IS NULL THEN '' "
        f"WHEN contains({expr}, '\"') OR contains({expr}, {sql_literal(delimiter)}) "
        f"OR contains({expr}, chr(10)) OR contains({expr}, chr(13)) "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


def quote_char(container: str) -> str:
    """The quote character of a delimited container: none in the directory extraction."""
    return "" if container == "directory" else '"'


def screen_lines(source: Source, tmp: Path) -> None:
    """Set apart the lines the CSV reader would mishandle: lines whose extra fields are empty
    (it would load them, though their fields cannot be trusted), lines with thousands of fields
    (it would take minutes to reject them) and lines with a stray line end (it would refuse the
    whole file). They are rejected here, one by one, and the reader reads a copy of the file
    where they are blank."""
    detected = source.detected
    quote = quote_char(detected.layout.container)
    n_fields = len(detected.header)
    found = files.screen(source.read_path, detected.delimiter, n_fields, quote)
    line_ends = files.StrayLineEnds([], set())
    if not found.line_ends_consistent:
        line_ends = files.stray_line_end_lines(
            source.read_path, quote, join_header=detected.header_without_cr
        )
    screened = {
        number: (number, "malformed_row", "a stray carriage return or line end", text)
        for number, text in line_ends.stray
    }
    for number, text, n_found in found.extra_fields:
        wide = n_found >= n_fields + files.WIDE_LINE_EXTRA_FIELDS
        detail = f"{n_found} fields, the header has {n_fields}"
        screened.setdefault(
            number,
            (
                number,
                "wrong_column_count",
                detail + ("" if wide else " (extra empty fields)"),
                text,
            ),
        )
    source.screened = sorted(screened.values())
    if screened or line_ends.blank or line_ends.header is not None:
        screened_path = tmp / "screened.csv"
        files.blank_out_lines(
            source.read_path,
            screened_path,
            set(screened) | line_ends.blank,
            line_ends.header,
        )
        source.read_path = screened_path


def csv_raw_sql(
    source: Source,
    *,
    with_lines: bool,
    rejects: tuple[str, str] = ("reject_rows_2", "reject_scans_2"),
) -> tuple[str, dict]:
    """The `raw_canonical` query over the CSV file: canonical names, labels mapped. Line
    numbers (ordinal + 1, right while no line was skipped) make the scan sequential: asked
    only when needed."""
    detected = source.detected
    layout = detected.layout
    header = detected.header
    names = [f"c{i}" for i in range(len(header))]
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    content = {i for i, h in enumerate(header) if is_content_column(h)}
    kept = [n for i, n in enumerate(names) if i not in content]
    delimiter = detected.delimiter
    quote = quote_char(layout.container)

    select = ["ordinality + 1 AS line_number" if with_lines else "NULL::BIGINT AS line_number"]
    canonical = layout.kind.columns
    for column in canonical:
        position = detected.positions.get(column)
        if position is None or position in content:
            value = (
                f"getvariable('const_{column}')" if column in layout.constants else "NULL::VARCHAR"
            )
        else:
            value = names[position]
            if column in layout.values and column == "rights":
                value = (
                    f"array_to_string(list_transform(string_split({value}, getvariable('list_separator')), "
                    f"lambda r: coalesce(map_extract_value(getvariable('map_rights'), lower(trim(r))), trim(r))), '|')"
                )
            elif column in layout.values:
                value = f"coalesce(map_extract_value(getvariable('map_{column}'), lower(trim({value}))), {value})"
            elif column == "rights" and layout.list_separator != "|":
                value = f"replace({value}, getvariable('list_separator'), '|')"
        select.append(f"{value} AS {column}")
    if source.transcoded and kept:
        select.append(f"contains(concat_ws('', {', '.join(kept)}), chr(65533)) AS has_bad_bytes")
    elif kept:
        # Never true: the reader rejects bad bytes itself, but only in the columns a query
        # reads. Reading every kept column here makes every scan reject the same lines.
        lengths = " + ".join(f"coalesce(strlen({n}), 0)" for n in kept)
        select.append(f"({lengths}) < 0 AS has_bad_bytes")
    else:
        select.append("false AS has_bad_bytes")
    fields = [_csv_field(n, delimiter) if i not in content else "''" for i, n in enumerate(names)]
    select.append(f"concat_ws({sql_literal(delimiter)}, {', '.join(fields)}) AS raw_text")

    options = (
        f"columns = {columns}, header = true, auto_detect = false, "
        f"delim = {sql_literal(delimiter)}, quote = {sql_literal(quote)}, "
        f"escape = {sql_literal(quote)}, allow_quoted_nulls = false, "
        f"store_rejects = true, rejects_table = '{rejects[0]}', rejects_scan = '{rejects[1]}', "
        "max_line_size = 1048576, parallel = true"
    )
    ordinality = " WITH ORDINALITY" if with_lines else ""
    sql = f"SELECT {', '.join(select)} FROM read_csv($path, {options}){ordinality}"
    return sql, {"path": str(source.read_path)}


def count_records(con, source: Source) -> int:
    """Count the file's records in a fast parallel scan that also collects the lines the CSV
    reader rejects (wrong field count, bad bytes...) into `rejects`."""
    raw_sql, params = csv_raw_sql(source, with_lines=False, rejects=("reject_rows", "reject_scans"))
    # The reader checks the encoding of the columns a query reads only: count(*) would let
    # bad bytes through. has_bad_bytes reads every kept column, as the load's scans do.
    n_records = con.execute(f"SELECT count(has_bad_bytes) FROM ({raw_sql})", params).fetchone()[0]
    rejected = con.execute(
        "SELECT line, min(line_byte_position), list(DISTINCT error_type ORDER BY error_type), "
        "first(csv_line), first(error_message) FROM reject_rows GROUP BY line ORDER BY line"
    ).fetchall()
    rows = []
    for line, offset, error_types, csv_line, message in rejected:
        reason = next(
            (_REJECT_REASONS[t] for t in error_types if t in _REJECT_REASONS), "malformed_row"
        )
        if reason == "undecodable_bytes" and not source.transcoded:
            raw = files.raw_line(source.read_path, offset)
        else:
            raw = (csv_line or "").strip("\r\n")
        detail = (message or "").splitlines()[0] if message else None
        rows.append(
            (
                int(line),
                reason,
                detail,
                scrub_csv_line(raw, source.detected.header, source.detected.delimiter),
            )
        )
    for line, reason, detail, raw in source.screened:
        rows.append(
            (
                line,
                reason,
                detail,
                scrub_csv_line(raw, source.detected.header, source.detected.delimiter),
            )
        )
    con.execute(
        "CREATE TEMP TABLE rejects (line_number BIGINT, reason VARCHAR, detail VARCHAR, raw_text VARCHAR)"
    )
    if rows:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?)", rows)
    con.execute("DROP TABLE IF EXISTS temp.reject_rows")
    con.execute("DROP TABLE IF EXISTS temp.reject_scans")
    return n_records


def fix_line_numbers(con, source: Source) -> None:
    """Staged line numbers assume no line was skipped; shift them past the rejected and blank
    lines before each row."""
    # A row rejected at line 1 sat behind the header on its line: no line skipped.
    rejected = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT line_number FROM rejects WHERE line_number > 1"
        ).fetchall()
    ]
    offset = source.line_offset
    blank = [b - offset for b in source.fingerprint.blank_lines if b > offset]
    if (
        blank
        and source.detected.layout.container == "csv"
        and (
            1 + source.n_records + len(rejected) + len(blank) != source.fingerprint.n_lines - offset
        )
    ):
        # Some quoted value spans lines and counts as one line (docs/quarantine.md): number
        # the blank lines the same way, not physically.
        blank = files.logical_blank_lines(source.read_path, source.detected.delimiter)
    skipped = sorted(set(rejected) | set(blank))
    if not skipped:
        return
    # The row with ordinal k sits after the i-th skipped line s_i exactly when
    # k > s_i - i - 1: before s_i come s_i - 2 lines after the header, i - 1 of them skipped.
    con.execute("CREATE TEMP TABLE skipped_lines (good_before BIGINT, n_skipped BIGINT)")
    con.executemany(
        "INSERT INTO skipped_lines VALUES (?, ?)",
        [(s - i - 1, i) for i, s in enumerate(skipped, start=1)],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE located AS
        SELECT s.* REPLACE (s.line_number + coalesce(k.n_skipped, 0) AS line_number)
        FROM located AS s
        ASOF LEFT JOIN (SELECT good_before, max(n_skipped) AS n_skipped
                        FROM skipped_lines GROUP BY good_before) AS k
            ON s.line_number - 1 > k.good_before
        """
    )
