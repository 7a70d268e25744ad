"""The fast analysis layer: attribution by delegation segments (and its agreement with the
per-period attribution it replaced), Paris time through ``paris_hour``, monthly marts rebuilt
only where audit files changed, core models rebuilt only when their inputs change, the retired
layout of older warehouses, ``new_client``'s look-back in calendar months, and a month's
findings computed again only when what they come from changed."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from analysis_cases import (
    ASSISTANT,
    ATTRIBUTIONS,
    CONNECT,
    HOLDER,
    HOLDER_2,
    HOLDER_3,
    HOLDER_4,
    MONTHS,
    PARIS,
    REPLACEMENT,
    SECRETARY,
    STAFF_3,
    STRANGER,
    build_varied,
    config_from,
    local,
    month_window,
    new_case,
    rows,
    write_config,
)
from conftest import OPERATOR
from delegation_reports.analysis import models
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month
from delegation_reports.analysis.models import MART_MODELS, Month, create_model_macros
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import sql_text

JANUARY, FEBRUARY, MARCH = Month(2026, 1), Month(2026, 2), Month(2026, 3)


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


# ---- a varied warehouse with more delegation histories ------------------------------------


def add_delegation_histories(case) -> None:
    """Histories whose attribution changes at awkward instants, on top of ``build_varied``:
    overlapping sources, grants over grants, a modification removing a right, validity
    bounds, revocations before and after a validity's end, and accesses exactly at bounds."""
    # Snapshots (Connect) and events (the test operator) both delegate HOLDER_3 to STAFF_3:
    # periods from two sources in force together, with different rights.
    case.grant(
        HOLDER_3,
        STAFF_3,
        "2026-03-05 09:00",
        rights=["read", "documents"],
        role="medical_assistant",
    )
    for at, action in (
        ("2026-03-04 10:00", "download"),  # snapshots only: read, send
        ("2026-03-05 09:00", "download"),  # the instant the grant starts
        ("2026-03-06 10:00", "download"),
        ("2026-03-10 10:00", "send"),  # snapshots now say read only
    ):
        case.event(HOLDER_3, STAFF_3, at, action, operator=CONNECT)
    # REPLACEMENT leaves HOLDER_3's snapshots on 16 March (00:00 Paris): revoked then.
    for at in ("2026-03-15 23:59:59", "2026-03-16 00:00:00"):
        case.event(HOLDER_3, REPLACEMENT, at, operator=CONNECT)
    # Dated validity, from 9 to 20 March included, read only.
    case.grant(
        HOLDER_4,
        REPLACEMENT,
        "2026-02-20 09:00",
        rights=["read"],
        role="replacement",
        valid_from="2026-03-09",
        valid_to="2026-03-20",
    )
    for at in (
        "2026-03-08 23:59:59",
        "2026-03-09 00:00",
        "2026-03-20 23:59:59",
        "2026-03-21 00:00",
    ):
        case.event(HOLDER_4, REPLACEMENT, at)
    case.event(HOLDER_4, REPLACEMENT, "2026-03-12 10:00", "send")
    # Revoked before the validity's end, then granted again.
    case.grant(HOLDER_4, ASSISTANT, "2026-02-02 09:00", valid_to="2026-04-30")
    case.revoke(HOLDER_4, ASSISTANT, "2026-03-15 09:00")
    case.grant(
        HOLDER_4,
        ASSISTANT,
        "2026-04-02 09:00",
        rights=["read"],
        role="other",
        valid_from="2026-04-06",
    )
    for at in (
        "2026-03-15 08:59:59",
        "2026-03-15 09:00",
        "2026-04-01 10:00",
        "2026-04-02 09:00",
        "2026-04-06 00:00",
    ):
        case.event(HOLDER_4, ASSISTANT, at)
    case.event(HOLDER_4, ASSISTANT, "2026-04-07 10:00", "send")
    # Revoked before its validity began: never in force, yet revoked.
    case.grant(HOLDER, STAFF_3, "2026-03-01 09:00", valid_from="2026-03-20")
    case.revoke(HOLDER, STAFF_3, "2026-03-10 09:00")
    for at in ("2026-03-05 10:00", "2026-03-10 09:00", "2026-03-25 10:00"):
        case.event(HOLDER, STAFF_3, at)
    # Revoked after the validity had already ended: later accesses are outside the period.
    case.grant(HOLDER, REPLACEMENT, "2026-02-16 09:00", role="replacement", valid_to="2026-03-06")
    case.revoke(HOLDER, REPLACEMENT, "2026-03-20 09:00")
    for at in ("2026-02-20 10:00", "2026-03-10 10:00", "2026-03-25 10:00"):
        case.event(HOLDER, REPLACEMENT, at)
    # A grant over a grant, then a modification removing a right.
    case.grant(HOLDER_2, STAFF_3, "2026-02-10 09:00", rights=["read"])
    case.grant(HOLDER_2, STAFF_3, "2026-03-03 09:00", rights=["read", "send"])
    case.modify(HOLDER_2, STAFF_3, "2026-03-12 12:00", rights=["read"])
    for at in ("2026-02-27 10:00", "2026-03-03 09:00", "2026-03-12 11:59:59", "2026-03-12 12:00"):
        case.event(HOLDER_2, STAFF_3, at, "send")


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    with new_case(tmp_path_factory.mktemp("histories")) as case:
        build_varied(case)
        add_delegation_histories(case)
        case.refresh(*MONTHS)
        yield case


# ---- 1. delegation segments tile time -----------------------------------------------------


def test_delegation_segments_tile_time_for_every_pair(histories):
    """Per pair, in time order: from the first instant (unbounded_from()) to the last
    (unbounded_until()), each segment ending where the next one starts."""
    create_model_macros(histories.con)
    first, last = histories.con.execute("SELECT unbounded_from(), unbounded_until()").fetchone()
    assert (first.year, last.year) == (1, 9999)
    segments: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for mailbox, delegate, start, end in histories.con.execute(
        "SELECT mailbox, delegate, seg_from_at, seg_until_at "
        "FROM delegation_segment ORDER BY mailbox, delegate, seg_from_at"
    ).fetchall():
        segments.setdefault((mailbox, delegate), []).append((start, end))
    pairs = set(
        histories.con.execute("SELECT DISTINCT mailbox, delegate FROM delegation_period").fetchall()
    )
    assert set(segments) == pairs
    assert len(pairs) >= 10
    for pair, tiles in segments.items():
        starts = [start for start, _ in tiles]
        assert starts[0] == first, pair
        assert len(set(starts)) == len(starts), pair
        for (_, end), (next_start, _) in zip(tiles, tiles[1:], strict=False):
            assert end == next_start, pair
        assert tiles[-1][1] == last, pair
    # The histories cut some pairs into many segments.
    assert max(len(tiles) for tiles in segments.values()) >= 5


# ---- 2. the view agrees with the per-period attribution it replaced ------------------------

# core/attributed_access.sql as of d0af82f: each event joined to every period of its pair.
PER_PERIOD_ATTRIBUTION = """
WITH events AS (
    SELECT a.*, m.practice_id, m.holder_name
    FROM audit_event AS a
    LEFT JOIN mailbox_practice AS m USING (mailbox)
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
),
system_actor AS (
    SELECT DISTINCT a.actor
    FROM (SELECT DISTINCT actor FROM events) AS a
    JOIN cfg_system_actor AS s ON a.actor GLOB s.pattern
),
candidates AS (
    SELECT
        e.operator, e.event_id,
        count(p.mailbox) AS n_periods,
        bool_or(e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS is_in_force,
        bool_or(e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at
                AND list_contains(p.rights, right_needed(e.action))) AS is_in_force_with_right,
        arg_max_null(
            CASE WHEN p.revoked_at < coalesce(p.valid_until_at, 'infinity'::TIMESTAMPTZ) THEN p.revoked_at END,
            coalesce(p.started_earliest_at, '-infinity'::TIMESTAMPTZ)) FILTER (
            coalesce(p.started_earliest_at, '-infinity'::TIMESTAMPTZ) <= e.occurred_at) AS last_revoked_at,
        arg_max(p.delegate_role, p.in_force_from_at) FILTER (
            e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS role_in_force,
        arg_max(p.rights, p.in_force_from_at) FILTER (
            e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS rights_in_force,
        arg_max(p.delegate_role, p.started_latest_at) AS last_role
    FROM events AS e
    JOIN delegation_period AS p ON p.mailbox = e.mailbox AND p.delegate = e.actor
    WHERE e.actor <> e.mailbox
    GROUP BY e.operator, e.event_id
)
SELECT
    e.operator, e.event_id,
    CASE
        WHEN e.actor = e.mailbox THEN 'owner'
        WHEN e.actor IN (SELECT actor FROM system_actor) THEN 'system'
        WHEN c.n_periods IS NULL THEN 'no_delegation'
        WHEN c.is_in_force_with_right THEN 'delegate_authorised'
        WHEN c.is_in_force THEN 'delegate_beyond_rights'
        WHEN c.last_revoked_at IS NOT NULL AND c.last_revoked_at <= e.occurred_at THEN 'delegate_after_revocation'
        ELSE 'delegate_outside_period'
    END AS attribution,
    coalesce(c.role_in_force, c.last_role) AS delegate_role,
    c.rights_in_force
FROM events AS e
LEFT JOIN candidates AS c USING (operator, event_id)
"""


def _attributions(con, sql: str, params) -> dict[tuple[str, str], tuple]:
    return {
        (operator, event_id): (attribution, role, rights)
        for operator, event_id, attribution, role, rights in con.execute(sql, params).fetchall()
    }


@pytest.mark.parametrize("month", MONTHS, ids=str)
def test_segment_attribution_equals_the_per_period_attribution(histories, month):
    con = histories.con
    models.create_model_macros(con)  # paris(), which the old query used
    # The old query's right_needed(): the view now spells the mapping out itself.
    con.execute(
        """CREATE OR REPLACE TEMP MACRO right_needed(action) AS CASE action
            WHEN 'send' THEN 'send' WHEN 'download' THEN 'documents'
            WHEN 'delete' THEN 'manage' WHEN 'move' THEN 'manage' ELSE 'read' END"""
    )
    start, end = month_window(month)
    expected = _attributions(con, PER_PERIOD_ATTRIBUTION, {"from_at": start, "until_at": end})
    got = _attributions(
        con,
        "SELECT operator, event_id, attribution, delegate_role, rights_in_force "
        "FROM attributed_access WHERE occurred_at >= ? AND occurred_at < ?",
        [start, end],
    )
    assert got.keys() == expected.keys()
    differing = {key: (got[key], expected[key]) for key in got if got[key] != expected[key]}
    assert differing == {}
    assert any(value[0].startswith("delegate_") for value in got.values())


def test_the_compared_histories_reach_every_attribution_in_march(histories):
    start, end = month_window(MARCH)
    reached = {
        r[0]
        for r in histories.con.execute(
            "SELECT DISTINCT attribution FROM attributed_access "
            "WHERE occurred_at >= ? AND occurred_at < ?",
            [start, end],
        ).fetchall()
    }
    assert reached == ATTRIBUTIONS


def _attribution_at(case, mailbox: str, actor: str, at: str, action: str = "read") -> tuple:
    found = rows(
        case.con,
        "SELECT attribution, delegate_role, rights_in_force FROM attributed_access "
        "WHERE mailbox = ? AND actor = ? AND occurred_at = ? AND action = ?",
        [mailbox, actor, local(at), action],
    )
    assert len(found) == 1, (mailbox, actor, at, found)
    return tuple(found[0].values())


BOUND_CASES = [
    # Two sources in force together: any of their rights authorises; the latest gives them.
    (HOLDER_3, STAFF_3, "2026-03-04 10:00", "download", "delegate_beyond_rights"),
    (HOLDER_3, STAFF_3, "2026-03-05 09:00", "download", "delegate_authorised"),
    (HOLDER_3, STAFF_3, "2026-03-10 10:00", "send", "delegate_beyond_rights"),
    # Gone from the snapshot of 16 March 00:00: revoked from that instant.
    (HOLDER_3, REPLACEMENT, "2026-03-15 23:59:59", "read", "delegate_authorised"),
    (HOLDER_3, REPLACEMENT, "2026-03-16 00:00:00", "read", "delegate_after_revocation"),
    # A validity of whole Paris days, 9 to 20 March.
    (HOLDER_4, REPLACEMENT, "2026-03-08 23:59:59", "read", "delegate_outside_period"),
    (HOLDER_4, REPLACEMENT, "2026-03-09 00:00", "read", "delegate_authorised"),
    (HOLDER_4, REPLACEMENT, "2026-03-20 23:59:59", "read", "delegate_authorised"),
    (HOLDER_4, REPLACEMENT, "2026-03-21 00:00", "read", "delegate_outside_period"),
    # Revoked at 09:00 before the validity's end; granted again on 2 April, valid from
    # the 6th: in between, the new grant (not the revocation) tells.
    (HOLDER_4, ASSISTANT, "2026-03-15 08:59:59", "read", "delegate_authorised"),
    (HOLDER_4, ASSISTANT, "2026-03-15 09:00", "read", "delegate_after_revocation"),
    (HOLDER_4, ASSISTANT, "2026-04-01 10:00", "read", "delegate_after_revocation"),
    (HOLDER_4, ASSISTANT, "2026-04-02 09:00", "read", "delegate_outside_period"),
    (HOLDER_4, ASSISTANT, "2026-04-06 00:00", "read", "delegate_authorised"),
    (HOLDER_4, ASSISTANT, "2026-04-07 10:00", "send", "delegate_beyond_rights"),
    # Revoked before its validity began: outside the period, then after the revocation.
    (HOLDER, STAFF_3, "2026-03-05 10:00", "read", "delegate_outside_period"),
    (HOLDER, STAFF_3, "2026-03-10 09:00", "read", "delegate_after_revocation"),
    (HOLDER, STAFF_3, "2026-03-25 10:00", "read", "delegate_after_revocation"),
    # Revoked after the validity had ended: outside the period, not after a revocation.
    (HOLDER, REPLACEMENT, "2026-03-25 10:00", "read", "delegate_outside_period"),
    # A grant over a grant adds send from its instant; the modification removes it.
    (HOLDER_2, STAFF_3, "2026-02-27 10:00", "send", "delegate_beyond_rights"),
    (HOLDER_2, STAFF_3, "2026-03-03 09:00", "send", "delegate_authorised"),
    (HOLDER_2, STAFF_3, "2026-03-12 11:59:59", "send", "delegate_authorised"),
    (HOLDER_2, STAFF_3, "2026-03-12 12:00", "send", "delegate_beyond_rights"),
]


@pytest.mark.parametrize(
    ("mailbox", "actor", "at", "action", "expected"),
    BOUND_CASES,
    ids=[
        f"{a.split('.')[0]}-on-{m.split('.')[0]}-{at}-{action}"
        for m, a, at, action, _ in BOUND_CASES
    ],
)
def test_attribution_changes_exactly_at_the_bounds(histories, mailbox, actor, at, action, expected):
    assert _attribution_at(histories, mailbox, actor, at, action)[0] == expected


def test_rights_in_force_are_those_of_the_latest_period_in_force(histories):
    # From 5 March the event grant (read, documents) is the latest period in force.
    _, role, rights = _attribution_at(histories, HOLDER_3, STAFF_3, "2026-03-10 10:00", "send")
    assert (role, rights) == ("medical_assistant", ["documents", "read"])
    # Before, both snapshot periods were in force (the snapshots of 2 and 9 March differ):
    # the rights given are the later one's, though sending is allowed by either.
    _, role, rights = _attribution_at(histories, HOLDER_3, STAFF_3, "2026-03-04 10:00", "download")
    assert (role, rights) == ("secretary", ["read"])


# The view's columns that `practice_access` leaves out, and the one it adds (see its model).
STORED_ONLY = "EXCLUDE (judged_against)"
KEY = "practice_key"


def _month_rows(con, table: str, month: Month) -> Counter:
    return Counter(
        map(
            repr,
            con.execute(
                f"SELECT * {STORED_ONLY if table == 'attributed_access' else f'EXCLUDE ({KEY})'} "
                f"FROM {table} WHERE month = ?",
                [month.first_day],
            ).fetchall(),
        )
    )


@pytest.mark.parametrize("month", MONTHS, ids=str)
def test_stored_accesses_equal_the_view_across_the_histories_bounds(histories, month):
    """``practice_access`` (what reports read) holds the view's rows of each built month, with
    the attributions that change exactly at the bounds above."""
    view = _month_rows(histories.con, "attributed_access", month)
    models.ensure_practice_access(histories.con, [month])
    assert _month_rows(histories.con, "practice_access", month) == view
    assert sum(view.values()) > 50


def test_stored_accesses_follow_delegations_loaded_later(case):
    """A delegation loaded after the month was built changes its accesses' attribution: the
    next report's read replaces the stored accesses of every month it reads (none doubled,
    none left from the earlier build)."""
    case.practice(staff=[SECRETARY])
    read = case.event(HOLDER, SECRETARY, "2026-03-10 10:00")
    case.event(HOLDER, SECRETARY, "2026-02-10 10:00")
    case.event(HOLDER, HOLDER, "2026-03-11 10:00")
    case.refresh(FEBRUARY, MARCH)
    assert models.ensure_practice_access(case.con, [FEBRUARY, MARCH]) == [FEBRUARY, MARCH]

    def stored() -> dict[str, str]:
        return dict(
            case.con.execute(
                "SELECT event_id, attribution FROM practice_access WHERE month = ?",
                [MARCH.first_day],
            ).fetchall()
        )

    assert stored()[read] == "no_delegation"
    february = _month_rows(case.con, "practice_access", FEBRUARY)
    case.grant(HOLDER, SECRETARY, "2026-03-01 09:00")
    case.refresh(MARCH)
    assert stored()[read] == "no_delegation"  # until a report reads the month again
    assert models.ensure_practice_access(case.con, [FEBRUARY, MARCH]) == [FEBRUARY, MARCH]
    assert stored()[read] == "delegate_authorised"
    assert len(stored()) == 2
    assert _month_rows(case.con, "practice_access", MARCH) == _month_rows(
        case.con, "attributed_access", MARCH
    )
    # February's too: what the segments say of its event changed with the new delegation.
    assert _month_rows(case.con, "practice_access", FEBRUARY) == _month_rows(
        case.con, "attributed_access", FEBRUARY
    )
    assert _month_rows(case.con, "practice_access", FEBRUARY) != february


# ---- 3. Paris time across the 2026 changes of offset ---------------------------------------

# (day before, the Sunday of the change, the Monday after, its number of hours)
DST_CHANGES = {
    "spring": (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), 23),
    "autumn": (date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26), 25),
}


@pytest.mark.parametrize("through", ["paris_hour", "fallback"])
@pytest.mark.parametrize("change", DST_CHANGES, ids=str)
def test_paris_days_and_opening_hours_around_a_change_of_offset(case, change, through):
    before, sunday, monday, sunday_hours = DST_CHANGES[change]
    month = Month(sunday.year, sunday.month)
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    if through == "fallback":
        # The manifest covers another month only: no `paris_hour` row for these events.
        case.coverage("2026-01-05 00:00", "2026-01-05 01:00")
    # The holder every 20 minutes, from the day before to the end of the Monday after.
    start, end = local(f"{before} 00:00"), local(f"{monday + timedelta(days=1)} 00:00")
    times = case.series(start, (end - start) // timedelta(minutes=20), timedelta(minutes=20))
    case.events(HOLDER, HOLDER, times)
    # The secretary at night and early on the Monday after: 07:00 opens.
    secretary = [local(f"{monday} {hour}") for hour in ("00:30", "06:30", "07:30")]
    night, early, _ = case.events(HOLDER, SECRETARY, secretary)
    case.refresh(month)
    hours = case.con.execute(
        "SELECT count(*) FROM paris_hour WHERE utc_hour >= ? AND utc_hour < ?",
        [int(start.timestamp()) // 3600, int(end.timestamp()) // 3600],
    ).fetchone()[0]
    assert hours == (0 if through == "fallback" else (end - start) // timedelta(hours=1))
    all_times = [*times, *secretary]
    expected = Counter(t.astimezone(PARIS).date() for t in all_times)
    assert expected[sunday] == sunday_hours * 3
    got = dict(
        case.con.execute(
            "SELECT day, n_events FROM mailbox_day WHERE month = ? AND operator = ? AND mailbox = ?",
            [month.first_day, OPERATOR, HOLDER],
        ).fetchall()
    )
    assert got == dict(expected)
    [finding] = [f for f in case.findings("off_hours_access", month) if f["actor"] == SECRETARY]
    assert finding["evidence"] == [night, early]
    month_name = {3: "mars", 10: "octobre"}[monday.month]
    assert (
        f"le lundi {monday.day} {month_name} 2026 entre 0 h 30 et 6 h 30"
        in finding["explanation_fr"]
    )


# ---- 4. marts rebuilt only for the months an audit file touches -----------------------------


def _marts(con) -> dict[str, list[str]]:
    return {
        mart: sorted(map(repr, con.execute(f"SELECT * FROM {mart}").fetchall()))
        for mart in MART_MODELS
    }


def _mart_slices(con, month: Month) -> dict[str, list[str]]:
    return {
        mart: sorted(
            map(
                repr,
                con.execute(f"SELECT * FROM {mart} WHERE month = ?", [month.first_day]).fetchall(),
            )
        )
        for mart in MART_MODELS
    }


def _mart_state(con) -> dict[date, tuple[str, str]]:
    return {
        day: (files, digest)
        for day, files, digest in con.execute("SELECT * FROM mart_state").fetchall()
    }


def _audit_rows(prefix: str, days: list[str], actor: str = HOLDER) -> list[dict]:
    return [
        {
            "event_id": f"{prefix}-{n}",
            "occurred_at": local(day).isoformat(),
            "mailbox": HOLDER,
            "actor": actor,
        }
        for n, day in enumerate(days)
    ]


def test_a_new_audit_file_rebuilds_only_the_marts_of_its_month(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    # One export spanning January to March, read through the real ingestion.
    case.ingest_audit(
        _audit_rows(
            "Q1",
            ["2026-01-05 09:00", "2026-01-31 23:30", "2026-02-02 09:00", "2026-03-02 09:00"],
        ),
        name="q1.csv",
    )
    config = load_config()
    case.refresh(JANUARY, FEBRUARY, MARCH, config=config)
    state = _mart_state(case.con)
    assert set(state) == {m.first_day for m in (JANUARY, FEBRUARY, MARCH)}
    slices = {m: _mart_slices(case.con, m) for m in (JANUARY, FEBRUARY, MARCH)}
    # A second export with February's events only, from its first minutes (still 31 January
    # in UTC) to its last.
    case.ingest_audit(
        _audit_rows(
            "FEB",
            ["2026-02-01 00:10", "2026-02-16 10:00", "2026-02-28 23:50"],
            actor=SECRETARY,
        ),
        name="february.csv",
    )
    models.build_core(case.con, config)
    assert models.refresh_marts(case.con, config) == [FEBRUARY]
    assert models.refresh_marts(case.con, config) == []  # up to date now
    after = _mart_state(case.con)
    assert after[JANUARY.first_day] == state[JANUARY.first_day]
    assert after[MARCH.first_day] == state[MARCH.first_day]
    assert after[FEBRUARY.first_day] != state[FEBRUARY.first_day]
    files = [
        str(r[0])
        for r in case.con.execute(
            "SELECT file_id FROM ingest_file WHERE kind = 'audit' ORDER BY file_id"
        ).fetchall()
    ]
    assert after[FEBRUARY.first_day][0] == ",".join(files)
    assert _mart_slices(case.con, JANUARY) == slices[JANUARY]
    assert _mart_slices(case.con, MARCH) == slices[MARCH]
    days = dict(
        case.con.execute(
            "SELECT day, n_events FROM mailbox_day WHERE month = ?", [FEBRUARY.first_day]
        ).fetchall()
    )
    assert days == {
        date(2026, 2, 1): 1,
        date(2026, 2, 2): 1,
        date(2026, 2, 16): 1,
        date(2026, 2, 28): 1,
    }
    # The marts kept piecemeal equal marts rebuilt from nothing.
    incremental, kept_state = _marts(case.con), _mart_state(case.con)
    for table in (*MART_MODELS, "mart_state"):
        case.con.execute(f"DROP TABLE {table}")
    case.refresh(MARCH, config=config)
    assert _marts(case.con) == incremental
    assert _mart_state(case.con) == kept_state


@pytest.mark.parametrize("share", [models.COMBINE_SHARE, 0.0])
def test_a_files_events_are_added_to_the_months_marts_as_a_rebuild_would_count_them(
    case, monkeypatch, share
):
    """A second file of a month already built: its events, a small share of the month's, are
    aggregated alone and combined with the stored rows of the same grain (counts added, first
    and last instants kept, the first action's id following its instant, ties to the smaller
    id; addresses and client software missing alike), giving the rows a rebuild from every
    event gives. A larger share than `COMBINE_SHARE` rebuilds the month's slices."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")

    def event(event_id, at, actor=HOLDER, **values):
        return {
            "event_id": event_id,
            "occurred_at": local(at).isoformat(),
            "mailbox": HOLDER,
            "actor": actor,
            **values,
        }

    case.ingest_audit(
        [
            event("A-2", "2026-02-02 09:00"),
            event("A-3", "2026-02-02 17:00", action="send"),
            event("A-4", "2026-02-03 08:00", outcome="failure"),
            event("A-5", "2026-02-03 08:30", client_ip="", user_agent=""),
            event("A-6", "2026-02-10 10:00", actor=SECRETARY),
            *(event(f"F-{n}", f"2026-02-05 09:{n:02d}", actor=SECRETARY) for n in range(30)),
        ],
        name="first.csv",
    )
    config = load_config()
    case.refresh(FEBRUARY, config=config)
    monkeypatch.setattr(models, "COMBINE_SHARE", share)
    calls = []
    replace = models._replace_slices
    monkeypatch.setattr(
        models,
        "_replace_slices",
        lambda con, month, slices, *a, **k: (
            calls.append(sorted(slices)) or replace(con, month, slices, *a, **k)
        ),
    )
    case.ingest_audit(
        [
            # The same instant as the day's first action, a smaller id: now the first.
            event("A-1", "2026-02-02 09:00"),
            event("B-1", "2026-02-02 18:00"),  # a later last action, the same day
            event("B-2", "2026-02-03 07:00", outcome="failure"),  # the first failure
            event("B-3", "2026-02-03 09:00", client_ip="", user_agent=""),
            event("B-4", "2026-02-03 07:30"),  # before the day's first success
            event("B-5", "2026-02-20 10:00", actor=SECRETARY, action="login"),
            event("B-6", "2026-02-21 10:00", actor=SECRETARY, client_ip="10.9.9.9"),
            # The same instant as the day's first action, a larger id: still second.
            event("Z-6", "2026-02-10 10:00", actor=SECRETARY),
        ],
        name="second.csv",
    )
    case.refresh(FEBRUARY, config=config)
    # 8 events of 43: combined, not rebuilt (unless none may be)
    assert calls == ([["finding"]] if share else [sorted(MART_MODELS), ["finding"]])
    first = dict(case.con.execute("SELECT day, first_event_id FROM actor_day").fetchall())
    assert first == {
        date(2026, 2, 2): "A-1",
        date(2026, 2, 3): "B-4",
        date(2026, 2, 5): "F-0",
        date(2026, 2, 10): "A-6",
        date(2026, 2, 21): "B-6",
    }
    assert case.con.execute(
        "SELECT n_events, n_success, n_reads FROM actor_month WHERE actor = ?", [HOLDER]
    ).fetchall() == [(9, 7, 6)]
    combined = _marts(case.con)
    monkeypatch.setattr(models, "_replace_slices", replace)
    for table in (*MART_MODELS, "mart_state"):
        case.con.execute(f"DROP TABLE {table}")
    case.refresh(FEBRUARY, config=config)
    assert _marts(case.con) == combined


def test_a_months_marts_take_in_the_events_of_the_files_loaded_after_their_last(case):
    """What a month's marts have not counted are the events of the files loaded after the
    last file they were built from: not a file loaded in between that touches another month
    only, nor a file already counted that the month's list did not name when they were built
    (its coverage read again), which would be counted twice."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")

    def events(prefix, day, n, actor=HOLDER):
        return _audit_rows(prefix, [f"{day} 09:{i:02d}" for i in range(n)], actor)

    config = load_config()
    case.ingest_audit(events("A", "2026-02-02", 3, SECRETARY), name="first.csv")
    case.refresh(FEBRUARY, config=config)
    case.ingest_audit(events("B", "2026-02-03", 40), name="february.csv")
    case.refresh(FEBRUARY, config=config)
    case.ingest_audit(events("P", "2026-04-07", 30, SECRETARY), name="april.csv")
    case.ingest_audit(events("C", "2026-02-09", 4, SECRETARY), name="late.csv")
    case.refresh(FEBRUARY, config=config)

    def counted():
        return case.con.execute(
            "SELECT actor, n_events FROM actor_month WHERE month = ? ORDER BY actor",
            [FEBRUARY.first_day],
        ).fetchall()

    assert counted() == [(HOLDER, 40), (SECRETARY, 7)]
    # The first file, counted, left out of the list the marts were built from (as when a
    # file's coverage is read again): still counted once.
    first, *built = case.con.execute(
        "SELECT file_id FROM ingest_file WHERE file_name IN ('first.csv', 'february.csv', "
        "'late.csv') ORDER BY file_id"
    ).fetchall()
    case.con.execute(
        "UPDATE mart_state SET audit_files = ? WHERE month = ?",
        [",".join(str(f) for (f,) in built), FEBRUARY.first_day],
    )
    case.ingest_audit(events("D", "2026-02-16", 2, SECRETARY), name="later.csv")
    case.refresh(FEBRUARY, config=config)
    assert counted() == [(HOLDER, 40), (SECRETARY, 9)]
    assert str(first[0]) in case.con.execute(
        "SELECT audit_files FROM mart_state WHERE month = ?", [FEBRUARY.first_day]
    ).fetchone()[0].split(",")
    combined = _marts(case.con)
    for table in (*MART_MODELS, "mart_state"):
        case.con.execute(f"DROP TABLE {table}")
    case.refresh(FEBRUARY, config=config)
    assert _marts(case.con) == combined


def test_a_months_rows_are_replaced_by_writing_only_what_changed():
    """A month's slice of a derived table becomes exactly the rows given, compared as values
    (NULLs and lists included); unchanged rows stay where they are, and other months are
    left alone."""
    import duckdb

    con = duckdb.connect()
    with pytest.raises(ValueError):  # only the derived monthly tables are replaced
        models._replace_month(con, "audit_event", FEBRUARY, "SELECT 1", {})
    con.execute("CREATE TABLE actor_day (month DATE, k VARCHAR, n INTEGER, ids VARCHAR[])")
    con.execute(
        """INSERT INTO actor_day VALUES
        (DATE '2026-02-01', 'same', NULL, ['a', 'b']),
        (DATE '2026-02-01', 'changed', NULL, []),
        (DATE '2026-02-01', 'gone', 1, NULL),
        (DATE '2026-03-01', 'same', NULL, ['a', 'b']),
        (DATE '2026-03-01', 'gone', 1, NULL)"""
    )
    kept = con.execute(
        "SELECT rowid FROM actor_day WHERE month = '2026-02-01' AND k = 'same'"
    ).fetchone()
    models._replace_month(
        con,
        "actor_day",
        FEBRUARY,
        """SELECT * FROM (VALUES
            (DATE '2026-02-01', 'same', NULL, ['a', 'b']),
            (DATE '2026-02-01', 'changed', NULL, NULL),
            (DATE '2026-02-01', 'new', 2, ['c'])) AS v(month, k, n, ids)""",
        {},
    )
    rows = con.execute("SELECT month, k, n, ids FROM actor_day ORDER BY month, k").fetchall()
    assert rows == [
        (date(2026, 2, 1), "changed", None, None),
        (date(2026, 2, 1), "new", 2, ["c"]),
        (date(2026, 2, 1), "same", None, ["a", "b"]),
        (date(2026, 3, 1), "gone", 1, None),
        (date(2026, 3, 1), "same", None, ["a", "b"]),
    ]
    assert (
        con.execute(
            "SELECT rowid FROM actor_day WHERE month = '2026-02-01' AND k = 'same'"
        ).fetchone()
        == kept
    )


def test_several_tables_slices_are_built_together_and_each_written_only_when_changed():
    """Slices of several tables built by one statement: each table gets exactly its own rows
    (columns of the same name in two tables do not mix), a table whose slice did not change
    is not written, and each table is reported done once, in order."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE actor_day (month DATE, k VARCHAR, day DATE)")
    con.execute("CREATE TABLE mailbox_day (month DATE, day DATE, n_events BIGINT)")
    con.execute(
        "INSERT INTO actor_day VALUES (DATE '2026-02-01', 'a', DATE '2026-02-03'), "
        "(DATE '2026-03-01', 'a', DATE '2026-03-03')"
    )
    con.execute("INSERT INTO mailbox_day VALUES (DATE '2026-02-01', DATE '2026-02-03', 1)")
    kept = con.execute("SELECT rowid, * FROM actor_day ORDER BY rowid").fetchall()
    done = []
    models._replace_slices(
        con,
        FEBRUARY,
        {
            "actor_day": "SELECT DATE '2026-02-01' AS month, 'a' AS k, DATE '2026-02-03' AS day",
            "mailbox_day": "SELECT * FROM (VALUES (DATE '2026-02-01', DATE '2026-02-03', 2), "
            "(DATE '2026-02-01', DATE '2026-02-04', $n)) AS v(month, day, n_events)",
        },
        {"n": 5},
        done=done.append,
    )
    assert done == ["actor_day", "mailbox_day"]
    assert con.execute("SELECT rowid, * FROM actor_day ORDER BY rowid").fetchall() == kept
    assert con.execute("SELECT day, n_events FROM mailbox_day ORDER BY day").fetchall() == [
        (date(2026, 2, 3), 2),
        (date(2026, 2, 4), 5),
    ]
    assert not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'month_slice'"
    ).fetchone()[0]


@pytest.mark.parametrize("key", ["k", "finding_id"])
@pytest.mark.parametrize(
    ("stored", "given"),
    [
        ("[]::VARCHAR[]", "NULL::VARCHAR[]"),
        ("[NULL]::VARCHAR[]", "[]::VARCHAR[]"),
        ("[NULL]::VARCHAR[]", "NULL::VARCHAR[]"),
        ("['a', NULL]", "[NULL, 'a']"),
        ("['a', 'b']", "['ab']"),
    ],
)
def test_a_slice_differing_only_in_one_list_value_is_replaced(stored, given, key):
    """Lists a hash alone does not tell apart (empty, NULL, holding a NULL) still make a
    slice different: the skip for an unchanged slice does not keep a changed one; nor does
    the comparison of a finding's rows by their id (``finding_id``)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE finding (month DATE, {key} VARCHAR, ids VARCHAR[])")
    con.execute(
        f"INSERT INTO finding VALUES (DATE '2026-02-01', 'x', {stored}), "
        "(DATE '2026-02-01', 'y', ['c'])"
    )
    kept = con.execute(f"SELECT rowid FROM finding WHERE {key} = 'y'").fetchone()
    models._replace_month(
        con,
        "finding",
        FEBRUARY,
        f"SELECT DATE '2026-02-01' AS month, 'x' AS {key}, {given} AS ids "
        "UNION ALL SELECT DATE '2026-02-01', 'y', ['c']",
        {},
    )
    expected = con.execute(f"SELECT {given}").fetchone()[0]
    assert con.execute(f"SELECT ids FROM finding WHERE {key} = 'x'").fetchall() == [(expected,)]
    assert con.execute("SELECT count(*) FROM finding").fetchone()[0] == 2
    assert con.execute(f"SELECT rowid FROM finding WHERE {key} = 'y'").fetchone() == kept


def test_findings_are_compared_by_their_id_and_only_changed_ones_written():
    """A month's findings compared by id: a changed finding (any column, NULLs alike), a new
    one and one gone are written, an unchanged one is left where it is, other months are
    left alone; an id held by several rows (never made by the rules) still gives exactly the
    rows given, duplicates once."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE finding (month DATE, finding_id VARCHAR NOT NULL, n INTEGER, ids VARCHAR[])"
    )
    con.execute(
        """INSERT INTO finding VALUES
        (DATE '2026-02-01', 'same', NULL, ['a']),
        (DATE '2026-02-01', 'changed', 1, NULL),
        (DATE '2026-02-01', 'gone', 1, []),
        (DATE '2026-02-01', 'twice', 1, []),
        (DATE '2026-02-01', 'twice', 2, []),
        (DATE '2026-03-01', 'gone', 1, [])"""
    )
    kept = con.execute("SELECT rowid FROM finding WHERE finding_id = 'same'").fetchone()
    models._replace_month(
        con,
        "finding",
        FEBRUARY,
        """SELECT * FROM (VALUES
            (DATE '2026-02-01', 'same', NULL, ['a']),
            (DATE '2026-02-01', 'changed', NULL, NULL),
            (DATE '2026-02-01', 'new', 2, ['c']),
            (DATE '2026-02-01', 'twice', 1, []),
            (DATE '2026-02-01', 'twice', 3, []),
            (DATE '2026-02-01', 'twice', 3, [])) AS v(month, finding_id, n, ids)""",
        {},
    )
    rows = con.execute("SELECT * FROM finding ORDER BY month, finding_id, n").fetchall()
    assert rows == [
        (date(2026, 2, 1), "changed", None, None),
        (date(2026, 2, 1), "new", 2, ["c"]),
        (date(2026, 2, 1), "same", None, ["a"]),
        (date(2026, 2, 1), "twice", 1, []),
        (date(2026, 2, 1), "twice", 3, []),
        (date(2026, 3, 1), "gone", 1, []),
    ]
    assert con.execute("SELECT rowid FROM finding WHERE finding_id = 'same'").fetchone() == kept


def test_refreshing_a_month_whose_events_did_not_change_rewrites_none_of_its_rows(case):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.ingest_audit(
        _audit_rows("FEB", ["2026-02-02 09:00", "2026-02-16 10:00"], actor=SECRETARY),
        name="february.csv",
    )
    case.refresh(FEBRUARY)

    def rows():
        return {
            table: case.con.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()
            for table in (*MART_MODELS, "finding")
        }

    before = rows()
    assert before["actor_day"] and before["mailbox_day"]
    models.refresh(case.con, [FEBRUARY], load_config(), force=True)
    assert rows() == before


def test_a_refresh_of_one_month_brings_the_other_months_marts_up_to_date(case):
    case.practice(staff=[SECRETARY])
    case.ingest_audit(_audit_rows("Q1", ["2026-01-05 09:00", "2026-03-02 09:00"]), name="q1.csv")
    case.refresh(MARCH)
    case.ingest_audit(_audit_rows("JAN", ["2026-01-20 09:00"], actor=SECRETARY), name="jan.csv")
    case.refresh(MARCH)  # January is not asked for, but the rules of March read its marts
    assert case.con.execute(
        "SELECT n_events FROM actor_month WHERE month = ? AND actor = ?",
        [JANUARY.first_day, SECRETARY],
    ).fetchall() == [(1,)]


# ---- 5. core models rebuilt only when their inputs change ----------------------------------


def _built_from(con) -> str:
    [(key,)] = con.execute("SELECT built_from FROM core_state").fetchall()
    return key


def _mark_core(con) -> None:
    """A row no build writes: it stays as long as the core models are not rebuilt."""
    con.execute(
        "INSERT INTO delegation_inconsistency (event_id, mailbox, delegate, issue) "
        "VALUES ('SENTINEL', 'nobody@example.invalid', 'nobody@example.invalid', 'sentinel')"
    )


def _core_marked(con) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM delegation_inconsistency WHERE event_id = 'SENTINEL'"
        ).fetchone()[0]
        == 1
    )


def test_core_models_are_rebuilt_only_when_their_inputs_change(case, tmp_path):
    case.practice(staff=[SECRETARY, ASSISTANT])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    case.event(HOLDER, SECRETARY, "2026-03-03 10:00")
    case.event(HOLDER, STRANGER, "2026-03-03 10:30")
    case.refresh()
    key = _built_from(case.con)
    _mark_core(case.con)
    # Audit data only: the core stays, yet the view attributes the new events.
    case.coverage("2026-03-09 00:00", "2026-03-10 23:00")
    assistant = case.event(HOLDER, ASSISTANT, "2026-03-10 10:00")
    case.refresh()
    assert _built_from(case.con) == key
    assert _core_marked(case.con)
    assert case.attribution(assistant) == "no_delegation"
    # A delegation event: rebuilt, with the new period.
    case.grant(HOLDER, ASSISTANT, "2026-03-09 09:00", role="medical_assistant")
    case.refresh()
    assert _built_from(case.con) != key
    assert not _core_marked(case.con)
    periods = rows(
        case.con,
        "SELECT started_latest_at, delegate_role FROM delegation_period "
        "WHERE mailbox = ? AND delegate = ?",
        [HOLDER, ASSISTANT],
    )
    assert periods == [
        {"started_latest_at": local("2026-03-09 09:00"), "delegate_role": "medical_assistant"}
    ]
    assert case.attribution(assistant) == "delegate_authorised"
    # The configuration: rebuilt, and the severity the findings get follows.
    key = _built_from(case.con)
    _mark_core(case.con)
    [finding] = case.findings("access_without_delegation")
    assert finding["severity"] == "critical"
    config = config_from(tmp_path, '[rules.access_without_delegation]\nseverity = "info"\n')
    case.refresh(config=config)
    assert _built_from(case.con) != key
    assert not _core_marked(case.con)
    [finding] = case.findings("access_without_delegation")
    assert finding["severity"] == "info"
    # The same configuration again: nothing to rebuild.
    key = _built_from(case.con)
    _mark_core(case.con)
    case.refresh(config=config)
    assert _built_from(case.con) == key
    assert _core_marked(case.con)


def test_a_roster_change_rebuilds_the_core(case):
    case.practice("P1", staff=[SECRETARY])
    case.event(HOLDER_2, HOLDER_2, "2026-03-03 10:00")
    case.refresh()
    key = _built_from(case.con)
    assert case.access(case.event(HOLDER_2, HOLDER_2, "2026-03-04 10:00"))["practice_id"] is None
    case.practice("P2", holders=[HOLDER_2])
    case.refresh()
    assert _built_from(case.con) != key
    assert {
        r["practice_id"]
        for r in rows(
            case.con, "SELECT practice_id FROM attributed_access WHERE mailbox = ?", [HOLDER_2]
        )
    } == {"P2"}


def _system_accounts(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT actor FROM system_account").fetchall()}


def test_service_accounts_follow_the_audit_data_without_rebuilding_the_core(case, tmp_path):
    """system_account reads only the events of files loaded since its last build, and all
    of them again when events arrived otherwise: it always equals a build from nothing."""
    config = config_from(tmp_path, 'system_actors = ["robot.*@pro.mssante.fr"]')
    case.practice(staff=[SECRETARY])
    first = case.event(HOLDER, "robot.one@pro.mssante.fr", "2026-03-03 10:00")
    case.refresh(config=config)
    key = _built_from(case.con)
    assert _system_accounts(case.con) == {"robot.one@pro.mssante.fr"}
    # A new audit file brings a second service account: read from that file alone.
    case.ingest_audit(
        [
            {
                "event_id": "NEW-1",
                "occurred_at": local("2026-03-05 10:00").isoformat(),
                "mailbox": HOLDER,
                "actor": "robot.two@pro.mssante.fr",
            },
            {
                "event_id": "NEW-2",
                "occurred_at": local("2026-03-05 10:05").isoformat(),
                "mailbox": HOLDER,
                "actor": "robot.one@pro.mssante.fr",
            },
        ],
        name="new.csv",
    )
    case.refresh(config=config)
    assert _built_from(case.con) == key
    assert _system_accounts(case.con) == {"robot.one@pro.mssante.fr", "robot.two@pro.mssante.fr"}
    assert case.attribution("NEW-1") == "system"
    # Events added under an earlier file's id (no new file): every account is read again.
    third = case.event(HOLDER, "robot.three@pro.mssante.fr", "2026-03-06 10:00")
    case.refresh(config=config)
    assert _system_accounts(case.con) == {
        "robot.one@pro.mssante.fr",
        "robot.two@pro.mssante.fr",
        "robot.three@pro.mssante.fr",
    }
    assert [case.attribution(e) for e in (first, third)] == ["system", "system"]
    # Nothing new: the table stays as it is; a build from nothing gives the same.
    case.refresh(config=config)
    kept = _system_accounts(case.con)
    case.con.execute("UPDATE core_state SET audit_events = NULL")
    case.refresh(config=config)
    assert _system_accounts(case.con) == kept
    # Other patterns rebuild the core, and the table with it.
    case.refresh(config=config_from(tmp_path, 'system_actors = ["robot.two@*"]'))
    assert _system_accounts(case.con) == {"robot.two@pro.mssante.fr"}


# ---- 6. warehouses of an older layout ------------------------------------------------------


def _table_types(con) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name IN ('attributed_access', 'read_burst')"
        ).fetchall()
    )


def _old_layout(case) -> str:
    """A small warehouse refreshed once, then given the tables an older layout stored."""
    case.practice(staff=[SECRETARY])
    stranger = case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    case.con.execute("DROP VIEW attributed_access")
    case.con.execute(
        "CREATE TABLE attributed_access (operator VARCHAR, event_id VARCHAR, attribution VARCHAR)"
    )
    case.con.execute("INSERT INTO attributed_access VALUES (?, ?, 'owner')", [OPERATOR, stranger])
    case.con.execute("CREATE TABLE read_burst (mailbox VARCHAR, actor VARCHAR, n_reads BIGINT)")
    return stranger


def _assert_current_layout(case, stranger: str) -> None:
    assert _table_types(case.con) == {"attributed_access": "VIEW"}
    assert case.attribution(stranger) == "no_delegation"
    [finding] = case.findings("access_without_delegation")
    assert finding["evidence"] == [stranger]


def test_an_old_layout_without_core_state_is_replaced(case):
    stranger = _old_layout(case)
    case.con.execute("DROP TABLE core_state")  # older layouts had none
    case.refresh()
    _assert_current_layout(case, stranger)


def test_an_old_layout_is_replaced_even_when_core_state_is_current(case):
    """The core key says nothing changed, but the retired table was dropped: the view must
    be defined again all the same."""
    stranger = _old_layout(case)
    case.refresh()
    _assert_current_layout(case, stranger)


def test_tables_and_columns_an_older_version_lacked_are_added(case):
    """A warehouse missing a table or a column the refresh keeps (made by an older version,
    or dropped) gets it back before anything is written."""
    case.practice(staff=[SECRETARY])
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    case.con.execute("ALTER TABLE finding DROP COLUMN first_month")
    case.con.execute("DROP TABLE refresh_state")
    case.refresh()
    columns = [d[0] for d in case.con.execute("SELECT * FROM finding LIMIT 0").description]
    assert "first_month" in columns
    assert case.findings("access_without_delegation")
    assert case.con.execute("SELECT count(*) FROM refresh_state").fetchone() == (0,)


def test_stored_accesses_of_another_layout_are_made_again(case):
    """A ``practice_access`` whose columns are not the view's (written by other model code)
    is made again, and the months rebuilt fill it."""
    case.practice(staff=[SECRETARY])
    stranger = case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    case.con.execute("DROP TABLE practice_access")
    case.con.execute("CREATE TABLE practice_access (month DATE, event_id VARCHAR)")
    case.con.execute("INSERT INTO practice_access VALUES (?, 'other')", [MARCH.first_day])
    case.con.execute("UPDATE practice_access_state SET built_for = 'other model code'")
    case.refresh()
    models.ensure_practice_access(case.con, [MARCH])
    assert rows(case.con, "SELECT event_id, attribution FROM practice_access") == [
        {"event_id": stranger, "attribution": "no_delegation"}
    ]
    columns = [d[0] for d in case.con.execute("SELECT * FROM practice_access LIMIT 0").description]
    assert columns == [
        d[0]
        for d in case.con.execute(
            f"SELECT * {STORED_ONLY} FROM attributed_access LIMIT 0"
        ).description
    ] + [KEY]


# ---- 7. new_client looks back whole calendar months ----------------------------------------

OLD_IP = "203.0.113.50"
SEPTEMBER_IP = "203.0.113.60"


@pytest.mark.parametrize(("lookback", "reported"), [(6, True), (7, False)])
def test_new_client_looks_back_whole_calendar_months(case, tmp_path, lookback, reported):
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-06-02 09:00")
    case.event(HOLDER, SECRETARY, "2025-08-20 09:00", ip=OLD_IP)  # 7 calendar months before March
    case.event(HOLDER, SECRETARY, "2025-09-01 09:00", ip=SEPTEMBER_IP)  # 6 months before
    for month in (9, 10, 11, 12, 1, 2):
        year = 2025 if month >= 9 else 2026
        case.event(HOLDER, SECRETARY, f"{year}-{month:02d}-10 09:00")  # the usual address
    again = case.event(HOLDER, SECRETARY, "2026-03-10 09:00", ip=OLD_IP)
    case.event(HOLDER, SECRETARY, "2026-03-11 09:00", ip=SEPTEMBER_IP)
    config = config_from(tmp_path, f"[rules.new_client]\nlookback_months = {lookback}\n")
    case.refresh(config=config)
    found = [(f["actor"], f["evidence"]) for f in case.findings("new_client")]
    assert found == ([(SECRETARY, [again])] if reported else [])


def test_new_client_needs_min_history_days_within_the_look_back(case, tmp_path):
    """Months beyond the look-back are not history: an account back after a long absence has
    a fresh start, and its addresses are not new before `min_history_days`."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-06-02 09:00")
    case.event(HOLDER, SECRETARY, "2025-08-20 09:00")
    case.event(HOLDER, SECRETARY, "2026-03-02 09:00")  # back, from the usual address
    case.event(HOLDER, SECRETARY, "2026-03-10 09:00", ip=OLD_IP)  # 8 days later
    case.event(HOLDER, SECRETARY, "2026-03-20 09:00", ip=SEPTEMBER_IP)  # 18 days later
    case.refresh(config=config_from(tmp_path, "[rules.new_client]\nlookback_months = 6\n"))
    found = case.findings("new_client")
    assert [(f["first_at"], f["title_fr"]) for f in found] == [
        (local("2026-03-20 09:00"), "Nouvelle adresse de connexion")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[rules.new_client]\nlookback_months = 0",
            "rules.new_client.lookback_months must be a whole number of months (1 or more)",
        ),
        (
            "[rules.new_client]\nlookback_months = 1.5",
            "rules.new_client.lookback_months must be a whole number of months (1 or more)",
        ),
        (
            "[rules.new_client]\nlookback_months = true",
            "rules.new_client.lookback_months must be a whole number of months (1 or more)",
        ),
        (
            '[practices."P1".rules.new_client]\nlookback_months = 3',
            "practices.P1.rules.new_client.lookback_months applies to every practice: "
            "set it under [rules.new_client], not per practice",
        ),
    ],
    ids=["zero", "fraction", "boolean", "per-practice"],
)
def test_lookback_months_must_be_a_global_whole_number(tmp_path, text, message):
    path = write_config(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"


def test_lookback_months_defaults_to_six():
    assert load_config().for_practice(None)["rules"]["new_client"]["lookback_months"] == 6


# ---- 8. a month's findings computed again only when what they come from changed -----------


def _mark_findings(con, month: Month) -> None:
    """A finding no rule gives: it stays as long as the month's findings are not computed
    again."""
    con.execute(
        "INSERT INTO finding (month, finding_id, rule_id, severity, n_events, evidence, "
        "title_fr, explanation_fr) VALUES (?, 'SENTINEL', 'sentinel', 'info', 0, [], '', '')",
        [month.first_day],
    )


def _findings_marked(con, month: Month) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM finding WHERE month = ? AND finding_id = 'SENTINEL'",
            [month.first_day],
        ).fetchone()[0]
        == 1
    )


def _finding_rows(con, month: Month) -> list[str]:
    return sorted(
        map(
            repr,
            con.execute(
                "SELECT * FROM finding WHERE month = ? AND finding_id <> 'SENTINEL'",
                [month.first_day],
            ).fetchall(),
        )
    )


def _march_with_a_stranger(case) -> list[dict]:
    """A practice, and a March audit file in which a stranger reads the holder's mailbox
    (a finding); returns the file's rows."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2026-01-05 09:00")
    records = [
        *_audit_rows("MAR", ["2026-03-02 09:00", "2026-03-20 17:00"], actor=SECRETARY),
        *_audit_rows("MAR-S", ["2026-03-10 11:00"], actor=STRANGER),
    ]
    case.ingest_audit(records, name="march.csv")
    case.refresh(MARCH)
    assert [f["actor"] for f in case.findings("access_without_delegation")] == [STRANGER]
    return records


def test_a_file_sent_again_leaves_the_months_findings_as_they_were(case, tmp_path):
    _march_with_a_stranger(case)
    config = load_config()
    findings = _finding_rows(case.con, MARCH)
    _mark_findings(case.con, MARCH)
    # The same export sent again: every row a duplicate, a new file in the manifest.
    again = tmp_path / "march-again.csv"
    again.write_bytes((case.folder / "march.csv").read_bytes() + b"\n")
    result = ingest_file(case.con, again)
    assert (result.status, result.rows_loaded, result.rows_duplicate) == ("loaded", 0, 3)
    assert models.is_stale(case.con, MARCH, config)  # a file arrived since the month was built
    ensure_month(case.con, MARCH, config)
    # Nothing the findings come from changed: they are left as they were (the sentinel with
    # them), and the month is up to date with the new file.
    assert _findings_marked(case.con, MARCH)
    assert not models.is_stale(case.con, MARCH, config)
    # What computing them again gives is what was kept.
    models.refresh(case.con, [MARCH], config, force=True)
    assert not _findings_marked(case.con, MARCH)
    assert _finding_rows(case.con, MARCH) == findings


def test_a_file_sent_again_leaves_the_months_stored_accesses_as_they_were(case, tmp_path):
    _march_with_a_stranger(case)
    assert models.ensure_practice_access(case.con, [MARCH]) == [MARCH]

    def stored():
        return case.con.execute(
            "SELECT rowid, * FROM practice_access WHERE month = ? ORDER BY rowid", [MARCH.first_day]
        ).fetchall()

    before = stored()
    again = tmp_path / "march-again.csv"
    again.write_bytes((case.folder / "march.csv").read_bytes() + b"\n")
    assert ingest_file(case.con, again).rows_duplicate == 3
    case.refresh(MARCH)
    assert models.ensure_practice_access(case.con, [MARCH]) == []
    assert stored() == before
    # A file adding an event to the month: its accesses are stored again, with it.
    case.ingest_audit(_audit_rows("MORE", ["2026-03-25 10:00"], actor=STRANGER), name="more.csv")
    case.refresh(MARCH)
    assert models.ensure_practice_access(case.con, [MARCH]) == [MARCH]
    assert len(stored()) == len(before) + 1
    assert _month_rows(case.con, "practice_access", MARCH) == _month_rows(
        case.con, "attributed_access", MARCH
    )


# What a month's findings come from, each changed in turn (the configuration is returned).
CHANGES = {
    # An event anywhere, here a year later: the rules look back and ahead.
    "event": lambda case, _: case.ingest_audit(
        _audit_rows("LATER", ["2027-03-02 09:00"]), name="later.csv"
    ),
    "delegation": lambda case, _: case.grant(HOLDER, STRANGER, "2026-03-01 09:00"),
    "roster": lambda case, _: case.practice("P2", holders=[HOLDER_2]),
    "directory": lambda case, _: case.directory("2026-03-01", [HOLDER]),
    # Traces covering a month not covered before, without an event: `trace_month`.
    "coverage": lambda case, _: case.coverage("2026-01-05 08:00", "2026-01-30 18:00"),
    "configuration": lambda _, folder: config_from(
        folder, '[rules.access_without_delegation]\nseverity = "info"\n'
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_months_findings_are_computed_again_when_anything_they_come_from_changed(
    case, tmp_path, change
):
    _march_with_a_stranger(case)
    _mark_findings(case.con, MARCH)
    made = CHANGES[change](case, tmp_path)
    models.refresh(case.con, [MARCH], made if change == "configuration" else load_config())
    assert not _findings_marked(case.con, MARCH)


def test_a_burst_completed_by_the_next_months_file_is_found_in_the_month_it_started(case):
    """A file of April events only (its months: April) completes a burst of failed logins
    started on 31 March: March, asked for later, is computed again and has it."""
    case.practice(staff=[SECRETARY])
    failures = ["2026-03-31 23:40", "2026-03-31 23:45", "2026-03-31 23:50", "2026-03-31 23:55"]
    ok = ["2026-03-02 09:00", "2026-03-20 09:00"]
    rows_of = [
        *_audit_rows("MAR", ok),
        *[{**r, "outcome": "failure", "action": "login"} for r in _audit_rows("F", failures)],
    ]
    case.ingest_audit(rows_of, name="march.csv")
    config = load_config()
    case.refresh(MARCH, config=config)
    assert case.findings("failed_login_burst") == []  # four failures: under the threshold
    last = {**_audit_rows("F5", ["2026-04-01 00:02"])[0], "outcome": "failure", "action": "login"}
    case.ingest_audit([last, *_audit_rows("APR", ["2026-04-02 09:00"])], name="april.csv")
    assert models.months_of_files(
        case.con,
        [
            case.con.execute(
                "SELECT sha256 FROM ingest_file ORDER BY file_id DESC LIMIT 1"
            ).fetchone()[0]
        ],
    ) == [Month(2026, 4)]
    models.refresh(case.con, [Month(2026, 4)], config)  # what the ingest's refresh builds
    ensure_month(case.con, MARCH, config)  # what `findings --month 2026-03` then does
    [burst] = case.findings("failed_login_burst")
    assert burst["n_events"] == 5
    assert burst["first_at"] == local("2026-03-31 23:40")


# ---- 9. each month's flagged accesses stored, and only new events attributed ---------------


def _rows(con, sql: str, params=None) -> Counter:
    return Counter(map(repr, con.execute(sql, params or {}).fetchall()))


def _month_access_both_ways(con, month: Month) -> dict[str, Counter]:
    """The month's `month_access` as the refresh makes it (stored flagged accesses, and the
    idle holders' mailboxes attributed again), and as its model gives it over every event
    (what the Spark engine runs); the stored slice alone, and the model without idle
    holders."""
    params = models._month_params(con, month, load_config())
    for model in ("month_setting", "month_idle_holder"):
        models._run(
            con,
            f"CREATE OR REPLACE TEMP TABLE {model} AS {sql_text(f'models/month/{model}.sql')}",
            params,
        )
    models._month_access(con, month, params)
    model = sql_text("models/month/month_access.sql")
    used = {k: v for k, v in params.items() if f"${k}" in model}
    return {
        "made": _rows(con, "SELECT * FROM month_access"),
        "model": _rows(con, model, used),
        "stored": _rows(
            con,
            "SELECT * EXCLUDE (month) FROM flagged_access WHERE month = ?",
            [month.first_day],
        ),
        "model_without_idle": _rows(
            con,
            "WITH month_idle_holder AS (SELECT CAST(NULL AS VARCHAR) AS mailbox WHERE false) "
            f"SELECT * FROM ({model}\n)",
            used,
        ),
    }


def _mark_flagged(con) -> None:
    """A stored row no refresh writes: it stays as long as March's slice is not written
    again."""
    con.execute(
        "INSERT INTO flagged_access (month, event_id, mailbox, actor) "
        "VALUES (?, 'SENTINEL', 'nobody@example.invalid', 'nobody@example.invalid')",
        [MARCH.first_day],
    )


def _flagged_marked(con) -> bool:
    found = con.execute(
        "DELETE FROM flagged_access WHERE event_id = 'SENTINEL' RETURNING event_id"
    ).fetchall()
    return bool(found)


def _assert_month_access_is_its_model(con, month: Month) -> None:
    both = _month_access_both_ways(con, month)
    assert both["stored"] == both["model_without_idle"]
    assert both["made"] == both["model"]
    assert both["made"]


def test_the_stored_flagged_accesses_follow_every_file_as_the_model_gives_them(tmp_path):
    with new_case(tmp_path) as case:
        build_varied(case)
        _assert_month_access_is_its_model(case.con, MARCH)
        # Files adding March events of every kind, each refreshed as `ingest` does: only
        # their events are attributed and added to the stored ones (the mark stays).
        files = [
            [
                {"mailbox": HOLDER, "actor": STRANGER},  # no delegation
                {"mailbox": HOLDER, "actor": SECRETARY, "occurred_at": "2026-03-23 22:00"},
                {"mailbox": HOLDER, "actor": SECRETARY, "action": "send"},  # read only now
                {"mailbox": HOLDER_4, "actor": HOLDER_4},  # the idle holder at last
                {"mailbox": HOLDER, "actor": HOLDER},  # the holder's own: never stored
            ],
            [
                {"mailbox": HOLDER_2, "actor": REPLACEMENT},  # after the replacement's end
                {"mailbox": HOLDER_4, "actor": STAFF_3, "action": "delete"},  # holder left
                {"mailbox": HOLDER, "actor": ASSISTANT, "outcome": "failure"},  # revoked
            ],
        ]
        for n, records in enumerate(files):
            _mark_flagged(case.con)
            case.ingest_audit(
                [
                    {
                        "event_id": f"LATE-{n}-{i}",
                        "occurred_at": local(f"2026-03-{23 + n} 10:{i:02d}").isoformat(),
                        **{
                            k: local(v).isoformat() if k == "occurred_at" else v
                            for k, v in record.items()
                        },
                    }
                    for i, record in enumerate(records)
                ],
                name=f"late-{n}.csv",
            )
            case.refresh(MARCH)
            assert _flagged_marked(case.con)
            _assert_month_access_is_its_model(case.con, MARCH)
        both = _month_access_both_ways(case.con, MARCH)
        # The idle holder's own event is there, from the mailboxes attributed again.
        assert [r for r in both["made"] - both["stored"] if HOLDER_4 in r]
        # A new delegation: every month's slice is written again (the mark goes).
        _mark_flagged(case.con)
        case.grant(HOLDER, STRANGER, "2026-03-20 09:00")
        case.refresh(MARCH)
        assert not _flagged_marked(case.con)
        _assert_month_access_is_its_model(case.con, MARCH)
        # Events gone (which ingestion never does): the slice is written again.
        case.con.execute("DELETE FROM audit_event WHERE event_id = 'LATE-0-0'")
        _mark_flagged(case.con)
        case.refresh(MARCH)
        assert not _flagged_marked(case.con)
        _assert_month_access_is_its_model(case.con, MARCH)
        # And the findings are those of a forced refresh.
        findings = _finding_rows(case.con, MARCH)
        models.refresh(case.con, [MARCH], load_config(), force=True)
        assert _finding_rows(case.con, MARCH) == findings
