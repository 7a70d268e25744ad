"""Rules with a time window across the end of a month: a burst or series belongs to the Paris
month it starts in, whatever months are built, alone or together, in whatever order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis_cases import HOLDER, HOLDER_2, SECRETARY, STRANGER, local, new_case, rows
from delegation_reports.analysis.models import Month

MARCH, APRIL = Month(2026, 3), Month(2026, 4)
ATTACKER_IP = "203.0.113.66"
WINDOW_RULES = ("bulk_access", "failed_login_burst", "login_after_failures")


def straddling(case) -> dict[str, list[str]]:
    """Bursts and series started on the evening of 31 March (CEST) that run past midnight;
    returns their events by the rule they should raise."""
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    # 400 reads from 23:40 to 00:20, 6 seconds apart: 200 on each side of midnight.
    reads = case.events(
        HOLDER, SECRETARY, case.series("2026-03-31 23:40", 400, timedelta(seconds=6))
    )
    # 6 failed logins from 23:50 to 00:15, 5 minutes apart, then the attacker in at 00:40.
    burst = case.events(
        HOLDER_2,
        HOLDER_2,
        case.series("2026-03-31 23:50", 6, timedelta(minutes=5)),
        "login_failed",
        "failure",
        ip=ATTACKER_IP,
    )
    login = case.event(HOLDER_2, HOLDER_2, "2026-04-01 00:40", "login", ip=ATTACKER_IP)
    # A slow series by an unknown account, 18 minutes apart, from 20:00 to 01:42.
    series = case.events(
        HOLDER,
        STRANGER,
        case.series("2026-03-31 20:00", 20, timedelta(minutes=18)),
        "login_failed",
        "failure",
        ip=ATTACKER_IP,
    )
    # Reads of the secretary from 00:40 on 1 April: a burst of April's own (20 minutes after
    # the last one), under the ceiling.
    case.events(HOLDER, SECRETARY, case.series("2026-04-01 00:40", 100, timedelta(seconds=6)))
    return {
        "bulk_access": reads,
        "failed_login_burst": burst,
        "failed_login_burst/series": series,
        "login_after_failures": [*burst, login],
    }


def _month_findings(case, month: Month) -> list[dict]:
    return rows(
        case.con,
        "SELECT * EXCLUDE (month) FROM finding WHERE month = ? ORDER BY finding_id",
        [month.first_day],
    )


def test_bursts_across_the_end_of_march_belong_to_march(tmp_path):
    with new_case(tmp_path) as case:
        events = straddling(case)
        case.refresh(MARCH, APRIL)
        march = {
            (f["rule_id"], f["actor"]): f
            for f in case.findings(month=MARCH)
            if f["rule_id"] in WINDOW_RULES
        }
        assert {key: f["evidence"] for key, f in march.items()} == {
            ("bulk_access", SECRETARY): events["bulk_access"],
            ("failed_login_burst", HOLDER_2): events["failed_login_burst"],
            ("failed_login_burst", STRANGER): events["failed_login_burst/series"],
            ("login_after_failures", HOLDER_2): events["login_after_failures"],
        }
        bulk = march[("bulk_access", SECRETARY)]
        assert (bulk["n_events"], bulk["first_at"]) == (400, local("2026-03-31 23:40"))
        assert "du 31 mars 2026 à 23 h 40 au 1er avril 2026 à 0 h 19" in bulk["explanation_fr"]
        assert march[("failed_login_burst", HOLDER_2)]["last_at"] == local("2026-04-01 00:15")
        assert [f for f in case.findings(month=APRIL) if f["rule_id"] in WINDOW_RULES] == []


@pytest.mark.parametrize(
    "order",
    [(MARCH,), (APRIL,), (MARCH, APRIL), (APRIL, MARCH)],
    ids=["march-alone", "april-alone", "march-then-april", "april-then-march"],
)
def test_months_built_alone_or_together_give_the_same_findings(tmp_path, order):
    """Each order on a fresh warehouse, against both months built at once on another."""
    (tmp_path / "together").mkdir()
    (tmp_path / "apart").mkdir()
    with new_case(tmp_path / "together") as case:
        straddling(case)
        case.refresh(MARCH, APRIL)
        expected = {month: _month_findings(case, month) for month in (MARCH, APRIL)}
    assert {f["rule_id"] for f in expected[MARCH]} >= set(WINDOW_RULES)
    with new_case(tmp_path / "apart") as case:
        straddling(case)
        for month in order:
            case.refresh(month)
        for month in order:
            assert _month_findings(case, month) == expected[month], month


def test_a_burst_continued_from_the_previous_month_is_not_april_s(tmp_path):
    """Failures every 5 minutes from 23:30 to 01:00: April's part alone would be a burst."""
    with new_case(tmp_path) as case:
        case.practice()
        case.events(
            HOLDER,
            HOLDER,
            case.series("2026-03-31 23:30", 19, timedelta(minutes=5)),
            "login_failed",
            "failure",
        )
        case.refresh(APRIL)
        assert case.findings("failed_login_burst", APRIL) == []
        case.refresh(MARCH)
        [finding] = case.findings("failed_login_burst", MARCH)
        assert finding["n_events"] == 19
