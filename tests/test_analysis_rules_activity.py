"""Rules on patterns of activity: failed logins, bulk reads, new clients, an absent holder,
missing traces."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    HOLDER_2,
    IP,
    SECRETARY,
    STRANGER,
    local,
    new_case,
)
from delegation_reports.analysis.models import Month


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def working_days(month: Month, closed: frozenset[date] = frozenset()) -> list[date]:
    day, days = month.first_day, []
    while day < month.next().first_day:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


# ---- failed_login_burst -------------------------------------------------------------------


def test_failed_login_burst(case):
    case.practice(staff=[SECRETARY])
    times = case.series("2026-03-03 10:00", 5, timedelta(minutes=2))
    burst = case.events(HOLDER, HOLDER, times[:3], "login_failed", "failure", ip="203.0.113.9")
    burst += case.events(HOLDER, HOLDER, times[3:], "login", "failure", ip="203.0.113.9")
    case.event(HOLDER, HOLDER, "2026-03-03 10:09", "login")  # success: not counted, no break
    case.refresh()
    [finding] = case.findings("failed_login_burst")
    assert finding["severity"] == "warning"
    assert (finding["actor"], finding["evidence"], finding["n_events"]) == (HOLDER, burst, 5)
    assert (finding["first_at"], finding["last_at"]) == (times[0], times[-1])
    assert finding["explanation_fr"].startswith("5 échecs de connexion")
    assert "depuis 203.0.113.9" in finding["explanation_fr"]


@pytest.mark.parametrize(
    ("count", "every"),
    [
        (4, timedelta(minutes=1)),  # one short of the threshold
        (5, timedelta(minutes=11)),  # slower than the window
        (5, timedelta(minutes=10)),  # each exactly 10 minutes after the previous: not less
    ],
)
def test_failed_login_burst_near_misses(case, count, every):
    case.practice()
    case.events(
        HOLDER, HOLDER, case.series("2026-03-03 10:00", count, every), "login_failed", "failure"
    )
    case.refresh()
    assert case.findings("failed_login_burst") == []


def test_failed_logins_of_two_accounts_do_not_add_up(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    times = case.series("2026-03-03 10:00", 6, timedelta(minutes=1))
    case.events(HOLDER, HOLDER, times[::2], "login_failed", "failure")
    case.events(HOLDER, SECRETARY, times[1::2], "login_failed", "failure")
    case.refresh()
    assert case.findings("failed_login_burst") == []


# ---- bulk_access --------------------------------------------------------------------------


def test_bulk_access_by_ceiling(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    # 300 reads in 20 minutes; 249 on another day stay under the ceiling of 250.
    big = case.events(HOLDER, SECRETARY, case.series("2026-03-03 14:00", 300, timedelta(seconds=4)))
    case.events(HOLDER, SECRETARY, case.series("2026-03-04 14:00", 249, timedelta(seconds=4)))
    case.refresh()
    [finding] = case.findings("bulk_access")
    assert finding["severity"] == "warning"
    assert (finding["actor"], finding["n_events"], finding["evidence"]) == (SECRETARY, 300, big)
    # The délégataire is named with their role, the holder with elision.
    assert finding["explanation_fr"].startswith(
        f"Le compte {SECRETARY} (secrétaire) a ouvert 300 messages de la boîte d'{HOLDER} "
        "le 3 mars 2026 entre 14 h 00 et 14 h 19"
    )
    assert "d'habitude" not in finding["explanation_fr"]


def test_bulk_access_by_an_account_without_delegation_says_so(case):
    case.practice()
    case.events(HOLDER, STRANGER, case.series("2026-03-03 14:00", 260, timedelta(seconds=4)))
    case.refresh()
    [finding] = case.findings("bulk_access")
    assert finding["explanation_fr"].startswith(
        f"Le compte {STRANGER}, qui n'a jamais eu de délégation sur cette boîte, a ouvert "
        "260 messages"
    )


@pytest.mark.parametrize(("pause", "flagged"), [(10, True), (11, False)])
def test_bulk_access_pause_splits_a_burst(case, pause, flagged):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    first = case.series("2026-03-03 14:00", 150, timedelta(seconds=4))
    second = case.series(first[-1] + timedelta(minutes=pause), 150, timedelta(seconds=4))
    case.events(HOLDER, SECRETARY, first + second)
    case.refresh()
    found = case.findings("bulk_access")
    assert [f["n_events"] for f in found] == ([300] if flagged else [])


def test_bulk_access_against_the_usual_burst(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    # February: a burst of 5 reads every working day.
    for day in working_days(Month(2026, 2)):
        case.events(HOLDER, SECRETARY, case.series(local(f"{day} 09:00"), 5, timedelta(minutes=1)))
    unusual = case.events(
        HOLDER, SECRETARY, case.series("2026-03-03 14:00", 120, timedelta(seconds=5))
    )
    case.events(HOLDER, SECRETARY, case.series("2026-03-05 14:00", 80, timedelta(seconds=5)))
    case.refresh("2026-02", "2026-03")
    [finding] = case.findings("bulk_access")
    assert (finding["n_events"], finding["evidence"]) == (120, unusual)
    assert "bien plus que d'habitude (5 en général)" in finding["explanation_fr"]


def test_bulk_access_without_baseline(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.events(HOLDER, SECRETARY, case.series("2026-03-03 14:00", 120, timedelta(seconds=5)))
    case.refresh()
    assert case.findings("bulk_access") == []


# ---- new_client ---------------------------------------------------------------------------


def test_new_address_after_enough_history(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    for day in range(2, 20):
        case.event(HOLDER, SECRETARY, local(f"2026-03-{day:02d} 09:00"))
    new = case.event(HOLDER, SECRETARY, "2026-03-20 09:00", ip="198.51.100.7")
    case.event(HOLDER, SECRETARY, "2026-03-23 09:00", ip="198.51.100.7")  # no longer new
    case.refresh()
    [finding] = case.findings("new_client")
    assert finding["severity"] == "info"
    assert finding["title_fr"] == "Nouvelle adresse de connexion"
    assert (finding["actor"], finding["evidence"]) == (SECRETARY, [new])
    assert finding["first_at"] == local("2026-03-20 09:00")
    assert "(198.51.100.7)" in finding["explanation_fr"]


def test_new_client_software(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    for day in range(2, 20):
        case.event(HOLDER, SECRETARY, local(f"2026-03-{day:02d} 09:00"))
    new = case.event(HOLDER, SECRETARY, "2026-03-20 09:00", agent="Outlook 16.0")
    case.refresh()
    [finding] = case.findings("new_client")
    assert finding["title_fr"] == "Nouveau logiciel de messagerie"
    assert finding["evidence"] == [new]
    assert "(Outlook 16.0)" in finding["explanation_fr"]


def test_new_client_evidence_is_the_event_with_the_new_address(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    for day in range(2, 20):
        case.event(HOLDER, SECRETARY, local(f"2026-03-{day:02d} 09:00"))
    # Two events in the same second, from the usual address and from a new one.
    at = local("2026-03-20 09:00")
    usual = case.event(HOLDER, SECRETARY, at, ip=IP)
    new = case.event(HOLDER, SECRETARY, at, ip="198.51.100.7")
    assert usual < new
    case.refresh()
    [finding] = case.findings("new_client")
    assert finding["evidence"] == [new]


def test_new_actor_is_not_a_new_client(case):
    case.practice(staff=[SECRETARY, ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-03-09 09:00")
    # First day of a new account: every address is new.
    case.event(HOLDER, ASSISTANT, "2026-03-10 09:00", ip="198.51.100.8")
    # Ten days later, another address: still under 14 days of history.
    case.event(HOLDER, ASSISTANT, "2026-03-20 09:00", ip="198.51.100.9")
    case.refresh()
    assert case.findings("new_client") == []


# ---- owner_inactive_delegate_active -------------------------------------------------------


def test_delegate_active_while_holder_silent(case):
    case.practice(staff=[SECRETARY])
    granted = case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    case.coverage("2025-12-01 00:00", "2026-03-31 23:00")
    case.event(HOLDER, HOLDER, "2025-12-15 10:00")
    active = case.events(HOLDER, SECRETARY, ["2026-03-10 10:00", "2026-03-12 10:00"])
    case.refresh()
    [finding] = case.findings("owner_inactive_delegate_active")
    assert finding["severity"] == "warning"
    assert (finding["actor"], finding["evidence"], finding["n_events"]) == (SECRETARY, active, 2)
    assert (finding["delegation_key"], finding["delegation_ids"]) == (granted, [granted])
    text = finding["explanation_fr"]
    assert f"{SECRETARY} (secrétaire) a utilisé la boîte" in text
    assert "du 10 mars 2026 à 10 h 00 au 12 mars 2026 à 10 h 00 (2 actions)" in text
    assert "plus de 60 jours (dernière connexion connue : le 15 décembre 2025 à 10 h 00)" in text


def test_holder_active_within_60_days(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    case.coverage("2025-12-01 00:00", "2026-03-31 23:00")
    case.event(HOLDER, HOLDER, "2026-01-20 10:00")  # 49 days before the 10th of March
    case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.refresh()
    assert case.findings("owner_inactive_delegate_active") == []


def test_holder_silence_unknown_when_traces_are_too_short(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    case.coverage("2026-02-01 00:00", "2026-03-31 23:00")
    case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.refresh()
    assert case.findings("owner_inactive_delegate_active") == []


def test_holder_silence_unknown_across_a_month_without_traces(case):
    """January and February have no traces: the holder may have logged in then."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    case.coverage("2025-12-01 00:00", "2025-12-31 23:00")
    case.coverage("2026-03-01 00:00", "2026-03-31 23:00")
    case.event(HOLDER, HOLDER, "2025-12-15 10:00")
    case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.refresh()
    assert case.findings("owner_inactive_delegate_active") == []
    case.coverage("2026-01-01 00:00", "2026-02-28 23:00")
    case.refresh()
    assert [f["actor"] for f in case.findings("owner_inactive_delegate_active")] == [SECRETARY]


# ---- audit_gap ----------------------------------------------------------------------------


def _daily(case, mailboxes, days, operator="Messagerie Test"):
    for day in days:
        for mailbox in mailboxes:
            case.event(mailbox, mailbox, local(f"{day} 09:00"), operator=operator)


def test_operator_gap_for_each_practice_it_serves(case):
    case.practice("P1", holders=[HOLDER])
    case.practice("P2", holders=[HOLDER_2])
    missing = date(2026, 3, 11)
    _daily(case, [HOLDER, HOLDER_2], [d for d in working_days(Month(2026, 3)) if d != missing])
    # Another operator with traces that day serves neither practice's gap.
    case.event(HOLDER, HOLDER, local(f"{missing} 09:00"), operator="Autre Opérateur")
    case.refresh()
    found = case.findings("audit_gap")
    operator_gaps = [f for f in found if f["mailbox"] is None]
    assert sorted(f["practice_id"] for f in operator_gaps) == ["P1", "P2"]
    for finding in operator_gaps:
        assert finding["severity"] == "warning"
        assert (finding["first_at"], finding["last_at"]) == (
            local(f"{missing} 00:00"),
            local(f"{missing} 23:59:59"),
        )
        assert "Messagerie Test le 11 mars 2026, un jour ouvré" in finding["explanation_fr"]
    assert [f for f in found if f["mailbox"] is not None] == []


def test_operator_gap_of_several_days(case):
    case.practice()
    missing = {date(2026, 3, 13), date(2026, 3, 16)}  # a Friday and the Monday after
    _daily(case, [HOLDER], [d for d in working_days(Month(2026, 3)) if d not in missing])
    case.refresh()
    [finding] = [f for f in case.findings("audit_gap") if f["mailbox"] is None]
    assert (finding["first_at"], finding["last_at"]) == (
        local("2026-03-13 00:00"),
        local("2026-03-16 23:59:59"),
    )
    assert "du 13 mars 2026 au 16 mars 2026 (2 jours ouvrés)" in finding["explanation_fr"]


def test_no_gap_on_weekends_and_public_holidays(case):
    may = Month(2026, 5)
    holidays = frozenset({date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14), date(2026, 5, 25)})
    case.practice()
    _daily(case, [HOLDER], working_days(may, holidays))
    case.refresh(may)
    assert case.findings("audit_gap", may) == []


@pytest.mark.parametrize(
    ("silent_from", "silent_days", "flagged"),
    [
        (date(2026, 3, 4), 5, True),  # Wednesday to Tuesday: 5 working days
        (date(2026, 3, 4), 4, False),
    ],
)
def test_mailbox_silent_between_active_days(case, silent_from, silent_days, flagged):
    case.practice("P1", holders=[HOLDER])
    case.practice("P2", holders=[HOLDER_2])
    days = working_days(Month(2026, 3))
    start = days.index(silent_from)
    silent = days[start : start + silent_days]
    _daily(case, [HOLDER], days)
    _daily(case, [HOLDER_2], [d for d in days if d not in silent])
    case.refresh()
    found = case.findings("audit_gap")
    assert [f["mailbox"] for f in found] == ([HOLDER_2] if flagged else [])
    if flagged:
        [finding] = found
        assert finding["practice_id"] == "P2"
        assert (finding["first_at"], finding["last_at"]) == (
            local(f"{silent[0]} 00:00"),
            local(f"{silent[-1]} 23:59:59"),
        )
        assert f"({silent_days} jours ouvrés)" in finding["explanation_fr"]


def test_mailbox_silent_to_the_end_is_no_gap(case):
    case.practice()
    case.practice("P2", holders=[HOLDER_2])
    days = working_days(Month(2026, 3))
    _daily(case, [HOLDER], days)
    _daily(case, [HOLDER_2], days[:5])  # then silent until the end of the month: no "after"
    case.event(HOLDER_2, STRANGER, local(f"{days[4]} 10:00"))
    case.refresh()
    assert [f for f in case.findings("audit_gap") if f["mailbox"] is not None] == []
