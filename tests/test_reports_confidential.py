"""Owner-only files: every file the tool writes (reports, PDFs, evidence files, indexes,
plotly.js, kept notebooks, the warehouse) is 0600 and every folder it creates 0700, whatever
the umask; DuckDB spills into a private temporary folder, never beside the warehouse."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

pytest.register_assert_rewrite("reports_cases")

from click.testing import CliRunner  # noqa: E402

from delegation_reports.cli import main  # noqa: E402
from delegation_reports.reports.output import private_folder, write_file  # noqa: E402
from delegation_reports.warehouse import connect  # noqa: E402
from reports_cases import A  # noqa: E402

pytest_plugins = ["reports_cases"]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture
def umask():
    """Set the process umask for the test (the CLI narrows it), and restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_to(value: int) -> None:
        os.umask(value)

    try:
        yield set_to
    finally:
        os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _modes_under(root: Path) -> dict[str, int]:
    """Mode of every file and folder under ``root`` (not ``root`` itself)."""
    return {str(p.relative_to(root)): _mode(p) for p in sorted(root.rglob("*"))}


def _assert_private(root: Path) -> None:
    modes = _modes_under(root)
    assert modes
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_written_files_are_the_owners_only_whatever_the_umask(tmp_path, umask):
    umask(0)
    folder = private_folder(tmp_path / "out" / "2026-03" / "notebooks")
    for created in (tmp_path / "out", tmp_path / "out" / "2026-03", folder):
        assert _mode(created) == 0o700, created
    path = write_file(folder / "report.html", "<p>données</p>")
    assert _mode(path) == 0o600
    # Written again over a file someone opened up: owner-only again.
    path.chmod(0o644)
    write_file(path, "<p>encore</p>")
    assert _mode(path) == 0o600
    # A folder of reports made before (0755) is closed again; the user's own folder is left.
    (tmp_path / "mine").mkdir(mode=0o755)
    (tmp_path / "mine").chmod(0o755)
    reports = tmp_path / "mine" / "2026-04"
    reports.mkdir()
    reports.chmod(0o755)
    private_folder(reports)
    assert _mode(reports) == 0o700
    assert _mode(tmp_path / "mine") == 0o755


def test_private_folder_refuses_a_planted_link(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    victim.chmod(0o755)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "2026-03").symlink_to(victim)
    with pytest.raises(Exception, match="symbolic link"):
        private_folder(tmp_path / "out" / "2026-03")
    assert _mode(victim) == 0o755


def test_every_report_pdf_index_and_folder_is_private(documents):
    """Monthly reports and their PDFs, the index, the overview and the history with theirs,
    and any evidence file beside them."""
    names = {p.name for p in documents.folder.iterdir()}
    assert {f"{A}.html", f"{A}.pdf", "index.html", "overview.html", "overview.pdf"} <= names
    assert any(p.suffix == ".pdf" for p in (documents.out / "history").iterdir())
    _assert_private(documents.out)


def test_cli_batch_files_plotly_and_kept_notebooks_are_private(cli_batch):
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    assert (cli_batch.folder / "plotly.min.js").is_file()
    assert any((cli_batch.folder / "notebooks").iterdir())
    _assert_private(cli_batch.out)


def test_a_new_warehouse_is_private_and_spills_into_a_private_folder(tmp_path, umask):
    umask(0)
    db = tmp_path / "w.duckdb"
    con = connect(db)
    try:
        assert _mode(db) == 0o600
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        assert spill.is_dir() and spill.parent != tmp_path
        assert _mode(spill) == 0o700 and spill.stat().st_uid == os.getuid()
        # A sort larger than the memory allowed spills: nothing appears beside the warehouse.
        con.execute("SET memory_limit = '64MB'")
        con.execute("SET threads = 1")
        con.execute("SET preserve_insertion_order = false")
        n = con.execute(
            "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h FROM range(3000000) t(i) ORDER BY h)"
        ).fetchone()[0]
        assert n == 3_000_000
        beside = sorted(p.name for p in tmp_path.iterdir())
        assert [n for n in beside if n not in ("w.duckdb", "w.duckdb.wal")] == [], beside
        assert not (tmp_path / "w.duckdb.tmp").exists()
    finally:
        con.close()
    # Read-only connections spill there too.
    con = connect(db, read_only=True)
    try:
        assert Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0]) == spill
    finally:
        con.close()


def test_ingest_leaves_only_private_files_beside_the_warehouse(tmp_path, umask):
    umask(0o022)
    folder = tmp_path / "wh"
    folder.mkdir()
    exports = [SAMPLES / "roster.csv", SAMPLES / "alpha_delegations.csv"]
    result = CliRunner().invoke(
        main, ["ingest", *map(str, exports), "--db", str(folder / "d.duckdb"), "--no-refresh"]
    )
    assert result.exit_code == 0, result.output
    modes = _modes_under(folder)
    assert "d.duckdb" in modes
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o600} == {}
