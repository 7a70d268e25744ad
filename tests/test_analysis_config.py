"""Rule configuration: per-practice overrides change that practice only; invalid files are
refused with a clear message."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources

import pytest

from analysis_cases import (
    HOLDER,
    HOLDER_2,
    PARIS,
    SECRETARY,
    STRANGER,
    config_from,
    new_case,
    write_config,
)
from delegation_reports.analysis.config import CONFIG_ENV, RULE_IDS, load_config
from delegation_reports.analysis.models import Month
from delegation_reports.errors import UserError

ASSISTANT_2 = "lea.martin@pro.mssante.fr"


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def two_practices(case):
    """P1 (HOLDER, SECRETARY) and P2 (HOLDER_2, ASSISTANT_2), each delegating to its staff."""
    case.practice("P1", holders=[HOLDER], staff=[SECRETARY])
    case.practice("P2", holders=[HOLDER_2], staff=[ASSISTANT_2])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.grant(HOLDER_2, ASSISTANT_2, "2026-01-05 09:00")


def by_practice(case, rule_id, month=None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in case.findings(rule_id, **({"month": month} if month else {})):
        out.setdefault(f["practice_id"], []).append(f)
    return out


# ---- overrides ----------------------------------------------------------------------------


def test_practice_ceiling_changes_that_practice_only(case, tmp_path):
    two_practices(case)
    for mailbox, actor in ((HOLDER, SECRETARY), (HOLDER_2, ASSISTANT_2)):
        case.events(mailbox, actor, case.series("2026-03-03 14:00", 300, timedelta(seconds=4)))
    case.refresh()
    assert set(by_practice(case, "bulk_access")) == {"P1", "P2"}
    case.refresh(
        config=config_from(
            tmp_path,
            """
        [practices."P1".rules.bulk_access]
        ceiling = 500
    """,
        )
    )
    assert set(by_practice(case, "bulk_access")) == {"P2"}


def test_practice_opening_hours_change_that_practice_only(case, tmp_path):
    two_practices(case)
    for mailbox, actor in ((HOLDER, SECRETARY), (HOLDER_2, ASSISTANT_2)):
        case.event(mailbox, actor, "2026-03-07 15:00")  # Saturday afternoon
        case.event(mailbox, actor, "2026-03-10 19:30")  # Tuesday evening, open by default
        case.event(mailbox, actor, "2026-03-11 07:30")  # Wednesday morning, open by default
    config = config_from(
        tmp_path,
        """
        [practices."P1".opening_hours]
        saturday = ["08:00-12:00", "14:00-18:00"]
        wednesday = ["08:00-12:00"]
    """,
    )
    case.refresh(config=config)
    found = by_practice(case, "off_hours_access")
    days = {p: sorted(f["first_at"].date().isoformat() for f in fs) for p, fs in found.items()}
    # P1: open on Saturday afternoon now, closed on Wednesday morning; Tuesday unchanged.
    assert days == {"P1": ["2026-03-11"], "P2": ["2026-03-07"]}


def test_opening_and_closing_within_an_hour_are_placed_to_the_minute(case, tmp_path):
    """Hours a practice opens or closes in (twice in one hour here) are placed by the minute;
    the other practice, open all those hours by default, has nothing off hours."""
    two_practices(case)
    in_hours = ["2026-03-02 08:30", "2026-03-02 12:14", "2026-03-02 12:45", "2026-03-02 17:59"]
    off_hours = {
        "2026-03-03 08:29": "2026-03-03",  # a minute before opening
        "2026-03-04 12:15": "2026-03-04",  # the minute the morning closes
        "2026-03-05 12:44": "2026-03-05",  # a minute before the afternoon opens
        "2026-03-06 18:00": "2026-03-06",  # the minute the afternoon closes
        "2026-03-10 12:30": "2026-03-10",  # between the two ranges, in the same hour
    }
    for mailbox, actor in ((HOLDER, SECRETARY), (HOLDER_2, ASSISTANT_2)):
        case.events(mailbox, actor, [*in_hours, *off_hours])
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
    config = config_from(
        tmp_path,
        '[practices."P1".opening_hours]\n'
        + "".join(f'{d} = ["08:30-12:15", "12:45-18:00"]\n' for d in weekdays),
    )
    case.refresh(config=config)
    found = by_practice(case, "off_hours_access")
    assert set(found) == {"P1"}
    assert sorted(f["n_events"] for f in found["P1"]) == [1] * len(off_hours)
    days = sorted(f["first_at"].astimezone(PARIS).date().isoformat() for f in found["P1"])
    assert days == sorted(off_hours.values())


def test_practice_open_on_public_holidays(case, tmp_path):
    april = Month(2026, 4)
    two_practices(case)
    for mailbox, actor in ((HOLDER, SECRETARY), (HOLDER_2, ASSISTANT_2)):
        case.event(mailbox, actor, "2026-04-06 10:00")  # Easter Monday
    config = config_from(
        tmp_path,
        """
        [practices."P1".opening_hours]
        public_holidays_closed = false
    """,
    )
    case.refresh(april, config=config)
    assert set(by_practice(case, "off_hours_access", april)) == {"P2"}


def test_severity_and_threshold_overrides(case, tmp_path):
    two_practices(case)
    for mailbox in (HOLDER, HOLDER_2):
        case.events(
            mailbox,
            mailbox,
            case.series("2026-03-03 10:00", 3, timedelta(minutes=1)),
            "login_failed",
            "failure",
        )
        case.event(mailbox, STRANGER, "2026-03-04 10:00")
    config = config_from(
        tmp_path,
        """
        [rules.failed_login_burst]
        threshold = 3
        [practices."P1".rules.failed_login_burst]
        threshold = 4
        [practices."P2".rules.access_without_delegation]
        severity = "warning"
    """,
    )
    case.refresh(config=config)
    assert set(by_practice(case, "failed_login_burst")) == {"P2"}
    severities = {
        p: fs[0]["severity"] for p, fs in by_practice(case, "access_without_delegation").items()
    }
    assert severities == {"P1": "critical", "P2": "warning"}


def test_system_actor_patterns(case, tmp_path):
    case.practice()
    robot = case.event(HOLDER, "robot.archive@pro.mssante.fr", "2026-03-03 10:00")
    case.refresh(config=config_from(tmp_path, 'system_actors = ["robot.*@pro.mssante.fr"]'))
    assert case.attribution(robot) == "system"
    assert case.findings("access_without_delegation") == []


def test_a_rule_can_be_disabled(case, tmp_path):
    two_practices(case)
    for mailbox in (HOLDER, HOLDER_2):
        case.event(mailbox, STRANGER, "2026-03-04 10:00")
        case.event(mailbox, STRANGER, "2026-03-08 10:00")  # a Sunday
    case.refresh(
        config=config_from(
            tmp_path,
            """
        [rules.off_hours_access]
        enabled = false
        [practices."P1".rules.access_without_delegation]
        enabled = false
    """,
        )
    )
    assert case.findings("off_hours_access") == []
    assert set(by_practice(case, "access_without_delegation")) == {"P2"}
    # Off for every practice but one.
    case.refresh(
        config=config_from(
            tmp_path,
            """
        [rules.off_hours_access]
        enabled = false
        [practices."P2".rules.off_hours_access]
        enabled = true
    """,
        )
    )
    assert set(by_practice(case, "off_hours_access")) == {"P2"}
    assert set(by_practice(case, "access_without_delegation")) == {"P1", "P2"}


def test_config_from_the_environment(case, tmp_path, monkeypatch):
    path = write_config(
        tmp_path,
        """
        [rules.access_without_delegation]
        severity = "info"
    """,
    )
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().source == str(path)
    case.practice()
    case.event(HOLDER, STRANGER, "2026-03-04 10:00")
    case.refresh(config=load_config())
    assert [f["severity"] for f in case.findings("access_without_delegation")] == ["info"]


def test_defaults_cover_every_rule():
    config = load_config()
    assert config.source == "default configuration"
    rule_files = resources.files("delegation_reports") / "sql" / "models" / "rules"
    defined = {f.name.removesuffix(".sql") for f in rule_files.iterdir() if f.name.endswith(".sql")}
    assert set(config.for_practice(None)["rules"]) == set(RULE_IDS) == defined
    assert config.for_practice("unknown practice") == config.for_practice(None)


# ---- invalid files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[rules.bulk_acess]\nceiling = 10",
            "rules: unknown rules ['bulk_acess']; known: access_without_delegation",
        ),
        ('[practices."P1".rules.nope]\nx = 1', "practices.P1.rules: unknown rules ['nope']"),
        (
            '[opening_hours]\nmonday = ["7:00-20:00"]',
            "opening_hours.monday: '7:00-20:00' is not 'HH:MM-HH:MM'",
        ),
        (
            '[opening_hours]\nmonday = ["25:00-26:00"]',
            "opening_hours.monday: '25:00-26:00' is not a time range",
        ),
        (
            '[opening_hours]\nmonday = ["20:00-07:00"]',
            "opening_hours.monday: '20:00-07:00' closes before it opens",
        ),
        (
            '[opening_hours]\nmonday = "08:00-12:00"',
            "opening_hours.monday must be a list of 'HH:MM-HH:MM'",
        ),
        (
            '[practices."P1".opening_hours]\ntuesday = ["08:00-12:00", "11:00-14:00"]',
            "practices.P1.opening_hours.tuesday: ranges overlap",
        ),
        ('[opening_hours]\nmon = ["08:00-12:00"]', "opening_hours: unknown keys ['mon']"),
        (
            '[rules.bulk_access]\nseverity = "high"',
            "rules.bulk_access.severity must be one of ('info', 'warning', 'critical')",
        ),
        (
            '[rules.failed_login_burst]\nthreshold = "five"',
            "rules.failed_login_burst.threshold must be a number",
        ),
        (
            "[rules.failed_login_burst]\nthreshold = true",
            "rules.failed_login_burst.threshold must be a number",
        ),
        ("[rules]\nbulk_access = 3", "rules.bulk_access must be a table"),
        ('[practices."P1"]\nopening_hours = 3', "practices.P1.opening_hours must be a table"),
        ("practices = 3", "practices must be a table"),
        (
            '[practices."P1".rules.bulk_access]\nceilng = 500',
            "rules.bulk_access: unknown setting 'ceilng'",
        ),
        (
            "[rules.off_hours_access]\ninclude_owner = true",
            "rules.off_hours_access.include_owner was removed: the holder's own activity in "
            "their mailbox never raises off_hours_access (nor bulk_access or new_client); "
            "delete this line",
        ),
        (
            '[practices."P1".rules.off_hours_access]\ninclude_owner = false',
            "practices.P1.rules.off_hours_access.include_owner was removed",
        ),
        (
            '[practices."P1".rules.login_after_failures]\nafter_failures_window = 30',
            "practices.P1.rules.login_after_failures.after_failures_window applies to every "
            "practice",
        ),
        (
            '[rules.failed_login_burst]\nslow_failures = "twenty"',
            "rules.failed_login_burst.slow_failures must be a number",
        ),
        ("[rules.new_client]\nenabled = 0", "rules.new_client.enabled must be true or false"),
        (
            '[opening_hours]\npublic_holidays_closed = "no"',
            "opening_hours.public_holidays_closed must be true or false",
        ),
        (
            '[practices."P1".rules.dormant_delegation]\ndays = 30',
            "practices.P1.rules.dormant_delegation.days applies to every practice",
        ),
        (
            '[practices."P1"]\nsystem_actors = ["x*"]',
            "practices.P1: unknown keys ['system_actors']",
        ),
        ('[practice."P1".rules.bulk_access]\nceiling = 500', "unknown keys ['practice']"),
        ('system_actors = "system:*"', "system_actors must be a list of patterns"),
        ("[rules.bulk_access\n", "not a valid TOML file"),
    ],
)
def test_invalid_configuration(tmp_path, text, message):
    path = write_config(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_configuration_file(tmp_path):
    with pytest.raises(
        UserError, match=re.escape(f"{tmp_path / 'nope.toml'}: configuration file not found")
    ):
        load_config(tmp_path / "nope.toml")


def test_valid_overrides_are_accepted(tmp_path):
    config = config_from(
        tmp_path,
        """
        system_actors = ["system:*"]
        [opening_hours]
        saturday = []
        sunday = ["10:00-12:00"]
        friday = ["07:00-12:00", "12:00-24:00"]
        [rules.bulk_access]
        ceiling = 400.5
        enabled = true
        [practices."C-1.x_2"]
        rules.failed_login_burst.slow_failures = 30
        opening_hours.monday = ["00:00-24:00"]
    """,
    )
    assert config.for_practice("C-1.x_2")["rules"]["bulk_access"]["ceiling"] == 400.5
    assert config.for_practice("C-1.x_2")["opening_hours"]["monday"] == ["00:00-24:00"]
    assert config.for_practice("C-1.x_2")["opening_hours"]["sunday"] == ["10:00-12:00"]
    assert config.for_practice("C-1.x_2")["rules"]["failed_login_burst"]["slow_failures"] == 30
    assert config.digest != load_config().digest


def test_findings_command_with_a_config(case, tmp_path):
    from click.testing import CliRunner

    from delegation_reports.cli import main

    two_practices(case)
    case.event(HOLDER, SECRETARY, "2026-03-07 15:00")  # Saturday afternoon
    case.cover_operators()
    db = tmp_path / "w.duckdb"
    case.con.close()
    runner = CliRunner()
    args = [
        "findings",
        "--db",
        str(db),
        "--month",
        "2026-03",
        "--rule",
        "off_hours_access",
        "--format",
        "json",
    ]
    default = runner.invoke(main, args)
    assert default.exit_code == 0, default.output
    assert '"rule_id": "off_hours_access"' in default.stdout
    path = write_config(tmp_path, '[practices."P1".opening_hours]\nsaturday = ["08:00-18:00"]')
    configured = runner.invoke(main, [*args, "--config", str(path)])
    assert configured.exit_code == 0, configured.output
    assert configured.stdout.strip() == "[]"
    bad = write_config(tmp_path, '[rules.bulk_access]\nseverity = "high"', "bad.toml")
    refused = runner.invoke(main, [*args, "--config", str(bad)])
    assert refused.exit_code != 0
    assert f"Error: {bad}: rules.bulk_access.severity must be one of" in refused.output
    assert "Traceback" not in refused.output
