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

import contextlib
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
    """Write the CSV evidence file alone; returns the number of traces."""
    return _write(con, practice_id, month, csv_path=path)


def write_xlsx(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, path: Path) -> int:
    """Write the Excel evidence file alone (a sheet of findings, then the traces); returns
    the number of traces."""
    return _write(con, practice_id, month, xlsx_path=path)


class _Workbook:
    """The Excel evidence file, filled row by row: its rows are flushed to a private
    temporary folder as they come (xlsxwriter's constant memory mode)."""

    def __init__(self, path: Path, spill: str, findings: list[dict]):
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": spill,
                # Text from the data is text: never a formula, a link or a number.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.bold = self.book.add_format({"bold": True})
        self.stamp = self.book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        self._findings_sheet(findings)
        self.sheet, self.row, self.number = None, 0, 0

    def _findings_sheet(self, findings: list[dict]) -> None:
        wrap = self.book.add_format({"text_wrap": True, "valign": "top"})
        sheet = self.book.add_worksheet("Constats")
        columns = (
            ("finding_id", 34),
            ("Gravité", 12),
            ("Règle", 30),
            ("Constat", 30),
            ("Boîte", 30),
            ("Compte", 30),
            ("Explication", 80),
            ("Que faire", 80),
            ("Nombre de traces", 10),
        )
        for col, (name, width) in enumerate(columns):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, name, self.bold)
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

    def _new_sheet(self) -> None:
        self.number += 1
        name = "Traces" if self.number == 1 else f"Traces ({self.number})"
        self.sheet = self.book.add_worksheet(name)
        for col, header in enumerate(HEADERS):
            self.sheet.set_column(col, col, 36 if col == 0 else 20)
            self.sheet.write_string(0, col, header, self.bold)
        self.sheet.freeze_panes(1, 0)
        self.row = 1

    def add(self, cells: list) -> None:
        if self.sheet is None or self.row == XLSX_MAX_ROWS:
            self._new_sheet()
        for col, value in enumerate(cells):
            if isinstance(value, datetime):
                local = value.astimezone(labels.PARIS).replace(tzinfo=None)
                self.sheet.write_datetime(self.row, col, local, self.stamp)
            elif value:  # an empty cell is left unwritten
                self.sheet.write_string(self.row, col, str(value))
        self.row += 1

    def close(self) -> None:
        if self.sheet is None:
            self._new_sheet()
        self.book.close()


def _write(
    con: duckdb.DuckDBPyConnection,
    practice_id: str,
    month: Month,
    *,
    csv_path: Path | None = None,
    xlsx_path: Path | None = None,
) -> int:
    """Write the evidence files asked for in one pass over the rows; returns the number of
    traces."""
    n = 0
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_replacing(csv_path)) if csv_path else None
        book = None
        if xlsx_path:
            spill = stack.enter_context(tempfile.TemporaryDirectory(prefix="delegation-evidence-"))
            os.chmod(spill, 0o700)
            temporary = stack.enter_context(replacing(xlsx_path))
            book = _Workbook(temporary, spill, month_findings(con, month, practice_id))
        if handle:
            handle.write("\ufeff".encode())
            handle.write(_csv_line(list(HEADERS)))
        for row in _rows(con, practice_id, month):
            if handle:
                handle.write(_csv_line([_csv_cell(v) for v in row]))
            if book:
                book.add(row)
            n += 1
        if book:
            book.close()
    return n


def write_evidence(db: Path | str, practice_id: str, month: Month, folder: Path) -> list[Path]:
    """Both evidence files of a practice's month into ``folder``, in one pass over its traces
    (the warehouse opened read-only); returns their paths."""
    paths = [folder / name for name in file_names(practice_id)]
    con = connect(db, read_only=True)
    try:
        create_model_macros(con)
        _write(con, practice_id, month, csv_path=paths[0], xlsx_path=paths[1])
    finally:
        con.close()
    return paths
