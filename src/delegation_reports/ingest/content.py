"""Message content (subjects, bodies, attachments): recognised by name, and blanked wherever
a row's text is kept (the quarantine's raw text). Content is never stored anywhere.

A column or key is content when its name, in French or English, says so: ``Objet du message``,
``mail_subject``, ``Item.Subject``, ``MessageBody``, ``Corps``, ``Pièces jointes``,
``AttachmentNames``... Names are compared without accents, case or separators, word by word
(``camelCase`` splits into words).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from functools import lru_cache

# Words that make a name content on their own.
_CONTENT_WORDS = frozenset(
    {
        "subject",
        "subjects",
        "objet",
        "sujet",
        "body",
        "bodies",
        "corps",
        "contenu",
        "content",
        "snippet",
        "preview",
        "apercu",
        "attachment",
        "attachments",
        "attachmentname",
        "attachmentnames",
        "pj",
    }
)
# Words that are content next to a word naming the message ("message text", "texte du mail").
_TEXT_WORDS = frozenset({"text", "texte", "html", "plain", "message", "msg"})
_MESSAGE_WORDS = frozenset({"message", "messages", "mail", "email", "courriel", "msg"})
# Names that are content as a whole, words run together.
_CONTENT_RUNS = ("piecejointe", "piecesjointes", "messagebody", "mailsubject", "messagetext")
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=4096)
def is_content_column(name: str) -> bool:
    """True for a column or key that names message content (subject, body, attachment...)."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    if not words:
        return False
    if any(w in _CONTENT_WORDS for w in words) or words == ["message"]:
        return True
    if set(words) & _MESSAGE_WORDS and set(words) & (_TEXT_WORDS - {"message", "msg"}):
        return True
    joined = "".join(words)
    return any(run in joined for run in _CONTENT_RUNS)


def scrub_csv_line(raw: str, header: list[str], delimiter: str) -> str:
    """Blank the message-content fields of a line before it is kept.

    A line with as many fields as the header is blanked by position. When its fields cannot be
    aligned with the header (wrong count, unbalanced quotes), content may sit in any field
    from the first content column on, or earlier by as many fields as the line lacks: only the
    fields before that are kept.
    """
    content = [i for i, h in enumerate(header) if is_content_column(h)]
    if not content:
        return raw
    try:
        row = next(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter, strict=True), [])
    except csv.Error:
        row = None
    if row is None or len(row) != len(header):
        fields = row
        if row is None:
            # Unbalanced quotes: only the fields before the first quote are surely fields.
            fields = raw.split(delimiter)
            row = raw.split('"', 1)[0].split(delimiter)[:-1] if '"' in raw else fields
        trusted = row[: max(0, min(content) - max(0, len(header) - len(fields)))]
        return _csv_text(trusted + [""] * (len(header) - len(trusted)), delimiter)
    for i in content:
        row[i] = ""
    return _csv_text(row, delimiter)


def _csv_text(row: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(row)
    return out.getvalue()


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*')


def scrub_json_text(text: str) -> str:
    """Blank the values of content keys, at any depth, in JSON text (parsed or not): the value
    (a string, a number, a list or an object) becomes ``""``. A value cut off by the end of the
    text is blanked to the end."""
    if '"' not in text:
        return text
    out = []
    position = 0
    for match in _JSON_KEY.finditer(text):
        if match.start() < position or not is_content_column(match.group(1)):
            continue
        end = _value_end(text, match.end())
        out.append(text[position : match.end()])
        out.append('""')
        position = end
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


def _value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends (the end of the text if it is cut off)."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            if depth == 0:
                return min(i, n)
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and ch in ",\n":
            return i
        i += 1
    return n
