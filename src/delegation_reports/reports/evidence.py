"""Evidence files: every trace behind every finding of a practice's month, beside its report.

``OUT/YYYY-MM/<practice_id>-preuves.csv`` is for French Excel and any other tool (``;``
separator, UTF-8 with a byte order mark, French headers, cells that a spreadsheet would run as
formulas prefixed with an apostrophe); ``<practice_id>-preuves.xlsx`` holds the same rows with
real dates, and a sheet listing the findings with their advice. Times are Paris wall-clock
times (the header says so), with the UTC instant beside them. Rows are read from DuckDB in
batches and written as they come, so memory stays bounded whatever the number of traces; both
files go through ``output``'s temporary file beside the target.

Both files are written in one pass, a batch at a time: the labels of a batch are looked up
column by column, the CSV rows go to one ``csv`` writer, and the workbook's trace rows are
written by ``spreadsheet.LongSheet`` (a string per row) rather than cell by cell through
xlsxwriter, which cost four fifths of the time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb

from ..analysis.findings import guard_column, month_findings
from ..analysis.models import Month, create_model_macros, ensure_practice_access, month_bounds
from ..warehouse import reading, sql_text
from . import labels
from .findings_view import rule_texts
from .output import open_replacing, replacing
from .spreadsheet import LongSheet, pack

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


def _batches(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month) -> Iterator[list]:
    """The evidence rows, batch by batch from DuckDB, as columns of cells in ``HEADERS``'
    order: text (None when empty), and at ``TIME_COLUMN`` the time as an aware datetime."""
    ensure_practice_access(con, [month])
    from_at, until_at = month_bounds(con, month)
    params = {
        "month": month.first_day,
        "practice_id": practice_id,
        "from_at": from_at - _MARGIN,
        "month_from_at": from_at,
        "month_until_at": until_at,
        "until_at": until_at + _MARGIN,
    }
    rule_labels: dict[tuple, str] = {}

    def rule_label(rule_id: str, label: str | None) -> str:
        key = (rule_id, label)
        if key not in rule_labels:
            rule_labels[key] = rule_texts(rule_id, label)[0]
        return rule_labels[key]

    # A relation streams its result batch by batch (a cursor's result would be materialised
    # whole first).
    reader = con.sql(sql_text("reports/evidence.sql"), params=params).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        r = batch.to_pydict()
        kinds, at = r["kind"], r["at"]
        yield [
            r["finding_id"],
            [labels.SEVERITIES.get(v, v) for v in r["severity"]],
            [rule_label(i, v) for i, v in zip(r["rule_id"], r["rule_label"], strict=True)],
            r["title_fr"],
            [labels.STATUSES.get(v, v) for v in r["status"]],
            r["mailbox"],
            [KINDS[k] for k in kinds],
            r["event_id"],
            at,
            [a.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if a else "" for a in at],
            r["account"],
            [
                labels.CHANGES.get(a, a) if k == "delegation" else a
                for k, a in zip(kinds, r["action"], strict=True)
            ],
            [labels.OUTCOMES.get(v or "", "") for v in r["outcome"]],
            r["auth"],
            r["client_ip"],
            r["user_agent"],
            r["session_id"],
            [labels.ATTRIBUTIONS.get(v or "", "") for v in r["attribution"]],
            r["rights"],
            r["right_needed"],
            r["performed_by"],
            r["operator"],
        ]


def _csv_columns(columns: list) -> list:
    """A batch's columns as the CSV prints them: Paris times as tables show them, text a
    spreadsheet would run as a formula guarded."""
    return [
        [labels.when(a, seconds=True) if a else "" for a in column]
        if i == TIME_COLUMN
        else guard_column(column)
        for i, column in enumerate(columns)
    ]


def write_csv(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, path: Path) -> int:
    """Write the CSV evidence file alone; returns the number of traces."""
    return _write(con, practice_id, month, csv_path=path)


def write_xlsx(con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, path: Path) -> int:
    """Write the Excel evidence file alone (a sheet of findings, then the traces); returns
    the number of traces."""
    return _write(con, practice_id, month, xlsx_path=path)


class _Workbook:
    """The Excel evidence file, filled row by row: the findings sheet and each traces sheet's
    header through xlsxwriter, the traces through ``spreadsheet.LongSheet``, each sheet's rows
    in a file of the private temporary folder ``spill`` until the workbook is packed."""

    def __init__(self, spill: str, findings: list[dict]):
        import xlsxwriter

        self.spill = Path(spill)
        self.book = xlsxwriter.Workbook(
            str(self.spill / "workbook.xlsx"),
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
        stamp = self.book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        # NOTE: the traces are written before the workbook's styles: the time format's style
        # number is fixed now (xlsxwriter would give it on its first use).
        self.stamp = stamp._get_xf_index()
        self._findings_sheet(findings)
        self.sheets: list[LongSheet] = []

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
        number = len(self.sheets) + 1
        name = "Traces" if number == 1 else f"Traces ({number})"
        sheet = self.book.add_worksheet(name)
        for col, header in enumerate(HEADERS):
            sheet.set_column(col, col, 36 if col == 0 else 20)
            sheet.write_string(0, col, header, self.bold)
        sheet.freeze_panes(1, 0)
        self.sheets.append(
            LongSheet(
                sheet, self.spill / f"traces-{number}.xml", len(HEADERS), {TIME_COLUMN}, self.stamp
            )
        )

    def add(self, columns: list) -> None:
        """A batch's rows (``_batches``' columns); times in Paris wall-clock time."""
        for cells in zip(*columns, strict=True):
            if not self.sheets or self.sheets[-1].last_row == XLSX_MAX_ROWS:
                self._new_sheet()
            at = cells[TIME_COLUMN]
            if at:
                cells = list(cells)
                cells[TIME_COLUMN] = at.astimezone(labels.PARIS).replace(tzinfo=None)
            self.sheets[-1].add(cells)

    def close(self, target: Path) -> None:
        """Write the workbook to ``target``."""
        if not self.sheets:
            self._new_sheet()
        for sheet in self.sheets:
            sheet.close()
        self.book.close()
        pack(self.spill / "workbook.xlsx", target, self.sheets, self.book.worksheets())


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
        writer = None
        if csv_path:
            handle = stack.enter_context(open_replacing(csv_path))
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            # Flushed, and let go of without closing the file open_replacing closes.
            stack.callback(text.detach)
            stack.callback(text.flush)
            text.write("\ufeff")
            writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
            writer.writerow(HEADERS)
        book = target = None
        if xlsx_path:
            spill = stack.enter_context(tempfile.TemporaryDirectory(prefix="delegation-evidence-"))
            os.chmod(spill, 0o700)
            target = stack.enter_context(replacing(xlsx_path))
            book = _Workbook(spill, month_findings(con, month, practice_id))
        for columns in _batches(con, practice_id, month):
            if writer:
                writer.writerows(zip(*_csv_columns(columns), strict=True))
            if book:
                book.add(columns)
            n += len(columns[0])
        if book:
            book.close(target)
    return n


def write_evidence(db: Path | str, practice_id: str, month: Month, folder: Path) -> list[Path]:
    """Both evidence files of a practice's month into ``folder``, in one pass over its traces
    (the warehouse opened read-only, see ``warehouse.reading``); returns their paths."""
    with reading(db) as con:
        return write_evidence_files(con, practice_id, month, folder)


def write_evidence_files(
    con: duckdb.DuckDBPyConnection, practice_id: str, month: Month, folder: Path
) -> list[Path]:
    """``write_evidence`` on an open connection."""
    paths = [folder / name for name in file_names(practice_id)]
    create_model_macros(con)
    _write(con, practice_id, month, csv_path=paths[0], xlsx_path=paths[1])
    return paths
