"""Layouts: how a file's columns, labels and times map onto a canonical kind.

The canonical formats are built-in layouts; an operator profile (a TOML file) is a layout
declared by the user. Ingestion only ever deals with layouts, so adding an operator's format
means adding one TOML file.
"""

from __future__ import annotations

import codecs
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ProfileError
from .kinds import DIRECTORY, KINDS, Kind

AMBIGUOUS_RULES = ("quarantine", "earliest", "latest")
NONEXISTENT_RULES = ("quarantine", "shift_forward")
_STRPTIME_SAFE = set("%dmYyHMSfbBpzjaAIe/-:.,T _'hZ")


def normalise_header(name: str) -> str:
    """Header comparison key: NFC, trimmed, inner spaces collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


@dataclass(frozen=True)
class TimeSpec:
    """How a file writes instants: ISO 8601 with offsets, or local wall-clock times."""

    style: str = "iso"  # iso | local
    timestamp_format: str = ""
    date_format: str = ""
    timezone: str = "Europe/Paris"
    ambiguous: str = "quarantine"
    nonexistent: str = "quarantine"


@dataclass(frozen=True)
class Layout:
    """One way a file can look: canonical kind, columns, labels, encoding and time."""

    name: str
    kind: Kind
    container: str = "csv"  # csv | jsonl | directory
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source header
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical -> label -> value
    list_separator: str = "|"
    time: TimeSpec = TimeSpec()
    description: str = ""
    source: str = "built-in"

    @property
    def is_profile(self) -> bool:
        return self.source != "built-in"

    def signature(self) -> frozenset[str]:
        """Normalised source headers that must be present for this layout to match a file."""
        return frozenset(
            normalise_header(self.columns[c])
            for c in self.kind.header_signature
            if c in self.columns
        )


def canonical_layout(kind: Kind, container: str = "csv") -> Layout:
    """The layout of a canonical file of ``kind``: column names are the kind's own."""
    return Layout(
        name=kind.name,
        kind=kind,
        container=container,
        columns={c: c for c in kind.columns},
        description=f"canonical {kind.description}",
    )


def _check(condition: bool, source: str, message: str) -> None:
    if not condition:
        raise ProfileError(f"{source}: {message}")


def load_profile(path: Path, source: str | None = None) -> Layout:
    """Read and validate an operator profile TOML file."""
    source = source or str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{source}: profile file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{source}: not a valid TOML file ({exc})") from None

    name = data.get("name")
    _check(isinstance(name, str) and name.strip() != "", source, "'name' is required")
    kind_name = data.get("kind")
    _check(
        kind_name in KINDS and kind_name != DIRECTORY.name,
        source,
        f"'kind' must be one of {', '.join(k for k in KINDS if k != DIRECTORY.name)}",
    )
    kind = KINDS[kind_name]
    columns = data.get("columns", {})
    _check(isinstance(columns, dict) and columns, source, "a [columns] table is required")
    unknown = sorted(set(columns) - set(kind.columns))
    _check(not unknown, source, f"unknown canonical columns {unknown} for kind {kind_name}")
    constants = {k: str(v) for k, v in data.get("constants", {}).items()}
    unknown = sorted(set(constants) - set(kind.columns))
    _check(not unknown, source, f"unknown canonical columns {unknown} in [constants]")
    missing = sorted(kind.required - set(columns) - set(constants) - {"operator"})
    _check(not missing, source, f"required columns not mapped: {missing}")

    values: dict[str, dict[str, str]] = {}
    for column, mapping in data.get("values", {}).items():
        _check(column in kind.columns, source, f"[values.{column}] is not a column of {kind_name}")
        _check(isinstance(mapping, dict), source, f"[values.{column}] must be a table")
        values[column] = {str(k).strip().lower(): str(v) for k, v in mapping.items()}

    encoding = data.get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ProfileError(f"{source}: unknown encoding {encoding!r}") from None
    delimiter = data.get("delimiter", ",")
    _check(
        len(delimiter) == 1 and delimiter not in '"\r\n',
        source,
        "'delimiter' must be one character",
    )

    timestamp_format = data.get("timestamp_format", "")
    date_format = data.get("date_format", "")
    tz = data.get("timezone", "Europe/Paris")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(f"{source}: unknown time zone {tz!r}") from None
    for fmt_name, fmt in (("timestamp_format", timestamp_format), ("date_format", date_format)):
        _check(set(fmt) <= _STRPTIME_SAFE, source, f"'{fmt_name}' has unexpected characters")
    ambiguous = data.get("ambiguous", "quarantine")
    nonexistent = data.get("nonexistent", "quarantine")
    _check(ambiguous in AMBIGUOUS_RULES, source, f"'ambiguous' must be one of {AMBIGUOUS_RULES}")
    _check(
        nonexistent in NONEXISTENT_RULES,
        source,
        f"'nonexistent' must be one of {NONEXISTENT_RULES}",
    )
    time = TimeSpec(
        style="local" if timestamp_format else "iso",
        timestamp_format=timestamp_format,
        date_format=date_format or "%Y-%m-%d",
        timezone=tz,
        ambiguous=ambiguous,
        nonexistent=nonexistent,
    )
    return Layout(
        name=name.strip(),
        kind=kind,
        container="csv",
        delimiter=delimiter,
        encoding=encoding,
        columns={k: str(v) for k, v in columns.items()},
        constants=constants,
        values=values,
        list_separator=data.get("list_separator", "|"),
        time=time,
        description=data.get("description", ""),
        source=source,
    )


def bundled_profiles() -> list[Layout]:
    """The profiles shipped with the package, sorted by name."""
    folder = resources.files("delegation_reports.ingest") / "profiles"
    layouts = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                layouts.append(load_profile(path, source=f"profile {entry.name}"))
    return layouts


def find_profile(name_or_path: str) -> Layout:
    """A bundled profile by name, or a profile file by path."""
    for layout in bundled_profiles():
        if layout.name == name_or_path:
            return layout
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_profile(path)
    known = ", ".join(p.name for p in bundled_profiles())
    raise ProfileError(f"unknown profile {name_or_path!r}; bundled profiles: {known}")
