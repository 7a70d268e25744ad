"""French labels and formats for what reports show: dates and times in Europe/Paris."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

PARIS = ZoneInfo("Europe/Paris")
LOCALE = "fr_FR"

ROLES = {
    "secretary": "Secrétaire",
    "medical_assistant": "Assistant(e) médical(e)",
    "replacement": "Remplaçant(e)",
    "other": "Autre",
}
RIGHTS = {"read": "lecture", "send": "envoi", "documents": "documents", "manage": "gestion"}
ACTIONS = {
    "login": "connexion",
    "login_failed": "échec de connexion",
    "logout": "déconnexion",
    "read": "lecture",
    "send": "envoi",
    "delete": "suppression",
    "move": "déplacement",
    "download": "téléchargement",
    "other": "autre",
}
CHANGES = {
    "grant": "Délégation donnée",
    "modify": "Délégation modifiée",
    "revoke": "Délégation retirée",
}
SEVERITIES = {"critical": "Critique", "warning": "À vérifier", "info": "Information"}
SEVERITY_ORDER = ("critical", "warning", "info")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
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
    return format_decimal(value or 0, locale=LOCALE)


def month_title(first_day: date) -> str:
    return format_date(first_day, "MMMM y", locale=LOCALE)


def when(value: datetime | None, pattern: str = "d MMM y HH:mm") -> str:
    """A UTC instant as Paris wall-clock text; an open bound shows as a dash."""
    if value is None:
        return "—"
    return format_datetime(value, pattern, tzinfo=PARIS, locale=LOCALE)


def day(value: datetime | None) -> str:
    return when(value, "d MMM y")


def last_day(exclusive_end: datetime | None) -> str:
    """The last day of a period whose end instant is exclusive."""
    return day(exclusive_end - timedelta(microseconds=1)) if exclusive_end else "—"


def short_month(value: datetime) -> str:
    return format_date(value, "MMM y", locale=LOCALE)


def short_day(value: datetime) -> str:
    return format_datetime(value, "d MMM", tzinfo=PARIS, locale=LOCALE)


def long_day(value: datetime) -> str:
    """'1 avril 2026', Paris time."""
    return when(value, "d MMMM y")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def findings_changed(appeared: int, disappeared: int) -> str:
    """'2 constats apparus et 1 disparu': what changed in a month's findings since a report."""
    parts = []
    if appeared:
        parts.append(f"{_count(appeared, 'constat')} {'apparus' if appeared > 1 else 'apparu'}")
    if disappeared:
        word = "disparus" if disappeared > 1 else "disparu"
        parts.append(
            f"{disappeared} {word}" if parts else f"{_count(disappeared, 'constat')} {word}"
        )
    return " et ".join(parts) if parts else "aucun constat n'a changé"


def late_findings(change: dict) -> str:
    """'mars 2026 : 2 constats apparus après le rapport du 1 avril 2026 (Cabinet X)': a
    reported month whose findings changed with data that arrived after the report."""
    changed = findings_changed(len(change["appeared"]), len(change["disappeared"]))
    who = change["practice_name"] or change["practice_id"]
    return (
        f"{month_title(change['month'])} : {changed} après le rapport du "
        f"{long_day(change['reported_at'])} ({who})"
    )


def long_day_of(value: date) -> str:
    """'30 juin 2026' for a calendar day."""
    return format_date(value, "d MMMM y", locale=LOCALE)


STATUSES = {"new": "Nouveau", "ongoing": "En cours", "accepted": "Exception acceptée"}


def finding_status(status: str, first_month: date | None) -> str:
    """'Nouveau', or 'En cours depuis mars 2026'."""
    if status == "ongoing" and first_month:
        return f"{STATUSES[status]} depuis {month_title(first_month)}"
    return STATUSES[status]
