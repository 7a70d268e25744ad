"""What the real-world source adapters (Microsoft 365, Dovecot) share.

An adapter reads a file that is not shaped like a canonical kind (audit records nested in JSON,
log lines) and turns it into canonical rows, as text, with the source line number and the raw
text to keep if the row is quarantined. The rows go to one temporary table per kind, shaped
like the JSON Lines staging (`jsonl_rows`), so the kinds' staging models, deduplication,
quarantine and manifest apply unchanged (see ``pipeline._load_adapter``).

Every source record (a CSV record, a JSON record, a log line) ends in exactly one place:

- **mapped**: it produced one or more canonical rows, which are then loaded, counted as
  duplicates or quarantined like any canonical row;
- **rejected**: it could not be read at all (malformed line, bad bytes...) and is quarantined
  as one row, with a reason code;
- **skipped**: it is deliberately out of scope (another Microsoft 365 workload, another
  program's syslog line...). It is counted per category in ``rows_skipped`` and the manifest
  notes, never loaded, never quarantined.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from .kinds import KINDS

_BATCH = 50_000


class RowSink:
    """Collects canonical rows of one or more kinds into temporary tables `stage_<kind>`,
    in batches (an aggregated Microsoft 365 record may stand for thousands of rows)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...]):
        import pyarrow as pa

        self._pa = pa
        self.con = con
        self.columns: dict[str, list[str]] = {}
        self.schemas = {}
        self.batches: dict[str, dict[str, list]] = {}
        self.counts: Counter[str] = Counter()
        for name in kinds:
            kind = KINDS[name]
            columns = ["line_number", *kind.columns, "has_bad_bytes", "raw_text"]
            self.columns[name] = columns
            self.schemas[name] = pa.schema(
                [("line_number", pa.int64())]
                + [(c, pa.string()) for c in kind.columns]
                + [("has_bad_bytes", pa.bool_()), ("raw_text", pa.string())]
            )
            self.batches[name] = {c: [] for c in columns}
            con.execute(
                f"CREATE TEMP TABLE stage_{name} ("
                + ", ".join(
                    f"{c} {'BIGINT' if c == 'line_number' else 'BOOLEAN' if c == 'has_bad_bytes' else 'VARCHAR'}"
                    for c in columns
                )
                + ")"
            )

    def add(
        self, kind: str, line_number: int, values: dict[str, str | None], raw_text: str
    ) -> None:
        batch = self.batches[kind]
        batch["line_number"].append(line_number)
        for column in self.columns[kind][1:-2]:
            batch[column].append(values.get(column))
        batch["has_bad_bytes"].append(False)
        batch["raw_text"].append(raw_text)
        self.counts[kind] += 1
        if len(batch["line_number"]) >= _BATCH:
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        batch = self.batches[kind]
        if not batch["line_number"]:
            return
        self.con.register("adapter_batch", self._pa.table(batch, schema=self.schemas[kind]))
        self.con.execute(f"INSERT INTO stage_{kind} SELECT * FROM adapter_batch")
        self.con.unregister("adapter_batch")
        for values in batch.values():
            values.clear()

    def close(self) -> None:
        for kind in self.batches:
            self._flush(kind)


@dataclass
class Staging:
    """What an adapter made of a file, besides the rows in the sink."""

    # (line_number, reason, detail, raw_text): source records quarantined as such.
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)
    # category -> number of source records deliberately not loaded.
    skipped: Counter[str] = field(default_factory=Counter)
    n_source: int = 0  # source records read (blank lines aside)
    n_mapped: int = 0  # source records that produced at least one canonical row
    notes: list[str] = field(default_factory=list)
    # Names of message-content fields found and blanked (never stored).
    content_keys: set[str] = field(default_factory=set)
    # Writes the adapter's state tables, inside the file's transaction, once file_id is known.
    persist: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None

    def reject(self, line_number: int, reason: str, detail: str, raw_text: str) -> None:
        self.rejects.append((line_number, reason, detail, raw_text))

    def skip(self, category: str) -> None:
        self.skipped[category] += 1

    def skipped_note(self, what: str) -> str | None:
        if not self.skipped:
            return None
        parts = ", ".join(f"{name}: {n:,}" for name, n in sorted(self.skipped.items()))
        return (
            f"{sum(self.skipped.values()):,} {what} skipped (not loaded, not quarantined): {parts}"
        )


def has_surrogates(text: str) -> bool:
    """True when text decoded with ``surrogateescape`` held bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def shown(text: str) -> str:
    """Text decoded with ``surrogateescape`` shown losslessly: bad bytes escaped (``\\x92``)."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def address_like(value: str | None) -> bool:
    return bool(value) and re.fullmatch(r'[^@\s<>"]+@[^@\s<>"]+\.[^@\s<>"]+', value) is not None
