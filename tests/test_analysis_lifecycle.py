"""A finding's life beyond one month: stable identity, statuses new/ongoing/accepted, review
decisions kept append-only, and report runs that name findings changed by late data."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis_cases import (
    ASSISTANT,
    HOLDER,
    LOCUM,
    MARCH,
    REPLACEMENT,
    SECRETARY,
    STRANGER,
    local,
    new_case,
    rows,
)
from delegation_reports import status as status_lib
from delegation_reports.analysis import lifecycle, models
from delegation_reports.analysis.config import DELEGATION_LEVEL_RULES, RULE_IDS
from delegation_reports.analysis.findings import month_findings
from delegation_reports.analysis.models import Month
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.reports.monthly import MonthlyReport
from delegation_reports.reports.overview import OverviewReport

FEBRUARY = Month(2026, 2)
APRIL = Month(2026, 4)
SRC = Path(__file__).resolve().parents[1] / "src" / "delegation_reports"


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def lifecycle_of(case, month: Month, rule_id: str | None = None) -> list[tuple]:
    """(rule, finding id, status, first month) of the month's findings."""
    return sorted(
        (f["rule_id"], f["finding_id"], f["status"], f["first_month"])
        for f in month_findings(case.con, month, rule_id=rule_id)
    )


def open_ended_replacement(case, at: str = "2026-02-02 09:00") -> str:
    """A practice whose holder gave an open-ended replacement delegation at ``at``."""
    case.practice(staff=[REPLACEMENT])
    return case.grant(HOLDER, REPLACEMENT, at, role="replacement", name="Pauline Guillou")


# ---- identity ------------------------------------------------------------------------------


def test_the_delegation_level_rules_are_registered_in_one_place():
    known = DELEGATION_LEVEL_RULES & set(RULE_IDS)
    assert {
        "delegation_not_by_holder",
        "open_ended_replacement",
        "delegate_outside_practice",
        "dormant_delegation",
    } <= known
    # Event-level rules are not among them.
    assert not {"access_without_delegation", "off_hours_access", "audit_gap"} & known


def test_delegation_level_rules_reading_one_month_of_events_are_known():
    """Rules evaluated for every month at once must not read the in-memory tables of the month
    being built (they would give every month that month's events); those that do are
    evaluated for their month only."""
    one_month = set()
    for rule_id in DELEGATION_LEVEL_RULES & set(RULE_IDS):
        sql = (SRC / "sql" / "models" / "rules" / f"{rule_id}.sql").read_text("utf-8")
        reads = bool(re.search(r"\bmonth_(access|heavy_reader)\b", sql))
        assert models.reads_all_months(rule_id) is not reads, rule_id
        if reads:
            one_month.add(rule_id)
    # Every delegation-level rule reads delegation periods and monthly marts only.
    assert one_month == set()


@pytest.mark.parametrize("order", ["april alone", "march then april"])
def test_a_replacement_working_beside_the_holder_is_new_then_ongoing(tmp_path, order):
    """replacement_while_holder_active reads the holder's and the replacement's days from a
    monthly mart: its run is known whatever was built before."""
    with new_case(tmp_path) as case:
        case.practice(staff=[SECRETARY])
        case.grant(
            HOLDER, REPLACEMENT, "2026-02-23 09:00", role="replacement", valid_to="2026-04-30"
        )
        for day in ("03-02", "03-03", "03-10", "03-17", "04-01", "04-02", "04-07", "04-08"):
            case.events(HOLDER, REPLACEMENT, [f"2026-{day} 09:00", f"2026-{day} 16:00"])
            case.event(HOLDER, HOLDER, f"2026-{day} 11:00")
        case.refresh(*(["2026-03", "2026-04"] if order != "april alone" else ["2026-04"]))
        rule = "replacement_while_holder_active"
        [(_, april_id, april_status, april_first)] = lifecycle_of(case, APRIL, rule)
        assert (april_status, april_first) == ("ongoing", MARCH.first_day)
        case.refresh("2026-03")
        [(_, march_id, march_status, _)] = lifecycle_of(case, MARCH, rule)
        assert (march_id, march_status) == (april_id, "new")
        lifecycle.record_decision(case.con, march_id, lifecycle.ACCEPT, by="DPO", reason="Vu")
        assert [s for _, _, s, _ in lifecycle_of(case, APRIL, rule)] == ["accepted"]


def test_a_delegation_finding_keeps_its_id_across_months_and_runs(case):
    grant = open_ended_replacement(case)
    case.coverage("2026-02-01 00:00", "2026-04-30 23:00")
    case.refresh("2026-02", "2026-03", "2026-04")
    by_month = {
        m: case.findings("open_ended_replacement", month=m) for m in (FEBRUARY, MARCH, APRIL)
    }
    ids = {m: [f["finding_id"] for f in found] for m, found in by_month.items()}
    assert len(ids[FEBRUARY]) == 1
    assert ids[FEBRUARY] == ids[MARCH] == ids[APRIL]
    assert by_month[APRIL][0]["delegation_key"] == grant
    case.refresh("2026-03", "2026-04")
    assert [f["finding_id"] for f in case.findings("open_ended_replacement", month=APRIL)] == ids[
        APRIL
    ]


def test_each_delegation_level_rule_gets_its_own_run(case):
    """Every delegation-level rule finding something in the month gets its own run, over the
    delegations its findings are about (a third party who gave one included): rules holding
    since February or March are ongoing in April."""
    case.practice(staff=[REPLACEMENT, SECRETARY])
    case.grant(HOLDER, REPLACEMENT, "2026-02-02 09:00", role="replacement")
    case.grant(HOLDER, ASSISTANT, "2026-02-02 10:00")  # on no roster of the holder
    case.grant(HOLDER, SECRETARY, "2026-03-02 10:00", performed_by=STRANGER)
    # (Used: no other delegation-level finding about the secretary.)
    case.event(HOLDER, SECRETARY, "2026-04-14 10:00")
    case.coverage("2026-02-01 00:00", "2026-04-30 23:00")
    case.refresh("2026-04")
    found = {(r, s, first) for r, _, s, first in lifecycle_of(case, APRIL)}
    assert {
        ("open_ended_replacement", "ongoing", FEBRUARY.first_day),
        ("delegate_outside_practice", "ongoing", FEBRUARY.first_day),
        # (Its actor is the third party, not the délégataire.)
        ("delegation_not_by_holder", "ongoing", MARCH.first_day),
    } <= found


def test_another_delegation_of_the_same_pair_is_another_finding(case):
    open_ended_replacement(case, "2026-02-02 09:00")
    case.revoke(HOLDER, REPLACEMENT, "2026-02-20 09:00")
    again = case.grant(HOLDER, REPLACEMENT, "2026-03-02 09:00", role="replacement")
    case.coverage("2026-02-01 00:00", "2026-03-31 23:00")
    case.refresh("2026-02", "2026-03")
    [february] = case.findings("open_ended_replacement", month=FEBRUARY)
    [march] = case.findings("open_ended_replacement", month=MARCH)
    assert march["delegation_key"] == again
    assert march["finding_id"] != february["finding_id"]
    assert lifecycle_of(case, MARCH, "open_ended_replacement") == [
        ("open_ended_replacement", march["finding_id"], "new", MARCH.first_day)
    ]


def test_an_event_finding_keeps_its_id_across_runs(case):
    case.practice()
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    [first] = case.findings("access_without_delegation")
    case.refresh()
    [again] = case.findings("access_without_delegation")
    assert again["finding_id"] == first["finding_id"]


# ---- statuses ------------------------------------------------------------------------------


def _april_world(case) -> None:
    """Traces from 1 March to 30 April; a replacement open-ended since January (before the
    traces); an access without delegation in April."""
    open_ended_replacement(case, "2026-01-05 09:00")
    case.coverage("2026-03-01 00:00", "2026-04-30 23:00")
    case.event(HOLDER, STRANGER, "2026-04-07 10:00")


def test_statuses_do_not_depend_on_the_months_built_before(tmp_path):
    (tmp_path / "alone").mkdir()
    (tmp_path / "both").mkdir()
    with new_case(tmp_path / "alone") as alone:
        _april_world(alone)
        alone.refresh("2026-04")
        april_alone = lifecycle_of(alone, APRIL)
    with new_case(tmp_path / "both") as both:
        _april_world(both)
        both.refresh("2026-03")
        both.refresh("2026-04")
        april_after_march = lifecycle_of(both, APRIL)
        march = lifecycle_of(both, MARCH)
    assert april_alone == april_after_march
    statuses = {rule: (status, first) for rule, _, status, first in april_alone}
    assert statuses == {
        "open_ended_replacement": ("ongoing", MARCH.first_day),
        "access_without_delegation": ("new", APRIL.first_day),
    }
    # A month before the traces does not make March's finding "ongoing".
    assert [(r, s, f) for r, _, s, f in march] == [
        ("open_ended_replacement", "new", MARCH.first_day)
    ]


def test_a_finding_that_stops_holding_is_new_again(case):
    """A delegation dormant in November and December, used in January, dormant again in April:
    April starts a new run."""
    case.practice(staff=[SECRETARY])
    case.grant(HOLDER, SECRETARY, "2025-09-01 09:00")
    case.coverage("2025-09-01 00:00", "2026-04-30 23:00")
    case.event(HOLDER, SECRETARY, "2026-01-15 10:00")
    months = [Month(2025, 11), Month(2025, 12), Month(2026, 1), APRIL]
    case.refresh(*months)
    seen = {m: lifecycle_of(case, m, "dormant_delegation") for m in months}
    assert [s for _, _, s, _ in seen[Month(2025, 11)]] == ["new"]
    assert [(s, f) for _, _, s, f in seen[Month(2025, 12)]] == [("ongoing", date(2025, 11, 1))]
    assert seen[Month(2026, 1)] == []
    assert [(s, f) for _, _, s, f in seen[APRIL]] == [("new", APRIL.first_day)]
    assert seen[APRIL][0][1] == seen[Month(2025, 11)][0][1]  # the same finding


# ---- review decisions ----------------------------------------------------------------------


def _statuses(case, rule_id: str, months) -> list[str]:
    return [next(f["status"] for f in month_findings(case.con, m, rule_id=rule_id)) for m in months]


def test_acceptance_expiry_change_and_reopening(case):
    open_ended_replacement(case)
    case.coverage("2026-02-01 00:00", "2026-04-30 23:00")
    months = (FEBRUARY, MARCH, APRIL)
    case.refresh(*months)
    [finding] = case.findings("open_ended_replacement", month=MARCH)
    fid = finding["finding_id"]
    assert _statuses(case, "open_ended_replacement", months) == ["new", "ongoing", "ongoing"]

    # Accepted until 15 March: February and March are accepted, April is not.
    decision = lifecycle.record_decision(
        case.con,
        fid,
        lifecycle.ACCEPT,
        by="Dr Hélène Garnier",
        reason="Remplacement de longue durée, contrat signé",
        until=date(2026, 3, 15),
        at=local("2026-03-20 10:00"),
    )
    assert (decision["decision"], decision["valid_until"]) == ("accept", date(2026, 3, 15))
    assert decision["delegation_ids"] == finding["delegation_ids"]
    assert _statuses(case, "open_ended_replacement", months) == ["accepted", "accepted", "ongoing"]
    [accepted] = month_findings(case.con, MARCH, rule_id="open_ended_replacement")
    assert (accepted["accepted_by"], accepted["accepted_reason"]) == (
        "Dr Hélène Garnier",
        "Remplacement de longue durée, contrat signé",
    )

    # Accepted with no end: every month.
    lifecycle.record_decision(case.con, fid, lifecycle.ACCEPT, by="DPO", reason="Sans fin")
    assert _statuses(case, "open_ended_replacement", months) == ["accepted"] * 3

    # The delegation changes after the acceptance: no longer accepted.
    case.modify(HOLDER, REPLACEMENT, "2026-04-10 09:00", role="replacement", rights=["read"])
    case.refresh(*months)
    [changed] = case.findings("open_ended_replacement", month=APRIL)
    assert changed["finding_id"] == fid  # same delegation, same finding
    assert _statuses(case, "open_ended_replacement", months) == ["new", "ongoing", "ongoing"]

    # Accepted again as it now is, then reopened.
    lifecycle.record_decision(case.con, fid, lifecycle.ACCEPT, by="DPO", reason="Vu")
    assert _statuses(case, "open_ended_replacement", months) == ["accepted"] * 3
    lifecycle.record_decision(case.con, fid, lifecycle.REOPEN, by="DPO", reason="À revoir")
    assert _statuses(case, "open_ended_replacement", months) == ["new", "ongoing", "ongoing"]


def test_an_accepted_event_finding_is_accepted_in_its_month_only(case):
    case.practice()
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.event(HOLDER, STRANGER, "2026-03-04 10:00")
    case.refresh()
    first, second = case.findings("access_without_delegation")
    lifecycle.record_decision(
        case.con, first["finding_id"], lifecycle.ACCEPT, by="DPO", reason="Test de l'opérateur"
    )
    status = {f["finding_id"]: f["status"] for f in month_findings(case.con, MARCH)}
    assert status == {first["finding_id"]: "accepted", second["finding_id"]: "new"}


def test_decisions_are_only_ever_appended(case):
    open_ended_replacement(case)
    case.refresh()
    [finding] = case.findings("open_ended_replacement")
    fid = finding["finding_id"]
    history = []
    for decision, reason in ((lifecycle.ACCEPT, "Vu"), (lifecycle.REOPEN, None)):
        lifecycle.record_decision(case.con, fid, decision, by="DPO", reason=reason)
        now = rows(case.con, "SELECT * FROM finding_review ORDER BY review_id")
        assert now[: len(history)] == history  # earlier decisions untouched
        assert len(now) == len(history) + 1
        history = now
    assert [d["decision"] for d in lifecycle.decisions(case.con, fid)] == ["accept", "reopen"]
    assert lifecycle.decisions(case.con, "other") == []


def test_no_code_path_changes_or_deletes_decisions_or_report_runs():
    """Append-only tables: no statement of the package updates, deletes, truncates or drops
    them (the lifecycle SQL only inserts)."""
    tables = r"(finding_review|report_run|report_run_finding)\b"
    forbidden = re.compile(
        rf"(UPDATE\s+{tables}|DELETE\s+FROM\s+{tables}|TRUNCATE\s+(TABLE\s+)?{tables}"
        rf"|DROP\s+TABLE\s+(IF\s+EXISTS\s+)?{tables}|INSERT\s+OR\s+REPLACE\s+INTO\s+{tables}"
        rf"|CREATE\s+OR\s+REPLACE\s+TABLE\s+{tables})",
        re.I,
    )
    files = [p for p in SRC.rglob("*") if p.suffix in (".py", ".sql")]
    assert len(files) > 50
    offenders = [str(p) for p in files if forbidden.search(p.read_text("utf-8"))]
    assert offenders == []
    # The only statements naming them in lifecycle SQL are inserts and reads.
    for sql in (SRC / "sql" / "lifecycle").glob("*.sql"):
        text = re.sub(r"--[^\n]*", "", sql.read_text("utf-8"))
        assert re.match(r"\s*(INSERT INTO|SELECT|WITH)\b", text), sql.name


@pytest.mark.parametrize(
    ("decision", "options", "message"),
    [
        (lifecycle.ACCEPT, {"by": "DPO"}, "accepting a finding needs a reason (--reason)"),
        (
            lifecycle.ACCEPT,
            {"by": " ", "reason": "x"},
            "a review decision needs the name of who takes it (--by)",
        ),
        (
            lifecycle.REOPEN,
            {"by": "DPO", "until": date(2026, 5, 1)},
            "--until applies to an acceptance, not to a reopening",
        ),
    ],
)
def test_incomplete_decisions_are_refused(case, decision, options, message):
    open_ended_replacement(case)
    case.refresh()
    [finding] = case.findings("open_ended_replacement")
    with pytest.raises(UserError) as error:
        lifecycle.record_decision(case.con, finding["finding_id"], decision, **options)
    assert str(error.value) == message
    assert lifecycle.decisions(case.con) == []


# ---- the review command --------------------------------------------------------------------


@pytest.fixture
def reviewed_db(tmp_path) -> tuple[Path, str]:
    """A warehouse with one open-ended replacement finding in March; its path and id."""
    with new_case(tmp_path) as case:
        open_ended_replacement(case)
        case.coverage("2026-03-01 00:00", "2026-03-31 23:00")  # traces cover March
        case.refresh()
        [finding] = case.findings("open_ended_replacement")
    return tmp_path / "w.duckdb", finding["finding_id"]


def test_review_accept_then_list_then_reopen(reviewed_db):
    db, fid = reviewed_db
    accepted = run(
        "review", fid, "--db", db, "--accept", "--reason", "Contrat signé", "--by", "Dr Garnier",
        "--until", "2026-06-30",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output == f"decision 1: finding {fid} accepted by Dr Garnier until 2026-06-30\n"
    shown = json.loads(run("findings", "--db", db, "--month", "2026-03", "--format", "json").stdout)
    assert [(r["finding_id"], r["status"]) for r in shown if r["finding_id"] == fid] == [
        (fid, "accepted")
    ]
    listed = json.loads(run("review", "--list", "--json", "--db", db).stdout)
    assert [(d["review_id"], d["finding_id"], d["decision"], d["decided_by"]) for d in listed] == [
        (1, fid, "accept", "Dr Garnier")
    ]
    assert listed[0]["valid_until"] == "2026-06-30" and listed[0]["reason"] == "Contrat signé"
    table = run("review", "--list", "--db", db)
    assert table.exit_code == 0 and "Review decisions (1)" in table.output
    reopened = run("review", fid, "--db", db, "--reopen", "--by", "DPO")
    assert reopened.output == f"decision 2: finding {fid} reopened by DPO\n"
    shown = json.loads(run("findings", "--db", db, "--month", "2026-03", "--format", "json").stdout)
    assert [r["status"] for r in shown if r["finding_id"] == fid] == ["new"]


def test_review_of_an_unknown_finding_names_it(reviewed_db):
    db, _ = reviewed_db
    result = run("review", "0123abc", "--db", db, "--accept", "--reason", "x", "--by", "DPO")
    assert result.exit_code == 1
    assert result.output == (
        "Error: unknown finding '0123abc': no month's findings have this id (see the "
        "finding_id column of 'delegation-reports findings --format json')\n"
    )
    assert json.loads(run("review", "--list", "--json", "--db", db).stdout) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--accept", "--by", "DPO"], 1, "Error: accepting a finding needs a reason (--reason)\n"),
        (
            ["--accept", "--reason", "x", "--by", "DPO", "--until", "2026-02-30"],
            2,
            "Error: Invalid value for '--until': '2026-02-30' is not a day: expected YYYY-MM-DD, "
            "e.g. 2026-01-31\n",
        ),
        (
            ["--accept", "--reason", "x", "--by", "DPO", "--until", "30/06/2026"],
            2,
            "Error: Invalid value for '--until': '30/06/2026' is not a day: expected YYYY-MM-DD, "
            "e.g. 2026-01-31\n",
        ),
    ],
)
def test_review_errors_are_one_clear_line(reviewed_db, args, code, message):
    db, fid = reviewed_db
    result = run("review", fid, "--db", db, *args)
    assert result.exit_code == code
    assert result.output.endswith(message)
    assert "Traceback" not in result.output


def test_review_needs_a_decision(reviewed_db):
    db, fid = reviewed_db
    result = run("review", fid, "--db", db, "--by", "DPO")
    assert result.exit_code == 2
    assert "Error: choose --accept or --reopen (or --list)" in result.output


# ---- late data -----------------------------------------------------------------------------


def test_late_data_is_named_by_status_overview_and_the_next_report(case, tmp_path):
    case.practice(staff=[SECRETARY, STRANGER], name="Cabinet Garnier")
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    [shown] = case.findings("access_without_delegation")
    first_run = lifecycle.record_report_run(case.con, MARCH, "P1", local("2026-04-01 10:00"))
    assert lifecycle.late_changes(case.con) == []
    assert lifecycle.report_changes(case.con, MARCH, "P1")[0]["n_runs"] == 1
    # Late data: the stranger's delegation (given in February) and two other accounts'
    # accesses.
    case.grant(HOLDER, STRANGER, "2026-02-02 09:00")
    case.event(HOLDER, ASSISTANT, "2026-03-04 10:00", prefix="L")
    case.event(HOLDER, REPLACEMENT, "2026-03-04 11:00", prefix="L")
    case.coverage("2026-03-04 10:00", "2026-03-04 11:00")
    case.refresh()
    [late] = lifecycle.late_changes(case.con)
    assert late["run_id"] == first_run
    assert [f["finding_id"] for f in late["disappeared"]] == [shown["finding_id"]]
    assert sorted((f["rule_id"], f["actor"]) for f in late["appeared"]) == [
        ("access_without_delegation", ASSISTANT),
        ("access_without_delegation", REPLACEMENT),
    ]
    text = "mars 2026 : 2 constats apparus et 1 disparu après le rapport du 1er avril 2026 (Cabinet Garnier)"
    report = status_lib.warehouse_status(case.con)
    assert [x["text"] for x in report["late_findings"]] == [text]
    assert report["late_findings"][0]["disappeared"] == [shown["finding_id"]]

    overview = OverviewReport.from_connection(case.con, MARCH)
    assert overview.late == [text]
    assert text in overview.section("header")
    # Not for an overview of an earlier month.
    assert OverviewReport.from_connection(case.con, FEBRUARY).late == []

    monthly = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert monthly.version.number == 2
    header = monthly.section("header")
    assert (
        "<strong>Version 2</strong> : remplace le rapport du 1er avril 2026 à 10 h 00. "
        "Depuis, 2 constats apparus et 1 disparu." in header
    )
    assert f"Constat disparu : Accès sans délégation — boîte {HOLDER}, compte {STRANGER}" in header
    assert header.count("Nouveau constat : ") == 2

    # Once reported again, nothing is late any more.
    lifecycle.record_report_run(case.con, MARCH, "P1", local("2026-04-15 10:00"))
    assert lifecycle.late_changes(case.con) == []
    again = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert "Depuis, aucun constat n&#39;a changé." in again.section("header")
    assert again.version.number == 3


def test_status_command_prints_late_findings(case):
    case.practice(name="Cabinet Garnier")
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.refresh()
    lifecycle.record_report_run(case.con, MARCH, "P1", local("2026-04-01 10:00"))
    case.event(HOLDER, STRANGER, "2026-03-04 10:00", prefix="L")
    case.coverage("2026-03-04 10:00", "2026-03-04 10:00")
    case.refresh()
    case.con.close()
    result = run("status", "--db", case.folder / "w.duckdb")
    assert result.exit_code == 0, result.output
    assert (
        "Findings changed after a report: mars 2026 : 1 constat apparu après le rapport du "
        "1er avril 2026 (Cabinet Garnier)" in result.output
    )


def test_a_batch_records_each_practice_s_run_as_it_would_alone(case):
    """A batch reads what every practice's report shows in one query and records every run
    in one transaction: the same findings, by practice, as one practice at a time."""
    case.practice(staff=[SECRETARY])
    case.practice("P2", holders=[REPLACEMENT], name="Cabinet Guillou")
    case.practice("P3", holders=[LOCUM], name="Cabinet Leroy")  # no finding
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.event(HOLDER, ASSISTANT, "2026-03-04 10:00")
    case.event(REPLACEMENT, STRANGER, "2026-03-05 10:00")
    case.refresh()
    alone = {p: lifecycle.shown_findings(case.con, MARCH, p) for p in ("P1", "P2", "P3")}
    assert len(alone["P1"]) == 2 and len(alone["P2"]) == 1 and alone["P3"] == []
    assert {row[4] for row in alone["P2"]} == {REPLACEMENT}  # its own mailbox's only
    together = lifecycle.shown_findings_of(case.con, MARCH, ["P3", "P2", "P1"])
    assert together == alone and list(together) == ["P3", "P2", "P1"]

    run_ids = lifecycle.record_report_runs(case.con, MARCH, local("2026-04-01 10:00"), together)
    assert list(run_ids) == ["P3", "P2", "P1"] and len(set(run_ids.values())) == 3
    for practice_id, run_id in run_ids.items():
        recorded = case.con.execute(
            "SELECT * EXCLUDE (run_id) FROM report_run_finding WHERE run_id = ? "
            "ORDER BY finding_id",
            [run_id],
        ).fetchall()
        assert recorded == alone[practice_id]
        assert lifecycle.report_changes(case.con, MARCH, practice_id)[0]["n_runs"] == 1
