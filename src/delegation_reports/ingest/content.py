"""Message content (subjects, bodies, attachments): blanked in what the quarantine keeps."""

from __future__ import annotations

import csv
import io
import re

from .kinds import CONTENT_COLUMNS, is_content_column
from .source import Source


def scrub_csv_line(raw: str, source: Source) -> str:
    """Blank the message-content fields of a rejected line before it is kept."""
    content = [i for i, h in enumerate(source.detected.header) if is_content_column(h)]
    if not content:
        return raw
    row = next(csv.reader(io.StringIO(raw), delimiter=source.detected.delimiter), [])
    for i in content:
        if i < len(row):
            row[i] = ""
    out = io.StringIO()
    csv.writer(out, delimiter=source.detected.delimiter, lineterminator="").writerow(row)
    return out.getvalue()


_CONTENT_KEY_VALUE = re.compile(
    r'("(?:'
    + "|".join(re.escape(c) for c in sorted(CONTENT_COLUMNS))
    + r')"\s*:\s*)"(?:[^"\\]|\\.)*"',
    flags=re.I,
)


def scrub_json_text(text: str) -> str:
    """Blank values of content keys in a line that could not be parsed as JSON."""
    return _CONTENT_KEY_VALUE.sub(r'\1""', text)
