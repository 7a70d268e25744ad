"""Sheets of hundreds of thousands of rows in an xlsxwriter workbook, written at the cost of
one formatted string per row.

xlsxwriter writes a cell through several Python calls (argument checks, a row table, an XML
writer escaping each value twice): for the evidence files it cost more than everything else
together. Here xlsxwriter still makes the workbook (styles, the small sheets, each long
sheet's header, column widths and frozen panes), while the rows of the long sheets are
written as the XML its constant-memory mode writes (inline strings, control characters as
``_xHHHH_``, the same whitespace rule, the same numbers) to a temporary file per sheet, and
put into their sheet when the workbook is packed. One difference: a text that looks like
rich-text XML (``<r>…</r>``) is escaped like any other text, where xlsxwriter would write it
as XML.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

from xlsxwriter.utility import xl_col_to_name

# Excel's limit on a cell's text, in UTF-16 code units.
MAX_TEXT = 32767
_EXCEL_EPOCH = datetime(1899, 12, 31)
# Anything that makes a text more than itself between <t> and </t>.
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
# The same, over a row's texts joined by NUL (a NUL of the data is caught by counting them).
_SPECIAL_IN_ROW = re.compile(
    r"[&<>\x01-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$|\x00\s|\s\x00"
)
_ESCAPE_LIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_EDGE_SPACE = re.compile(r"^\s|\s$")
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


def _truncated(text: str) -> str:
    """``text`` cut to Excel's limit without splitting a character above U+FFFF."""
    length = 0
    for index, char in enumerate(text):
        length += 2 if ord(char) > 0xFFFF else 1
        if length > MAX_TEXT:
            return text[:index]
    return text


def text_cell(ref: str, text: str) -> str:
    """A text cell as an inline string."""
    if len(text) <= MAX_TEXT // 2 and not _SPECIAL.search(text):
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
    text = _truncated(text)
    text = _ESCAPE_LIKE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def excel_serial(local: datetime) -> float:
    """A wall-clock time as Excel's serial number (days since 1899-12-30, in the 1900 date
    system), computed as xlsxwriter computes it."""
    delta = local - _EXCEL_EPOCH
    serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / 86400
    return serial + 1 if serial > 59 else serial


def time_cell(ref: str, local: datetime, style: int) -> str:
    """A date and time cell (``local``: naive wall-clock time) with the style ``style``."""
    return f'<c r="{ref}" s="{style}"><v>{excel_serial(local):.16G}</v></c>'


class LongSheet:
    """Rows for one sheet, after its header row, in a temporary file until the workbook is
    packed. ``time_columns`` hold naive datetimes, written with the workbook's ``style``;
    other cells are text (``str``), an empty one left out."""

    def __init__(self, sheet, path: Path, n_columns: int, time_columns: set[int], style: int):
        self.sheet = sheet
        self.path = path
        self.handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.n_columns = n_columns
        self.columns = [(xl_col_to_name(c), c in time_columns) for c in range(n_columns)]
        self.style = style
        self.last_row = 1  # the header's, written by xlsxwriter

    def add(self, cells) -> None:
        self.last_row += 1
        row = str(self.last_row)
        # Most rows hold no text that needs escaping: one look at the whole row tells.
        texts = [
            v for v, (_, is_time) in zip(cells, self.columns, strict=True) if v and not is_time
        ]
        probe = "\x00".join(texts)
        plain = (
            len(probe) <= MAX_TEXT // 2
            and probe.count("\x00") == len(texts) - 1
            and not _SPECIAL_IN_ROW.search(probe)
        )
        parts = [f'<row r="{row}">']
        for value, (letter, is_time) in zip(cells, self.columns, strict=True):
            if not value:
                continue
            if is_time:
                parts.append(time_cell(letter + row, value, self.style))
            elif plain:
                parts.append(f'<c r="{letter}{row}" t="inlineStr"><is><t>{value}</t></is></c>')
            else:
                parts.append(text_cell(letter + row, value))
        parts.append("</row>")
        self.handle.write("".join(parts))

    def close(self) -> None:
        self.handle.close()


def pack(book_path: Path, target: Path, sheets: list[LongSheet], worksheets: list) -> None:
    """Copy the workbook xlsxwriter closed at ``book_path`` to ``target``, each long sheet's
    rows put in its sheet (``worksheets``: the workbook's sheets, in order)."""
    parts = {f"xl/worksheets/sheet{worksheets.index(s.sheet) + 1}.xml": s for s in sheets}
    with (
        zipfile.ZipFile(book_path) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as packed,
    ):
        for info in source.infolist():
            data = source.read(info)
            sheet = parts.get(info.filename)
            if sheet is None:
                packed.writestr(info, data)
                continue
            head, end, tail = data.decode("utf-8").partition("</sheetData>")
            if not end:
                raise ValueError(f"{info.filename}: no sheet data to fill")
            last = xl_col_to_name(sheet.n_columns - 1)
            head = _DIMENSION.sub(f'<dimension ref="A1:{last}{sheet.last_row}"/>', head, count=1)
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with packed.open(entry, "w", force_zip64=True) as out:
                out.write(head.encode("utf-8"))
                with open(sheet.path, "rb") as rows:
                    shutil.copyfileobj(rows, out, 1 << 20)
                out.write((end + tail).encode("utf-8"))
