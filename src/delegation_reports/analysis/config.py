"""Rule configuration: defaults, a user TOML file, per-practice overrides.

The resolved configuration is written into small warehouse tables (``cfg_*``) that the SQL
rules join, so thresholds reach SQL as data, never as formatted text.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb
import holidays

from ..errors import UserError

CONFIG_ENV = "DELEGATION_REPORTS_CONFIG"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SEVERITIES = ("info", "warning", "critical")
_RANGE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


def _default() -> dict:
    text = (resources.files("delegation_reports.analysis") / "default_rules.toml").read_text(
        "utf-8"
    )
    return tomllib.loads(text)


RULE_IDS: tuple[str, ...] = tuple(_default()["rules"])


@cache
def rule_catalogue() -> dict[str, dict]:
    """The built-in settings of every rule, by rule id: severity, thresholds, and what the
    reports say of it (``TEXTS``). Do not change the dict returned."""
    return _default()["rules"]


# Rules whose finding is about a delegation rather than about events: such a finding lives as
# long as its condition holds (it is `new` in its first month, then `ongoing`), and its
# identity is the delegation's. A new rule of this kind registers here; names not (yet) in
# RULE_IDS are ignored. Such a rule is evaluated for every month of trace coverage at once
# (see models._delegation_history): it reads delegation periods and monthly marts, never the
# in-memory tables of the month being built (month_access, month_heavy_reader).
DELEGATION_LEVEL_RULES: frozenset[str] = frozenset(
    {
        "delegation_not_by_holder",
        "delegation_self_granted",
        "open_ended_replacement",
        "delegate_outside_practice",
        "dormant_delegation",
        "replacement_while_holder_active",
    }
)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class AnalysisConfig:
    """The resolved configuration: defaults merged with the user's file."""

    data: dict
    source: str

    @property
    def digest(self) -> str:
        """What the findings depend on in the configuration (the retention is not)."""
        rules = {k: v for k, v in self.data.items() if k != "retention_months"}
        return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]

    def for_practice(self, practice_id: str | None) -> dict:
        """Settings of one practice: its overrides merged over the defaults."""
        base = {k: v for k, v in self.data.items() if k != "practices"}
        override = self.data.get("practices", {}).get(practice_id or "", {})
        return _merge(base, override)


# Settings that are true or false; every other setting but `severity` and the texts is a
# number.
_BOOLEAN = ("enabled",)
# What the reports say about a rule, in French (see `rule_catalogue`): non-empty text.
TEXTS = ("label", "who", "advice")
# Numbers that count whole months.
_WHOLE = {("new_client", "lookback_months")}
# Settings the SQL reads once for all practices (they bound windows over the whole data).
_GLOBAL_ONLY = {
    ("failed_login_burst", "window_minutes"),
    ("login_after_failures", "after_failures_window"),
    ("bulk_access", "gap_minutes"),
    ("bulk_access", "baseline_days"),
    ("new_client", "lookback_months"),
    ("dormant_delegation", "days"),
    ("owner_inactive_delegate_active", "days"),
}


# Holiday calendars a practice can choose: mainland France (empty), or a subdivision of the
# `holidays` library, by code or name (Alsace-Moselle adds Good Friday and 26 December;
# overseas departments their own days).
_CALENDARS = (
    *holidays.France.subdivisions,
    *getattr(holidays.France, "subdivisions_aliases", {}),
    "Alsace-Moselle",
)


def _subdivision(calendar: str) -> str | None:
    """The `holidays` subdivision code of a calendar name; "" for mainland France; None when
    unknown."""
    if calendar == "":
        return ""
    if calendar == "Alsace-Moselle":
        return "57"  # Moselle, Bas-Rhin and Haut-Rhin keep the same two extra days
    aliases = getattr(holidays.France, "subdivisions_aliases", {})
    code = aliases.get(calendar, calendar)
    return code if code in holidays.France.subdivisions else None


def holiday_days(calendar: str, years: Iterable[int]) -> list[tuple[date, str]]:
    """The public holidays of a calendar (see `_subdivision`) over ``years``, named in French."""
    code = _subdivision(calendar) or None
    french = holidays.France(years=list(years), subdiv=code, language="fr")
    return sorted((day, name) for day, name in french.items() if isinstance(day, date))


# Settings that no longer exist, and why: a file still setting them is refused rather than
# silently read otherwise than its author meant.
_REMOVED = {
    ("off_hours_access", "include_owner"): (
        "was removed: the holder's own activity in their mailbox never raises off_hours_access "
        "(nor bulk_access or new_client); delete this line"
    ),
}


def _check(condition: bool, source: str, message: str) -> None:
    if not condition:
        raise UserError(f"{source}: {message}")


def _parse_ranges(value, source: str, where: str) -> list[tuple[time, time]]:
    _check(isinstance(value, list), source, f"{where} must be a list of 'HH:MM-HH:MM'")
    out = []
    for item in value:
        match = _RANGE.fullmatch(str(item))
        _check(bool(match), source, f"{where}: {item!r} is not 'HH:MM-HH:MM'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        _check(
            h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60,
            source,
            f"{where}: {item!r} is not a time range",
        )
        opens = time(h1, m1)
        closes = time(23, 59, 59, 999999) if (h2, m2) == (24, 0) else time(h2, m2)
        _check(opens < closes, source, f"{where}: {item!r} closes before it opens")
        out.append((opens, closes))
    out.sort()
    for (_, closes), (opens, _) in zip(out, out[1:], strict=False):
        _check(opens >= closes, source, f"{where}: ranges overlap")
    return out


def _validate(settings: dict, source: str, where: str = "") -> None:
    """Check one level of settings: the whole file (``where`` empty) or a practice's overrides.
    Whatever would be silently ignored (a misspelt key, a setting the SQL reads once for every
    practice) is refused."""
    known = {"opening_hours", "rules"} | (
        set() if where else {"system_actors", "practices", "retention_months"}
    )
    unknown = set(settings) - known
    _check(
        not unknown,
        source,
        f"{where.rstrip('.') or 'configuration'}: unknown keys {sorted(unknown)}",
    )
    for key in ("opening_hours", "rules", "practices"):
        _check(isinstance(settings.get(key, {}), dict), source, f"{where}{key} must be a table")
    if "retention_months" in settings:
        months = settings["retention_months"]
        _check(
            isinstance(months, int) and not isinstance(months, bool) and months >= 1,
            source,
            "retention_months must be a whole number of months (6 to 12; others need "
            "'purge --force')",
        )
    if "system_actors" in settings:
        _check(
            isinstance(settings["system_actors"], list)
            and all(isinstance(p, str) for p in settings["system_actors"]),
            source,
            "system_actors must be a list of patterns",
        )
    hours = settings.get("opening_hours", {})
    for day in WEEKDAYS:
        if day in hours:
            _parse_ranges(hours[day], source, f"{where}opening_hours.{day}")
    unknown = set(hours) - set(WEEKDAYS) - {"public_holidays_closed", "holiday_calendar"}
    _check(not unknown, source, f"{where}opening_hours: unknown keys {sorted(unknown)}")
    if "public_holidays_closed" in hours:
        _check(
            isinstance(hours["public_holidays_closed"], bool),
            source,
            f"{where}opening_hours.public_holidays_closed must be true or false",
        )
    if "holiday_calendar" in hours:
        calendar = hours["holiday_calendar"]
        _check(
            isinstance(calendar, str) and _subdivision(calendar) is not None,
            source,
            f"{where}opening_hours.holiday_calendar must be empty (mainland France) or one of "
            f"{', '.join(_CALENDARS)}",
        )
    rules = settings.get("rules", {})
    unknown = set(rules) - set(RULE_IDS)
    _check(
        not unknown,
        source,
        f"{where}rules: unknown rules {sorted(unknown)}; known: {', '.join(RULE_IDS)}",
    )
    defaults = _default()["rules"]
    for rule_id, params in rules.items():
        _check(isinstance(params, dict), source, f"{where}rules.{rule_id} must be a table")
        for name in [n for n in params if n == "severity" or n.endswith("_severity")]:
            _check(
                params[name] in SEVERITIES,
                source,
                f"{where}rules.{rule_id}.{name} must be one of {SEVERITIES}",
            )
        for name, value in params.items():
            _check(
                (rule_id, name) not in _REMOVED,
                source,
                f"{where}rules.{rule_id}.{name} {_REMOVED.get((rule_id, name))}",
            )
            _check(
                name in defaults[rule_id] or name == "enabled",
                source,
                f"{where}rules.{rule_id}: unknown setting {name!r}; known: "
                f"{', '.join(sorted(set(defaults[rule_id]) | {'enabled'}))}",
            )
            _check(
                not (where and (rule_id, name) in _GLOBAL_ONLY),
                source,
                f"{where}rules.{rule_id}.{name} applies to every practice: set it under "
                f"[rules.{rule_id}], not per practice",
            )
            if name in _BOOLEAN:
                _check(
                    isinstance(value, bool),
                    source,
                    f"{where}rules.{rule_id}.{name} must be true or false",
                )
            elif name in TEXTS:
                _check(
                    isinstance(value, str) and value.strip() != "",
                    source,
                    f"{where}rules.{rule_id}.{name} must be a non-empty text",
                )
            elif (rule_id, name) in _WHOLE:
                _check(
                    isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                    source,
                    f"{where}rules.{rule_id}.{name} must be a whole number of months (1 or more)",
                )
            elif name != "severity" and not name.endswith("_severity"):
                _check(
                    isinstance(value, int | float) and not isinstance(value, bool),
                    source,
                    f"{where}rules.{rule_id}.{name} must be a number",
                )


def load_config(path: Path | str | None = None) -> AnalysisConfig:
    """Defaults, merged with ``path`` (or ``$DELEGATION_REPORTS_CONFIG``) when given."""
    data = _default()
    path = path or os.environ.get(CONFIG_ENV)
    source = "default configuration"
    if path:
        path = Path(path)
        source = str(path)
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: configuration file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not a valid TOML file ({exc})") from None
        data = _merge(data, user)
    _validate(data, source)
    for practice_id, override in data.get("practices", {}).items():
        _check(isinstance(override, dict), source, f"practices.{practice_id} must be a table")
        _validate(override, source, f"practices.{practice_id}.")
    return AnalysisConfig(data, source)


def write_config_tables(
    con: duckdb.DuckDBPyConnection, config: AnalysisConfig, years: Iterable[int]
) -> None:
    """(Re)write the cfg_* tables and the public holidays the rules read. Rows with a NULL
    practice_id are the defaults; a practice has rows of its own only where it overrides them."""
    overriding = sorted(config.data.get("practices", {}))
    hours, params, closed, switches, days = [], [], [], [], []
    for practice_id in [None, *overriding]:
        settings = config.for_practice(practice_id)
        opening = settings["opening_hours"]
        override = config.data.get("practices", {}).get(practice_id or "", {})
        if practice_id is None or "opening_hours" in override:
            closed.append((practice_id, bool(opening.get("public_holidays_closed", True))))
            calendar = opening.get("holiday_calendar", "")
            days += [(practice_id, *day) for day in holiday_days(calendar, years)]
            for isodow, day in enumerate(WEEKDAYS, start=1):
                for opens, closes in _parse_ranges(opening.get(day, []), config.source, day):
                    # Also in minutes of the day (closing at midnight: 1440), which every
                    # engine compares alike.
                    minutes = (opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute)
                    if closes == time(23, 59, 59, 999999):
                        minutes = (minutes[0], 24 * 60)
                    hours.append((practice_id, isodow, opens, closes, *minutes))
        for rule_id, rule in settings["rules"].items():
            if practice_id is not None and rule_id not in override.get("rules", {}):
                continue
            switches.append((practice_id, rule_id, rule["severity"], rule.get("enabled", True)))
            for name, value in rule.items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                params.append((practice_id, rule_id, name, text))
    patterns = [(str(p).lower(),) for p in config.data.get("system_actors", [])]
    tables = {
        "cfg_opening_hours": (
            "practice_id VARCHAR, isodow INTEGER, opens TIME, closes TIME, "
            "opens_minute INTEGER, closes_minute INTEGER",
            hours,
        ),
        "cfg_holidays_closed": ("practice_id VARCHAR, is_closed BOOLEAN", closed),
        "cfg_rule_param": (
            "practice_id VARCHAR, rule_id VARCHAR, name VARCHAR, value VARCHAR",
            params,
        ),
        # A rule's severity and switch, resolved: practices with overrides have rows of their own.
        "cfg_rule_switch": (
            "practice_id VARCHAR, rule_id VARCHAR, severity VARCHAR, enabled BOOLEAN",
            switches,
        ),
        "cfg_system_actor": ("pattern VARCHAR", patterns),
        # The default calendar's days (NULL practice), and those of each practice with opening
        # hours of its own (its calendar may differ).
        "public_holiday": ("practice_id VARCHAR, day DATE, name VARCHAR", days),
    }
    for name, (columns, rows) in tables.items():
        con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
        if rows:
            width = len(rows[0])
            placeholders = ", ".join("(" + ", ".join("?" * width) + ")" for _ in rows)
            con.execute(
                f"INSERT INTO {name} VALUES {placeholders}", [v for row in rows for v in row]
            )
