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


_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# A multi-byte UTF-8 sequence: a lead byte and its continuation bytes.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_HIGH_BYTES = bytes(range(0x80, 0x100))


def check_supported_encoding(path: Path, head: bytes) -> None:
    """Refuse UTF-16 and UTF-32 files, which the readers would take for text full of NUL bytes."""
    wide = head.startswith(_UTF16_BOMS)
    if not wide and head:
        # Without a BOM, UTF-16 text of Latin letters has a NUL byte every other byte.
        sample = head[:4096]
        wide = sample.count(0) * 4 >= len(sample)
    if wide:
        raise InputFileError(
            f"{path}: the file is in UTF-16 (or UTF-32), which is not supported: "
            "re-export it as UTF-8"
        )


def file_encoding(path: Path, declared: str) -> str:
    """The encoding to read ``path`` with, given the one its layout declares.

    A file declared in a single-byte encoding (Windows-1252, Latin-1) but written in UTF-8
    would load as mojibake (``SantÃ© Sud``), and since names are part of the keys, the same
    events would load again under a second name. A file whose non-ASCII bytes are mostly valid
    UTF-8 sequences is UTF-8 whatever the layout says; its few stray bytes quarantine their rows.
    """
    if codecs.lookup(declared).name == "utf-8":
        return "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    non_ascii = False
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
                non_ascii = non_ascii or not chunk.isascii()
            decoder.decode(b"", final=True)
            return "utf-8" if non_ascii else codecs.lookup(declared).name
        except UnicodeDecodeError:
            pass
        handle.seek(0)
        counts = [0, 0]
        while chunk := handle.read(CHUNK):
            _count_utf8(chunk, counts)
    return "utf-8" if _mostly_utf8(counts) else codecs.lookup(declared).name


def _count_utf8(data: bytes, counts: list[int]) -> None:
    counts[0] += len(data) - len(data.translate(None, _HIGH_BYTES))
    counts[1] += sum(len(m) for m in _UTF8_SEQUENCE.findall(data))


def _mostly_utf8(counts: list[int]) -> bool:
    """True when most non-ASCII bytes belong to valid UTF-8 sequences."""
    n_high, n_in_sequences = counts
    return n_in_sequences * 2 > n_high


def read_head(path: Path, limit: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None


def decode_head(head: bytes, encoding: str | None = None) -> str:
    """Decode a file's first bytes: UTF-8 when they are (see ``file_encoding``), else the given
    encoding, else Windows-1252."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        return decoder.decode(head, final=False)
    except UnicodeDecodeError:
        pass
    counts = [0, 0]
    _count_utf8(head, counts)
    if _mostly_utf8(counts):
        return head.decode("utf-8", errors="replace")
    return head.decode(encoding or "cp1252", errors="replace")


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


def nonblank_lines(path: Path):
    """(line number, bytes without the line end) of each line that is not blank."""
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            text = data.rstrip(b"\r\n")
            if text.strip():
                yield number, text


def first_json_object(text: str, max_lines: int = 100) -> dict | None:
    """The first of the first lines of JSON Lines text that is a JSON object, if any."""
    for line in text.splitlines()[:max_lines]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict):
            return record
    return None


def jsonl_keys(text: str, path: Path) -> list[str]:
    """The keys of the first JSON object of a JSON Lines file. Lines before it that are not
    JSON objects are quarantined when the file is read; the file is refused only when none of
    its first lines is one."""
    if not text.strip():
        return []
    record = first_json_object(text)
    if record is None:
        raise InputFileError(f"{path}: line 1 is not a JSON object, nor any line after it")
    return list(record)


# The keys of a wrapper object whose list holds the records: {"value": [...]} as Microsoft
# Graph and OData write it, {"events": [...]}, {"records": [...]}.
_WRAPPER_LIST = re.compile(r'"(?:events|value|records)"\s*:\s*\[', re.I)


def is_json_document(path: Path, text: str) -> bool:
    """True for one JSON document holding the records (an array, or a pretty-printed wrapper
    object), rather than JSON Lines."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return True
    return (
        stripped.startswith("{")
        and first_json_object(text) is None
        and bool(_WRAPPER_LIST.search(text))
    )


def json_document_records(path: Path):
    """(line number, text, record, reject) for each element of the records list of a JSON
    document (see ``is_json_document``): the line is where the element starts, the text is the
    element as written. An element that is not an object comes with its reject row; a document
    that cannot be read past some point raises ``InputFileError`` naming the line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{path}: bytes that are not UTF-8 at line {line}") from None
    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)
    stripped = len(text) - len(text.lstrip())
    if text.startswith("[", stripped):
        position = stripped + 1
    else:
        wrapper = _WRAPPER_LIST.search(text)
        if not wrapper:
            raise InputFileError(f"{path}: a JSON object without an events, value or records list")
        position = wrapper.end()
    whitespace = re.compile(r"[\s,]*")
    while True:
        position = whitespace.match(text, position).end()
        line = text.count("\n", 0, position) + 1
        if position >= len(text):
            raise InputFileError(f"{path}: the JSON list is not closed (line {line})")
        if text[position] == "]":
            return
        try:
            record, end = decoder.raw_decode(text, position)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = getattr(exc, "msg", "nested too deep")
            raise InputFileError(f"{path}: not valid JSON at line {line}: {message}") from None
        raw = text[position:end]
        if isinstance(record, dict):
            yield line, raw, record, None
        else:
            yield line, raw, None, (line, "malformed_row", "not a JSON object", raw)
        position = end


def without_type_line(text: str) -> tuple[str, int]:
    """The text without the ``#TYPE System.Management...`` line that PowerShell 5.1's
    ``Export-Csv`` writes first unless told ``-NoTypeInformation``, and how many lines that is."""
    if text.startswith("#TYPE"):
        return (text.split("\n", 1)[1] if "\n" in text else ""), 1
    return text, 0


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


# A line with this many fields more than the header is set apart before the CSV reader sees it:
# the reader keeps one reject row per extra field, each with the whole line, and takes time
# quadratic in their number (a 100,000-field line: minutes).
WIDE_LINE_EXTRA_FIELDS = 1024


@dataclass
class Screen:
    """What one pass over a delimited file finds before the CSV reader reads it."""

    # (line number, text, number of fields) of lines with more fields than the header that
    # the reader would mishandle (see ``screen``).
    extra_fields: list[tuple[int, str, int]]
    # Every line ends the header's way and no other carriage return is there.
    line_ends_consistent: bool


def screen(path: Path, delimiter: str, n_fields: int, quote: str) -> Screen:
    """One pass over the file for the lines the CSV reader would mishandle.

    Lines with more fields than the header: lines whose extra fields are all empty
    (``...,OpC,,`` or a row followed by thousands of delimiters), which the reader loads
    silently (it reports extra fields only when one holds a value), and lines with at least
    ``WIDE_LINE_EXTRA_FIELDS`` extra fields, which it takes minutes to reject. Both are found
    by byte searches on clean files: a line of the first kind ends with the delimiter; a line of
    the second kind is longer than ``WIDE_LINE_EXTRA_FIELDS`` bytes, and long lines are found by
    hopping from line end to line end at most that far apart.

    Line ends: a file with one kind of line end is recognised by byte counts alone; the others
    go through ``stray_line_end_lines``.
    """
    end = delimiter.encode()
    crlf_file = _header_ends_with_crlf(path)
    consistent = True
    found: dict[int, tuple[int, str, int]] = {}

    def consider(body: bytes, start: int, stop: int, n_before: int, wide_only: bool) -> None:
        line = body[start:stop].rstrip(b"\r")
        n_delimiters = line.count(end)
        if n_delimiters < n_fields:
            return
        if wide_only and n_delimiters + 1 < n_fields + WIDE_LINE_EXTRA_FIELDS:
            return
        row = _single_line_fields(line, delimiter, quote)
        if not row or len(row) <= n_fields:
            return
        if len(row) >= n_fields + WIDE_LINE_EXTRA_FIELDS or not any(row[n_fields:]):
            number = n_before + body.count(b"\n", 0, start) + 1
            text = line.decode("utf-8", errors="backslashreplace")
            found.setdefault(number, (number, text, len(row)))

    n_before = 0  # line ends before the current chunk
    carry = b""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            data = carry + chunk
            # Whole lines only; at the end of the file, the last line without a line end.
            last_end = data.rfind(b"\n") if chunk else len(data)
            if last_end < 0:
                carry = data
                continue
            body, carry = data[: last_end + 1], data[last_end + 1 :]
            if consistent:
                n_cr = body.count(b"\r")
                consistent = (
                    n_cr == body.count(b"\r\n") == body.count(b"\n") if crlf_file else not n_cr
                )
            for marker in (end + b"\n", end + b"\r\n"):
                position = body.find(marker)
                while position >= 0:
                    start = body.rfind(b"\n", 0, position) + 1
                    stop = body.find(b"\n", position)
                    consider(body, start, stop, n_before, wide_only=False)
                    position = body.find(marker, stop)
            for start, stop in _long_lines(body, WIDE_LINE_EXTRA_FIELDS):
                consider(body, start, stop, n_before, wide_only=True)
            if not chunk:
                break
            n_before += body.count(b"\n")
    return Screen(sorted(found.values()), consistent)


def _long_lines(body: bytes, length: int):
    """(start, stop) of the lines of ``body`` (whole lines) at least ``length`` bytes long.
    Each step looks for the last line end at most ``length`` bytes ahead: on a file of short
    lines it moves nearly that far at a time."""
    size = len(body)
    previous = -1  # the line end before the current line
    while previous + length < size:
        following = body.rfind(b"\n", previous + 1, previous + length + 1)
        if following >= 0:
            previous = following
            continue
        stop = body.find(b"\n", previous + 1)
        stop = size if stop < 0 else stop
        yield previous + 1, stop
        previous = stop


@dataclass
class StrayLineEnds:
    """Lines whose line end differs from the header's (see ``stray_line_end_lines``)."""

    # (line number, text) of lines to quarantine.
    stray: list[tuple[int, str]]
    # Lines with nothing but line ends, to skip like any blank line.
    blank: set[int]
    # When the header line holds a bare carriage return, the header the reader must read
    # instead (without its line end).
    header: bytes | None = None


def stray_line_end_lines(path: Path, quote: str, *, join_header: bool = False) -> StrayLineEnds:
    """Lines whose line end differs from the header's (a CRLF line or a bare carriage return
    in an LF file, an LF line in a CRLF file), outside quoted values. The CSV reader refuses the
    whole file for one of them. A header that ends with a bare carriage return (``header\\r``
    then rows) is cut there: the rows behind it on its line are a stray line numbered 1; the
    file's line end is the one that ends that line. With ``join_header`` (detection read the
    header without its carriage returns, see ``without_bare_cr_in_header``), the header is
    that line without them and nothing of it is quarantined.
    """
    crlf_file = _header_ends_with_crlf(path)
    found = StrayLineEnds([], set())
    quote_byte = quote.encode()
    inside = False  # within a quoted value at the start of the line
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line.rstrip(b"\r\n")
            ends_crlf = line.endswith(b"\r\n")
            if number == 1:
                cut = _bare_cr_in_header(line, quote_byte)
                if cut is not None and join_header:
                    body = found.header = body.replace(b"\r", b"")
                elif cut is not None:
                    rest = line[cut + 1 :].rstrip(b"\r\n")
                    if rest.strip(b"\r"):
                        found.stray.append((1, _shown_line(rest.lstrip(b"\r"))))
                    body = found.header = line[:cut]
            outside = _outside_quotes(body, quote_byte, inside)
            if quote_byte:
                inside = inside != bool(body.count(quote_byte) % 2)
            if number == 1 or inside:
                continue
            if line.endswith(b"\n"):
                wrong_end = ends_crlf != crlf_file
            else:
                # The last line: a bare carriage return ending it is one in an LF file only.
                wrong_end = line.endswith(b"\r") and not crlf_file
            if not (wrong_end or b"\r" in outside):
                continue
            if not body.strip(b"\r"):
                found.blank.add(number)
            else:
                found.stray.append((number, _shown_line(body)))
    return found


def _bare_cr_in_header(line: bytes, quote: bytes) -> int | None:
    """The position of the first carriage return in the header line that is not its line end
    (nor inside a quoted name), if any. A file without any line feed ends its lines with
    carriage returns alone (old Mac files), which the CSV reader reads."""
    if not line.endswith(b"\n"):
        return None
    core = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    position = core.find(b"\r")
    while position >= 0:
        if not quote or not core.count(quote, 0, position) % 2:
            return position
        position = core.find(b"\r", position + 1)
    return None


def without_bare_cr_in_header(text: str) -> str | None:
    """``text`` (a file's first lines) without the carriage returns inside its first line, when
    there are any: a header damaged by one (``event_id,occ\\rurred_at``) may read as a known
    header once they are gone."""
    first, newline, rest = text.partition("\n")
    core = first.rstrip("\r")
    if not newline or "\r" not in core:
        return None
    return core.replace("\r", "") + first[len(core) :] + newline + rest


def _header_ends_with_crlf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.readline().endswith(b"\r\n")


def _outside_quotes(body: bytes, quote: bytes, inside: bool) -> bytes:
    """The parts of a line outside quoted values, given whether it starts inside one."""
    if not quote:
        return body
    parts = body.split(quote)
    return b"".join(parts[1 if inside else 0 :: 2])


def _single_line_fields(line: bytes, delimiter: str, quote: str) -> list[str] | None:
    """The fields of one physical line, or None when a quoted value runs past its end."""
    text = line.decode("utf-8", errors="replace")
    if quote and text.count(quote) % 2:
        return None
    options = {"quotechar": quote} if quote else {"quoting": csv.QUOTE_NONE}
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=True, **options), [])
    except csv.Error:
        return None


def copy_without_first_lines(source: Path, target: Path, n_lines: int) -> None:
    """Copy ``source`` from its line ``n_lines + 1`` on."""
    with source.open("rb") as src, target.open("wb") as dst:
        for _ in range(n_lines):
            src.readline()
        while chunk := src.read(CHUNK):
            dst.write(chunk)


def blank_out_lines(
    source: Path, target: Path, line_numbers: set[int], header: bytes | None = None
) -> None:
    """Copy ``source`` with the given lines emptied (each keeps a line end, the header's kind,
    so every other line keeps its number and the CSV reader skips them). With
    ``header``, the header line is that text, then its line end."""
    blank = b"\r\n" if _header_ends_with_crlf(source) else b"\n"
    with source.open("rb") as src, target.open("wb") as dst:
        for number, line in enumerate(src, start=1):
            if number == 1 and header is not None:
                line = header + (blank if line.endswith(b"\n") else b"")
            elif number in line_numbers:
                line = blank if line.endswith(b"\n") else b""
            dst.write(line)


def raw_records(path: Path, numbers: set[int], quote: str) -> dict[int, str]:
    """The text of the records at the given line numbers, numbered as the quarantine numbers
    them: a quoted value spanning lines makes one record. Bytes that are not UTF-8 are shown
    escaped (``\\x92``)."""
    out: dict[int, str] = {}
    last = max(numbers)
    quote_byte = quote.encode()
    number = 0
    pending = b""
    with path.open("rb") as handle:
        for line in handle:
            if not pending:
                number += 1
            pending += line
            if quote_byte and pending.count(quote_byte) % 2:
                continue  # inside a quoted value: the record goes on
            if number in numbers:
                out[number] = _shown_line(pending)
            pending = b""
            if number >= last:
                return out
    if pending and number in numbers:
        out[number] = _shown_line(pending)
    return out


def _shown_line(line: bytes) -> str:
    if line.startswith(codecs.BOM_UTF8):
        line = line[len(codecs.BOM_UTF8) :]
    return line.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")


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
