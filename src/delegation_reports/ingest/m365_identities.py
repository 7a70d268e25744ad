"""Exchange identities that are not e-mail addresses, resolved to addresses.

Exchange admin records name mailboxes and delegates as the cmdlet was typed: an address, an
alias (``dr.martin``), a display name (``Hélène Garnier``), a GUID or a directory path
(``EURPR01A002.prod.outlook.com/Microsoft Exchange Hosted Organizations/<tenant>/<alias>``).
A mailbox is resolved from the same record's other fields first (``ObjectId``,
``MailboxOwnerUPN``), then, like a delegate, by alias or display name among the addresses the
warehouse knows (rosters and directory extractions), when exactly one matches.
"""

from __future__ import annotations

import re

import duckdb

from ..warehouse import sql_text
from .adapters import address_like

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def lookup_keys(value: str) -> list[str]:
    """What an identity may be looked up by: the alias at the end of a directory path or after
    ``DOMAIN\\``, and the whole value (an alias or a display name). GUIDs match nothing."""
    text = value.strip()
    keys = []
    for separator in ("/", "\\"):
        if separator in text:
            keys.append(text.rsplit(separator, 1)[1])
            break
    keys.append(text)
    return [
        k for k in dict.fromkeys(k.strip().casefold() for k in keys) if k and not _GUID.fullmatch(k)
    ]


class Identities:
    """Resolves identities against the warehouse's addresses; one query per distinct key."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._found: dict[str, list[str]] = {}

    def _lookup(self, key: str) -> list[str]:
        if key not in self._found:
            rows = self.con.execute(
                sql_text("ingest/m365_identity_addresses.sql"), {"key": key}
            ).fetchall()
            self._found[key] = [r[0] for r in rows]
        return self._found[key]

    def _known(self, value: str) -> str | None:
        for key in lookup_keys(value):
            found = self._lookup(key)
            if len(found) == 1:
                return found[0]
        return None

    def account(self, value: str, field: str) -> str:
        """A delegate: its address, lower-cased; empty stays empty (a missing field)."""
        text = value.strip().lower()
        if not text or address_like(text):
            return text
        # Unresolved, the value stays: the staging model quarantines it as invalid_address,
        # naming it, and a later copy of the record counts as a duplicate.
        return self._known(value) or text

    def mailbox(self, value: str, record_fields: dict[str, str]) -> str:
        """A mailbox named by ``value`` (the cmdlet's Identity), helped by the record's
        ``ObjectId`` and ``MailboxOwnerUPN``."""
        text = value.strip().lower()
        if address_like(text):
            return text
        for other in record_fields.values():
            if address_like(other.strip().lower()):
                return other.strip().lower()
        for candidate in (value, *record_fields.values()):
            if candidate.strip():
                found = self._known(candidate)
                if found:
                    return found
        return text
