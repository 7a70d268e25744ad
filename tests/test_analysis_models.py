"""Invariants of the SQL models (keys, accepted values, relationships) on a warehouse that
exercises most rules, and determinism of a refresh."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis_cases import (
    ATTRIBUTIONS,
    HOLDER,
    HOLDER_2,
    MONTHS,
    ORPHAN,
    REPLACEMENT,
    SECRETARY,
    build_varied,
    local,
    month_window,
    new_case,
    rows,
)
from delegation_reports.analysis.config import RULE_IDS, SEVERITIES, load_config
from delegation_reports.analysis.models import (
    CORE_MODELS,
    FINDING_COLUMNS,
    MONTH_MODELS,
    RULE_NEEDS,
    Month,
    _month_params,
    _run,
    ensure_practice_access,
    refresh,
    rules_with_input,
)
from delegation_reports.cli import main
from delegation_reports.warehouse import connect, sql_text


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    with new_case(tmp_path_factory.mktemp("varied")) as case:
        build_varied(case)
        yield case


def test_the_varied_warehouse_raises_most_rules(varied):
    raised = {r[0] for r in varied.con.execute("SELECT DISTINCT rule_id FROM finding").fetchall()}
    assert raised == set(RULE_IDS)


def test_delegation_periods_do_not_end_before_they_start(varied):
    bad = rows(
        varied.con,
        """
        SELECT * FROM delegation_period
        WHERE started_earliest_at > started_latest_at
           OR ended_earliest_at > ended_latest_at
           OR started_latest_at > ended_earliest_at
           OR valid_from_at >= valid_until_at
           OR in_force_from_at > in_force_until_at
           OR revoked_at < started_latest_at
    """,
    )
    assert bad == []
    assert varied.con.execute("SELECT count(*) FROM delegation_period").fetchone()[0] >= 10


def test_delegation_periods_have_keys_and_required_values(varied):
    null = varied.con.execute("""
        SELECT count(*) FROM delegation_period
        WHERE mailbox IS NULL OR delegate IS NULL OR rights IS NULL OR delegate_role IS NULL
           OR started_latest_at IS NULL OR source IS NULL
           OR (in_force_from_at IS NULL) <> (in_force_until_at IS NULL)
    """).fetchone()[0]
    assert null == 0
    keys = varied.con.execute("""
        SELECT source, operator, mailbox, delegate, started_latest_at, count(*)
        FROM delegation_period GROUP BY ALL HAVING count(*) > 1
    """).fetchall()
    assert keys == []
    sources = {
        r[0] for r in varied.con.execute("SELECT DISTINCT source FROM delegation_period").fetchall()
    }
    assert sources == {"events", "snapshots"}


@pytest.mark.parametrize("month", MONTHS, ids=str)
def test_one_attributed_access_per_audit_event_of_the_month(varied, month):
    start, end = month_window(month)
    expected = varied.con.execute(
        "SELECT operator, event_id FROM audit_event WHERE occurred_at >= ? AND occurred_at < ?",
        [start, end],
    ).fetchall()
    got = varied.con.execute(
        "SELECT operator, event_id FROM attributed_access WHERE month = ?", [month.first_day]
    ).fetchall()
    assert Counter(got) == Counter(expected)
    assert len(set(got)) == len(got) > 0


# The view's columns that `practice_access` leaves out: the same for every event of a
# segment, found again from `delegation_segment` (see the last test of this group).
NOT_STORED = ("judged_against",)
VIEW_STORED = f"SELECT * EXCLUDE ({', '.join(NOT_STORED)}) FROM attributed_access"
# What it adds, last: the key it is sorted and filtered by (see the next group).
ADDED = ("practice_key",)
STORED_VIEW = f"SELECT * EXCLUDE ({', '.join(ADDED)}) FROM practice_access"


def _view_and_stored(con, month: Month) -> tuple[Counter, Counter]:
    """The month's rows of ``attributed_access`` and of ``practice_access``, whole."""
    ensure_practice_access(con, [month])
    view, stored = (
        Counter(map(repr, con.execute(f"{sql} WHERE month = ?", [month.first_day]).fetchall()))
        for sql in (VIEW_STORED, STORED_VIEW)
    )
    return view, stored


def test_practice_access_has_the_columns_of_the_view(varied):
    view, stored = (
        varied.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [name],
        ).fetchall()
        for name in ("attributed_access", "practice_access")
    )
    assert (
        stored == [c for c in view if c[0] not in NOT_STORED] + [("practice_key", "VARCHAR")]
        and len(view) > 20
    )


def test_the_delegation_judged_against_is_found_again_from_the_stored_segment(varied):
    """What `practice_access` leaves out is one join away: its segment's."""
    ensure_practice_access(varied.con, MONTHS)
    differing = varied.con.execute(
        """
        SELECT count(*), count(*) FILTER (v.judged_against IS DISTINCT FROM s.judged_against),
               count(v.judged_against)
        FROM practice_access AS p
        JOIN attributed_access AS v USING (operator, event_id)
        LEFT JOIN delegation_segment AS s
            ON s.mailbox = p.mailbox AND s.delegate = p.actor AND s.seg_from_at = p.seg_from_at
        """
    ).fetchone()
    assert differing[0] > 100 and differing[1] == 0 and differing[2] > 10


@pytest.mark.parametrize("month", MONTHS, ids=str)
def test_practice_access_holds_the_views_rows_of_each_built_month(varied, month):
    """Row for row and value for value, on months whose bounds have events either side
    (23:59:59 and 00:00:00 Paris), a mailbox on no roster and a service account."""
    view, stored = _view_and_stored(varied.con, month)
    assert stored == view
    assert sum(view.values()) > 50
    start, end = month_window(month)
    bounds = varied.con.execute(
        "SELECT min(occurred_at), max(occurred_at) FROM practice_access WHERE month = ?",
        [month.first_day],
    ).fetchone()
    assert start <= bounds[0] and bounds[1] < end


def test_practice_access_covers_the_cases_at_the_bounds(varied):
    """The varied warehouse's March reaches every attribution, the mailbox on no roster and
    the events at midnight: the comparison above sees them."""
    ensure_practice_access(varied.con, MONTHS)
    found = rows(
        varied.con,
        "SELECT * FROM practice_access WHERE month = ?",
        [Month(2026, 3).first_day],
    )
    assert {r["attribution"] for r in found} == ATTRIBUTIONS
    assert any(r["practice_id"] is None and r["mailbox"] == ORPHAN for r in found)
    local_times = {
        (r["mailbox"], r["actor"], r["occurred_local"].strftime("%d %H:%M:%S")) for r in found
    }
    assert (HOLDER, SECRETARY, "01 00:00:00") in local_times
    assert (HOLDER, SECRETARY, "31 23:59:59") in local_times


def test_practice_access_is_stored_in_practice_mailbox_and_time_order(varied):
    """Each month's slice lies in storage (row id order) by practice (its key, then its id),
    mailbox and time: what lets a query on one practice skip the row groups of the others."""
    ensure_practice_access(varied.con, MONTHS)
    for month in MONTHS:
        stored = varied.con.execute(
            "SELECT practice_key, practice_id, mailbox, occurred_at, event_id "
            "FROM practice_access WHERE month = ? ORDER BY rowid",
            [month.first_day],
        ).fetchall()
        expected = sorted(stored, key=lambda r: (r[0], r[1] is None, r[1] or "", *r[2:]))
        assert stored == expected
        assert len({r[1] for r in stored}) >= 2


def test_the_practice_key_is_the_start_of_the_practice_ids_md5(varied):
    """Eight hex digits of the id's MD5 (of '' for the events of a mailbox on no roster):
    the same on every engine, and whole in a row group's bounds, which keep the first 8
    bytes of a text column."""
    ensure_practice_access(varied.con, MONTHS)
    pairs = varied.con.execute(
        "SELECT DISTINCT practice_id, practice_key FROM practice_access"
    ).fetchall()
    assert None in {p for p, _ in pairs} and len(pairs) >= 3
    for practice, key in pairs:
        assert key == hashlib.md5((practice or "").encode()).hexdigest()[:8]


def test_the_samples_practice_access_equals_the_view(samples, tmp_path):
    database = samples.con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    shutil.copy(database, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    try:
        months = refresh(con, None, load_config())
        assert len(months) >= 3
        # Written when a report first reads the months, not by the refresh; once.
        assert con.execute("SELECT count(*) FROM practice_access").fetchone()[0] == 0
        assert ensure_practice_access(con, months) == months
        assert ensure_practice_access(con, months) == []
        for month in months:
            view, stored = _view_and_stored(con, month)
            assert stored == view, month
            assert sum(view.values()) > 1000
        # Nothing else: every stored row belongs to a built month.
        total = con.execute("SELECT count(*) FROM practice_access").fetchone()[0]
        assert total == con.execute("SELECT count(*) FROM audit_event").fetchone()[0]
    finally:
        con.close()


def test_month_bounds_are_paris_midnights(varied):
    placed = dict(
        varied.con.execute(
            "SELECT strftime(occurred_local, '%Y-%m-%d %H:%M:%S'), month FROM attributed_access "
            "WHERE actor = ? AND mailbox = ?",
            [SECRETARY, HOLDER],
        ).fetchall()
    )
    assert placed["2026-02-28 23:59:59"] == Month(2026, 2).first_day
    assert placed["2026-03-01 00:00:00"] == Month(2026, 3).first_day
    assert placed["2026-03-31 23:59:59"] == Month(2026, 3).first_day
    assert placed["2026-04-01 00:00:00"] == Month(2026, 4).first_day


def test_attributed_access_accepted_values_and_relationships(varied):
    found = rows(
        varied.con,
        """
        SELECT a.*, m.practice_id AS roster_practice, e.occurred_at AS audit_at
        FROM attributed_access AS a
        LEFT JOIN mailbox_practice AS m USING (mailbox)
        LEFT JOIN audit_event AS e USING (operator, event_id)
    """,
    )
    assert {r["attribution"] for r in found} <= ATTRIBUTIONS
    assert {r["attribution"] for r in found} == ATTRIBUTIONS  # the case reaches every one
    for r in found:
        assert r["practice_id"] == r["roster_practice"], r
        assert r["audit_at"] == r["occurred_at"], r
        assert r["right_needed"] in {"read", "send", "documents", "manage"}
        assert (r["attribution"] == "owner") == (r["actor"] == r["mailbox"])
    assert {r["practice_id"] for r in found if r["mailbox"] == ORPHAN} == {None}


def test_findings_accepted_values_and_relationships(varied):
    found = rows(varied.con, "SELECT * FROM finding")
    assert len(found) > 20
    events = {
        r[0]
        for r in varied.con.execute(
            "SELECT event_id FROM audit_event UNION ALL SELECT event_id FROM delegation_event"
        ).fetchall()
    }
    practice_of = dict(
        varied.con.execute("SELECT mailbox, practice_id FROM mailbox_practice").fetchall()
    )
    practices = {
        r[0]
        for r in varied.con.execute("SELECT DISTINCT practice_id FROM roster_member").fetchall()
    }
    for f in found:
        assert f["rule_id"] in RULE_IDS, f
        assert f["severity"] in SEVERITIES, f
        assert f["title_fr"].strip() and f["explanation_fr"].strip(), f
        assert f["explanation_fr"].rstrip().endswith("."), f
        assert set(f["evidence"]) <= events, f
        assert f["n_events"] >= 0
        if f["mailbox"] is not None:
            assert f["practice_id"] == practice_of.get(f["mailbox"]), f
        else:
            assert f["practice_id"] in practices, f
        if f["first_at"] is not None and f["last_at"] is not None:
            assert f["first_at"] <= f["last_at"], f
    # Unique within a month; a delegation-level finding keeps its id from month to month.
    ids = [(f["month"], f["finding_id"]) for f in found]
    assert len(ids) == len(set(ids))


def test_a_period_never_in_force_has_no_bounds(varied):
    """The replacement ended on 13 March; the modification of the 20th opens a period that
    was never in force: it has no in-force bounds and gives no right."""
    periods = rows(
        varied.con,
        """
        SELECT opened_by, valid_until_at, in_force_from_at, in_force_until_at
        FROM delegation_period WHERE mailbox = ? AND delegate = ? ORDER BY started_latest_at
    """,
        [HOLDER_2, REPLACEMENT],
    )
    assert periods == [
        {
            "opened_by": "grant",
            "valid_until_at": local("2026-03-14 00:00"),
            "in_force_from_at": local("2026-03-02 00:00"),
            "in_force_until_at": local("2026-03-14 00:00"),
        },
        {
            "opened_by": "modify",
            "valid_until_at": local("2026-03-14 00:00"),
            "in_force_from_at": None,
            "in_force_until_at": None,
        },
    ]
    in_march = varied.con.execute(
        """
        SELECT count(*) FROM delegation_period WHERE mailbox = ? AND delegate = ?
          AND in_force_from_at < ? AND in_force_until_at > ?
    """,
        [HOLDER_2, REPLACEMENT, *reversed(month_window(Month(2026, 3)))],
    ).fetchone()[0]
    assert in_march == 1
    attributions = varied.con.execute(
        "SELECT attribution FROM attributed_access WHERE mailbox = ? AND actor = ? ORDER BY occurred_at",
        [HOLDER_2, REPLACEMENT],
    ).fetchall()
    assert [a[0] for a in attributions] == ["delegate_authorised", "delegate_outside_period"]


def test_event_findings_count_their_evidence(varied):
    """Rules about accesses list exactly the events they count, inside the month."""
    per_event = (
        "access_without_delegation",
        "access_after_revocation",
        "access_outside_validity",
        "right_exceeded",
        "off_hours_access",
        "failed_login_burst",
        "bulk_access",
    )
    found = rows(
        varied.con, "SELECT * FROM finding WHERE list_contains(?, rule_id)", [list(per_event)]
    )
    assert {f["rule_id"] for f in found} == set(per_event)
    for f in found:
        assert f["n_events"] == len(f["evidence"]) == len(set(f["evidence"])), f
        start, end = month_window(Month(f["month"].year, f["month"].month))
        assert start <= f["first_at"] <= f["last_at"] < end, f


def test_a_rule_finds_nothing_without_the_rows_it_needs(varied):
    """A rule of RULE_NEEDS is not run in a month where no row of its table meets its
    condition: each gives findings in some month of the varied warehouse, where
    `rules_with_input` keeps it; once the rows meeting its condition are deleted (the other
    rows and tables as they were) the rule itself finds nothing, and `rules_with_input`
    drops it and keeps the others."""
    con = varied.con
    config = load_config()
    for rule_id, (table, condition) in RULE_NEEDS.items():
        assert table in MONTH_MODELS or table in CORE_MODELS, rule_id
        day = con.execute("SELECT min(month) FROM finding WHERE rule_id = ?", [rule_id]).fetchone()[
            0
        ]
        assert day is not None, rule_id
        month = Month(day.year, day.month)
        days = config.for_practice(None)["rules"][rule_id].get("days")
        params = dict(_month_params(con, month, config), days=days)
        rule = sql_text(f"models/rules/{rule_id}.sql")
        con.execute("BEGIN TRANSACTION")
        try:
            for model in MONTH_MODELS:
                _run(
                    con,
                    f"CREATE TEMP TABLE {model} AS {sql_text(f'models/month/{model}.sql')}",
                    params,
                )
            assert _run(con, f"SELECT count(*) FROM ({rule})", params).fetchone()[0] > 0, rule_id
            assert rules_with_input(con, [rule_id, "new_client"], params) == [
                rule_id,
                "new_client",
            ]
            deleted = _run(con, f"DELETE FROM {table} WHERE {condition}", params).fetchone()[0]
            assert deleted > 0, rule_id
            assert _run(con, f"SELECT count(*) FROM ({rule})", params).fetchone()[0] == 0, rule_id
            assert rules_with_input(con, [rule_id, "new_client"], params) == ["new_client"]
        finally:
            con.execute("ROLLBACK")


def test_finding_columns_are_the_documented_ones(varied):
    names = [d[0] for d in varied.con.execute("SELECT * FROM finding LIMIT 0").description]
    assert tuple(names) == FINDING_COLUMNS


# ---- determinism --------------------------------------------------------------------------


def _snapshot(con) -> dict[str, list]:
    return {
        table: sorted(map(repr, con.execute(f"SELECT * FROM {table}").fetchall()))
        for table in (
            "finding",
            "attributed_access",
            "practice_access",
            "mailbox_day",
            "actor_month",
            "client_month",
            "delegation_period",
            "delegation_segment",
            "delegation_inconsistency",
            "mailbox_practice",
        )
    }


def test_refreshing_twice_gives_the_same_rows(tmp_path):
    with new_case(tmp_path) as case:
        build_varied(case)
        first = _snapshot(case.con)
        case.refresh(*MONTHS)
        assert _snapshot(case.con) == first
        # One month rebuilt alone gives its rows again (its baseline months stay).
        case.refresh(Month(2026, 3))
        assert _snapshot(case.con) == first
        assert case.con.execute("SELECT count(*) FROM model_state").fetchone()[0] == len(MONTHS)


def test_two_warehouses_with_the_same_rows_agree(tmp_path):
    snapshots = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        with new_case(tmp_path / name) as case:
            build_varied(case)
            snapshots.append(_snapshot(case.con))
    assert snapshots[0] == snapshots[1]


def test_ingest_rebuilds_only_the_months_its_audit_files_cover(tmp_path):
    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    db = str(tmp_path / "w.duckdb")
    runner = CliRunner()

    def built() -> dict:
        con = connect(db, read_only=True)
        try:
            return dict(
                con.execute(
                    "SELECT strftime(month, '%Y-%m'), last_file_id FROM model_state"
                ).fetchall()
            )
        finally:
            con.close()

    assert (
        runner.invoke(
            main,
            ["ingest", str(samples / "roster.csv"), str(samples / "alpha_audit.csv"), "--db", db],
        ).exit_code
        == 0
    )
    assert built() == {"2026-01": 2, "2026-02": 2}
    # The March export also covers 27-28 February: February and March are rebuilt, January
    # is left (stale now, rebuilt when next read).
    assert (
        runner.invoke(
            main, ["ingest", str(samples / "alpha_audit_2026-03.csv"), "--db", db]
        ).exit_code
        == 0
    )
    assert built() == {"2026-01": 2, "2026-02": 3, "2026-03": 3}
    # Delegations change every month's attribution.
    assert (
        runner.invoke(
            main, ["ingest", str(samples / "alpha_delegations.csv"), "--db", db]
        ).exit_code
        == 0
    )
    assert built() == {"2026-01": 4, "2026-02": 4, "2026-03": 4}
    findings = runner.invoke(
        main, ["findings", "--month", "2026-01", "--db", db, "--format", "json"]
    )
    assert findings.exit_code == 0
