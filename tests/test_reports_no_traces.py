"""Reports never read a lack of data as an all-clear: a practice without traces in the month,
and the months of a history the traces do not cover, are said to have none."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from click.testing import CliRunner

from delegation_reports.cli import main
from delegation_reports.reports.documents import run_history, run_overview
from delegation_reports.reports.runner import run_monthly
from delegation_reports.warehouse import opened

pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_HOLDER,
    MARCH,
    ROSTER_COLUMNS,
    A,
    parse_html,
    table_rows,
    write_csv,
)

pytest_plugins = ["reports_cases"]

SILENT = "CAB-SILENT"
NO_TRACES = "Aucune trace reçue pour ce mois"


@pytest.fixture(scope="module")
def silent_world(world, tmp_path_factory):
    """The reports' warehouse and a practice on the roster whose mailbox has no trace."""
    folder = tmp_path_factory.mktemp("silent")
    db = folder / "warehouse.duckdb"
    shutil.copy(world.db, db)
    roster = write_csv(
        folder / "roster-silent.csv",
        ROSTER_COLUMNS,
        [
            {
                "practice_id": SILENT,
                "practice_name": "Cabinet sans traces",
                "member": "sans.traces@medecin.mssante.fr",
                "member_kind": "holder",
            }
        ],
    )
    result = CliRunner().invoke(main, ["ingest", "--db", str(db), str(roster)])
    assert result.exit_code == 0, result.output
    return db


def test_a_practice_without_traces_is_not_told_all_is_well(silent_world, tmp_path):
    batch = run_monthly(silent_world, MARCH, practices=[SILENT, A], out=tmp_path)
    assert not batch.failed, batch.failed
    silent = (batch.folder / f"{SILENT}.html").read_text(encoding="utf-8")
    assert NO_TRACES in silent
    assert "Aucune alerte ce mois-ci" not in silent
    assert "Aucune alerte ne peut être établie" in silent
    assert NO_TRACES not in (batch.folder / f"{A}.html").read_text(encoding="utf-8")
    # No key figure reads as "0 alertes critiques" under the notice, and no chart is empty.
    page = parse_html(silent)
    figures = page.find(id="chiffres-cles")
    assert not figures.find_all(cls="card")
    assert "ne peuvent pas être établis" in figures.clean_text
    assert not page.find_all("figure")
    assert parse_html((batch.folder / f"{A}.html").read_text(encoding="utf-8")).find_all(cls="card")
    index = parse_html(batch.index.read_text(encoding="utf-8"))
    rows = {row[1]: row for row in table_rows(index.find("table")) if len(row) > 1}
    assert any("aucune trace reçue pour ce mois" in cell for cell in rows[SILENT])
    assert not any("aucune trace" in cell for cell in rows[A])

    overview = run_overview(silent_world, MARCH, out=tmp_path)
    page = parse_html(overview.read_text(encoding="utf-8"))
    listed = [r for t in page.find_all("table") for r in table_rows(t) if SILENT in r]
    assert listed and any("aucune trace reçue pour ce mois" in cell for cell in listed[0])


def test_history_ends_at_the_last_trace_and_names_months_without_traces(world, tmp_path):
    with opened(world.db, read_only=True) as con:
        last = con.execute(
            "SELECT CAST(timezone('Europe/Paris', max(occurred_at)) AS DATE) FROM audit_event "
            "WHERE mailbox = ?",
            [A_HOLDER],
        ).fetchone()[0]
        covered = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') "
                "FROM audit_event"
            ).fetchall()
        }
    assert "2026-01" not in covered and last < date.today()
    path = run_history(world.db, A_HOLDER, start=date(2026, 1, 1), out=tmp_path)
    assert path.name.endswith(f"_2026-01-01_{last}.html")
    page = parse_html(path.read_text(encoding="utf-8"))
    activity = page.find(id="activite").clean_text
    january = activity[activity.index("Janvier 2026") : activity.index("Février 2026")]
    assert NO_TRACES in january
    assert NO_TRACES not in activity[activity.index("Mars 2026") :]
