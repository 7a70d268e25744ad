"""French dates, times and elision for findings' explanations, as DuckDB scalar functions.

The rules' explanations speak of instants in words, in Paris time ("le 4 mars 2026 à
11 h 20", "dimanche 15 mars 2026"), and elide ("la boîte d'Hélène", not "de Hélène"). Written
as SQL macros these expand into large expressions that DuckDB must plan again in every rule;
as functions they are planned once and called once per finding. ``register`` adds them to a connection (`create_model_macros` calls it).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
from duckdb.sqltypes import DATE, TIMESTAMP_TZ, VARCHAR

PARIS = ZoneInfo("Europe/Paris")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


# First letters before which "de" becomes "d'": vowels, and h (taken as mute, as in most
# first names: "d'Hélène", "d'Henri"). A y elides before a consonant only ("d'Yves", "de Yann").
_VOWELS = frozenset("aeiouàâäéèêëîïôöùûüœæ")


def elides(word: str) -> bool:
    """Whether "de" and "le" lose their vowel before ``word`` in French."""
    text = word.lstrip(" «\"'(").lower()
    if not text:
        return False
    if text[0] == "y":
        return len(text) > 1 and text[1] not in _VOWELS and text[1].isalpha()
    return text[0] in _VOWELS or text[0] == "h"


def of(name: str) -> str:
    """ "de Paul", "d'Hélène", "d'Yves": "de" before a name, elided where French elides."""
    return f"d'{name}" if elides(name) else f"de {name}"


def calendar_day(day: date) -> str:
    """ "1er mars 2026", "15 mars 2026"."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


def month_of(day: date) -> str:
    """ "mars 2026"."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def long_date(instant: datetime) -> str:
    """The Paris day of an instant: "1er mars 2026"."""
    return calendar_day(instant.astimezone(PARIS).date())


def weekday_date(instant: datetime) -> str:
    """ "dimanche 15 mars 2026"."""
    local = instant.astimezone(PARIS)
    return f"{WEEKDAYS[local.weekday()]} {calendar_day(local.date())}"


def hour(wall_clock: time) -> str:
    """ "7 h 00", "11 h 20": a wall-clock time in words."""
    return f"{wall_clock.hour} h {wall_clock.minute:02d}"


def clock(instant: datetime) -> str:
    """ "11 h 20"; "2 h 30 (UTC+1)" when that wall-clock time happens twice (the night the
    clocks go back), so that the two are told apart."""
    local = instant.astimezone(PARIS)
    text = hour(local.time())
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        hours = int(local.utcoffset().total_seconds() // 3600)
        text += f" (UTC+{hours})"
    return text


def when(instant: datetime) -> str:
    """ "4 mars 2026 à 11 h 20"."""
    return f"{long_date(instant)} à {clock(instant)}"


def during(first: datetime, last: datetime) -> str:
    """ "le 4 mars 2026 à 11 h 20", "le 4 mars 2026 entre 11 h 20 et 11 h 41", "du 4 mars
    2026 à 23 h 50 au 5 mars 2026 à 0 h 10"."""
    if when(first) == when(last):
        return f"le {when(first)}"
    if long_date(first) == long_date(last):
        return f"le {long_date(first)} entre {clock(first)} et {clock(last)}"
    return f"du {when(first)} au {when(last)}"


_FUNCTIONS = (
    ("fr_calendar_day", calendar_day, [DATE]),
    ("fr_month", month_of, [DATE]),
    ("fr_long_date", long_date, [TIMESTAMP_TZ]),
    ("fr_day", weekday_date, [TIMESTAMP_TZ]),
    ("fr_clock", clock, [TIMESTAMP_TZ]),
    ("fr_when", when, [TIMESTAMP_TZ]),
    ("fr_during", during, [TIMESTAMP_TZ, TIMESTAMP_TZ]),
    ("fr_of", of, [VARCHAR]),
)


def _vectorised(function, arity: int):
    """``function`` over Arrow arrays, a whole vector per call (a Python call per row costs more
    than the formatting itself); NULL in, NULL out. DuckDB reads the arity from the signature."""

    def over(*arrays):
        columns = [a.to_pylist() for a in arrays]
        return pa.array(
            [None if None in row else function(*row) for row in zip(*columns, strict=True)],
            pa.string(),
        )

    if arity == 1:
        return lambda a: over(a)
    return lambda a, b: over(a, b)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Add the functions to a connection (once: they stay until it closes)."""
    have = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'fr\\_%' ESCAPE '\\'"
        ).fetchall()
    }
    for name, function, parameters in _FUNCTIONS:
        if name not in have:
            con.create_function(
                name,
                _vectorised(function, len(parameters)),
                parameters,
                VARCHAR,
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
