"""The runner's checks, a failing practice in a batch, and the ``report monthly`` command."""

from __future__ import annotations

import nbformat
import pytest
from click.testing import CliRunner

from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.reports import runner
from delegation_reports.reports.runner import run_monthly, validate_parameters

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_NAME,
    MARCH,
    A,
    B,
    parse_html,
    table_rows,
)

# The shared fixtures (world, batch, cli_batch), registered once for the session.
pytest_plugins = ["reports_cases"]

# ---- 8. parameters ------------------------------------------------------------------------------


def test_unknown_practice_is_refused_before_any_notebook_runs(world, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError) as caught:
        run_monthly(world.db, MARCH, practices=[A, "NOPE-1", "NOPE-2"], out=out, workers=2)
    message = str(caught.value)
    assert "NOPE-1" in message and "NOPE-2" in message
    assert A not in message
    assert not out.exists()


def test_unknown_practice_through_the_cli(world, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "monthly",
            "--db",
            str(world.db),
            "--month",
            "2026-03",
            "--practice",
            "NOPE-9",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "NOPE-9" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"assets": "cdn"}, "--assets"),
        ({"workers": 0}, "--workers"),
    ],
)
def test_bad_options_are_refused(world, tmp_path, options, message):
    with pytest.raises(UserError, match=message):
        run_monthly(world.db, MARCH, practices=[A], out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_validate_parameters():
    notebook = runner.notebook_path("monthly_report")
    good = {"db": "w.duckdb", "practice_id": A, "month": "2026-03", "generated_at": ""}
    assert validate_parameters(notebook, good) == good
    with pytest.raises(UserError, match=r"unknown parameters \['practise_id'\]"):
        validate_parameters(notebook, {"db": "w.duckdb", "practise_id": A})
    with pytest.raises(UserError, match="practice_id must be a string, not int"):
        validate_parameters(notebook, {"db": "w.duckdb", "practice_id": 42})
    with pytest.raises(UserError, match="month must be a string"):
        validate_parameters(notebook, {"month": ["2026-03"]})


def test_missing_notebook_folder_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv(runner.NOTEBOOK_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=runner.NOTEBOOK_ENV):
        runner.notebook_path("monthly_report")


# ---- 9. one practice fails -------------------------------------------------------------------------


def _failing_notebooks(folder, practice_id: str):
    """A copy of the report notebook that raises for one practice, right after its parameters."""
    original = nbformat.read(str(runner.notebook_path("monthly_report")), as_version=4)
    position = (
        next(i for i, c in enumerate(original.cells) if "parameters" in c.metadata.get("tags", []))
        + 1
    )
    cell = nbformat.v4.new_code_cell(
        f'if practice_id == "{practice_id}":\n'
        f'    raise RuntimeError("panne simulée pour {practice_id}")'
    )
    cell.id = "simulated-failure"
    original.cells.insert(position, cell)
    folder.mkdir()
    nbformat.write(original, str(folder / "monthly_report.ipynb"))
    return folder


@pytest.mark.slow
def test_a_failing_practice_does_not_stop_the_batch(world, tmp_path, monkeypatch):
    notebooks = _failing_notebooks(tmp_path / "notebooks", B)
    # The spawned workers inherit the environment.
    monkeypatch.setenv(runner.NOTEBOOK_ENV, str(notebooks))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "monthly",
            "--db",
            str(world.db),
            "--month",
            "2026-03",
            "--all",
            "--out",
            str(out),
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 1, result.output
    folder = out / "2026-03"
    assert (folder / f"{A}.html").is_file()
    assert not (folder / f"{B}.html").exists()
    assert A_NAME in parse_html((folder / f"{A}.html").read_text("utf-8")).find("h1").text
    index = (folder / "index.html").read_text("utf-8")
    rows = {row[1]: row for row in table_rows(parse_html(index).find("table"))}
    # No PDF; A's evidence files beside its report, none for B, whose notebook failed.
    assert rows[A][5] == f"preuves (CSV) — {A_NAME} · preuves (Excel) — {A_NAME}"
    assert not list(folder.glob(f"{B}-preuves.*"))
    assert rows[B][5] == f"échec : RuntimeError: panne simulée pour {B}"
    assert "1 rapport produit, 1 en échec" in parse_html(index).find("p").clean_text
    failed_row = next(
        r for r in parse_html(index).find("table").find_all("tr") if B in r.clean_text
    )
    assert "flagged" in failed_row.attrs.get("class", "")
    assert "failed: RuntimeError" in result.stdout  # the table may wrap the message
    assert result.stdout.strip().splitlines()[-1] == str(folder / "index.html")
    assert not list(out.rglob("*.ipynb"))


# ---- 10. the command ------------------------------------------------------------------------------


def test_practices_must_be_chosen(world, tmp_path):
    base = [
        "report",
        "monthly",
        "--db",
        str(world.db),
        "--month",
        "2026-03",
        "--out",
        str(tmp_path / "out"),
    ]
    for extra in ([], ["--all", "--practice", A]):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2, result.output
        assert "--practice ID" in result.output and "--all" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_month_is_refused(world, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "report",
            "monthly",
            "--db",
            str(world.db),
            "--month",
            "2026-13",
            "--all",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code != 0
    assert "2026-13" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_all_writes_every_report_and_prints_the_index(cli_batch):
    result = cli_batch.result
    assert result.exit_code == 0, result.output
    index = cli_batch.folder / "index.html"
    assert result.stdout.strip().splitlines()[-1] == str(index)
    assert index.is_file()
    for practice in (A, B):
        assert (cli_batch.folder / f"{practice}.html").is_file()
        assert practice in result.stdout
    rows = {row[1] for row in table_rows(parse_html(index.read_text("utf-8")).find("table"))}
    assert rows == {A, B}
