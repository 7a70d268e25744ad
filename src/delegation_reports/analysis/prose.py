"""French dates and times for findings' explanations, as DuckDB scalar functions.

The rules' explanations speak of instants in words, in Paris time: "le 4 mars 2026 à
11 h 20", "dimanche 15 mars 2026". Written as SQL macros these expand into large expressions
that DuckDB must plan again in every rule; as functions they are planned once and called once
per finding. ``register`` adds them to a connection (`create_model_macros` calls it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
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


def _long_date(instant: int) -> str:
    return calendar_day(_day(_local(instant)[0] // 86400))


def _weekday_date(instant: int) -> str:
    day = _day(_local(instant)[0] // 86400)
    return f"{WEEKDAYS[day.weekday()]} {calendar_day(day)}"


def _clock_of(wall: int, offset: int, twice: bool) -> str:
    text = f"{wall % 86400 // 3600} h {wall % 3600 // 60:02d}"
    return f"{text} (UTC+{offset // 3600})" if twice else text


def _clock(instant: int) -> str:
    return _clock_of(*_local(instant))


def _day_and_clock(instant: int) -> tuple[str, str]:
    wall, offset, twice = _local(instant)
    return calendar_day(_day(wall // 86400)), _clock_of(wall, offset, twice)


def _when(instant: int) -> str:
    return "{} à {}".format(*_day_and_clock(instant))


def _during(first: int, last: int) -> str:
    (first_day, first_clock), (last_day, last_clock) = _day_and_clock(first), _day_and_clock(last)
    if (first_day, first_clock) == (last_day, last_clock):
        return f"le {first_day} à {first_clock}"
    if first_day == last_day:
        return f"le {first_day} entre {first_clock} et {last_clock}"
    return f"du {first_day} à {first_clock} au {last_day} à {last_clock}"


def long_date(instant: datetime) -> str:
    """The Paris day of an instant: "1er mars 2026"."""
    return _long_date(_micros(instant))


def weekday_date(instant: datetime) -> str:
    """ "dimanche 15 mars 2026"."""
    return _weekday_date(_micros(instant))


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


def _dates(array) -> list:
    """A DATE vector as dates (None for NULL)."""
    return [None if days is None else _day(days) for days in array.cast(pa.int32()).to_pylist()]


def _instants(array) -> list:
    """A TIMESTAMP WITH TIME ZONE vector as microseconds since the epoch (None for NULL)."""
    return array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()


_FUNCTIONS = (
    ("fr_calendar_day", calendar_day, [DATE]),
    ("fr_month", month_of, [DATE]),
    ("fr_long_date", _long_date, [TIMESTAMP_TZ]),
    ("fr_day", _weekday_date, [TIMESTAMP_TZ]),
    ("fr_clock", _clock, [TIMESTAMP_TZ]),
    ("fr_when", _when, [TIMESTAMP_TZ]),
    ("fr_during", _during, [TIMESTAMP_TZ, TIMESTAMP_TZ]),
)


def _vectorised(function, parameters: list):
    """``function`` over Arrow arrays, a whole vector per call (a Python call per row costs more
    than the formatting itself); NULL in, NULL out. DuckDB reads the arity from the signature."""
    readers = [_dates if parameter == DATE else _instants for parameter in parameters]

    def over(*arrays):
        columns = [read(a) for read, a in zip(readers, arrays, strict=True)]
        return pa.array(
            [None if None in row else function(*row) for row in zip(*columns, strict=True)],
            pa.string(),
        )

    if len(parameters) == 1:
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
                _vectorised(function, parameters),
                parameters,
                VARCHAR,
                type="arrow",
                null_handling="special",
                side_effects=False,
            )
