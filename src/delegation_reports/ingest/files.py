"""Byte-level work on input files: fingerprint, header, transcoding."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError

CHUNK = 1 << 20
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")
_DELIMITERS = ",;|\t"


@dataclass
class Fingerprint:
    """What a full read of the file tells before any parsing."""

    sha256: str
    size_bytes: int
    # Physical numbers of empty lines between rows: the CSV reader skips them but counts them.
    blank_lines: list[int] = field(default_factory=list)
    # Physical lines (``\n``-separated), counting a last line without a line end.
    n_lines: int = 0


def fingerprint(path: Path, on_progress=None) -> Fingerprint:
    """Hash the file and note its blank lines, in one streaming pass."""
    digest = hashlib.sha256()
    blank: list[int] = []
    newlines = 0
    carry = b""
    size = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            # Two bytes of overlap so a "\n\r\n" split across chunks is still seen.
            window = carry + chunk
            base = newlines - carry.count(b"\n")
            for match in _BLANK_LINE.finditer(window):
                line = base + window.count(b"\n", 0, match.start()) + 2
                if not blank or blank[-1] < line:
                    blank.append(line)
            newlines += chunk.count(b"\n")
            carry = window[-2:]
            last = chunk[-1:]
            if on_progress:
                on_progress(len(chunk))
    return Fingerprint(digest.hexdigest(), size, blank, newlines + (last not in (b"", b"\n")))


def read_head(path: Path, limit: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None


def decode_head(head: bytes, encoding: str | None = None) -> str:
    """Decode a file's first bytes: the given encoding, else UTF-8, else Windows-1252."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    candidates = [encoding] if encoding else ["utf-8", "cp1252"]
    for candidate in candidates:
        decoder = codecs.getincrementaldecoder(candidate)(errors="strict")
        try:
            return decoder.decode(head, final=False)
        except UnicodeDecodeError:
            continue
    return head.decode(candidates[-1], errors="replace")


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most fields."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_header(header_line: str, delimiter: str) -> list[str]:
    row = next(csv.reader(io.StringIO(header_line), delimiter=delimiter), [])
    return [name.strip() for name in row]


def jsonl_keys(text: str, path: Path) -> list[str]:
    """The keys of the first JSON object of a JSON Lines file."""
    for line in text.splitlines():
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise InputFileError(f"{path}: line 1 is not valid JSON") from None
            if not isinstance(record, dict):
                raise InputFileError(f"{path}: line 1 is not a JSON object")
            return list(record)
    return []


def looks_like_jsonl(path: Path, text: str) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{")


def transcode_to_utf8(source: Path, target: Path, encoding: str) -> None:
    """Copy ``source`` as UTF-8. Bytes the encoding cannot decode become U+FFFD, which the
    staging model turns into an ``undecodable_bytes`` quarantine row: never a dropped row."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        first = True
        while chunk := src.read(CHUNK):
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            first = False
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))


def raw_line(path: Path, offset: int, limit: int = 8192) -> str:
    """The bytes of the line DuckDB reports at ``offset``, shown losslessly (bad bytes escaped).

    DuckDB's ``line_byte_position`` is not exact: it may point one byte into the line, or into
    the blank lines just before it. The line is the first non-blank one from there.
    """
    start = max(0, offset - limit)
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(offset - start + limit)
    head, tail = data[: offset - start], data[offset - start :]
    lines = (head.rsplit(b"\n", 1)[-1] + tail).split(b"\n")
    line = next((line for line in lines if line.rstrip(b"\r")), b"")
    return line.rstrip(b"\r").decode("utf-8", errors="backslashreplace")


def logical_blank_lines(path: Path, delimiter: str) -> list[int]:
    """The blank lines of a CSV file whose quoted values span lines, numbered as the CSV
    reader numbers lines: a record counts as one line however many it spans."""
    blank: list[int] = []
    with path.open("rb") as handle:
        lines = (line.decode("utf-8", errors="replace") for line in handle)
        try:
            for number, row in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
                if not row:
                    blank.append(number)
        except csv.Error:
            pass
    return blank
