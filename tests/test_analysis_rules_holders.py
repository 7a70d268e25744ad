"""Rules on the holder of the mailbox: a replacement working alongside the holder it replaces,
a délégataire still acting after the holder left the directory."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis_cases import (
    HOLDER,
    HOLDER_2,
    MARCH,
    REPLACEMENT,
    SECRETARY,
    config_from,
    local,
    new_case,
)
from delegation_reports.analysis.models import Month
from delegation_reports.reports.overview import OverviewReport


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def _replacement(case, **options) -> str:
    case.practice(staff=[SECRETARY])
    return case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-02-23 09:00",
        role="replacement",
        valid_to="2026-04-30",
        **options,
    )


def _both_on(case, days: list[str]) -> list[tuple[str, str]]:
    """The replacement then the holder act on each day; returns their first events."""
    firsts = []
    for day in days:
        replacing = case.event(HOLDER, REPLACEMENT, f"{day} 09:00")
        case.event(HOLDER, REPLACEMENT, f"{day} 16:00")
        holding = case.event(HOLDER, HOLDER, f"{day} 11:00")
        firsts.append((replacing, holding))
    return firsts


# ---- replacement_while_holder_active -------------------------------------------------------


def test_replacement_and_holder_on_four_working_days(case):
    granted = _replacement(case)
    firsts = _both_on(case, ["2026-03-02", "2026-03-03", "2026-03-10", "2026-03-17"])
    case.event(HOLDER, REPLACEMENT, "2026-03-18 10:00")  # the replacement alone: normal
    case.event(HOLDER, HOLDER, "2026-03-19 10:00")  # the holder alone
    case.refresh()
    [finding] = case.findings("replacement_while_holder_active")
    assert finding["severity"] == "warning"
    assert (finding["mailbox"], finding["actor"], finding["n_events"]) == (HOLDER, REPLACEMENT, 4)
    assert finding["evidence"] == [e for pair in firsts for e in pair]
    assert (finding["delegation_key"], finding["delegation_ids"]) == (granted, [granted])
    assert (finding["first_at"], finding["last_at"]) == (
        local("2026-03-02 09:00"),
        local("2026-03-17 16:00"),
    )
    assert "4 jours ouvrés du mois : les 2, 3, 10, 17 mars 2026." in finding["explanation_fr"]


def test_three_concurrent_days_are_not_more_than_three(case):
    _replacement(case)
    _both_on(case, ["2026-03-02", "2026-03-03", "2026-03-04"])
    case.refresh()
    assert case.findings("replacement_while_holder_active") == []


def test_weekends_and_public_holidays_do_not_count(case):
    _replacement(case)
    # Saturday 7 and Sunday 8 March, Easter Monday 6 April: not working days.
    _both_on(case, ["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04", "2026-04-06"])
    case.refresh(Month(2026, 4))
    assert case.findings("replacement_while_holder_active", Month(2026, 4)) == []


def test_the_threshold_is_a_setting(case, tmp_path):
    _replacement(case)
    _both_on(case, ["2026-03-02"])
    config = config_from(tmp_path, "[rules.replacement_while_holder_active]\nconcurrent_days = 0\n")
    case.refresh(config=config)
    assert len(case.findings("replacement_while_holder_active")) == 1


def test_only_replacements_are_watched(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-23 09:00")  # a secretary works beside the holder
    for day in ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"):
        case.event(HOLDER, SECRETARY, f"{day} 09:00")
        case.event(HOLDER, HOLDER, f"{day} 11:00")
    case.refresh()
    assert case.findings("replacement_while_holder_active") == []


# ---- holder_left_delegate_active ----------------------------------------------------------


def test_delegate_acting_after_the_holder_left_the_directory(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY])
    granted = case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.grant(HOLDER_2, SECRETARY, "2026-01-05 09:00")
    case.directory("2026-03-01", [HOLDER, HOLDER_2])
    case.directory("2026-03-15", [HOLDER_2])  # HOLDER's BAL is gone
    case.event(HOLDER, SECRETARY, "2026-03-14 23:59")  # near miss: still listed
    after = case.events(HOLDER, SECRETARY, ["2026-03-15 00:00", "2026-03-20 10:00"])
    case.event(HOLDER_2, SECRETARY, "2026-03-20 10:00")  # the other holder is still there
    case.event(HOLDER, HOLDER, "2026-03-16 10:00")  # the holder themself: not a délégataire
    case.refresh()
    [finding] = case.findings("holder_left_delegate_active")
    assert finding["severity"] == "critical"
    assert (finding["mailbox"], finding["actor"], finding["evidence"]) == (HOLDER, SECRETARY, after)
    assert finding["delegation_key"] == granted
    text = finding["explanation_fr"]
    assert "n'apparaît plus dans l'annuaire MSSanté depuis l'extraction du 15 mars 2026" in text
    assert "elle y figurait encore le 1er mars 2026" in text


def test_a_holder_back_in_the_directory_is_not_gone(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.directory("2026-03-01", [HOLDER, HOLDER_2])
    case.directory("2026-03-08", [HOLDER_2])  # gone...
    case.directory("2026-03-15", [HOLDER, HOLDER_2])  # ...and back
    during = case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.event(HOLDER, SECRETARY, "2026-03-16 10:00")
    case.refresh()
    [finding] = case.findings("holder_left_delegate_active")
    assert finding["evidence"] == [during]


def test_no_directory_no_departure(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.directory("2026-03-01", [HOLDER])
    case.events(
        HOLDER, SECRETARY, [local("2026-03-10 10:00") + timedelta(days=d) for d in range(3)]
    )
    case.refresh()
    assert case.findings("holder_left_delegate_active") == []


# ---- findings on a mailbox no practice claims ------------------------------------------------


def test_findings_on_a_mailbox_of_no_roster_are_listed_in_the_overview(case):
    case.practice(staff=[SECRETARY])
    orphan = "boite.orpheline@medecin.mssante.fr"
    intruder = "<script>alert(1)</script>@pro.mssante.fr"
    case.event(orphan, intruder, "2026-03-10 10:00")
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    [finding] = [f for f in case.findings() if f["practice_id"] is None]
    assert finding["rule_id"] == "access_without_delegation"
    report = OverviewReport.from_connection(case.con, MARCH)
    html = report.section("unrostered")
    assert "<h2>Alertes sur des boîtes d'aucun cabinet</h2>" in html
    assert orphan in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@pro.mssante.fr" in html
    assert "<script>" not in html
    assert "sans avoir jamais reçu de délégation sur cette boîte" in html
    assert "unrostered" in OverviewReport.SECTIONS


def test_a_holder_who_left_the_practice_by_the_roster(case):
    practice = {"practice_id": "P1", "practice_name": "Cabinet"}
    members = [
        {**practice, "member": HOLDER, "member_kind": "holder"},
        {**practice, "member": SECRETARY, "member_kind": "staff"},
    ]
    case.ingest_roster(members)
    # The same roster again, the holder now with an end date: a fact added, not a conflict.
    case.ingest_roster(
        [{**members[0], "member_until": "2026-03-13"}, members[1]],
        name="roster-2.csv",
        expected_rows=1,
    )
    stored = case.con.execute(
        "SELECT member, member_until_at FROM roster_member ORDER BY member, member_until_at"
    ).fetchall()
    assert stored == [
        (HOLDER, local("2026-03-14 00:00")),
        (HOLDER, None),
        (SECRETARY, None),
    ]
    granted = case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.event(HOLDER, SECRETARY, "2026-03-13 23:59")  # near miss: the last day
    after = case.event(HOLDER, SECRETARY, "2026-03-16 10:00")
    case.refresh()
    [finding] = case.findings("holder_left_delegate_active")
    assert (finding["practice_id"], finding["evidence"], finding["delegation_key"]) == (
        "P1",
        [after],
        granted,
    )
    assert "a quitté le cabinet le 13 mars 2026" in finding["explanation_fr"]


def test_a_holder_leaving_one_of_two_practices(case):
    # Dr HOLDER leaves P1 but still works in P2: only P1's délégataire is flagged.
    rows = [
        {
            "practice_id": "P1",
            "practice_name": "Un",
            "member": HOLDER,
            "member_kind": "holder",
            "member_until": "2026-03-01",
        },
        {"practice_id": "P1", "practice_name": "Un", "member": SECRETARY, "member_kind": "staff"},
        {"practice_id": "P2", "practice_name": "Deux", "member": HOLDER, "member_kind": "holder"},
        {
            "practice_id": "P2",
            "practice_name": "Deux",
            "member": REPLACEMENT,
            "member_kind": "staff",
        },
    ]
    case.ingest_roster(rows)
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.grant(HOLDER, REPLACEMENT, "2026-01-05 09:00", role="secretary")
    flagged = case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.event(HOLDER, REPLACEMENT, "2026-03-10 10:00")
    case.refresh()
    [finding] = case.findings("holder_left_delegate_active")
    assert (finding["practice_id"], finding["actor"], finding["evidence"]) == (
        "P1",
        SECRETARY,
        [flagged],
    )


def test_a_bad_end_date_is_quarantined(case):
    case.ingest_roster(
        [
            {
                "practice_id": "P1",
                "practice_name": "Un",
                "member": HOLDER,
                "member_kind": "holder",
                "member_until": "31/13/2026",
            }
        ],
        expected_rows=0,
    )
    reasons = case.con.execute("SELECT reason, detail FROM quarantine").fetchall()
    assert reasons == [("bad_timestamp", "bad_timestamp: member_until=31/13/2026")]
