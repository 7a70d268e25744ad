"""An audit file's coverage is split where two consecutive events are more than 92 days apart:
one event dated decades away from the rest of its file covers its own month, not every month
and hour in between, so a refresh costs what the data holds, not the distance between its
instants. A month without a trace inside an export's period stays covered."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import (
    NOT_EXPORTS,
    SAMPLES,
    audit_record,
    ingest,
    records,
    utc,
    write_audit,
)
from delegation_reports.analysis import models
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.integrity import verify
from delegation_reports.reports.monthly import MonthlyReport
from delegation_reports.status import warehouse_status
from delegation_reports.warehouse import connect

FAR_EVENT = (
    "A-999999,{at},helene.garnier@medecin.mssante.fr,sandrine.moulin@pro.mssante.fr,read,"
    "success,otp,192.0.2.17,Thunderbird 115.18.0,s-far,,Messagerie Alpha\n"
)
PRACTICE = "C52249671000024"
GENERATED = "2026-04-01T00:00:00+00:00"
# Every model table whose rows are kept by month.
MONTHLY = ("finding", *models.MART_MODELS)


def _samples_warehouse(folder: Path, db: Path, far_at: str | None):
    """The samples, with one more event of Messagerie Alpha at ``far_at`` in its audit export,
    ingested and refreshed; returns the connection and the months the refresh built."""
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns(*NOT_EXPORTS))
    if far_at:
        with open(folder / "alpha_audit.csv", "a", encoding="utf-8") as handle:
            handle.write(FAR_EVENT.format(at=far_at))
    con = connect(db)
    results = {p.name: ingest(con, p) for p in sorted(folder.iterdir())}
    built = models.refresh(con)
    return con, results, built


def _month_rows(con, table: str, year: int) -> list[tuple]:
    return sorted(
        con.execute(f"SELECT * FROM {table} WHERE year(month) = ?", [year]).fetchall(), key=repr
    )


@pytest.fixture(scope="module")
def without_far_event(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    con, _, built = _samples_warehouse(folder / "exports", folder / "w.duckdb", None)
    yield con, built
    con.close()


@pytest.mark.parametrize(
    ("far_at", "far_month"),
    [("1970-01-01T00:00:00Z", date(1970, 1, 1)), ("2199-12-31T12:00:00Z", date(2199, 12, 1))],
)
def test_one_far_event_covers_its_own_month_only(tmp_path, without_far_event, far_at, far_month):
    plain, plain_built = without_far_event
    con, results, built = _samples_warehouse(tmp_path / "exports", tmp_path / "w.duckdb", far_at)
    try:
        # The far event is loaded, and the file says its coverage is split, naming the gap.
        assert (
            results["alpha_audit.csv"].rows_loaded
            == plain.execute(
                "SELECT count(*) FROM audit_event WHERE operator = 'Messagerie Alpha' "
                "AND source_file_id = (SELECT file_id FROM ingest_file WHERE file_name = 'alpha_audit.csv')"
            ).fetchone()[0]
            + 1
        )
        assert (
            con.execute(
                "SELECT count(*) FROM audit_event WHERE event_id = 'A-999999' AND occurred_at = ?",
                [utc(far_at)],
            ).fetchone()[0]
            == 1
        )
        (note,) = [n for n in results["alpha_audit.csv"].notes if "coverage split" in n]
        assert far_at[:10] in note and "92 days" in note
        status = warehouse_status(con)
        assert any("coverage split" in w for w in status["warnings"])
        assert [g["file_name"] for g in status["coverage_gaps"]] == ["alpha_audit.csv"]
        # The refresh built the far month and the data's months, nothing in between.
        assert [m.first_day for m in built] == sorted(
            [far_month, *(m.first_day for m in plain_built)]
        )
        months = {r[0] for r in con.execute("SELECT DISTINCT month FROM trace_month").fetchall()}
        assert months == {far_month, *(m.first_day for m in plain_built)}
        assert {m.first_day for m in models.covered_months(con)} == months
        # The hours generated: the data's, and the far event's day with its margin.
        n_hours = con.execute("SELECT count(*) FROM paris_hour").fetchone()[0]
        n_plain = plain.execute("SELECT count(*) FROM paris_hour").fetchone()[0]
        assert n_plain < n_hours <= n_plain + 3 * 24 + 1
        # The far month has its own findings; the data's months are those without the event.
        assert (
            con.execute("SELECT count(*) FROM mailbox_day WHERE month = ?", [far_month]).fetchone()[
                0
            ]
            == 1
        )
        for table in MONTHLY:
            assert _month_rows(con, table, 2026) == _month_rows(plain, table, 2026), table
        # The month's report says what the one without the far event says, but for the file
        # (its period shows its two spans), the oldest trace kept and the chain's head.
        reports = [
            vars(MonthlyReport.from_connection(c, PRACTICE, models.Month(2026, 3), GENERATED))
            for c in (plain, con)
        ]
        changed = [k for k in reports[0] if reports[0][k] != reports[1][k]]
        # The oldest trace kept is the far one when it is before the others.
        older = ["retention_text"] if far_month.year == 1970 else []
        assert changed == ["sources", *older, "chain_head"]
        (source,) = [s for s in reports[1]["sources"] if s.file_name == "alpha_audit.csv"]
        assert source.period == (
            "01/01/1970 ; 01/01/2026 – 28/02/2026"
            if far_month.year == 1970
            else "01/01/2026 – 28/02/2026 ; 31/12/2199"
        )
        # The months between are refused, naming what the traces cover.
        with pytest.raises(
            UserError,
            match=f"cover .*{far_month:%Y-%m}.*2026-01 to 2026-03|cover 2026-01 to 2026-03, {far_month:%Y-%m}",
        ):
            models.require_traces(con, models.Month(2000, 6))
        models.require_traces(con, models.Month(far_month.year, far_month.month))
    finally:
        con.close()


def _monthly_audit(path: Path, months: list[int], year: int = 2025) -> Path:
    """An audit export with two events in each of ``months`` of ``year``."""
    return write_audit(
        path,
        [
            audit_record(f"E-{m}-{d}", occurred_at=f"{year}-{m:02d}-{d:02d}T10:00:00+01:00")
            for m in months
            for d in (3, 24)
        ],
    )


def test_a_silent_month_inside_an_export_stays_covered(con, tmp_path):
    """A year's export whose August holds no event: August is covered (the absence of a
    trace there is evidence, maybe an audit gap), and nothing says the coverage is split."""
    result = ingest(con, _monthly_audit(tmp_path / "a.csv", [m for m in range(1, 13) if m != 8]))

    assert not [n for n in result.notes if "coverage split" in n]
    assert con.execute("SELECT count(*) FROM ingest_file_gap").fetchone()[0] == 0
    assert [str(m) for m in models.covered_months(con)] == [f"2025-{m:02d}" for m in range(1, 13)]
    models.require_traces(con, models.Month(2025, 8))
    models.refresh(con)
    assert date(2025, 8, 1) in {
        r[0] for r in con.execute("SELECT month FROM trace_month").fetchall()
    }


def test_more_than_92_days_without_an_event_splits_the_coverage(con, tmp_path):
    """January to March and then September to December: the four months between hold no
    event for more than 92 days and are not covered; require_traces names both runs."""
    result = ingest(con, _monthly_audit(tmp_path / "a.csv", [1, 2, 3, 9, 10, 11, 12]))

    gaps = records(con, "SELECT after_at, before_at FROM ingest_file_gap")
    assert gaps == [
        {"after_at": utc("2025-03-24T09:00:00Z"), "before_at": utc("2025-09-03T09:00:00Z")}
    ]
    assert any("2025-03-24 09:00:00 to 2025-09-03 09:00:00 UTC" in n for n in result.notes)
    assert [str(m) for m in models.covered_months(con)] == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
    ]
    with pytest.raises(
        UserError,
        match="no traces for 2025-06: the warehouse's traces cover "
        "2025-01 to 2025-03, 2025-09 to 2025-12",
    ):
        models.require_traces(con, models.Month(2025, 6))
    models.require_traces(con, models.Month(2025, 9))


def test_a_gap_another_file_covers_stays_covered(con, tmp_path):
    """A file's gap says nothing of another file's months: a month another export of the
    operator covers is covered."""
    ingest(con, _monthly_audit(tmp_path / "a.csv", [1, 2, 3, 9, 10, 11, 12]))
    ingest(con, _monthly_audit(tmp_path / "b.csv", [5, 6]))

    covered = [str(m) for m in models.covered_months(con)]
    assert "2025-05" in covered and "2025-06" in covered and "2025-07" not in covered
    models.require_traces(con, models.Month(2025, 6))


def test_a_warehouse_made_before_gaps_were_recorded_finds_them(tmp_path):
    """A warehouse whose files were loaded by a version without ``ingest_file_gap`` gets its
    files' gaps when first opened for writing, and its chain still verifies."""
    path = tmp_path / "w.duckdb"
    con = connect(path)
    ingest(con, _monthly_audit(tmp_path / "a.csv", [1, 2, 10, 11]))
    ingest(con, _monthly_audit(tmp_path / "b.csv", [1, 2, 3, 4, 5, 6]))
    assert con.execute("SELECT count(*) FROM ingest_file_gap").fetchone()[0] == 1
    con.execute("DROP TABLE ingest_file_gap")
    con.close()

    older = connect(path, read_only=True)
    try:  # read as it is, the whole file is covered
        assert len(models.covered_months(older)) == 11
    finally:
        older.close()
    con = connect(path)
    try:
        # File a's rows are read with file b's events of its operator (a repeated row is
        # kept under the file that brought it first): its gap is found from June, after b's
        # last event, never made longer than it is.
        assert records(con, "SELECT file_id, after_at, before_at FROM ingest_file_gap") == [
            {
                "file_id": 1,
                "after_at": utc("2025-06-24T09:00:00Z"),
                "before_at": utc("2025-10-03T09:00:00Z"),
            }
        ]
        assert [str(m) for m in models.covered_months(con)] == [
            "2025-01",
            "2025-02",
            "2025-03",
            "2025-04",
            "2025-05",
            "2025-06",
            "2025-10",
            "2025-11",
        ]
        assert verify.verify(con).ok
    finally:
        con.close()


def test_ingest_and_status_name_the_gap(tmp_path):
    """`ingest` prints the gap that splits a file's coverage, with the file's name and the
    instants either side; `status` lists it, in its table and in JSON."""
    db = tmp_path / "w.duckdb"
    path = _monthly_audit(tmp_path / "exports.csv", [1, 2, 3, 9, 10])
    runner = CliRunner()
    loaded = runner.invoke(main, ["ingest", str(path), "--db", str(db)])
    assert loaded.exit_code == 0, loaded.output
    assert (
        "exports.csv: coverage split: no event for more than 92 days from "
        "2025-03-24 09:00:00 to 2025-09-03 09:00:00 UTC" in " ".join(loaded.output.split())
    )
    shown = runner.invoke(main, ["status", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "Coverage gaps (1)" in shown.output and "2025-09-03 09:00" in shown.output
    as_json = json.loads(runner.invoke(main, ["status", "--db", str(db), "--json"]).output)
    assert [
        (g["file_name"], g["after_at"][:10], g["before_at"][:10]) for g in as_json["coverage_gaps"]
    ] == [("exports.csv", "2025-03-24", "2025-09-03")]
