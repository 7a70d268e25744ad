"""Evidence files: every trace behind every finding of a practice's month, beside its report.

``OUT/YYYY-MM/<practice_id>-preuves.csv`` is for French Excel and any other tool (``;``
separator, UTF-8 with a byte order mark, French headers, cells that a spreadsheet would run as
formulas prefixed with an apostrophe); ``<practice_id>-preuves.xlsx`` holds the same rows with
real dates, and a sheet listing the findings with their advice. Times are Paris wall-clock
times (the header says so), with the UTC instant beside them. Rows are read from DuckDB in
batches and written as they come, so memory stays bounded whatever the number of traces; both
files go through ``output``'s temporary file beside the target.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb

from ..analysis.findings import guard_cell, month_findings
from ..analysis.models import Month, create_model_macros, month_bounds
from ..warehouse import connect, sql_text
from . import labels
from .findings_view import rule_texts
from .output import open_replacing, replacing

BATCH_ROWS = 10_000
# Excel's last row; further traces continue on another sheet.
XLSX_MAX_ROWS = 1_048_576
# The margin around the month within which the month's rules read events.
_MARGIN = timedelta(days=1)

HEADERS = (
    "finding_id",
    "Gravité",
    "Règle",
    "Constat",
    "Statut",
    "Boîte",
    "Nature de la trace",
    "Identifiant de la trace",
    "Date et heure (heure de Paris)",
    "Instant UTC",
    "Compte",
    "Action",
    "Résultat",
    "Authentification",
    "Adresse IP",
    "Logiciel",
    "Session",
    "Qualification de l'accès",
    "Droits en vigueur",
    "Droit nécessaire",
    "Fait par",
    "Opérateur",
)
TIME_COLUMN = HEADERS.index("Date et heure (heure de Paris)")
KINDS = {"access": "accès à la boîte", "delegation": "changement de délégation"}


def file_names(practice_id: str) -> tuple[str, str]:
    """The CSV and XLSX evidence files' names of a practice."""
    return f"{practice_id}-preuves.csv", f"{practice_id}-preuves.xlsx"


def links(practice_id: str) -> tuple[str, str]:
    """Relative links to the evidence files from a report beside them."""
    return tuple(f"./{quote(name)}" for name in file_names(practice_id))


def _rows(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month) -> Iterator[list]:
    """The evidence rows, in batches from DuckDB, as lists of cells: text, and the Paris time
    as an aware datetime (``TIME_COLUMN``)."""
    from_at, until_at = month_bounds(con, month)
    params = {
        "month": month.first_day,
        "practice_id": practice_id,
        "from_at": from_at - _MARGIN,
        "until_at": until_at + _MARGIN,
    }
    # A relation streams its result batch by batch (a cursor's result would be materialised
    # whole first).
    reader = con.sql(sql_text("reports/evidence.sql"), params=params).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        for r in batch.to_pylist():
            label = rule_texts(r["rule_id"], r["rule_label"])[0]
            at = r["at"]
            if r["kind"] == "delegation":
                action = labels.CHANGES.get(r["action"], r["action"])
            else:
                action = r["action"]
            yield [
                r["finding_id"],
                labels.SEVERITIES.get(r["severity"], r["severity"]),
                label,
                r["title_fr"],
                labels.STATUSES.get(r["status"], r["status"]),
                r["mailbox"],
                KINDS[r["kind"]],
                r["event_id"],
                at,
                at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else "",
                r["account"],
                action,
                labels.OUTCOMES.get(r["outcome"] or "", ""),
                r["auth"],
                r["client_ip"],
                r["user_agent"],
                r["session_id"],
                labels.ATTRIBUTIONS.get(r["attribution"] or "", ""),
                r["rights"],
                r["right_needed"],
                r["performed_by"],
                r["operator"],
            ]


def _csv_line(cells: list) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def _csv_cell(value) -> str:
    if isinstance(value, datetime):
        return labels.when(value, seconds=True)
    return guard_cell(value)


def write_csv(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, path: Path) -> int:
    """Write the CSV evidence file; returns the number of traces."""
    n = 0
    with open_replacing(path) as handle:
        handle.write("\ufeff".encode())
        handle.write(_csv_line(list(HEADERS)))
        for row in _rows(con, practice_id, month):
            handle.write(_csv_line([_csv_cell(v) for v in row]))
            n += 1
    return n


def write_xlsx(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, path: Path) -> int:
    """Write the Excel evidence file (a sheet of findings, then the traces); returns the
    number of traces."""
    import xlsxwriter

    findings = month_findings(con, month, practice_id)
    n = 0
    with (
        tempfile.TemporaryDirectory(prefix="delegation-evidence-") as spill,
        replacing(path) as temporary,
    ):
        os.chmod(spill, 0o700)
        book = xlsxwriter.Workbook(
            str(temporary),
            {
                # Rows are flushed to a private temporary folder as they are written.
                "constant_memory": True,
                "tmpdir": spill,
                # Text from the data is text: never a formula, a link or a number.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        bold = book.add_format({"bold": True})
        stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        sheet = book.add_worksheet("Constats")
        columns = (
            "finding_id",
            "Gravité",
            "Règle",
            "Constat",
            "Boîte",
            "Compte",
            "Explication",
            "Que faire",
            "Nombre de traces",
        )
        for col, (name, width) in enumerate(
            zip(columns, (34, 12, 30, 30, 30, 30, 80, 80, 10), strict=True)
        ):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, name, bold)
        sheet.freeze_panes(1, 0)
        for row, f in enumerate(findings, start=1):
            label, _, advice = rule_texts(
                f["rule_id"], f["rule_label"], f["rule_who"], f["advice_fr"]
            )
            cells = (
                f["finding_id"],
                labels.SEVERITIES.get(f["severity"], f["severity"]),
                label,
                f["title_fr"],
                f["mailbox"] or "",
                f["actor"] or "",
                f["explanation_fr"] or "",
                advice,
            )
            for col, value in enumerate(cells):
                sheet.write_string(row, col, value, wrap if col >= 6 else None)
            sheet.write_number(row, len(cells), len(f["evidence"]))
        traces, row, number = None, 0, 0
        for cells in _rows(con, practice_id, month):
            if traces is None or row == XLSX_MAX_ROWS:
                number += 1
                traces = book.add_worksheet("Traces" if number == 1 else f"Traces ({number})")
                for col, name in enumerate(HEADERS):
                    traces.set_column(col, col, 36 if col == 0 else 20)
                    traces.write_string(0, col, name, bold)
                traces.freeze_panes(1, 0)
                row = 1
            for col, value in enumerate(cells):
                if isinstance(value, datetime):
                    traces.write_datetime(
                        row, col, value.astimezone(labels.PARIS).replace(tzinfo=None), stamp
                    )
                elif value is not None:
                    traces.write_string(row, col, str(value))
            row += 1
            n += 1
        if traces is None:
            traces = book.add_worksheet("Traces")
            for col, name in enumerate(HEADERS):
                traces.write_string(0, col, name, bold)
        book.close()
    return n


def write_evidence(db: Path | str, practice_id: str, month: Month, folder: Path) -> list[Path]:
    """Both evidence files of a practice's month into ``folder`` (the warehouse opened
    read-only); returns their paths."""
    csv_name, xlsx_name = file_names(practice_id)
    con = connect(db, read_only=True)
    try:
        create_model_macros(con)
        write_csv(con, practice_id, month, folder / csv_name)
        write_xlsx(con, practice_id, month, folder / xlsx_name)
    finally:
        con.close()
    return [folder / csv_name, folder / xlsx_name]
