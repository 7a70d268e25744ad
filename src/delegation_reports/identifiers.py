"""French health identifiers: shapes and check digits.

The same checks exist as SQL macros (see ``warehouse.SQL_MACROS``) so that ingestion validates
millions of rows inside DuckDB; these Python versions serve the sample generator and the tests,
which compare both.
"""

from __future__ import annotations

import re

_RPPS = re.compile(r"10\d{9}")
_FINESS = re.compile(r"(\d{2}|2A|2B)0\d{6}")
_SIREN = re.compile(r"\d{9}")
_SIRET = re.compile(r"\d{14}")
# La Poste's establishments share one SIREN and do not follow Luhn: their digit sum is a
# multiple of 5 instead.
LA_POSTE_SIREN = "356000000"


def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` (only 0-9) passes the Luhn check."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_complete(stem: str) -> str:
    """Append the Luhn check digit that makes ``stem`` valid."""
    for key in "0123456789":
        if luhn_ok(stem + key):
            return stem + key
    raise ValueError(f"not a digit string: {stem!r}")


def rpps_ok(value: str) -> bool:
    """An RPPS number: 11 digits starting with ``10``, Luhn-valid."""
    return bool(_RPPS.fullmatch(value)) and luhn_ok(value)


def siren_ok(value: str) -> bool:
    return bool(_SIREN.fullmatch(value)) and luhn_ok(value)


def siret_ok(value: str) -> bool:
    """A SIRET: 14 digits, Luhn-valid, or La Poste's digit-sum rule."""
    if not _SIRET.fullmatch(value):
        return False
    if value.startswith(LA_POSTE_SIREN):
        return sum(int(c) for c in value) % 5 == 0
    return luhn_ok(value)


def finess_ok(value: str) -> bool:
    """A FINESS number: department (``2A``/``2B`` for Corsica), ``0``, order, Luhn key.

    NOTE: the check-digit rule for Corsican numbers is not published; they are checked for
    shape only.
    """
    if not _FINESS.fullmatch(value):
        return False
    if value[:2] in ("2A", "2B"):
        return True
    return luhn_ok(value)
