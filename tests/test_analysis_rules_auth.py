"""Authentication attacks and the holder's own activity: slow series of failed logins, a
success right after failures, refused attempts without a delegation; the holder syncing a
phone, reading at night or from a new address raising nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    HOLDER_2,
    IP,
    REPLACEMENT,
    SECRETARY,
    STRANGER,
    local,
    new_case,
)

ATTACKER_IP = "203.0.113.66"
OTHER_IP = "198.51.100.40"


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def failures(case, start, count, every, *, mailbox=HOLDER, actor=HOLDER, ip=ATTACKER_IP):
    """``count`` failed logins of ``actor`` on ``mailbox``, ``every`` apart."""
    times = case.series(start, count, every)
    return case.events(mailbox, actor, times, "login_failed", "failure", ip=ip, auth="password")


# ---- failed_login_burst: slow series ------------------------------------------------------


@pytest.mark.parametrize(("count", "flagged"), [(20, True), (19, False)])
def test_slow_series_of_failures(case, count, flagged):
    case.practice()
    # Every 11 minutes: never a burst (each failure 10 minutes or more after the previous).
    series = failures(case, "2026-03-03 08:00", count, timedelta(minutes=11))
    case.refresh()
    found = case.findings("failed_login_burst")
    if not flagged:
        assert found == []
        return
    [finding] = found
    assert finding["severity"] == "warning"
    assert (finding["actor"], finding["n_events"], finding["evidence"]) == (HOLDER, 20, series)
    assert (finding["first_at"], finding["last_at"]) == (
        local("2026-03-03 08:00"),
        local("2026-03-03 11:29"),
    )
    explanation = finding["explanation_fr"]
    assert explanation.startswith(
        f"20 échecs de connexion du compte {HOLDER} (titulaire de la boîte) sur la boîte "
        f"d'{HOLDER} le 3 mars 2026 entre 8 h 00 et 11 h 29, depuis {ATTACKER_IP} "
        "(authentification : mot de passe seul)"
    )
    assert "en moins de 24 heures" in explanation


def test_six_hours_of_spaced_failures_are_one_finding_with_their_count(case):
    case.practice()
    series = failures(case, "2026-03-03 22:00", 33, timedelta(minutes=11))  # until 03:52
    case.refresh()
    [finding] = case.findings("failed_login_burst")
    assert (finding["n_events"], finding["evidence"]) == (33, series)
    assert "du 3 mars 2026 à 22 h 00 au 4 mars 2026 à 3 h 52" in finding["explanation_fr"]


@pytest.mark.parametrize(
    ("last_after", "flagged"),
    [(timedelta(hours=24) - timedelta(seconds=1), True), (timedelta(hours=24), False)],
    ids=["within-24h", "exactly-24h"],
)
def test_slow_series_must_fit_in_less_than_24_hours(case, last_after, flagged):
    case.practice()
    start = local("2026-03-03 08:00")
    # 19 failures 75 minutes apart, then the 20th at the given distance from the first.
    first = failures(case, start, 19, timedelta(minutes=75))
    last = failures(case, start + last_after, 1, timedelta(0))
    case.refresh()
    found = [(f["n_events"], f["evidence"]) for f in case.findings("failed_login_burst")]
    assert found == ([(20, first + last)] if flagged else [])


def test_a_burst_within_a_series_is_one_finding(case):
    case.practice()
    slow = failures(case, "2026-03-03 08:00", 16, timedelta(minutes=15))  # until 11:45
    fast = failures(case, "2026-03-03 11:50", 6, timedelta(minutes=1))
    case.refresh()
    [finding] = case.findings("failed_login_burst")
    assert (finding["n_events"], finding["evidence"]) == (22, slow + fast)
    assert "deviner le mot de passe." in finding["explanation_fr"]


def test_series_of_two_accounts_do_not_add_up(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    failures(case, "2026-03-03 08:00", 10, timedelta(minutes=30))
    failures(case, "2026-03-03 08:15", 10, timedelta(minutes=30), actor=SECRETARY)
    case.refresh()
    assert case.findings("failed_login_burst") == []


# ---- login_after_failures -----------------------------------------------------------------


def _burst(case, actor=HOLDER, ip=ATTACKER_IP) -> list[str]:
    """Five failed logins of ``actor`` on the holder's mailbox from 10:00 to 10:08."""
    return failures(case, "2026-03-03 10:00", 5, timedelta(minutes=2), actor=actor, ip=ip)


@pytest.mark.parametrize(
    ("after_last", "flagged"),
    [(timedelta(minutes=60), True), (timedelta(minutes=60, seconds=1), False)],
    ids=["at-60-minutes", "just-after"],
)
def test_login_after_failures_window_edge(case, after_last, flagged):
    case.practice()
    burst = _burst(case)
    at = local("2026-03-03 10:08") + after_last
    login = case.event(HOLDER, HOLDER, at, "login", ip=OTHER_IP)
    case.refresh()
    found = case.findings("login_after_failures")
    assert len(case.findings("failed_login_burst")) == 1  # the burst is reported either way
    if not flagged:
        assert found == []
        return
    [finding] = found
    assert finding["severity"] == "critical"
    assert (finding["mailbox"], finding["actor"]) == (HOLDER, HOLDER)
    assert (finding["evidence"], finding["n_events"]) == ([*burst, login], 6)
    assert (finding["first_at"], finding["last_at"]) == (local("2026-03-03 10:00"), at)
    assert finding["explanation_fr"] == (
        f"5 échecs de connexion du compte {HOLDER} (titulaire de la boîte) sur la boîte "
        f"d'{HOLDER} le 3 mars 2026 entre 10 h 00 et 10 h 08, puis un accès réussi (connexion) le "
        f"3 mars 2026 à 11 h 08 par le même compte depuis {OTHER_IP} (authentification : carte "
        "CPS) : le mot de passe a peut-être été trouvé."
    )


def test_login_after_failures_from_the_same_address_by_another_account(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    burst = _burst(case)
    # The délégataire's account from the attacker's address: the holder's account failed,
    # yet the mailbox was opened from there.
    reads = case.events(HOLDER, SECRETARY, ["2026-03-03 10:30", "2026-03-03 10:31"], ip=ATTACKER_IP)
    case.event(HOLDER, SECRETARY, "2026-03-03 10:32", ip=IP)  # from the practice: unrelated
    case.refresh()
    [finding] = case.findings("login_after_failures")
    assert (finding["actor"], finding["evidence"]) == (HOLDER, [*burst, *reads])
    assert (
        f"puis un accès réussi (lecture) le 3 mars 2026 à 10 h 30 par le compte {SECRETARY} "
        f"depuis la même adresse ({ATTACKER_IP}) (authentification : carte CPS), et une autre "
        "action réussie ensuite"
    ) in finding["explanation_fr"]


def test_login_after_failures_by_the_same_account_from_another_address(case):
    case.practice()
    burst = _burst(case)
    login = case.event(HOLDER, HOLDER, "2026-03-03 10:20", "login", ip=OTHER_IP)
    case.refresh()
    [finding] = case.findings("login_after_failures")
    assert finding["evidence"] == [*burst, login]
    assert "par le même compte depuis " + OTHER_IP in finding["explanation_fr"]


def test_no_login_after_failures_for_another_account_from_another_address(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    _burst(case)
    case.event(HOLDER, SECRETARY, "2026-03-03 10:10", ip=IP)
    # The attacker's address, but on another mailbox.
    case.practice("P2", holders=[HOLDER_2])
    case.event(HOLDER_2, HOLDER_2, "2026-03-03 10:10", ip=ATTACKER_IP)
    case.refresh()
    assert case.findings("login_after_failures") == []


def test_failures_by_a_member_of_the_holders_other_practice_are_judged(case):
    """A holder on two rosters: their mailbox's practice is the first one (P1); a staff member
    of the other one (P2, no mailbox of its own) works for P2, and their failed logins are
    judged with P2's settings, not dropped."""
    case.practice("P1", holders=[HOLDER])
    case.practice("P2", holders=[HOLDER], staff=[SECRETARY])
    burst = failures(case, "2026-03-03 10:00", 5, timedelta(minutes=1), actor=SECRETARY)
    case.refresh()
    [finding] = case.findings("failed_login_burst")
    assert (finding["practice_id"], finding["actor"]) == ("P2", SECRETARY)
    assert finding["evidence"] == burst


def test_no_login_after_failures_below_the_burst_threshold(case):
    case.practice()
    failures(case, "2026-03-03 10:00", 4, timedelta(minutes=1))
    case.event(HOLDER, HOLDER, "2026-03-03 10:05", "login", ip=ATTACKER_IP)
    case.refresh()
    assert case.findings("login_after_failures") == []


def test_login_after_a_slow_series(case):
    case.practice()
    series = failures(case, "2026-03-03 01:00", 20, timedelta(minutes=12))  # until 04:48
    login = case.event(HOLDER, HOLDER, "2026-03-03 05:30", "login", ip=ATTACKER_IP)
    case.refresh()
    [finding] = case.findings("login_after_failures")
    assert finding["evidence"] == [*series, login]
    assert "par le même compte depuis la même adresse" in finding["explanation_fr"]


# ---- attempt_without_delegation -----------------------------------------------------------


def test_attempts_by_a_revoked_delegate(case):
    case.practice(staff=[ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00", role="medical_assistant")
    case.revoke(HOLDER, ASSISTANT, "2026-03-10 12:00")
    # While the delegation was in force: a mistyped password is no finding.
    case.event(HOLDER, ASSISTANT, "2026-03-10 11:00", "login_failed", "failure")
    attempts = case.events(
        HOLDER, ASSISTANT, ["2026-03-12 09:00", "2026-03-12 09:02"], "login", "failure"
    )
    attempts += case.events(HOLDER, ASSISTANT, ["2026-03-12 09:12"], "read", "failure")
    case.refresh()
    [finding] = case.findings("attempt_without_delegation")
    assert finding["severity"] == "warning"
    assert (finding["actor"], finding["evidence"], finding["n_events"]) == (
        ASSISTANT,
        attempts,
        3,
    )
    assert finding["explanation_fr"].startswith(
        f"Le compte {ASSISTANT} (assistant médical) a tenté d'accéder à la boîte d'{HOLDER} "
        "le 12 mars 2026 entre 9 h 00 et 9 h 12 (3 tentatives refusées : connexion, lecture ; "
        "authentification : carte CPS), alors que sa délégation avait été retirée le 10 mars 2026."
    )
    assert case.findings("access_after_revocation") == []


def test_attempts_by_a_never_delegated_account(case):
    case.practice()
    attempt = case.event(HOLDER, STRANGER, "2026-03-05 22:10", "login_failed", "failure")
    case.refresh()
    [finding] = case.findings("attempt_without_delegation")
    assert (finding["actor"], finding["evidence"]) == (STRANGER, [attempt])
    assert "(1 tentative refusée : échec de connexion" in finding["explanation_fr"]
    assert "sans avoir jamais reçu de délégation sur cette boîte" in finding["explanation_fr"]
    assert case.findings("access_without_delegation") == []


def test_attempts_before_a_replacement_starts(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-01 09:00",
        role="replacement",
        valid_from="2026-03-16",
        valid_to="2026-03-27",
    )
    early = case.event(HOLDER, REPLACEMENT, "2026-03-13 10:00", "login_failed", "failure")
    case.event(HOLDER, REPLACEMENT, "2026-03-16 10:00", "login_failed", "failure")  # in force
    case.refresh()
    [finding] = case.findings("attempt_without_delegation")
    assert finding["evidence"] == [early]
    assert "(remplaçant)" in finding["explanation_fr"]
    assert "en dehors des dates de sa délégation" in finding["explanation_fr"]


def test_no_attempt_finding_for_a_delegate_in_force_or_the_holder(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read"])
    case.event(HOLDER, SECRETARY, "2026-03-03 10:00", "login_failed", "failure")
    case.event(HOLDER, SECRETARY, "2026-03-03 10:05", "send", "failure")  # beyond its rights
    case.event(HOLDER, HOLDER, "2026-03-03 10:10", "login_failed", "failure")
    case.event(HOLDER, "system:archiver", "2026-03-03 10:15", "read", "failure")
    case.refresh()
    assert case.findings("attempt_without_delegation") == []


def test_attempts_are_grouped_by_paris_day(case):
    case.practice()
    late = case.event(HOLDER, STRANGER, "2026-03-05 23:50", "login_failed", "failure")
    next_day = case.event(HOLDER, STRANGER, "2026-03-06 00:10", "login_failed", "failure")
    case.refresh()
    found = case.findings("attempt_without_delegation")
    assert [f["evidence"] for f in found] == [[late], [next_day]]


# ---- the holder's own activity ------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (HOLDER, set()),
        (SECRETARY, {"bulk_access", "new_client", "off_hours_access"}),
    ],
    ids=["holder", "delegate"],
)
def test_syncing_a_new_phone_at_night(case, actor, expected):
    """Hundreds of reads in minutes, at night, from an address and software never seen: the
    holder's own new phone raises nothing; a délégataire doing the same is flagged."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    for day in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19):  # working days
        case.event(HOLDER, actor, local(f"2026-03-{day:02d} 09:00"))
    sync = case.events(
        HOLDER,
        actor,
        case.series("2026-03-20 23:00", 500, timedelta(seconds=1)),
        ip="2001:db8:4a::17",
        agent="iOS Mail 18.2",
    )
    case.refresh()
    found: dict[str, list[dict]] = {}
    for finding in case.findings():
        found.setdefault(finding["rule_id"], []).append(finding)
    assert set(found) == expected
    if expected:
        assert [f["evidence"] for f in found["bulk_access"]] == [sync]
        assert [f["evidence"] for f in found["off_hours_access"]] == [sync]
        # The new address and the new software, both shown by the sync's first read.
        assert sorted(f["title_fr"] for f in found["new_client"]) == [
            "Nouveau logiciel de messagerie",
            "Nouvelle adresse de connexion",
        ]
        assert [f["evidence"] for f in found["new_client"]] == [[sync[0]], [sync[0]]]
