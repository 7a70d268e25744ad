"""The ``findings`` and ``evaluate`` commands, on the bundled samples and on small hand-built
warehouses: output shapes, filters, spreadsheet-safe CSV, clear errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis_cases import ASSISTANT, HOLDER, PARIS, SECRETARY, STRANGER, new_case
from delegation_reports.analysis import evaluate
from delegation_reports.analysis.config import RULE_IDS, load_config
from delegation_reports.analysis.findings import FIELDS, guard_cell, month_findings
from delegation_reports.analysis.models import Month, refresh
from delegation_reports.cli import main
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect, opened

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
GROUND_TRUTH = SAMPLES / "ground_truth.csv"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def samples_db(tmp_path_factory) -> Path:
    """A warehouse holding every sample export, with its models built; closed between tests."""
    path = tmp_path_factory.mktemp("samples") / "samples.duckdb"
    with opened(path) as con:
        for export in sorted(SAMPLES.iterdir()):
            if export.name not in NOT_EXPORTS:
                result = ingest_file(con, export)
                assert result.status == "loaded", result.message
                assert result.rows_quarantined == 0, export.name
        refresh(con, None, load_config())
    return path


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---- evaluate -----------------------------------------------------------------------------


def test_every_ground_truth_row_is_found_without_false_positives(samples_db):
    truths = evaluate.read_ground_truth(GROUND_TRUTH)
    with opened(samples_db) as con:
        scores = evaluate.evaluate(con, truths)
    in_truth = {t.rule_id for t in truths}
    assert {s.rule_id for s in scores if s.in_truth} == in_truth
    for score in scores:
        if score.in_truth:
            assert score.missed == [] and score.false_negatives == 0, score.missed
            assert score.unexpected == [] and score.false_positives == 0, score.unexpected
            assert score.recall == 1.0 and score.precision == 1.0
        else:
            # Rules the ground truth does not score may only add information, not alarms.
            assert {f["rule_id"] for f in score.unexpected} <= {score.rule_id}
            assert all(
                load_config().for_practice(f["practice_id"])["rules"][score.rule_id]["severity"]
                == "info"
                for f in score.unexpected
            ), score.unexpected
    assert sum(s.true_positives for s in scores) == len(truths)


def test_evaluate_command_prints_the_table(samples_db):
    result = run("evaluate", GROUND_TRUTH, "--db", samples_db)
    assert result.exit_code == 0, result.output
    assert "Findings against the ground truth" in result.output
    truths = evaluate.read_ground_truth(GROUND_TRUTH)
    # One row per rule, in the order of RULE_IDS (a narrow terminal may shorten the names).
    body = [
        [c.strip() for c in line.strip("│ ").split("│")]
        for line in result.output.splitlines()
        if line.startswith("│")
    ]
    assert len(body) == len(RULE_IDS)
    for rule_id, cells in zip(RULE_IDS, body, strict=True):
        assert rule_id.startswith(cells[0].rstrip("…")), (rule_id, cells)
        expected = sum(t.rule_id == rule_id for t in truths)
        if expected:
            assert cells[1:] == [str(expected), "0", "0", "1.00", "1.00"], cells
        else:
            assert cells[1:5] == ["-", "-", "-", "not in ground truth"], cells
    assert "missed " not in result.output and "unexpected " not in result.output


def test_evaluate_refuses_a_bad_ground_truth(samples_db, tmp_path):
    bad = tmp_path / "truth.csv"
    bad.write_text("rule_id,practice_id\naccess_without_delegation,P1\n", encoding="utf-8")
    result = run("evaluate", bad, "--db", samples_db)
    assert result.exit_code != 0
    assert "not a ground-truth file: missing columns ['mailbox', 'actor'" in result.output
    assert "Traceback" not in result.output


# ---- findings on the samples --------------------------------------------------------------


def test_findings_json_has_exactly_the_documented_fields(samples_db):
    result = run("findings", "--db", samples_db, "--month", "2026-03", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows
    assert list(FIELDS) == [
        "rule_id",
        "severity",
        "practice_id",
        "mailbox",
        "actor",
        "first_at",
        "last_at",
        "n_events",
        "evidence",
        "title_fr",
        "explanation_fr",
        "delegation_key",
        "delegation_ids",
        "finding_id",
        "status",
        "first_month",
    ]
    for row in rows:
        assert list(row) == list(FIELDS)
        assert isinstance(row["evidence"], list) and isinstance(row["n_events"], int)
        assert row["rule_id"] in RULE_IDS
        assert row["status"] in ("new", "ongoing") and len(row["finding_id"]) == 32
        assert row["first_month"] <= "2026-03-01"
        if row["status"] == "new":
            assert row["first_month"] == "2026-03-01"
    # Most severe first.
    order = {"critical": 0, "warning": 1, "info": 2}
    ranks = [order[r["severity"]] for r in rows]
    assert ranks == sorted(ranks)
    with opened(samples_db) as con:
        expected = month_findings(con, Month(2026, 3))
    assert len(rows) == len(expected)
    # Instants in Paris time with their offset.
    assert [r["first_at"] for r in rows] == [
        e["first_at"].astimezone(PARIS).isoformat() if e["first_at"] else None for e in expected
    ]
    assert any(r["first_at"].endswith("+01:00") for r in rows)


def test_findings_filters(samples_db):
    everything = json.loads(
        run("findings", "--db", samples_db, "--month", "2026-03", "--format", "json").stdout
    )
    practice = everything[0]["practice_id"]
    by_practice = json.loads(
        run(
            "findings",
            "--db",
            samples_db,
            "--month",
            "2026-03",
            "--practice",
            practice,
            "--format",
            "json",
        ).stdout
    )
    assert by_practice == [r for r in everything if r["practice_id"] == practice]
    by_rule = json.loads(
        run(
            "findings",
            "--db",
            samples_db,
            "--month",
            "2026-03",
            "--rule",
            "off_hours_access",
            "--format",
            "json",
        ).stdout
    )
    assert by_rule == [r for r in everything if r["rule_id"] == "off_hours_access"]
    assert by_rule and len(by_rule) < len(everything)
    both = json.loads(
        run(
            "findings",
            "--db",
            samples_db,
            "--month",
            "2026-03",
            "--practice",
            practice,
            "--rule",
            "off_hours_access",
            "--format",
            "json",
        ).stdout
    )
    assert both == [r for r in by_rule if r["practice_id"] == practice]
    # A known practice and a rule that found nothing: an empty answer is the right one.
    none = run(
        "findings",
        "--db",
        samples_db,
        "--month",
        "2026-03",
        "--practice",
        practice,
        "--rule",
        "delegation_inconsistency",
    )
    assert none.exit_code == 0 and "No findings for 2026-03." in none.output


def test_findings_table(samples_db):
    result = run("findings", "--db", samples_db, "--month", "2026-03")
    assert result.exit_code == 0, result.output
    with opened(samples_db) as con:
        n = len(month_findings(con, Month(2026, 3)))
    assert f"Findings 2026-03 ({n})" in result.output


@pytest.mark.parametrize("month", ["2026-13", "March", "2026-3", "26-03", ""])
def test_invalid_month_is_one_clear_line(samples_db, month):
    result = run("findings", "--db", samples_db, "--month", month)
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: Invalid value for '--month': {month!r} is not a month: expected YYYY-MM, "
        "e.g. 2026-03\n"
    )
    assert isinstance(result.exception, SystemExit)


def test_unknown_rule_is_refused(samples_db):
    result = run("findings", "--db", samples_db, "--month", "2026-03", "--rule", "nope")
    assert result.exit_code != 0
    assert "Invalid value for '--rule'" in result.output


def test_missing_warehouse_is_a_clear_error(tmp_path):
    result = run("findings", "--db", tmp_path / "none" / "w.duckdb", "--month", "2026-03")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "no warehouse at" in result.output


# ---- CSV safe for spreadsheets ------------------------------------------------------------


def test_csv_guards_formula_cells(tmp_path):
    actors = ["=cmd@x.fr", "+33@x.fr", "-x@x.fr", "@x.fr"]
    with new_case(tmp_path) as case:
        case.ingest_roster(
            [
                {
                    "practice_id": "P1",
                    "practice_name": "Cabinet",
                    "member": HOLDER,
                    "member_kind": "holder",
                },
                {
                    "practice_id": "P1",
                    "practice_name": "Cabinet",
                    "member": SECRETARY,
                    "member_kind": "staff",
                },
            ]
        )
        case.ingest_delegations(
            [
                {
                    "event_id": "G-1",
                    "event_type": "grant",
                    "event_at": "2026-03-02T09:00:00+01:00",
                    "mailbox": HOLDER,
                    "delegate": STRANGER,
                    "delegate_name": '=HYPERLINK("http://example.invalid","clic")',
                    "delegate_role": "replacement",
                    "performed_by": HOLDER,
                },
                {
                    "event_id": "G-2",
                    "event_type": "grant",
                    "event_at": "2026-03-02T09:00:00+01:00",
                    "mailbox": HOLDER,
                    "delegate": ASSISTANT,
                    "delegate_name": '=HYPERLINK("http://example.invalid","clic")',
                    "delegate_role": "secretary",
                    "performed_by": HOLDER,
                },
            ]
        )
        for actor in actors:  # not valid addresses for ingestion: written directly
            case.event(HOLDER, actor, "2026-03-03 10:00", agent="=1+1")
        case.cover_operators()
    db = tmp_path / "w.duckdb"
    result = run("findings", "--db", db, "--month", "2026-03", "--format", "csv")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == list(FIELDS)
    records = [dict(zip(FIELDS, row, strict=True)) for row in table[1:]]
    guarded_actors = {r["actor"] for r in records if r["rule_id"] == "access_without_delegation"}
    assert guarded_actors == {"'" + a for a in actors}
    outsider = [
        r
        for r in records
        if r["rule_id"] in ("delegate_outside_practice", "open_ended_replacement")
    ]
    assert len(outsider) == 2
    assert all(r["explanation_fr"].startswith("'=HYPERLINK(") for r in outsider)
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell
    # JSON keeps the values as they are: guarding is for spreadsheets only.
    raw = json.loads(run("findings", "--db", db, "--month", "2026-03", "--format", "json").stdout)
    assert {r["actor"] for r in raw if r["rule_id"] == "access_without_delegation"} == set(actors)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_guard_cell(value, expected):
    assert guard_cell(value) == expected


def test_findings_builds_a_stale_month(tmp_path):
    with new_case(tmp_path) as case:
        case.practice()
        case.event(HOLDER, STRANGER, "2026-03-03 10:00")
        case.cover_operators()
    db = tmp_path / "w.duckdb"
    first = json.loads(run("findings", "--db", db, "--month", "2026-03", "--format", "json").stdout)
    assert [r["rule_id"] for r in first] == ["access_without_delegation"]
    # New data (a new manifest row): the month is rebuilt on the next call.
    with new_case(tmp_path) as case:
        case.event(HOLDER, STRANGER, "2026-03-04 10:00", prefix="F")
        case.coverage("2026-03-04 10:00", "2026-03-04 10:00")
    again = json.loads(run("findings", "--db", db, "--month", "2026-03", "--format", "json").stdout)
    assert len(again) == 2
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM model_state").fetchone()[0] == 1


# ---- refresh ------------------------------------------------------------------------------


def test_refresh_command(tmp_path):
    with new_case(tmp_path) as case:
        case.practice()
        case.event(HOLDER, STRANGER, "2026-02-27 10:00")
        case.event(HOLDER, STRANGER, "2026-03-03 10:00")
        case.cover_operators()
    db = tmp_path / "w.duckdb"
    one = run("refresh", "--db", db, "--month", "2026-03")
    assert one.exit_code == 0, one.output
    assert one.output == "models rebuilt for 1 month: 2026-03\n"
    every = run("refresh", "--db", db)
    assert every.output == "models rebuilt for 2 months: 2026-02, 2026-03\n"
    with connect(db, read_only=True) as con:
        months = con.execute("SELECT DISTINCT month FROM finding ORDER BY 1").fetchall()
    assert [str(m[0]) for m in months] == ["2026-02-01", "2026-03-01"]
    bad = run("refresh", "--db", db, "--month", "2026-00")
    assert bad.exit_code != 0
    assert bad.output.endswith(
        "Error: Invalid value for '--month': '2026-00' is not a month: expected YYYY-MM, "
        "e.g. 2026-03\n"
    )


# ---- refresh ------------------------------------------------------------------------------


def test_refresh_command_rebuilds_what_an_incremental_refresh_keeps(tmp_path):
    with new_case(tmp_path) as case:
        case.practice(staff=[SECRETARY])
        grant = case.grant(HOLDER, SECRETARY, "2026-03-02 09:00", rights=("read", "send"))
        sent = case.event(HOLDER, SECRETARY, "2026-03-03 10:00", action="send")
        case.refresh()
        assert case.attribution(sent) == "delegate_authorised"
        # An edit in place, which ingestion never makes: the delegations' row count is the
        # same, so an incremental refresh keeps the delegation periods it built.
        case.con.execute(
            "UPDATE delegation_event SET rights = ['read'] WHERE event_id = ?", [grant]
        )
        case.refresh()
        assert case.attribution(sent) == "delegate_authorised"
    result = run("refresh", "--db", tmp_path / "w.duckdb", "--month", "2026-03")
    assert result.exit_code == 0, result.output
    assert "2026-03" in result.output
    with new_case(tmp_path) as case:
        assert case.attribution(sent) == "delegate_beyond_rights"
        assert [f["evidence"] for f in case.findings("right_exceeded")] == [[sent]]


# ---- never a false all-clear ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("findings", "--month", "2026-03"),
        ("refresh",),
        ("review", "--list"),
        ("evaluate", str(GROUND_TRUTH)),
        ("report", "monthly", "--month", "2026-03", "--all"),
        ("report", "overview", "--month", "2026-03"),
        ("status",),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_missing_warehouse_is_an_error_not_an_empty_answer(tmp_path, args):
    db = tmp_path / "mistyped.duckdb"
    result = run(*args, "--db", db, *(("--out", tmp_path / "out") if "report" in args else ()))
    assert result.exit_code == 1, result.output
    assert f"no warehouse at {db}: run 'delegation-reports ingest' first" in result.output
    assert "Traceback" not in result.output
    assert not db.exists()


@pytest.mark.parametrize("month", ["2030-01", "2025-12"])
def test_a_month_without_traces_is_refused_with_the_covered_range(samples_db, month, tmp_path):
    for args in (
        ("findings", "--month", month),
        ("report", "monthly", "--month", month, "--all", "--out", tmp_path),
    ):
        result = run(*args, "--db", samples_db)
        assert result.exit_code == 1, result.output
        assert f"no traces for {month}: the warehouse's traces cover 2026-01 to 2026-03" in (
            result.output
        )


def test_findings_of_an_unknown_practice_is_an_error(samples_db):
    result = run("findings", "--db", samples_db, "--month", "2026-03", "--practice", "C-TYPO")
    assert result.exit_code == 1
    assert "unknown practice 'C-TYPO': it is on no roster" in result.output
