"""Rules on the delegations themselves: dormant, open-ended, given by a third party, to an
outsider, or recorded inconsistently."""

from __future__ import annotations

import pytest

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    HOLDER_2,
    OPERATOR,
    REPLACEMENT,
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


# ---- dormant_delegation -------------------------------------------------------------------


def test_dormant_delegation(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY])
    never_used = case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    used_long_ago = case.grant(HOLDER_2, SECRETARY, "2025-11-03 09:00")
    case.event(HOLDER_2, SECRETARY, "2025-12-10 10:00")
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    found = {f["mailbox"]: f for f in case.findings("dormant_delegation")}
    assert set(found) == {HOLDER, HOLDER_2}
    assert found[HOLDER]["evidence"] == [never_used]
    assert found[HOLDER]["severity"] == "info"
    assert found[HOLDER]["actor"] == SECRETARY
    assert "depuis au moins 90 jours" in found[HOLDER]["explanation_fr"]
    assert found[HOLDER_2]["evidence"] == [used_long_ago]
    assert found[HOLDER_2]["last_at"] == local("2025-12-10 10:00")
    assert "depuis le 10 décembre 2025" in found[HOLDER_2]["explanation_fr"]


def test_dormancy_unknown_when_traces_are_too_short(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-11-03 09:00")
    # Traces only since mid-February: 90 days without use cannot be known.
    case.coverage("2026-02-16 08:00", "2026-03-31 18:00")
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    assert case.findings("dormant_delegation") == []


@pytest.mark.parametrize(
    "covered",
    [
        # A month without traces inside the 90 days: the délégataire may have used it then.
        [("2025-11-01 00:00", "2026-01-31 23:00"), ("2026-03-01 00:00", "2026-03-31 18:00")],
        # The traces stop before the month: nothing is known of it.
        [("2025-11-01 00:00", "2026-01-31 23:00")],
    ],
    ids=["month-without-traces", "after-the-last-traces"],
)
def test_dormancy_unknown_when_a_month_has_no_traces(case, covered):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-10-01 09:00")
    for start, end in covered:
        case.coverage(start, end)
    case.refresh()
    assert case.findings("dormant_delegation") == []
    # With every month covered, the same delegation is dormant.
    case.coverage("2026-02-01 00:00", "2026-03-31 18:00")
    case.refresh()
    assert [f["actor"] for f in case.findings("dormant_delegation")] == [SECRETARY]


@pytest.mark.parametrize("situation", ["used_recently", "granted_recently", "revoked"])
def test_not_dormant(case, situation):
    case.practice(staff=[SECRETARY])
    granted = "2026-02-16 09:00" if situation == "granted_recently" else "2025-11-03 09:00"
    case.grant(HOLDER, SECRETARY, granted)
    if situation == "used_recently":
        case.event(HOLDER, SECRETARY, "2026-01-15 10:00")
    if situation == "revoked":
        case.revoke(HOLDER, SECRETARY, "2026-03-20 09:00")
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    assert case.findings("dormant_delegation") == []


# ---- open_ended_replacement ---------------------------------------------------------------


def test_open_ended_replacement(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[REPLACEMENT, SECRETARY])
    open_ended = case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-02 09:00",
        role="replacement",
        valid_from="2026-03-02",
        name="Pauline Guillou",
    )
    case.grant(
        HOLDER_2,
        REPLACEMENT,
        "2026-03-02 09:00",
        role="replacement",
        valid_from="2026-03-02",
        valid_to="2026-03-20",
    )  # near miss: has an end
    case.grant(
        HOLDER, SECRETARY, "2026-03-02 09:00", role="secretary"
    )  # near miss: not a replacement
    case.refresh()
    [finding] = case.findings("open_ended_replacement")
    assert finding["severity"] == "warning"
    assert (finding["mailbox"], finding["actor"], finding["evidence"]) == (
        HOLDER,
        REPLACEMENT,
        [open_ended],
    )
    assert finding["explanation_fr"].startswith("Pauline Guillou remplace ")
    assert "depuis le 2 mars 2026" in finding["explanation_fr"]


def test_open_ended_replacement_from_snapshots(case):
    case.practice(staff=[REPLACEMENT])
    case.snapshot("2026-03-02", HOLDER, REPLACEMENT, role="replacement")
    case.snapshot("2026-03-09", HOLDER, REPLACEMENT, role="replacement")
    case.refresh()
    [finding] = case.findings("open_ended_replacement")
    assert (finding["actor"], finding["evidence"]) == (REPLACEMENT, [])


def test_replacement_ended_before_the_month_is_not_reported(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(HOLDER, REPLACEMENT, "2026-01-05 09:00", role="replacement")
    case.revoke(HOLDER, REPLACEMENT, "2026-02-20 09:00")
    case.refresh()
    assert case.findings("open_ended_replacement") == []


# ---- delegation_not_by_holder -------------------------------------------------------------


def test_delegation_not_by_holder(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY, REPLACEMENT])
    by_secretary = case.grant(
        HOLDER_2,
        REPLACEMENT,
        "2026-03-02 09:00",
        role="replacement",
        valid_to="2026-03-31",
        performed_by=SECRETARY,
        name="Pauline Guillou",
    )
    case.grant(HOLDER, SECRETARY, "2026-03-02 09:00")  # near miss: by the holder
    case.refresh()
    [finding] = case.findings("delegation_not_by_holder")
    assert finding["severity"] == "warning"
    assert (finding["mailbox"], finding["actor"], finding["evidence"]) == (
        HOLDER_2,
        SECRETARY,
        [by_secretary],
    )
    assert finding["delegation_ids"] == [by_secretary]
    assert (
        "à Pauline Guillou (remplaçant) a été donnée le 2 mars 2026 à 9 h 00 "
        f"(événement {by_secretary}) par {SECRETARY}" in finding["explanation_fr"]
    )


@pytest.mark.parametrize("performed_by", [None, "unknown", "Inconnu"])
def test_delegation_given_by_nobody_the_export_names(case, performed_by):
    case.practice(staff=[SECRETARY])
    granted = case.grant(HOLDER, SECRETARY, "2026-03-02 09:00", performed_by=performed_by)
    case.refresh()
    [finding] = case.findings("delegation_not_by_holder")
    assert (finding["actor"], finding["evidence"]) == (None, [granted])
    assert finding["title_fr"] == "Délégation donnée par une personne inconnue"
    assert "l'auteur de ce changement est inconnu" in finding["explanation_fr"]


def test_snapshots_do_not_say_who_gave_a_delegation(case):
    # Snapshots never carry the author of a change: no finding for that reason alone.
    case.practice(staff=[SECRETARY])
    case.snapshot("2026-02-02", HOLDER, SECRETARY)
    case.snapshot("2026-03-02", HOLDER, SECRETARY)
    case.refresh()
    assert case.findings("delegation_not_by_holder") == []


def test_modification_not_by_holder(case):
    case.practice(staff=[SECRETARY, ASSISTANT])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    modified = case.modify(
        HOLDER,
        SECRETARY,
        "2026-03-05 09:00",
        rights=["read", "send", "manage"],
        performed_by=ASSISTANT,
    )
    case.refresh()
    [finding] = case.findings("delegation_not_by_holder")
    assert (finding["actor"], finding["evidence"]) == (ASSISTANT, [modified])
    assert "a été modifiée le 5 mars 2026 à 9 h 00" in finding["explanation_fr"]


# ---- delegation_self_granted --------------------------------------------------------------


def test_delegate_widening_their_own_rights(case):
    case.practice(staff=[SECRETARY])
    granted = case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read"])
    widened = case.modify(
        HOLDER,
        SECRETARY,
        "2026-03-05 09:00",
        rights=["read", "send", "manage"],
        performed_by=SECRETARY,
    )
    case.refresh()
    [finding] = case.findings("delegation_self_granted")
    assert finding["severity"] == "critical"
    assert (finding["actor"], finding["evidence"]) == (SECRETARY, [widened])
    assert (finding["delegation_key"], finding["delegation_ids"]) == (granted, [granted, widened])
    assert "en s'ajoutant les droits : envoi, gestion" in finding["explanation_fr"]
    assert "le 5 mars 2026 à 9 h 00" in finding["explanation_fr"]
    # Replaced, not repeated: a self-granted change is not also "given by a third party".
    assert case.findings("delegation_not_by_holder") == []


def test_delegate_granting_themselves_a_delegation(case):
    case.practice(staff=[SECRETARY])
    granted = case.grant(HOLDER, SECRETARY, "2026-03-03 22:00", performed_by=SECRETARY)
    case.refresh()
    [finding] = case.findings("delegation_self_granted")
    assert finding["evidence"] == [granted]
    assert "a lui-même créé sa délégation" in finding["explanation_fr"]


def test_self_granted_delegation_revoked_before_the_month_is_not_reported(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00", performed_by=SECRETARY)
    case.revoke(HOLDER, SECRETARY, "2026-02-05 09:00")
    case.grant(HOLDER, SECRETARY, "2026-02-20 09:00")  # a new delegation, by the holder
    case.refresh()
    assert case.findings("delegation_self_granted") == []
    assert case.findings("delegation_not_by_holder") == []


# ---- delegate_outside_practice ------------------------------------------------------------


def test_delegate_outside_practice(case):
    case.practice("P1", holders=[HOLDER], staff=[SECRETARY])
    case.practice("P2", holders=[HOLDER_2], staff=[ASSISTANT])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")  # near miss: on the roster
    outsider = case.grant(HOLDER, STRANGER, "2026-02-02 09:00", name="Kévin Arnaud")
    other_practice = case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00")
    case.refresh()
    found = {f["actor"]: f for f in case.findings("delegate_outside_practice")}
    assert set(found) == {STRANGER, ASSISTANT}
    assert found[STRANGER]["evidence"] == [outsider]
    assert found[STRANGER]["severity"] == "warning"
    assert found[STRANGER]["practice_id"] == "P1"
    assert found[STRANGER]["explanation_fr"].startswith(
        f"Kévin Arnaud ({STRANGER}, secrétaire) a accès"
    )
    assert found[ASSISTANT]["evidence"] == [other_practice]


def test_a_replacement_is_never_outside_the_practice(case):
    case.practice("P1", holders=[HOLDER], staff=[SECRETARY])
    case.grant(HOLDER, REPLACEMENT, "2026-02-02 09:00", role="replacement", valid_to="2026-04-30")
    case.refresh()
    assert case.findings("delegate_outside_practice") == []


def test_holder_on_two_rosters(case):
    # The holder works in two practices; each delegation belongs to the practice where the
    # délégataire works with the holder, and is outside only when on none of them.
    case.practice("P1", holders=[HOLDER], staff=[SECRETARY])
    case.practice("P2", holders=[HOLDER], staff=[ASSISTANT])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", performed_by=STRANGER)
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00", performed_by=STRANGER)
    case.grant(HOLDER, STRANGER, "2026-02-02 09:00")
    assistant_reads = case.events(HOLDER, ASSISTANT, ["2026-03-10 10:00", "2026-03-10 10:05"])
    case.refresh()
    [outside] = case.findings("delegate_outside_practice")
    assert (outside["actor"], outside["practice_id"]) == (STRANGER, "P1")
    by_third_party = {
        f["delegation_key"]: f["practice_id"] for f in case.findings("delegation_not_by_holder")
    }
    assert sorted(by_third_party.values()) == ["P1", "P2"]
    assert {case.access(e)["practice_id"] for e in assistant_reads} == {"P2"}


def test_revoked_outsider_is_not_reported(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, STRANGER, "2026-01-05 09:00")
    case.revoke(HOLDER, STRANGER, "2026-02-20 09:00")
    case.refresh()
    assert case.findings("delegate_outside_practice") == []


# ---- delegation_inconsistency -------------------------------------------------------------


def test_delegation_inconsistencies(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY, ASSISTANT, REPLACEMENT])
    revoke_without_grant = case.revoke(HOLDER, SECRETARY, "2026-03-03 09:00")
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00")
    overlapping = case.grant(HOLDER, ASSISTANT, "2026-03-04 09:00")
    case.grant(HOLDER_2, REPLACEMENT, "2026-01-05 09:00")
    case.revoke(HOLDER_2, REPLACEMENT, "2026-02-05 09:00")
    modify_after_revoke = case.modify(HOLDER_2, REPLACEMENT, "2026-03-05 09:00")
    # Near miss: a consistent history.
    case.grant(HOLDER_2, SECRETARY, "2026-03-02 09:00")
    case.modify(HOLDER_2, SECRETARY, "2026-03-09 09:00", rights=["read"])
    case.revoke(HOLDER_2, SECRETARY, "2026-03-16 09:00")
    case.grant(HOLDER_2, SECRETARY, "2026-03-23 09:00")
    case.refresh()
    found = {f["evidence"][0]: f for f in case.findings("delegation_inconsistency")}
    assert set(found) == {revoke_without_grant, overlapping, modify_after_revoke}
    assert all(f["severity"] == "info" and f["n_events"] == 1 for f in found.values())
    assert all(len(f["evidence"]) == 1 for f in found.values())
    assert (
        "le retrait d'une délégation jamais donnée"
        in (found[revoke_without_grant]["explanation_fr"])
    )
    assert (
        "une nouvelle délégation alors qu'une autre était en cours"
        in (found[overlapping]["explanation_fr"])
    )
    assert (
        "la modification d'une délégation déjà retirée"
        in (found[modify_after_revoke]["explanation_fr"])
    )
    assert found[overlapping]["first_at"] == local("2026-03-04 09:00")


def test_inconsistency_of_another_month_is_not_repeated(case):
    case.practice(staff=[SECRETARY])
    case.revoke(HOLDER, SECRETARY, "2026-02-03 09:00")
    case.refresh("2026-02", "2026-03")
    assert len(case.findings("delegation_inconsistency", month=Month(2026, 2))) == 1
    assert case.findings("delegation_inconsistency") == []


def test_open_ended_replacement_modified_is_one_finding(case):
    case.practice(staff=[REPLACEMENT])
    granted = case.grant(
        HOLDER, REPLACEMENT, "2026-02-02 09:00", role="replacement", name="Pauline Guillou"
    )
    modified = case.modify(
        HOLDER,
        REPLACEMENT,
        "2026-03-10 09:00",
        role="replacement",
        rights=["read"],
        name="Pauline Guillou",
    )
    case.refresh()
    [finding] = case.findings("open_ended_replacement")
    assert finding["evidence"] == [granted, modified]
    assert "depuis le 2 février 2026" in finding["explanation_fr"]


# ---- the delegation a finding is about ------------------------------------------------------


def test_a_delegation_is_named_by_its_grant_and_lists_its_events(case):
    case.practice(staff=[SECRETARY])
    first = case.grant(HOLDER, SECRETARY, "2025-10-01 09:00", performed_by=STRANGER)
    widened = case.modify(HOLDER, SECRETARY, "2025-11-01 09:00", rights=["read", "send", "manage"])
    ended = case.revoke(HOLDER, SECRETARY, "2025-12-01 09:00")
    again = case.grant(HOLDER, SECRETARY, "2026-02-01 09:00", performed_by=STRANGER)
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    periods = case.con.execute(
        "SELECT source_event_id, delegation_key, revoke_event_id "
        "FROM delegation_period ORDER BY started_latest_at"
    ).fetchall()
    assert periods == [(first, first, None), (widened, first, ended), (again, again, None)]
    # Each delegation's events, listed once.
    delegations = case.con.execute(
        "SELECT delegation_key, delegation_ids, n_events FROM delegation_record "
        "ORDER BY delegation_key = ?",
        [again],
    ).fetchall()
    assert delegations == [(first, [first, widened, ended], 3), (again, [again], 1)]
    # The finding on the delegation in force in March names that delegation, not the first.
    (finding,) = case.findings("delegation_not_by_holder")
    assert (finding["delegation_key"], finding["delegation_ids"]) == (again, [again])


def test_a_delegation_seen_in_snapshots_keeps_its_key_while_listed(case):
    case.practice(staff=[SECRETARY])
    case.snapshot("2026-01-05", HOLDER, SECRETARY, role="replacement")
    # Rights change between snapshots: still the same delegation.
    case.snapshot("2026-02-02", HOLDER, SECRETARY, role="replacement", rights=["read"])
    # Gone, then listed again: a new delegation.
    case.snapshot("2026-03-02", HOLDER, STRANGER)
    case.snapshot("2026-03-16", HOLDER, SECRETARY, role="replacement")
    case.event(HOLDER, HOLDER, "2026-03-10 10:00")
    case.refresh()
    keys = case.con.execute(
        "SELECT started_latest_at, delegation_key FROM delegation_period "
        "WHERE delegate = ? ORDER BY started_latest_at",
        [SECRETARY],
    ).fetchall()
    assert len(keys) == 3
    assert keys[0][1] == keys[1][1] != keys[2][1]
    assert keys[0][1].startswith(f"snapshot:{OPERATOR}:{HOLDER}:{SECRETARY}:2026-01-0")
    found = case.findings("open_ended_replacement")
    assert sorted(f["delegation_key"] for f in found) == [keys[0][1], keys[2][1]]
