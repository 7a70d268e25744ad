"""Rules on single accesses: who acted without, after or beyond a delegation, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    HOLDER_2,
    PARIS,
    REPLACEMENT,
    SECRETARY,
    STRANGER,
    config_from,
    local,
    new_case,
)
from delegation_reports.analysis.models import Month
from delegation_reports.errors import UserError


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def paris_day(finding: dict) -> date:
    return finding["first_at"].astimezone(PARIS).date()


# ---- access_without_delegation ------------------------------------------------------------


def test_access_without_delegation(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
    reads = case.events(HOLDER, STRANGER, ["2026-03-03 10:00", "2026-03-03 10:02"])
    sent = case.event(HOLDER, STRANGER, "2026-03-03 10:05", "send")
    case.event(HOLDER, STRANGER, "2026-03-03 09:58", "login_failed", "failure")
    case.event(HOLDER, STRANGER, "2026-03-03 09:59", "login", "failure")
    case.event(HOLDER, SECRETARY, "2026-03-03 10:00")  # near miss: a délégataire
    case.refresh()
    [finding] = case.findings("access_without_delegation")
    assert finding["severity"] == "critical"
    assert (finding["practice_id"], finding["mailbox"], finding["actor"]) == (
        "P1",
        HOLDER,
        STRANGER,
    )
    assert finding["evidence"] == [*reads, sent]
    assert finding["n_events"] == 3
    assert (finding["first_at"], finding["last_at"]) == (
        local("2026-03-03 10:00"),
        local("2026-03-03 10:05"),
    )
    assert "le 3 mars 2026 entre 10 h 00 et 10 h 05" in finding["explanation_fr"]
    assert (
        "(3 actions : envoi, lecture ; authentification : carte CPS)" in finding["explanation_fr"]
    )
    assert "envoi, lecture" in finding["explanation_fr"]


def test_access_without_delegation_failed_only_is_no_finding(case):
    case.practice()
    case.events(
        HOLDER, STRANGER, ["2026-03-03 09:58", "2026-03-03 09:59"], "login_failed", "failure"
    )
    case.event(HOLDER, STRANGER, "2026-03-03 10:00", "read", "failure")
    case.refresh()
    assert case.findings("access_without_delegation") == []


def test_findings_are_grouped_by_paris_day(case):
    case.practice()
    # 22:30 and 23:30 UTC on the 3rd: the second one is already the 4th in Paris.
    late = case.event(HOLDER, STRANGER, "2026-03-03 23:30")
    after_midnight = case.event(HOLDER, STRANGER, "2026-03-04 00:30")
    case.refresh()
    found = case.findings("access_without_delegation")
    assert [(paris_day(f), f["evidence"]) for f in found] == [
        (date(2026, 3, 3), [late]),
        (date(2026, 3, 4), [after_midnight]),
    ]
    assert found[0]["explanation_fr"].count("3 mars 2026") == 1


# ---- access_after_revocation --------------------------------------------------------------


def test_access_after_revocation(case):
    case.practice(staff=[ASSISTANT])
    granted = case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00", role="medical_assistant")
    revoked = case.revoke(HOLDER, ASSISTANT, "2026-03-10 12:00")
    case.event(HOLDER, ASSISTANT, "2026-03-09 10:00")  # near miss: still delegated
    after = case.events(HOLDER, ASSISTANT, ["2026-03-12 10:00", "2026-03-12 10:03"])
    case.event(HOLDER, ASSISTANT, "2026-03-13 10:00", "login", "failure")  # near miss: refused
    case.refresh()
    [finding] = case.findings("access_after_revocation")
    assert finding["severity"] == "critical"
    assert (finding["mailbox"], finding["actor"], finding["evidence"]) == (HOLDER, ASSISTANT, after)
    assert f"{ASSISTANT} (assistant médical) a agi" in finding["explanation_fr"]
    assert "le 12 mars 2026 entre 10 h 00 et 10 h 03" in finding["explanation_fr"]
    assert (
        f"après le retrait de sa délégation : la délégation donnée le 2 février 2026 à 9 h 00 par "
        f"{HOLDER}, retirée le 10 mars 2026 à 12 h 00 par {HOLDER}, événements {granted}, {revoked}."
    ) in finding["explanation_fr"]
    assert (finding["delegation_key"], finding["delegation_ids"]) == (granted, [granted, revoked])
    assert case.findings("access_without_delegation") == []


def test_no_access_after_revocation_before_it(case):
    case.practice(staff=[ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-02-02 09:00")
    case.revoke(HOLDER, ASSISTANT, "2026-03-10 12:00")
    case.event(HOLDER, ASSISTANT, "2026-03-10 11:59")
    case.refresh()
    assert case.findings("access_after_revocation") == []


# ---- access_outside_validity --------------------------------------------------------------


def test_access_outside_validity(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-02-27 09:00",
        role="replacement",
        valid_from="2026-03-02",
        valid_to="2026-03-10",
    )
    case.event(HOLDER, REPLACEMENT, "2026-03-10 19:00")  # near miss: the last day
    outside = case.event(HOLDER, REPLACEMENT, "2026-03-12 10:00")
    case.refresh()
    [finding] = case.findings("access_outside_validity")
    assert finding["severity"] == "critical"
    assert (finding["actor"], finding["evidence"]) == (REPLACEMENT, [outside])
    assert "valable du 2 mars 2026 au 10 mars 2026." in finding["explanation_fr"]
    assert f"{REPLACEMENT} (remplaçant) a agi" in finding["explanation_fr"]
    assert case.findings("access_after_revocation") == []


def test_access_before_validity_starts(case):
    case.practice(staff=[REPLACEMENT])
    case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-01 09:00",
        role="replacement",
        valid_from="2026-03-16",
        valid_to="2026-03-27",
    )
    early = case.event(HOLDER, REPLACEMENT, "2026-03-13 10:00")
    case.event(HOLDER, REPLACEMENT, "2026-03-16 10:00")
    case.refresh()
    [finding] = case.findings("access_outside_validity")
    assert finding["evidence"] == [early]


# ---- access_before_grant_recorded ---------------------------------------------------------


def test_access_before_a_back_dated_grant_was_recorded(case):
    case.practice(staff=[REPLACEMENT])
    # Recorded on the 10th, valid from the 2nd: the replacement worked before it existed.
    granted = case.grant(
        HOLDER,
        REPLACEMENT,
        "2026-03-10 09:00",
        role="replacement",
        valid_from="2026-03-02",
        valid_to="2026-03-27",
    )
    case.event(HOLDER, REPLACEMENT, "2026-03-01 23:59")  # near miss: before the validity
    early = case.events(HOLDER, REPLACEMENT, ["2026-03-02 00:00", "2026-03-10 08:59:59"])
    case.event(HOLDER, REPLACEMENT, "2026-03-10 09:00")  # near miss: recorded by then
    case.refresh()
    found = case.findings("access_before_grant_recorded")
    assert [f["evidence"] for f in found] == [[early[0]], [early[1]]]
    assert {f["severity"] for f in found} == {"critical"}
    assert found[0]["delegation_ids"] == [granted]
    text = found[0]["explanation_fr"]
    assert "n'a été enregistrée que le 10 mars 2026 à 9 h 00" in text
    assert "un mot de passe partagé" in text
    # Replaced, not repeated: the access just before the validity stays outside it.
    [outside] = case.findings("access_outside_validity")
    assert outside["first_at"] == local("2026-03-01 23:59")


def test_access_before_a_back_dated_grant_after_an_earlier_revocation(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.revoke(HOLDER, SECRETARY, "2026-02-02 09:00")
    case.grant(HOLDER, SECRETARY, "2026-03-16 09:00", valid_from="2026-03-09")
    between = case.event(HOLDER, SECRETARY, "2026-03-12 10:00")
    revoked_only = case.event(HOLDER, SECRETARY, "2026-03-05 10:00")
    case.refresh()
    [before] = case.findings("access_before_grant_recorded")
    assert before["evidence"] == [between]
    [after] = case.findings("access_after_revocation")
    assert after["evidence"] == [revoked_only]


def test_right_exceeded_severities_can_be_tuned(case, tmp_path):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read"])
    deleted = case.event(HOLDER, SECRETARY, "2026-03-03 10:05", "delete")
    downloaded = case.event(HOLDER, SECRETARY, "2026-03-03 10:06", "download")
    config = config_from(
        tmp_path, '[rules.right_exceeded]\nseverity = "warning"\ndocuments_severity = "info"\n'
    )
    case.refresh(config=config)
    found = {f["evidence"][0]: f["severity"] for f in case.findings("right_exceeded")}
    assert found == {deleted: "warning", downloaded: "info"}


def test_explanations_give_the_offset_when_the_hour_happens_twice(case):
    october = Month(2026, 10)
    case.practice()
    # 02:30 happens twice on 25 October 2026: 00:30 UTC (CEST) and 01:30 UTC (CET).
    case.event(HOLDER, STRANGER, local("2026-10-25 02:30", fold=0))
    case.event(HOLDER, STRANGER, local("2026-10-25 02:30", fold=1))
    case.refresh(october)
    [finding] = case.findings("access_without_delegation", october)
    assert "le 25 octobre 2026 entre 2 h 30 (UTC+2) et 2 h 30 (UTC+1)" in finding["explanation_fr"]


# ---- right_exceeded -----------------------------------------------------------------------


def test_right_exceeded(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read"])
    case.event(HOLDER, SECRETARY, "2026-03-03 10:00", "read")  # near miss: allowed
    sent = case.events(HOLDER, SECRETARY, ["2026-03-03 10:05", "2026-03-03 10:07"], "send")
    downloaded = case.event(HOLDER, SECRETARY, "2026-03-03 10:06", "download")
    case.event(HOLDER, SECRETARY, "2026-03-03 10:08", "send", "failure")  # refused by the server
    case.refresh()
    found = sorted(case.findings("right_exceeded"), key=lambda f: f["evidence"])
    assert [f["evidence"] for f in found] == sorted([sent, [downloaded]])
    by_first = {f["evidence"][0]: f for f in found}
    # Sending in the holder's name without the right is critical; a document, to check.
    assert by_first[sent[0]]["severity"] == "critical"
    assert by_first[downloaded]["severity"] == "warning"
    assert "demande le droit « envoi »" in by_first[sent[0]]["explanation_fr"]
    assert (
        "(2 actions : envoi ; authentification : carte CPS)" in by_first[sent[0]]["explanation_fr"]
    )
    assert "demande le droit « documents »" in by_first[downloaded]["explanation_fr"]
    assert "(droits donnés : lecture)" in by_first[downloaded]["explanation_fr"]


def test_right_exceeded_not_raised_with_the_right(case):
    case.practice(staff=[SECRETARY])
    case.grant(
        HOLDER, SECRETARY, "2026-02-02 09:00", rights=["read", "send", "documents", "manage"]
    )
    for action in ("send", "download", "delete", "move"):
        case.event(HOLDER, SECRETARY, "2026-03-03 10:00", action)
    case.refresh()
    assert case.findings("right_exceeded") == []


# ---- off_hours_access ---------------------------------------------------------------------


def _off_hours_days(case, month: Month | None = None) -> dict[date, dict]:
    found = case.findings("off_hours_access", **({"month": month} if month else {}))
    return {paris_day(f): f for f in found}


def test_off_hours_boundaries_in_march(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    in_hours = [
        "2026-03-02 07:00",  # Monday, opening
        "2026-03-03 19:59",  # Tuesday, just before closing
        "2026-03-07 12:59",  # Saturday morning
        "2026-03-30 07:30",  # Monday after the spring-forward night (05:30 UTC)
    ]
    off_hours = {
        "2026-03-04 06:59": date(2026, 3, 4),  # Wednesday, before opening
        "2026-03-05 20:01": date(2026, 3, 5),  # Thursday evening
        "2026-03-14 13:01": date(2026, 3, 14),  # Saturday afternoon
        "2026-03-15 10:00": date(2026, 3, 15),  # Sunday
        "2026-03-29 03:30": date(2026, 3, 29),  # the spring-forward Sunday itself
        "2026-03-31 20:30": date(2026, 3, 31),  # Tuesday 18:30 UTC: closed in CEST
    }
    case.events(HOLDER, SECRETARY, in_hours)
    expected = {}
    for text, day in off_hours.items():
        expected[day] = case.event(HOLDER, SECRETARY, text)
    case.refresh()
    found = _off_hours_days(case)
    assert {day: f["evidence"] for day, f in found.items()} == {
        day: [event] for day, event in expected.items()
    }
    assert {f["severity"] for f in found.values()} == {"warning"}
    # The day of the week when it is what makes it off hours; the opening hours otherwise.
    assert (
        "le dimanche 15 mars 2026 à 10 h 00 (1 action : lecture ; authentification : carte CPS), "
        "un dimanche, jour où le cabinet est fermé." in found[date(2026, 3, 15)]["explanation_fr"]
    )
    assert (
        "le jeudi 5 mars 2026 à 20 h 01 (1 action : lecture ; authentification : carte CPS), en "
        "dehors des heures d'ouverture du cabinet ce jour-là (de 7 h 00 à 20 h 00)."
        in found[date(2026, 3, 5)]["explanation_fr"]
    )
    assert (
        "le dimanche 29 mars 2026 à 3 h 30 (1 action" in found[date(2026, 3, 29)]["explanation_fr"]
    )
    assert found[date(2026, 3, 5)]["delegation_key"] is not None


@pytest.mark.parametrize(
    ("day", "holiday"),
    [(date(2026, 4, 6), "Lundi de Pâques"), (date(2026, 5, 1), "Fête du Travail")],
)
def test_public_holidays_are_closed(case, day, holiday):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    month = Month(day.year, day.month)
    on_holiday = case.event(HOLDER, SECRETARY, local(f"{day} 10:00"))
    next_day = day + timedelta(days=1 if day.weekday() < 4 else 3)
    case.event(HOLDER, SECRETARY, local(f"{next_day} 10:00"))  # a working day: near miss
    case.refresh(month)
    found = _off_hours_days(case, month)
    assert list(found) == [day]
    assert found[day]["evidence"] == [on_holiday]
    assert f"un jour férié ({holiday})" in found[day]["explanation_fr"]


@pytest.mark.parametrize("calendar", ["Alsace-Moselle", "Moselle", "57", "Alsace"])
def test_a_practice_in_alsace_moselle_closes_on_good_friday(case, tmp_path, calendar):
    case.practice("EST", holders=[HOLDER], staff=[SECRETARY])
    case.practice("PARIS", holders=[HOLDER_2], staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.grant(HOLDER_2, SECRETARY, "2026-01-05 09:00")
    april = Month(2026, 4)
    in_est = case.event(HOLDER, SECRETARY, "2026-04-03 10:00")  # Good Friday
    case.event(HOLDER_2, SECRETARY, "2026-04-03 10:30")  # an ordinary Friday in Paris
    config = config_from(
        tmp_path,
        f'[practices."EST".opening_hours]\nholiday_calendar = "{calendar}"\n',
    )
    case.refresh(april, config=config)
    [finding] = case.findings("off_hours_access", april)
    assert (finding["practice_id"], finding["evidence"]) == ("EST", [in_est])
    assert "un jour férié (Vendredi saint)" in finding["explanation_fr"]


def test_an_overseas_practice_has_its_own_days(case, tmp_path):
    case.practice("MARTINIQUE", holders=[HOLDER], staff=[SECRETARY])
    case.practice("PARIS", holders=[HOLDER_2], staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.grant(HOLDER_2, SECRETARY, "2026-01-05 09:00")
    may = Month(2026, 5)
    overseas = case.event(HOLDER, SECRETARY, "2026-05-22 10:00")  # a Friday
    case.event(HOLDER_2, SECRETARY, "2026-05-22 10:00")
    config = config_from(
        tmp_path, '[practices."MARTINIQUE".opening_hours]\nholiday_calendar = "Martinique"\n'
    )
    case.refresh(may, config=config)
    [finding] = case.findings("off_hours_access", may)
    assert (finding["practice_id"], finding["evidence"]) == ("MARTINIQUE", [overseas])
    assert "un jour férié (Abolition de l'esclavage)" in finding["explanation_fr"]


def test_an_unknown_holiday_calendar_is_refused(tmp_path):
    with pytest.raises(UserError, match="holiday_calendar must be empty .*or one of .*Alsace"):
        config_from(tmp_path, '[opening_hours]\nholiday_calendar = "Bretagne"\n')


def test_fall_back_sunday_and_the_monday_after(case):
    october = Month(2026, 10)
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    # 02:30 happens twice on 2026-10-25: 00:30 UTC (CEST) then 01:30 UTC (CET).
    twice = [case.event(HOLDER, SECRETARY, local("2026-10-25 02:30", fold=fold)) for fold in (0, 1)]
    case.event(HOLDER, SECRETARY, "2026-10-26 07:30")  # 06:30 UTC: open
    early = case.event(HOLDER, SECRETARY, "2026-10-27 06:30")  # 05:30 UTC: not yet
    case.refresh(october)
    found = _off_hours_days(case, october)
    assert {day: f["evidence"] for day, f in found.items()} == {
        date(2026, 10, 25): twice,
        date(2026, 10, 27): [early],
    }
    assert found[date(2026, 10, 25)]["n_events"] == 2


def test_off_hours_ignores_failures_and_system(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.event(HOLDER, SECRETARY, "2026-03-03 23:00", "login_failed", "failure")
    case.event(HOLDER, SECRETARY, "2026-03-03 23:01", "read", "failure")
    case.event(HOLDER, "system:archiver", "2026-03-03 23:02")
    case.refresh()
    assert case.findings("off_hours_access") == []


def test_access_after_the_second_revocation_counts_each_event_once(case):
    case.practice(staff=[ASSISTANT])
    case.grant(HOLDER, ASSISTANT, "2026-01-05 09:00")
    case.revoke(HOLDER, ASSISTANT, "2026-02-02 09:00")
    case.grant(HOLDER, ASSISTANT, "2026-02-09 09:00")
    case.revoke(HOLDER, ASSISTANT, "2026-03-02 09:00")
    after = case.events(HOLDER, ASSISTANT, ["2026-03-10 10:00", "2026-03-10 10:01"])
    case.refresh()
    [finding] = case.findings("access_after_revocation")
    assert (finding["evidence"], finding["n_events"]) == (after, 2)
    assert "(2 actions : lecture ; authentification : carte CPS)" in finding["explanation_fr"]
    assert "retirée le 2 mars 2026 à 9 h 00" in finding["explanation_fr"]


def test_prose_times_are_paris_wall_clock_with_the_offset_only_when_ambiguous():
    from datetime import UTC, datetime

    from delegation_reports.analysis import prose

    assert prose.when(datetime(2026, 3, 1, 10, 5, tzinfo=UTC)) == "1er mars 2026 à 11 h 05"
    assert prose.weekday_date(datetime(2026, 3, 15, 23, 30, tzinfo=UTC)) == "lundi 16 mars 2026"
    # 25 October 2026: 02:30 happens twice, once in summer time, once in winter time.
    assert prose.clock(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == "2 h 30 (UTC+2)"
    assert prose.clock(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == "2 h 30 (UTC+1)"
    assert prose.clock(datetime(2026, 10, 25, 2, 30, tzinfo=UTC)) == "3 h 30"
    # 29 March 2026: 01:59:59 UTC+1 is followed by 03:00 UTC+2, never ambiguous.
    assert prose.clock(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "3 h 00"
    assert (
        prose.during(
            datetime(2026, 3, 31, 21, 50, tzinfo=UTC), datetime(2026, 3, 31, 22, 10, tzinfo=UTC)
        )
        == "du 31 mars 2026 à 23 h 50 au 1er avril 2026 à 0 h 10"
    )
    # A span of one day, its weekday named (off_hours_access): its two times, or one when equal.
    night = datetime(2026, 3, 15, 1, 10, tzinfo=UTC)
    assert prose.day_span(night, night) == "dimanche 15 mars 2026 à 2 h 10"
    assert (
        prose.day_span(night, datetime(2026, 3, 15, 1, 10, 40, tzinfo=UTC))
        == "dimanche 15 mars 2026 à 2 h 10"
    )
    assert (
        prose.day_span(
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
        )
        == "dimanche 25 octobre 2026 entre 2 h 30 (UTC+2) et 2 h 30 (UTC+1)"
    )


def _clock_changes(years) -> list[int]:
    """The instants (seconds since the epoch) at which Paris changes its clocks in ``years``."""
    from delegation_reports.vocabulary import PARIS

    def offset(second):
        return datetime.fromtimestamp(second, PARIS).utcoffset()

    found = []
    for year in years:
        start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
        found += [
            start + h * 3600
            for h in range(1, 366 * 24)
            if offset(start + h * 3600) != offset(start + h * 3600 - 1)
        ]
    return found


# Instants around the clock changes (one summer and winter time rule and another), and any
# instant from 1900 to 2100: the words of an hour, worked out once, must be those of each of
# its instants.
_CHANGES = _clock_changes((1976, 1995, 2026, 2041))


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.integers(-2_208_988_800_000_000, 4_102_444_800_000_000),
        st.builds(
            lambda change, seconds, micros: (change + seconds) * 1_000_000 + micros,
            st.sampled_from(_CHANGES),
            st.integers(-7200, 7200),
            st.integers(0, 999_999),
        ),
    )
)
def test_prose_words_of_an_hour_are_those_of_each_of_its_instants(instant):
    from delegation_reports.analysis import prose

    wall, offset, twice = prose._local(instant)
    day = prose._day(wall // 86400)
    clock_text = f"{wall % 86400 // 3600} h {wall % 3600 // 60:02d}"
    if twice:
        clock_text += f" (UTC+{offset // 3600})"
    assert prose._words(instant) == (
        prose.calendar_day(day),
        f"{prose.WEEKDAYS[day.weekday()]} {prose.calendar_day(day)}",
        clock_text,
    )


_INSTANT = st.one_of(
    st.none(),
    st.integers(-2_208_988_800_000_000, 4_102_444_800_000_000),
    # Before March 1911, Paris was 9 min 21 s ahead of UTC: no hour has words of its own.
    st.integers(-2_208_988_800_000_000, -1_855_958_901_000_000),
    st.builds(
        lambda change, seconds, micros: (change + seconds) * 1_000_000 + micros,
        st.sampled_from(_CHANGES),
        st.integers(-7200, 7200),
        st.integers(0, 999_999),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_INSTANT, _INSTANT), max_size=40))
def test_prose_words_of_a_vector_of_instants_are_those_of_each_instant(pairs):
    """The SQL functions word a whole vector of instants at once: each row gets the words the
    functions of one instant give it (NULL for NULL), repeated hours, clock changes, instants
    before 1970 and hours whose offset is not whole included."""
    import pyarrow as pa

    from delegation_reports.analysis import prose

    def vector(values):
        return pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC"))

    firsts, lasts = vector([p[0] for p in pairs]), vector([p[1] for p in pairs])
    checked = set()
    for name, one, parameters, _ in prose.FUNCTIONS:
        if name in prose.INSTANT_VECTORS:
            arity = len(parameters)
            got = prose.INSTANT_VECTORS[name](*(firsts, lasts)[:arity]).to_pylist()
            expected = [None if None in pair[:arity] else one(*pair[:arity]) for pair in pairs]
            assert got == expected, name
            checked.add(name)
    assert checked == set(prose.INSTANT_VECTORS)


def test_prose_functions_give_each_row_its_own_words_when_rows_repeat():
    """The functions word each distinct row once per vector: repeated rows, lists in another
    order, NULLs and NULL lists each keep their own words."""
    import duckdb

    from delegation_reports.analysis import prose

    con = duckdb.connect()
    prose.register(con)
    got = con.execute(
        """
        SELECT fr_action_list(a), fr_auths(m), fr_of(n), fr_person(n, x, r), fr_day_span(t, t)
        FROM (VALUES
            (['read', 'send'], ['cps'], 'Hélène', 'h@x', 'secretary', TIMESTAMPTZ '2026-03-15 01:10:00+00'),
            (['send', 'read'], NULL, NULL, 'h@x', NULL, NULL),
            (['read', 'send'], ['cps'], 'Hélène', 'h@x', 'secretary', TIMESTAMPTZ '2026-03-15 01:10:00+00'),
            (NULL, [], 'Paul', 'p@x', 'secretary', TIMESTAMPTZ '2026-10-25 01:30:00+00'),
            (['read', 'send'], ['cps'], 'Hélène', 'h@x', 'secretary', TIMESTAMPTZ '2026-03-15 01:10:00+00')
        ) AS v(a, m, n, x, r, t)
        """
    ).fetchall()
    first = (
        "envoi, lecture",
        " ; authentification : carte CPS",
        "d'Hélène",
        "Hélène (h@x, secrétaire)",
        "dimanche 15 mars 2026 à 2 h 10",
    )
    assert got == [
        first,
        ("envoi, lecture", "", None, "h@x", None),
        first,
        (
            None,
            "",
            "de Paul",
            "Paul (p@x, secrétaire)",
            "dimanche 25 octobre 2026 à 2 h 30 (UTC+1)",
        ),
        first,
    ]
