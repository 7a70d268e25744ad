"""Attribution of each access (``attributed_access``): given rows, expected attribution."""

from __future__ import annotations

import pytest

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    HOLDER_2,
    REPLACEMENT,
    SECRETARY,
    STRANGER,
    local,
    new_case,
)


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def test_owner_and_system_actors(case):
    case.practice(staff=[SECRETARY])
    own = case.event(HOLDER, HOLDER, "2026-03-02 09:00")
    archiver = case.event(HOLDER, "system:archiver", "2026-03-02 03:00")
    antivirus = case.event(HOLDER, "scan@system.invalid", "2026-03-02 03:05")
    # Looks like a platform account but matches no pattern: a person without delegation.
    lookalike = case.event(HOLDER, "system-archiver@pro.mssante.fr", "2026-03-02 03:10")
    case.refresh()
    assert case.attribution(own) == "owner"
    assert case.attribution(archiver) == "system"
    assert case.attribution(antivirus) == "system"
    assert case.attribution(lookalike) == "no_delegation"
    # A system actor never raises a finding, even at 03:00 on a mailbox it has no delegation on.
    actors = {f["actor"] for f in case.findings()}
    assert "system:archiver" not in actors and "scan@system.invalid" not in actors
    assert "system-archiver@pro.mssante.fr" in actors


def test_no_delegation_even_with_one_on_another_mailbox(case):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY])
    case.grant(HOLDER_2, SECRETARY, "2026-01-05 09:00")
    elsewhere = case.event(HOLDER, SECRETARY, "2026-03-03 10:00")
    granted = case.event(HOLDER_2, SECRETARY, "2026-03-03 10:01")
    stranger = case.event(HOLDER, STRANGER, "2026-03-03 10:02")
    case.refresh()
    assert case.attribution(elsewhere) == "no_delegation"
    assert case.attribution(granted) == "delegate_authorised"
    assert case.attribution(stranger) == "no_delegation"


@pytest.mark.parametrize(
    ("valid_to", "inside", "outside"),
    [
        # A timestamp with an offset is an exclusive end; audit times in another offset form.
        ("2026-03-10T18:00:00+01:00", "2026-03-10T16:59:59Z", "2026-03-10T17:00:01Z"),
        ("2026-03-10T18:00:00+01:00", "2026-03-10T17:59:59+01:00", "2026-03-10T18:00:00+01:00"),
        # A date includes the whole day in Paris.
        ("2026-03-10", "2026-03-10T23:59:59+01:00", "2026-03-11T00:00:01+01:00"),
        # ... also on the spring-forward day, whose midnight that ends it is at +02:00.
        ("2026-03-29", "2026-03-29T23:59:59+02:00", "2026-03-30T00:00:01+02:00"),
    ],
)
def test_end_of_validity_through_ingestion(case, valid_to, inside, outside):
    case.ingest_roster(
        [
            {
                "practice_id": "P1",
                "practice_name": "Cabinet",
                "member": HOLDER,
                "member_kind": "holder",
            },
        ]
    )
    case.ingest_delegations(
        [
            {
                "event_id": "G-1",
                "event_type": "grant",
                "event_at": "2026-03-01T09:00:00+01:00",
                "mailbox": HOLDER,
                "delegate": REPLACEMENT,
                "delegate_role": "replacement",
                "rights": "read|send",
                "valid_from": "2026-03-02",
                "valid_to": valid_to,
                "performed_by": HOLDER,
            }
        ]
    )
    case.ingest_audit(
        [
            {"event_id": "IN", "occurred_at": inside, "mailbox": HOLDER, "actor": REPLACEMENT},
            {"event_id": "OUT", "occurred_at": outside, "mailbox": HOLDER, "actor": REPLACEMENT},
        ]
    )
    case.refresh()
    assert case.attribution("IN") == "delegate_authorised"
    assert case.attribution("OUT") == "delegate_outside_period"


def test_start_of_validity(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-01 09:00",
        role="replacement",
        valid_from="2026-03-10",
        valid_to="2026-03-20",
    )
    before = case.event(HOLDER, REPLACEMENT, "2026-03-09 23:59:59")
    first = case.event(HOLDER, REPLACEMENT, "2026-03-10 00:00:00")
    # Before the grant itself was made, too.
    earlier = case.event(HOLDER, REPLACEMENT, "2026-02-28 10:00")
    case.refresh("2026-02", "2026-03")
    assert case.attribution(before) == "delegate_outside_period"
    assert case.attribution(first) == "delegate_authorised"
    assert case.attribution(earlier) == "delegate_outside_period"


def test_revocation(case):
    case.practice(staff=[ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00", role="medical_assistant")
    case.revoke(HOLDER, ASSISTANT, "2026-03-10 12:00")
    before = case.event(HOLDER, ASSISTANT, "2026-03-10 11:59:59")
    after = case.event(HOLDER, ASSISTANT, "2026-03-10 12:00:01")
    later = case.event(HOLDER, ASSISTANT, "2026-03-25 09:00")
    case.refresh()
    assert case.attribution(before) == "delegate_authorised"
    assert case.attribution(after) == "delegate_after_revocation"
    assert case.attribution(later) == "delegate_after_revocation"
    # The role of the revoked delegation is still known.
    assert case.access(after)["delegate_role"] == "medical_assistant"


def test_grant_again_after_a_revocation(case):
    case.practice(staff=[ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00")
    case.revoke(HOLDER, ASSISTANT, "2026-03-05 09:00")
    case.grant(HOLDER, ASSISTANT, "2026-03-16 09:00")
    between = case.event(HOLDER, ASSISTANT, "2026-03-10 10:00")
    again = case.event(HOLDER, ASSISTANT, "2026-03-17 10:00")
    case.refresh()
    assert case.attribution(between) == "delegate_after_revocation"
    assert case.attribution(again) == "delegate_authorised"


def test_modify_removing_send(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read", "send"])
    case.modify(HOLDER, SECRETARY, "2026-03-10 12:00", rights=["read"])
    send_before = case.event(HOLDER, SECRETARY, "2026-03-10 11:59", "send")
    send_after = case.event(HOLDER, SECRETARY, "2026-03-10 12:01", "send")
    read_after = case.event(HOLDER, SECRETARY, "2026-03-10 12:02", "read")
    case.refresh()
    assert case.attribution(send_before) == "delegate_authorised"
    assert case.attribution(send_after) == "delegate_beyond_rights"
    assert case.attribution(read_after) == "delegate_authorised"
    assert case.access(send_after)["rights_in_force"] == ["read"]
    assert case.access(send_after)["right_needed"] == "send"


@pytest.mark.parametrize(
    ("action", "needed"),
    [("download", "documents"), ("delete", "manage"), ("move", "manage"), ("send", "send")],
)
def test_actions_needing_a_right(case, action, needed):
    case.practice(holders=[HOLDER, HOLDER_2], staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read"])
    case.grant(HOLDER_2, SECRETARY, "2026-02-02 09:00", rights=["read", needed])
    without = case.event(HOLDER, SECRETARY, "2026-03-03 10:00", action)
    with_right = case.event(HOLDER_2, SECRETARY, "2026-03-03 10:00", action)
    reading = case.event(HOLDER, SECRETARY, "2026-03-03 10:05", "read")
    case.refresh()
    assert case.attribution(without) == "delegate_beyond_rights"
    assert case.access(without)["right_needed"] == needed
    assert case.attribution(with_right) == "delegate_authorised"
    assert case.attribution(reading) == "delegate_authorised"


def test_snapshots_give_the_benefit_of_the_doubt(case):
    case.practice(staff=[SECRETARY, ASSISTANT])
    for as_of in ("2026-03-02", "2026-03-09", "2026-03-16"):
        # Another delegation listed every time: the 16th's snapshot exists without the secretary.
        case.snapshot(as_of, HOLDER, ASSISTANT, role="medical_assistant")
    for as_of in ("2026-03-02", "2026-03-09"):
        case.snapshot(as_of, HOLDER, SECRETARY)
    before_first = case.event(HOLDER, SECRETARY, "2026-03-01 10:00")
    listed = case.event(HOLDER, SECRETARY, "2026-03-05 10:00")
    uncertain = case.event(HOLDER, SECRETARY, "2026-03-12 10:00")
    day_of_absence = case.event(HOLDER, SECRETARY, "2026-03-16 10:00")
    after = case.event(HOLDER, SECRETARY, "2026-03-17 10:00")
    still_listed = case.event(HOLDER, ASSISTANT, "2026-03-17 10:00")
    case.refresh()
    assert case.attribution(before_first) == "delegate_authorised"
    assert case.attribution(listed) == "delegate_authorised"
    assert case.attribution(uncertain) == "delegate_authorised"
    assert case.attribution(day_of_absence) == "delegate_after_revocation"
    assert case.attribution(after) == "delegate_after_revocation"
    assert case.attribution(still_listed) == "delegate_authorised"


def test_snapshots_changing_rights(case):
    case.practice(staff=[SECRETARY])
    case.snapshot("2026-03-02", HOLDER, SECRETARY, rights=["read", "send"])
    case.snapshot("2026-03-09", HOLDER, SECRETARY, rights=["read"])
    case.snapshot("2026-03-16", HOLDER, SECRETARY, rights=["read"])
    uncertain = case.event(HOLDER, SECRETARY, "2026-03-05 10:00", "send")
    removed = case.event(HOLDER, SECRETARY, "2026-03-10 10:00", "send")
    reading = case.event(HOLDER, SECRETARY, "2026-03-10 10:01", "read")
    case.refresh()
    assert case.attribution(uncertain) == "delegate_authorised"
    assert case.attribution(removed) == "delegate_beyond_rights"
    assert case.attribution(reading) == "delegate_authorised"


def test_replacement_ended_before_a_later_revocation(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-02-27 09:00",
        role="replacement",
        valid_from="2026-03-02",
        valid_to="2026-03-10",
    )
    case.revoke(HOLDER, REPLACEMENT, "2026-03-20 09:00")
    during = case.event(HOLDER, REPLACEMENT, "2026-03-10 18:00")
    between = case.event(HOLDER, REPLACEMENT, "2026-03-15 10:00")
    after = case.event(HOLDER, REPLACEMENT, "2026-03-23 10:00")
    case.refresh()
    assert case.attribution(during) == "delegate_authorised"
    assert case.attribution(between) == "delegate_outside_period"
    assert case.attribution(after) == "delegate_outside_period"


def test_modifications_without_dates_keep_the_validity(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-01 09:00",
        role="replacement",
        rights=["read", "send", "documents"],
        valid_from="2026-03-02",
        valid_to="2026-03-20",
    )
    case.modify(
        HOLDER, REPLACEMENT, "2026-03-05 09:00", role="replacement", rights=["read", "send"]
    )
    case.modify(HOLDER, REPLACEMENT, "2026-03-10 09:00", role="replacement", rights=["read"])
    inside = case.event(HOLDER, REPLACEMENT, "2026-03-12 10:00")
    outside = case.event(HOLDER, REPLACEMENT, "2026-03-25 10:00")
    case.refresh()
    assert case.attribution(inside) == "delegate_authorised"
    assert case.attribution(outside) == "delegate_outside_period"
    periods = case.con.execute(
        "SELECT valid_until_at FROM delegation_period WHERE delegate = ? ORDER BY started_latest_at",
        [REPLACEMENT],
    ).fetchall()
    assert [p[0] for p in periods] == [local("2026-03-21 00:00")] * 3
    assert case.findings("open_ended_replacement") == []
