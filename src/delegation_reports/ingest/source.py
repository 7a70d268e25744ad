"""One input file as the loader sees it: path, detected layout, fingerprint, read options."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from . import files
from .detect import Detected
from .kinds import Kind

# Local times of Dovecot logs are read in this zone unless --timezone says otherwise.
DEFAULT_TIMEZONE = "Europe/Paris"


@dataclass
class Source:
    """A detected file and everything the loader derives from it."""

    path: Path
    detected: Detected
    hashing: Future
    operator: str | None
    read_path: Path
    transcoded: bool
    # The encoding the file is read with (docs/formats.md), recorded in the manifest.
    encoding: str = "utf-8"
    # (line number, reason, detail, text) of lines rejected before the CSV reader reads the file.
    screened: list[tuple[int, str, str, str]] = field(default_factory=list)
    # Lines of the file before those of `read_path` (a "#TYPE" line left out): added to the
    # line numbers of quarantined rows.
    line_offset: int = 0
    n_records: int = 0
    year: int | None = None
    timezone: str = DEFAULT_TIMEZONE

    @property
    def kind(self) -> Kind:
        return self.detected.layout.kind

    @property
    def fingerprint(self) -> files.Fingerprint:
        return self.hashing.result()
