"""French words for findings' explanations, as DuckDB scalar functions.

The rules' explanations speak of instants in words, in Paris time ("le 4 mars 2026 à
11 h 20", "dimanche 15 mars 2026"), and of roles, actions, rights and authentication methods
in French. Written as SQL macros these expand into large expressions that DuckDB must plan
again in every rule; as functions they are planned once and called once per vector of
findings. ``register`` adds them to a connection (`create_model_macros` calls it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa
from babel.numbers import format_decimal
from duckdb.sqltypes import DATE, TIMESTAMP_TZ, VARCHAR

from .. import vocabulary
from ..vocabulary import ACTIONS, AUTH_METHODS, MONTHS, PARIS, RIGHTS, WEEKDAYS

ROLES = {**vocabulary.ROLES, "other": "autre rôle"}


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


@lru_cache(maxsize=1 << 14)
def calendar_day(day: date) -> str:
    """ "1er mars 2026", "15 mars 2026"."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


def month_of(day: date) -> str:
    """ "mars 2026"."""
    return f"{MONTHS[day.month - 1]} {day.year}"


# Instants are handled as microseconds since the epoch (UTC), the way DuckDB hands them over:
# turning each into a time-zone-aware datetime costs more than writing its words.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_MICROSECOND = timedelta(microseconds=1)


def _offset_at(second: int) -> tuple[int, bool]:
    """The Paris offset from UTC (seconds) at an instant, and whether its wall-clock time
    happens twice (the night the clocks go back)."""
    local = datetime.fromtimestamp(second, PARIS)
    other = local.replace(fold=1 - local.fold)
    return int(local.utcoffset().total_seconds()), other.utcoffset() != local.utcoffset()


@lru_cache(maxsize=1 << 16)
def _hour_offset(hour: int) -> tuple[int, bool] | None:
    """`_offset_at` for a whole UTC hour (hours since the epoch) when it is the same at its
    first and last second, hence throughout (transitions are at least an hour apart); None
    when it changes within the hour."""
    first = _offset_at(hour * 3600)
    return first if first == _offset_at(hour * 3600 + 3599) else None


def _local(instant: int) -> tuple[int, int, bool]:
    """An instant (microseconds since the epoch) in Paris: its wall-clock seconds since
    1970-01-01 00:00, its offset from UTC (seconds), and whether that wall-clock time is
    ambiguous."""
    second = instant // 1_000_000
    offset, twice = _hour_offset(second // 3600) or _offset_at(second)
    return second + offset, offset, twice


@lru_cache(maxsize=1 << 14)
def _day(days: int) -> date:
    """The date ``days`` after 1970-01-01."""
    return date.fromordinal(_EPOCH_DAY + days)


def _micros(instant: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    return (instant.astimezone(UTC) - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=1 << 16)
def _hour_words(hour: int) -> tuple[str, str, str, str] | None:
    """What every instant of a UTC hour (hours since the epoch) shares in Paris when its offset
    from UTC is one whole number of hours throughout (so the wall-clock day and hour are the
    same for all of it): its day ("15 mars 2026"), that day with its weekday ("dimanche 15 mars
    2026"), its hour ("2 h ") and, when that wall-clock time happens twice, the offset that
    tells them apart (" (UTC+1)"; else ""). None for an hour with a transition or an offset of
    minutes: `_words` then works the instant out alone."""
    found = _hour_offset(hour)
    if found is None or found[0] % 3600:
        return None
    offset, twice = found
    wall = hour * 3600 + offset
    day = _day(wall // 86400)
    return (
        calendar_day(day),
        f"{WEEKDAYS[day.weekday()]} {calendar_day(day)}",
        f"{wall % 86400 // 3600} h ",
        f" (UTC+{offset // 3600})" if twice else "",
    )


def _words(instant: int) -> tuple[str, str, str]:
    """An instant (microseconds since the epoch) in Paris words: its day, that day with its
    weekday, and its time ("15 mars 2026", "dimanche 15 mars 2026", "2 h 10"). The words of
    its hour are worked out once (`_hour_words`): only the minutes are the instant's own."""
    second = instant // 1_000_000
    shared = _hour_words(second // 3600)
    if shared is None:
        wall, offset, twice = _local(instant)
        day = _day(wall // 86400)
        return (
            calendar_day(day),
            f"{WEEKDAYS[day.weekday()]} {calendar_day(day)}",
            _clock_of(wall, offset, twice),
        )
    day, weekday_day, hour_text, note = shared
    # The offset is whole hours: the minutes are the same in UTC and in Paris.
    return day, weekday_day, f"{hour_text}{second % 3600 // 60:02d}{note}"


def _long_date(instant: int) -> str:
    return _words(instant)[0]


def _weekday_date(instant: int) -> str:
    return _words(instant)[1]


def _clock_of(wall: int, offset: int, twice: bool) -> str:
    text = f"{wall % 86400 // 3600} h {wall % 3600 // 60:02d}"
    return f"{text} (UTC+{offset // 3600})" if twice else text


def _clock(instant: int) -> str:
    return _words(instant)[2]


def _when(instant: int) -> str:
    day, _, clock_text = _words(instant)
    return f"{day} à {clock_text}"


def _day_span(first: int, last: int) -> str:
    _, day, first_clock = _words(first)
    last_clock = _words(last)[2]
    if first_clock == last_clock:
        return f"{day} à {first_clock}"
    return f"{day} entre {first_clock} et {last_clock}"


def _during(first: int, last: int) -> str:
    first_day, _, first_clock = _words(first)
    last_day, _, last_clock = _words(last)
    if (first_day, first_clock) == (last_day, last_clock):
        return f"le {first_day} à {first_clock}"
    if first_day == last_day:
        return f"le {first_day} entre {first_clock} et {last_clock}"
    return f"du {first_day} à {first_clock} au {last_day} à {last_clock}"


def day_span(first: datetime, last: datetime) -> str:
    """The day of ``first`` with its weekday, and the times of ``first`` and ``last`` on it:
    "dimanche 15 mars 2026 à 2 h 10", "dimanche 15 mars 2026 entre 2 h 10 et 3 h 05" (what
    `weekday_date` and `clock` give, in one call: a rule naming a span of one day calls it
    once per finding instead of once per word)."""
    return _day_span(_micros(first), _micros(last))


def long_date(instant: datetime) -> str:
    """The Paris day of an instant: "1er mars 2026"."""
    return _long_date(_micros(instant))


def weekday_date(instant: datetime) -> str:
    """ "dimanche 15 mars 2026"."""
    return _weekday_date(_micros(instant))


def hour(wall_clock: time) -> str:
    """ "7 h 00", "11 h 20": a wall-clock time in words."""
    return f"{wall_clock.hour} h {wall_clock.minute:02d}"


def clock(instant: datetime) -> str:
    """ "11 h 20"; "2 h 30 (UTC+1)" when that wall-clock time happens twice (the night the
    clocks go back), so that the two are told apart."""
    return _clock(_micros(instant))


def when(instant: datetime) -> str:
    """ "4 mars 2026 à 11 h 20"."""
    return _when(_micros(instant))


def during(first: datetime, last: datetime) -> str:
    """ "le 4 mars 2026 à 11 h 20", "le 4 mars 2026 entre 11 h 20 et 11 h 41", "du 4 mars
    2026 à 23 h 50 au 5 mars 2026 à 0 h 10"."""
    return _during(_micros(first), _micros(last))


def role(code: str | None) -> str | None:
    """A délégataire's role in words; None when unknown."""
    return ROLES.get(code)


def auth_method(code: str | None) -> str | None:
    """An authentication method in words; None when unknown."""
    return AUTH_METHODS.get(code)


def action(code: str | None) -> str:
    """An action in words: "lecture", "envoi"... ("autre action" when unknown)."""
    return ACTIONS.get(code, "autre action")


def actions(codes: list | None) -> str | None:
    """Distinct actions in words, in alphabetical order: "envoi, lecture"."""
    if codes is None:
        return None
    return ", ".join(sorted({action(code) for code in codes}))


def rights(codes: list | None) -> str:
    """Rights in words, the usual ones in their usual order (read, send, documents, manage),
    then any other as given: "lecture, envoi"; "" for none."""
    codes = codes or []
    known = [word for code, word in RIGHTS.items() if code in codes]
    return ", ".join(known + [c for c in codes if c is not None and c not in RIGHTS])


def auth_methods(codes: list | None) -> str:
    """The authentication methods of a set of events, when the export gives them:
    " ; authentification : carte CPS", or ""."""
    words = sorted({AUTH_METHODS[c] for c in codes or [] if c in AUTH_METHODS})
    return f" ; authentification : {', '.join(words)}" if words else ""


def person(name: str | None, address: str | None, code: str | None) -> str | None:
    """A délégataire: "Pauline Guillou (pauline.guillou@…, remplaçant)", or the address alone
    with the role when the export gives no name (a name of spaces is none)."""
    if address is None:
        return None
    word = ROLES.get(code)
    if name is not None and name.strip(" "):
        return f"{name} ({address}{', ' + word if word else ''})"
    return f"{address} ({word})" if word else address


def account(address: str | None, mailbox: str | None, code: str | None) -> str | None:
    """An account as explanations name it: "x@… (titulaire de la boîte)", "x@… (secrétaire)",
    "x@…"."""
    if address is None:
        return None
    if address == mailbox:
        return f"{address} (titulaire de la boîte)"
    word = ROLES.get(code)
    return f"{address} ({word})" if word else address


# A delegation's event ids an explanation lists in full; beyond, it names the first two, the
# last one and how many there are (the finding's `delegation_ids` keeps them all).
EVENT_IDS_LISTED = 10


def event_ids(ids: list | None) -> str | None:
    """A delegation's event ids as an explanation quotes them: "D1, D2, D3" up to
    `EVENT_IDS_LISTED` ids, else "D1, D2, …, D3000 (3 000 événements)"."""
    if ids is None:
        return None
    if len(ids) <= EVENT_IDS_LISTED:
        return ", ".join(ids)
    count = format_decimal(len(ids), locale="fr_FR")
    return f"{ids[0]}, {ids[1]}, …, {ids[-1]} ({count} événements)"


# The minutes of an hour as a clock writes them: "00" to "59".
_MINUTES = np.array([f"{minute:02d}" for minute in range(60)], dtype=object)


def _instant_words(array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_words` of every instant of a TIMESTAMP WITH TIME ZONE vector at once: its days, its
    days with their weekday and its times, as arrays of text, and where the vector is NULL
    (their words there are meaningless). The words of each distinct UTC hour are worked out
    once (`_hour_words`) and each instant's minutes added in one operation; an instant whose
    hour has no words of its own (a clock change within it) is worded alone."""
    micros = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    null = np.asarray(micros.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    seconds = np.asarray(micros.fill_null(0).to_numpy(zero_copy_only=False)) // 1_000_000
    hours, at = np.unique(seconds // 3600, return_inverse=True)
    shared = [_hour_words(int(hour)) for hour in hours]
    words = [
        np.array([("" if found is None else found[part]) for found in shared], dtype=object)[at]
        for part in range(4)
    ]
    day, weekday_day, hour_text, note = words
    clock = hour_text + _MINUTES[seconds % 3600 // 60] + note
    alone = np.array([found is None for found in shared], dtype=bool)[at] & ~null
    for row in np.flatnonzero(alone):
        day[row], weekday_day[row], clock[row] = _words(int(seconds[row]) * 1_000_000)
    return day, weekday_day, clock, null


def _texts_of(words: np.ndarray, null: np.ndarray) -> pa.Array:
    """An array of text as a VARCHAR vector, NULL where ``null``."""
    words[null] = None
    return pa.array(words, pa.string())


def _long_dates(instants) -> pa.Array:
    day, _, _, null = _instant_words(instants)
    return _texts_of(day, null)


def _weekday_dates(instants) -> pa.Array:
    _, weekday_day, _, null = _instant_words(instants)
    return _texts_of(weekday_day, null)


def _clocks(instants) -> pa.Array:
    _, _, clock, null = _instant_words(instants)
    return _texts_of(clock, null)


def _whens(instants) -> pa.Array:
    day, _, clock, null = _instant_words(instants)
    return _texts_of(day + " à " + clock, null)


def _day_spans(firsts, lasts) -> pa.Array:
    _, weekday_day, first_clock, first_null = _instant_words(firsts)
    last_clock, last_null = _instant_words(lasts)[2:]
    words = np.where(
        first_clock == last_clock,
        weekday_day + " à " + first_clock,
        weekday_day + " entre " + first_clock + " et " + last_clock,
    )
    return _texts_of(words, first_null | last_null)


def _durings(firsts, lasts) -> pa.Array:
    first_day, _, first_clock, first_null = _instant_words(firsts)
    last_day, _, last_clock, last_null = _instant_words(lasts)
    same_day = first_day == last_day
    words = np.where(
        same_day & (first_clock == last_clock),
        "le " + first_day + " à " + first_clock,
        np.where(
            same_day,
            "le " + first_day + " entre " + first_clock + " et " + last_clock,
            "du " + first_day + " à " + first_clock + " au " + last_day + " à " + last_clock,
        ),
    )
    return _texts_of(words, first_null | last_null)


def _texts(array) -> list:
    """A VARCHAR vector as Python values."""
    return array.to_pylist()


def _text_lists(array) -> list:
    """A VARCHAR[] vector as tuples (hashable: see `_vectorised`)."""
    return [None if codes is None else tuple(codes) for codes in array.to_pylist()]


def _dates(array) -> list:
    """A DATE vector as dates (None for NULL)."""
    return [None if days is None else _day(days) for days in array.cast(pa.int32()).to_pylist()]


def _instants(array) -> list:
    """A TIMESTAMP WITH TIME ZONE vector as microseconds since the epoch (None for NULL)."""
    return array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()


TEXTS = duckdb.list_type(VARCHAR)
_READERS = {DATE: _dates, TIMESTAMP_TZ: _instants, TEXTS: _text_lists}
_UNKNOWN = object()
# name, function, parameter types, and whether NULL in any argument gives NULL (the dates and
# times); the words decide for themselves.
FUNCTIONS = (
    ("fr_calendar_day", calendar_day, [DATE], True),
    ("fr_month", month_of, [DATE], True),
    ("fr_long_date", _long_date, [TIMESTAMP_TZ], True),
    ("fr_day", _weekday_date, [TIMESTAMP_TZ], True),
    ("fr_clock", _clock, [TIMESTAMP_TZ], True),
    ("fr_when", _when, [TIMESTAMP_TZ], True),
    ("fr_during", _during, [TIMESTAMP_TZ, TIMESTAMP_TZ], True),
    ("fr_day_span", _day_span, [TIMESTAMP_TZ, TIMESTAMP_TZ], True),
    ("fr_role", role, [VARCHAR], False),
    ("fr_auth", auth_method, [VARCHAR], False),
    ("fr_action", action, [VARCHAR], False),
    ("fr_action_list", actions, [TEXTS], False),
    ("fr_rights", rights, [TEXTS], False),
    ("fr_auths", auth_methods, [TEXTS], False),
    ("fr_person", person, [VARCHAR, VARCHAR, VARCHAR], False),
    ("fr_account", account, [VARCHAR, VARCHAR, VARCHAR], False),
    ("fr_of", of, [VARCHAR], True),
    ("fr_event_ids", event_ids, [TEXTS], False),
)


# The functions of instants as DuckDB runs them: a whole vector worded at once
# (`_instant_words`), the same words as those of FUNCTIONS (which Spark runs), NULL in any
# argument giving NULL.
INSTANT_VECTORS = {
    "fr_long_date": _long_dates,
    "fr_day": _weekday_dates,
    "fr_clock": _clocks,
    "fr_when": _whens,
    "fr_during": _durings,
    "fr_day_span": _day_spans,
}


def _vectorised(function, parameters: list, strict: bool):
    """``function`` over Arrow arrays, a whole vector per call (a Python call per row costs more
    than the formatting itself); when ``strict``, NULL in, NULL out. DuckDB reads the arity
    from the signature."""
    readers = [_READERS.get(p, _texts) for p in parameters]

    def over(*arrays):
        columns = [read(a) for read, a in zip(readers, arrays, strict=True)]
        # The words of each distinct row once: a vector of findings repeats its holders,
        # roles, actions and methods.
        words: dict = {}
        out = []
        for row in zip(*columns, strict=True):
            text = words.get(row, _UNKNOWN)
            if text is _UNKNOWN:
                text = words[row] = None if strict and None in row else function(*row)
            out.append(text)
        return pa.array(out, pa.string())

    if len(parameters) == 1:
        return lambda a: over(a)
    if len(parameters) == 2:
        return lambda a, b: over(a, b)
    return lambda a, b, c: over(a, b, c)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Add the functions to a connection (once: they stay until it closes)."""
    have = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'fr\\_%' ESCAPE '\\'"
        ).fetchall()
    }
    for name, function, parameters, strict in FUNCTIONS:
        if name not in have:
            con.create_function(
                name,
                INSTANT_VECTORS.get(name) or _vectorised(function, parameters, strict),
                parameters,
                VARCHAR,
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
