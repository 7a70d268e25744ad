"""Which layout a file has: the registry of known formats and profiles, matched by header."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError, UnknownFormat, UserError
from . import dovecot, files, m365
from .content import is_content_column
from .kinds import AUDIT, DIRECTORY, DIRECTORY_COLUMNS, KINDS
from .layout import Layout, bundled_profiles, canonical_layout, find_profile, normalise_header

# Real-world sources read by an adapter (ingest/m365.py, ingest/dovecot.py) rather than by a
# layout: their records are nested JSON or log lines, not columns.
ADAPTER_FORMATS = ("m365", "dovecot")
FORMAT_CHOICES = (
    "auto",
    "delegations",
    "snapshot",
    "audit",
    "roster",
    "directory",
    *ADAPTER_FORMATS,
)
_ADAPTER_HINTS = {
    "m365": "expected a Purview audit export (a CSV with an AuditData column) or Management "
    "Activity API records (JSON with CreationTime, Operation, RecordType)",
    "dovecot": "expected Dovecot log lines (e.g. 'imap(user)<pid><session>: expunge: ...')",
}

# The directory extraction's headers, in order, as the Annuaire Santé publishes them.
DIRECTORY_HEADERS = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION structure BAL",
    "L3COMPLEMENTDISTRIBUTION structure BAL",
    "L4NUMEROVOIE structure BAL",
    "L4COMPLEMENTNUMEROVOIE structure BAL",
    "NL4TYPEVOIE structure BAL",
    "L4LIBELLEVOIE structure BAL",
    "L5LIEUDITMENTION structure BAL",
    "L6LIGNEACHEMINEMENT structure BAL",
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
)
_EXTRACTION_NAME = re.compile(r"Extraction_Correspondance_MSSante_(\d{12})", re.I)


def directory_key(name: str) -> str:
    """Tolerant directory header key: no accents, no case, no ' structure BAL' suffix."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = " ".join(text.replace("’", "'").split()).casefold()
    return re.sub(r"\s+structure bal$", "", text)


_DIRECTORY_KEYS = {
    directory_key(h): c for h, c in zip(DIRECTORY_HEADERS, DIRECTORY_COLUMNS, strict=True)
}


@dataclass
class Detected:
    """A file's layout and header, ready to load."""

    layout: Layout
    header: list[str]
    delimiter: str
    # canonical column -> index of its source column in the file
    positions: dict[str, int]
    ignored_columns: list[str] = field(default_factory=list)
    content_columns: list[str] = field(default_factory=list)
    # Lines before the header that are not data (PowerShell's "#TYPE ..." line).
    skip_lines: int = 0
    # One JSON document (an array, or a wrapper object's list) rather than JSON Lines.
    json_document: bool = False
    # The header line holds carriage returns that are not its line end: read without them.
    header_without_cr: bool = False

    @property
    def format_name(self) -> str:
        return f"profile:{self.layout.name}" if self.layout.is_profile else self.layout.name


def extraction_time(path: Path) -> str | None:
    """The extraction time written in an official directory file name, as ISO text (Paris)."""
    match = _EXTRACTION_NAME.search(path.name)
    if not match:
        return None
    s = match.group(1)
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]} {s[8:10]}:{s[10:12]}:00"


def _positions(layout: Layout, header: list[str]) -> dict[str, int]:
    if layout.container == "directory":
        out = {}
        for index, name in enumerate(header):
            column = _DIRECTORY_KEYS.get(directory_key(name))
            if column and column not in out:
                out[column] = index
        return out
    wanted = {normalise_header(src): canonical for canonical, src in layout.columns.items()}
    out = {}
    for index, name in enumerate(header):
        canonical = wanted.get(normalise_header(name))
        if canonical and canonical not in out:
            out[canonical] = index
    return out


def _build(layout: Layout, header: list[str], delimiter: str) -> Detected:
    positions = _positions(layout, header)
    used = set(positions.values())
    content = [h for h in header if is_content_column(h)]
    ignored = [h for i, h in enumerate(header) if i not in used and h not in content]
    return Detected(layout, header, delimiter, positions, ignored, content)


def _missing(layout: Layout, positions: dict[str, int]) -> list[str]:
    if layout.container == "directory":
        return sorted(DIRECTORY.required - set(positions))
    needed = layout.kind.required - set(layout.constants) - {"operator"}
    return sorted(layout.columns[c] for c in needed if c not in positions)


def known_formats() -> str:
    """A one-line list of the formats and profiles detection knows."""
    names = (
        [k for k in KINDS]
        + list(ADAPTER_FORMATS)
        + [f"profile {p.name}" for p in bundled_profiles()]
    )
    return ", ".join(names)


def _adapter(name: str, text: str) -> Detected:
    if name == "m365":
        layout = Layout(
            name="m365",
            kind=AUDIT,
            container="m365",
            constants={"operator": m365.DEFAULT_OPERATOR},
            description="Microsoft 365 / Exchange audit records",
        )
        first = files.first_line(text)
        delimiter = files.sniff_delimiter(first)
        is_csv = not text.lstrip().startswith(("[", "{"))
        header = files.parse_header(first, delimiter) if is_csv else []
        ignored = [h for h in header if h.casefold() != "auditdata"]
        return Detected(layout, header, delimiter, {}, ignored, [])
    layout = Layout(
        name="dovecot", kind=AUDIT, container="dovecot", description="Dovecot IMAP logs"
    )
    return Detected(layout, [], "", {}, [], [])


def _sniff_adapter(path: Path, text: str, fmt: str) -> Detected | None:
    sniffers = {"m365": m365.sniff, "dovecot": dovecot.sniff}
    for name, sniff in sniffers.items():
        if fmt in ("auto", name) and sniff(path, text):
            return _adapter(name, text)
    if fmt in ADAPTER_FORMATS:
        raise UnknownFormat(f"{path}: does not look like format {fmt}: {_ADAPTER_HINTS[fmt]}")
    return None


def detect(path: Path, fmt: str = "auto", profile: str | None = None) -> Detected:
    """Choose the layout of ``path`` from its header, the ``--format`` or the ``--profile``.

    Raises ``UnknownFormat`` with the list of known formats when nothing matches.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    head = files.read_head(path)
    if not head.strip():
        raise InputFileError(f"{path}: the file is empty")
    files.check_supported_encoding(path, head)

    if profile:
        layout = find_profile(profile)
        text, skip_lines = files.without_type_line(files.decode_head(head, layout.encoding))
        detected = _with_header_repaired(path, text, lambda t: _profile_text(path, t, layout))
    else:
        text, skip_lines = files.without_type_line(files.decode_head(head))
        detected = _with_header_repaired(path, text, lambda t: _detect_text(path, t, fmt))
    detected.skip_lines = skip_lines
    return detected


def _with_header_repaired(path: Path, text: str, read) -> Detected:
    """``read(text)``, unless the header line holds carriage returns that are not its line end
    and reads better without them: a carriage return inside a name (``occ\\rurred_at``) leaves
    columns out of the header cut at it, while one ending the header (rows behind it) would
    merge a row into the header. Only for a delimited file."""
    try:
        detected, error = read(text), None
    except UnknownFormat as exc:
        detected, error = None, exc
    repaired = files.without_bare_cr_in_header(text)
    if repaired is not None:
        try:
            joined = read(repaired)
        except UserError:
            joined = None
        if (
            joined is not None
            and joined.layout.container in ("csv", "directory")
            and (detected is None or len(joined.positions) > len(detected.positions))
        ):
            joined.header_without_cr = True
            return joined
    if detected is None:
        raise error
    return detected


def _profile_text(path: Path, text: str, layout: Layout) -> Detected:
    header = files.parse_header(files.first_line(text), layout.delimiter)
    detected = _build(layout, header, layout.delimiter)
    missing = _missing(layout, detected.positions)
    if missing:
        raise UnknownFormat(
            f"{path}: header does not match profile {layout.name}: missing columns {missing}"
        )
    return detected


def _detect_text(path: Path, text: str, fmt: str) -> Detected:
    json_document = False
    if fmt == "auto" or fmt in ADAPTER_FORMATS:
        adapted = _sniff_adapter(path, text, fmt)
        if adapted:
            return adapted
    if files.is_json_document(path, text):
        first = next((r for _, _, r, _ in files.json_document_records(path) if r is not None), None)
        if first is None:
            raise InputFileError(f"{path}: the JSON list holds no object")
        header, json_document = list(first), True
        candidates = [canonical_layout(k, "jsonl") for k in KINDS.values() if k is not DIRECTORY]
        delimiter = ""
    elif files.looks_like_jsonl(path, text):
        header = files.jsonl_keys(text, path)
        candidates = [canonical_layout(k, "jsonl") for k in KINDS.values() if k is not DIRECTORY]
        delimiter = ""
    else:
        delimiter = files.sniff_delimiter(files.first_line(text))
        header = files.parse_header(files.first_line(text), delimiter)
        candidates = [canonical_layout(k) for k in KINDS.values() if k is not DIRECTORY]
        candidates.append(
            Layout(
                name="directory",
                kind=DIRECTORY,
                container="directory",
                delimiter="|",
                description="MSSanté directory extraction",
            )
        )
        candidates.extend(bundled_profiles())

    if fmt != "auto":
        candidates = [c for c in candidates if c.name == fmt and not c.is_profile]
        if not candidates:
            raise UnknownFormat(f"{path}: format {fmt} cannot be read from this kind of file")
        layout = candidates[0]
        detected = _build(layout, header, delimiter or layout.delimiter)
        missing = _missing(layout, detected.positions)
        if missing:
            raise UnknownFormat(
                f"{path}: header does not match format {fmt}: missing columns {missing}"
            )
        detected.json_document = json_document
        return detected

    matches = []
    for layout in candidates:
        if layout.container == "csv" and layout.is_profile and layout.delimiter != delimiter:
            continue
        detected = _build(layout, header, delimiter or layout.delimiter)
        if not _missing(layout, detected.positions):
            matches.append(detected)
    if not matches:
        shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise UnknownFormat(
            f"{path}: unknown format (header: {shown}). Known formats: {known_formats()}. "
            "Use --format or --profile to choose one."
        )
    # The layout that recognises the most columns is the most specific.
    best = max(matches, key=lambda d: len(d.positions))
    best.json_document = json_document
    return best
