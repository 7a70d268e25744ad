"""French labels and formats for what reports show: dates and times in Europe/Paris, plurals,
elision, and the French words for every code the warehouse stores.

One date style per use: tables print ``04/03/2026 11:20`` (``when``, ``day``), prose says
"4 mars 2026 à 11 h 20" (``prose_when``, ``prose_day``), both in Paris time.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from .. import vocabulary
from ..analysis import prose

LOCALE = "fr_FR"
_PLURAL = Locale.parse(LOCALE).plural_form

PARIS = vocabulary.PARIS
WEEKDAYS = vocabulary.WEEKDAYS
RIGHTS = vocabulary.RIGHTS
# Table cells start with a capital.
ROLES = {**{code: word.capitalize() for code, word in vocabulary.ROLES.items()}, "other": "Autre"}
ACTIONS = {**vocabulary.ACTIONS, "other": "autre"}
CHANGES = {
    "grant": "Délégation donnée",
    "modify": "Délégation modifiée",
    "revoke": "Délégation retirée",
}
SEVERITIES = {"critical": "Critique", "warning": "À vérifier", "info": "Information"}
# A number of findings of a severity: "1 alerte critique", "2 points à vérifier".
SEVERITY_COUNTS = {
    "critical": ("alerte critique", "alertes critiques"),
    "warning": ("point à vérifier", "points à vérifier"),
    "info": ("information", "informations"),
}
OUTCOMES = {"success": "réussite", "failure": "échec"}
ATTRIBUTIONS = {
    "owner": "titulaire",
    "system": "service technique",
    "delegate_authorised": "délégataire",
    "delegate_beyond_rights": "délégataire, au-delà de ses droits",
    "delegate_after_revocation": "ancien délégataire, après le retrait",
    "delegate_outside_period": "délégataire, hors des dates de sa délégation",
    "no_delegation": "sans délégation",
}
SEVERITY_ORDER = ("critical", "warning", "info")
SOURCES = {"events": "historique de l'opérateur", "snapshots": "listes successives de l'opérateur"}
KINDS = {
    "audit": "journal des accès",
    "delegations": "historique des délégations",
    "snapshot": "liste des délégations",
    "roster": "membres des cabinets",
    "directory": "annuaire MSSanté",
}
REASONS = {
    "wrong_column_count": "nombre de colonnes incorrect",
    "malformed_row": "ligne illisible",
    "line_too_long": "ligne trop longue",
    "undecodable_bytes": "caractères illisibles",
    "missing_required_field": "champ obligatoire vide",
    "bad_timestamp": "date ou heure illisible",
    "missing_offset": "heure sans fuseau",
    "ambiguous_local_time": "heure ambiguë (changement d'heure)",
    "nonexistent_local_time": "heure inexistante (changement d'heure)",
    "unknown_action": "action inconnue",
    "invalid_value": "valeur non reconnue",
    "invalid_address": "adresse invalide",
    "invalid_identifier": "identifiant mal formé",
    "invalid_check_digit": "clé de contrôle fausse",
    "invalid_range": "période incohérente",
    "conflicting_duplicate": "doublon contradictoire",
}


def role(code: str | None) -> str:
    return ROLES.get(code or "", code or "—")


def rights(codes) -> str:
    if codes is None or len(codes) == 0:
        return "—"
    return ", ".join(RIGHTS.get(c, c) for c in codes)


def number(value) -> str:
    if type(value) is int:
        return _integer(value)
    return format_decimal(value or 0, locale=LOCALE)


@functools.lru_cache(maxsize=4096)
def _integer(value: int) -> str:
    """A whole number in French form: a report writes a few hundred (counts of its tables),
    most of them small and repeated, and Babel takes about 0.1 ms for each."""
    return format_decimal(value, locale=LOCALE)


def plural(n: int, one: str, other: str | None = None) -> str:
    """The form of a word for ``n`` things, by French rules (0 and 1 take the singular):
    ``plural(2, "alerte critique", "alertes critiques")``; ``other`` defaults to ``one``
    with an s on each word."""
    if _PLURAL(abs(n)) == "one":
        return one
    return other if other is not None else " ".join(w + "s" for w in one.split(" "))


def count(n: int, one: str, other: str | None = None) -> str:
    """ "1 alerte critique", "2 alertes critiques", "1 234 traces"."""
    return f"{number(n)} {plural(n, one, other)}"


def listing(parts: list[str]) -> str:
    """ "a", "a et b", "a, b et c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} et {parts[-1]}"


def severities(n_critical: int, n_warning: int, n_info: int) -> str:
    """ "2 alertes critiques, 1 point à vérifier et 3 informations"; "aucune alerte"."""
    parts = [
        count(n, *SEVERITY_COUNTS[s])
        for s, n in (("critical", n_critical), ("warning", n_warning), ("info", n_info))
        if n
    ]
    return listing(parts) if parts else "aucune alerte"


def of(name: str) -> str:
    """ "de Paul", "d'Hélène": "de" before a name, elided where French elides."""
    return prose.of(name)


def month_title(first_day: date) -> str:
    return format_date(first_day, "MMMM y", locale=LOCALE)


def _ambiguous(value: datetime) -> str:
    """ " (UTC+1)" when the Paris wall-clock time of ``value`` happens twice (the night the
    clocks go back), else nothing."""
    local = value.astimezone(PARIS)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() == local.utcoffset():
        return ""
    return f" (UTC+{int(local.utcoffset().total_seconds() // 3600)})"


def when(value: datetime | None, *, seconds: bool = False) -> str:
    """A UTC instant as a table shows it, Paris time: "04/03/2026 11:20" (with the offset when
    that time happens twice); an open bound shows as a dash."""
    if value is None:
        return "—"
    # Digits only: strftime, many times faster than a locale-aware formatter (evidence files
    # print millions of these).
    local = value.astimezone(PARIS)
    text = local.strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M")
    return text + _ambiguous(local)


def day(value: datetime | date | None) -> str:
    """The Paris day of an instant, or a calendar day, as a table shows it: "04/03/2026"."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    return value.astimezone(PARIS).strftime("%d/%m/%Y")


def last_day(exclusive_end: datetime | None) -> str:
    """The last day of a period whose end instant is exclusive."""
    return day(exclusive_end - timedelta(microseconds=1)) if exclusive_end else "—"


def prose_when(value: datetime) -> str:
    """An instant in a sentence, Paris time: "4 mars 2026 à 11 h 20", "1er mars 2026 à 9 h 00"."""
    return prose.when(value)


def prose_day(value: datetime | date) -> str:
    """A day in a sentence: "1er mars 2026" (an instant's Paris day, or a calendar day)."""
    if isinstance(value, datetime):
        return prose.long_date(value)
    return prose.calendar_day(value)


def short_month(value: datetime) -> str:
    return format_date(value, "MMM y", locale=LOCALE)


def short_day(value: datetime) -> str:
    return format_datetime(value, "d MMM", tzinfo=PARIS, locale=LOCALE)


def findings_changed(appeared: int, disappeared: int) -> str:
    """'2 constats apparus et 1 disparu': what changed in a month's findings since a report."""
    parts = []
    if appeared:
        parts.append(f"{count(appeared, 'constat')} {plural(appeared, 'apparu')}")
    if disappeared:
        word = plural(disappeared, "disparu")
        parts.append(
            f"{number(disappeared)} {word}" if parts else f"{count(disappeared, 'constat')} {word}"
        )
    return " et ".join(parts) if parts else "aucun constat n'a changé"


def late_findings(change: dict) -> str:
    """'mars 2026 : 2 constats apparus après le rapport du 1er avril 2026 (Cabinet X)': a
    reported month whose findings changed with data that arrived after the report."""
    changed = findings_changed(len(change["appeared"]), len(change["disappeared"]))
    who = change["practice_name"] or change["practice_id"]
    return (
        f"{month_title(change['month'])} : {changed} après le rapport du "
        f"{prose_day(change['reported_at'])} ({who})"
    )


STATUSES = {"new": "Nouveau", "ongoing": "En cours", "accepted": "Exception acceptée"}


def finding_status(status: str, first_month: date | None) -> str:
    """'Nouveau', or 'En cours depuis mars 2026'."""
    if status == "ongoing" and first_month:
        return f"{STATUSES[status]} depuis {month_title(first_month)}"
    return STATUSES[status]
