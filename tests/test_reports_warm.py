"""Batches in warm kernels: the same pages as one kernel per report, a failing practice that
leaves nothing behind for the next one, memory that stays flat, history batches."""

from __future__ import annotations

import re
import shutil

import nbformat
import psutil
import pytest
from click.testing import CliRunner

from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month
from delegation_reports.analysis.models import ensure_practice_access
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.integrity.reports import read_manifest, verify_folder
from delegation_reports.reports import labels, runner
from delegation_reports.reports.documents import run_histories, run_history
from delegation_reports.reports.kernel import WarmKernel
from delegation_reports.reports.monthly import page_html
from delegation_reports.warehouse import connect

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_HOLDER,
    A_NAME,
    B_HOLDER,
    B_NAME,
    MARCH,
    ROSTER_COLUMNS,
    A,
    B,
    parse_html,
    without_generation_time,
    without_version,
    write_csv,
)

pytest_plugins = ["reports_cases"]

pytestmark = pytest.mark.slow

C = "CAB-C"
LEAK = "FUITE-DE-C"


def _with_practice_c(world, folder):
    """A copy of the world with a third practice, C, on the roster (one holder, no trace)."""
    folder.mkdir()
    db = folder / "warehouse.duckdb"
    shutil.copy(world.db, db)
    roster = write_csv(
        folder / "roster-3.csv",
        ROSTER_COLUMNS,
        [
            {
                "practice_id": C,
                "practice_name": "Cabinet C",
                "member": "claire.c@medecin.mssante.fr",
                "member_kind": "holder",
            }
        ],
    )
    con = connect(db)
    try:
        assert ingest_file(con, roster).status == "loaded"
        # What a batch prepares before its reports, so that a report run alone, read-only,
        # reads the same month.
        ensure_month(con, MARCH, load_config())
        ensure_practice_access(con, [MARCH])
    finally:
        con.close()
    return db


def _planted_notebooks(folder, how: str):
    """The report notebook with C failing right after its parameters, after setting a
    variable that the last cell shows whenever it is defined."""
    nb = nbformat.read(str(runner.notebook_path("monthly_report")), as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    failure = {
        "raise": f'    raise RuntimeError("panne simulée pour {C}")',
        "kernel dies": "    import os\n    os._exit(3)",
    }[how]
    planted = nbformat.v4.new_code_cell(
        f'if practice_id == "{C}":\n    leaked = "{LEAK}"\n{failure}'
    )
    planted.id = "simulated-failure"
    nb.cells.insert(position + 1, planted)
    shown = nbformat.v4.new_code_cell(
        "from IPython.display import HTML\n"
        "HTML(f'<p>{leaked}</p>') if 'leaked' in globals() else None"
    )
    shown.id = "shows-leaks"
    nb.cells.append(shown)
    folder.mkdir()
    nbformat.write(nb, str(folder / "monthly_report.ipynb"))
    return folder


def _single_page(db, practice: str, name: str, generated_at: str, folder) -> str:
    """The page of one practice from papermill's own engine, in a kernel of its own."""
    executed = folder / f"{practice}.ipynb"
    runner.execute(
        runner.notebook_path("monthly_report"),
        executed,
        {
            "db": str(db.resolve()),
            "practice_id": practice,
            "month": str(MARCH),
            "generated_at": generated_at,
        },
    )
    title = f"{name} — {labels.month_title(MARCH.first_day)}"
    return page_html(runner.notebook_body(executed), title)


@pytest.mark.parametrize("how", ["raise", "kernel dies"])
def test_a_failing_practice_between_two_good_ones_changes_nothing_in_theirs(
    world, tmp_path, monkeypatch, how
):
    db = _with_practice_c(world, tmp_path / "world")
    monkeypatch.setenv(runner.NOTEBOOK_ENV, str(_planted_notebooks(tmp_path / "nb", how)))
    # Before the batch records its runs, which the next version of a report names.
    single = tmp_path / "single"
    single.mkdir()
    generated_at = "2026-04-02T07:30:00+00:00"
    expected = {
        A: _single_page(db, A, A_NAME, generated_at, single),
        B: _single_page(db, B, B_NAME, generated_at, single),
    }
    # One worker, so one kernel runs A, then C, then B.
    result = runner.run_monthly(
        db, MARCH, practices=[A, C, B], out=tmp_path / "out", workers=1, keep_notebooks=True
    )
    outcomes = {o.practice_id: o for o in result.outcomes}
    assert [o.practice_id for o in result.outcomes] == [A, C, B]
    assert outcomes[A].ok and outcomes[B].ok, [o.error for o in result.outcomes]
    if how == "raise":
        assert outcomes[C].error == f"RuntimeError: panne simulée pour {C}"
    else:
        assert outcomes[C].error and "RuntimeError" not in outcomes[C].error
    assert not (result.folder / f"{C}.html").exists()
    for practice in (A, B):
        page = (result.folder / f"{practice}.html").read_text("utf-8")
        assert LEAK not in page
        assert without_generation_time(page) == without_generation_time(expected[practice])
        kept = nbformat.read(str(result.folder / "notebooks" / f"{practice}.ipynb"), 4)
        # A fresh kernel's counter: the notebook kept reads as if run alone.
        counts = [c.execution_count for c in kept.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1))
        assert "leaked" not in str([c.get("outputs") for c in kept.cells])


def _rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def test_fifty_reports_in_one_kernel_keep_memory_flat(world, tmp_path):
    """A worker renders report after report in one kernel: after a warm-up, neither the
    worker nor its kernel grows by more than a few megabytes over 50 more reports."""
    generated_at = "2026-04-02T07:30:00+00:00"
    notebook = str(runner.notebook_path("monthly_report"))

    def job(i: int) -> runner.RenderJob:
        practice = (A, B)[i % 2]
        return runner.RenderJob(
            key=practice,
            notebook=notebook,
            parameters={
                "db": str(world.db.resolve()),
                "practice_id": practice,
                "month": str(MARCH),
                "generated_at": generated_at,
            },
            target=str(tmp_path / f"{practice}.html"),
            title=practice,
        )

    with WarmKernel() as kernel:
        for i in range(10):
            assert runner.render(job(i), kernel).ok
        kernel_pid = kernel.pid()
        before = (_rss(psutil.Process().pid), _rss(kernel_pid))
        for i in range(50):
            assert runner.render(job(i), kernel).ok
        assert kernel.pid() == kernel_pid  # one kernel all along
        after = (_rss(psutil.Process().pid), _rss(kernel_pid))
    growth = [(a - b) / 2**20 for a, b in zip(after, before, strict=True)]
    assert growth[0] < 40, f"the worker grew by {growth[0]:.0f} MB over 50 reports"
    assert growth[1] < 40, f"the kernel grew by {growth[1]:.0f} MB over 50 reports"
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == "zombie"


def test_workers_are_replaced_after_their_quota(world, tmp_path):
    """With a quota of one report per worker, each report comes from a new worker and a new
    kernel, and the pages are the same as from one kernel."""
    # A copy: the runs these batches record stay out of the shared warehouse.
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(world.db, db)
    shared = runner.run_monthly(db, MARCH, practices=[A, B], out=tmp_path / "one", workers=1)
    recycled = runner.run_monthly(
        db, MARCH, practices=[A, B], out=tmp_path / "many", workers=1, recycle_after=1
    )
    assert all(o.ok for o in shared.outcomes + recycled.outcomes)
    for practice in (A, B):
        one = (shared.folder / f"{practice}.html").read_text("utf-8")
        many = (recycled.folder / f"{practice}.html").read_text("utf-8")
        assert without_generation_time(without_version(one)) == without_generation_time(
            without_version(many)
        )


def test_history_batch_of_a_practice(world, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "history",
            "--db",
            str(world.db),
            "--all-mailboxes",
            "--practice",
            A,
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-31",
            "--out",
            str(out),
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    pages = sorted((out / "history").glob("*.html"))
    assert [p.name for p in pages] == [
        f"{re.sub(r'[^A-Za-z0-9._-]+', '_', A_HOLDER)}_2026-03-01_2026-03-31.html"
    ]
    text = pages[0].read_text("utf-8")
    assert parse_html(text).find("h1") is not None
    assert B_HOLDER not in text
    assert "1 report(s) done, 0 failed" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out / "history")


def test_history_batch_of_the_warehouse_matches_single_histories(world, tmp_path):
    batch = run_histories(
        world.db, start="2026-03-01", end="2026-03-31", out=tmp_path / "batch", workers=2
    )
    assert [o.key for o in batch.outcomes] == sorted(o.key for o in batch.outcomes)
    assert {A_HOLDER, B_HOLDER} <= {o.key for o in batch.outcomes}
    assert not batch.failed, [o.error for o in batch.failed]
    # The batch records every page it wrote in the folder's manifest, which then checks.
    manifest = read_manifest(batch.folder)
    assert {f["path"] for f in manifest["files"]} == {o.path.name for o in batch.outcomes}
    assert [r["command"] for r in manifest["runs"]] == ["report history"]
    assert verify_folder(batch.folder).ok

    for holder in (A_HOLDER, B_HOLDER):
        page = next(o.path for o in batch.outcomes if o.key == holder)
        alone = run_history(
            world.db, holder, start="2026-03-01", end="2026-03-31", out=tmp_path / "alone"
        )
        assert without_generation_time(page.read_text("utf-8")) == without_generation_time(
            alone.read_text("utf-8")
        )


def test_history_batch_refuses_an_unknown_practice(world, tmp_path):
    with pytest.raises(UserError, match="NOPE"):
        run_histories(world.db, practice="NOPE", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_history_needs_one_way_to_choose_mailboxes(world, tmp_path):
    base = ["report", "history", "--db", str(world.db), "--out", str(tmp_path / "out")]
    for extra in (
        [],
        ["--mailbox", A_HOLDER, "--all-mailboxes"],
        ["--mailbox", A_HOLDER, "--practice", A],
    ):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


def test_a_batch_process_keeps_one_connection_and_drops_it_after_a_failure(world, monkeypatch):
    """``reading`` opens and closes a connection per block, except in a batch's processes:
    there one connection serves every block until one fails."""
    from delegation_reports import warehouse

    def one_block():
        with warehouse.reading(world.db) as con:
            assert con.execute("SELECT count(*) FROM roster_member").fetchone()[0] > 0
        return con

    monkeypatch.delenv(warehouse.KEEP_READER_ENV, raising=False)
    first = one_block()
    with pytest.raises(Exception, match="closed"):
        first.execute("SELECT 1")
    assert one_block() is not first

    monkeypatch.setenv(warehouse.KEEP_READER_ENV, "1")
    try:
        kept = one_block()
        assert one_block() is kept
        with pytest.raises(ZeroDivisionError), warehouse.reading(world.db) as con:
            assert con is kept
            raise ZeroDivisionError
        with pytest.raises(Exception, match="closed"):
            kept.execute("SELECT 1")
        assert one_block() is not kept
    finally:
        warehouse.close_kept_reader()


def test_a_batch_longer_than_its_workers_quotas_finishes(world, tmp_path):
    """Five reports, one worker replaced every two: three workers in turn render them all (a
    pool replacing its workers itself waited forever once the first reached its quota)."""
    import threading

    notebook = str(runner.notebook_path("monthly_report"))
    jobs = [
        runner.RenderJob(
            key=f"{practice}-{i}",
            notebook=notebook,
            parameters={
                "db": str(world.db.resolve()),
                "practice_id": practice,
                "month": str(MARCH),
                "generated_at": "2026-04-02T07:30:00+00:00",
            },
            target=str(tmp_path / f"{practice}-{i}.html"),
            title=practice,
        )
        for i, practice in enumerate((A, B, A, B, A))
    ]
    done = {}
    batch = threading.Thread(
        target=lambda: done.update(runner.render_all(jobs, workers=1, recycle_after=2)),
        daemon=True,
    )
    batch.start()
    batch.join(timeout=900)  # a generous bound: a hang never ends
    assert not batch.is_alive(), "the batch stopped once its first worker reached its quota"
    assert sorted(done) == sorted(job.key for job in jobs)
    assert all(r.ok for r in done.values()), [r.error for r in done.values()]


def test_a_batch_with_its_overview_renders_it_last_and_as_the_command_does(
    world, tmp_path, monkeypatch
):
    db = _with_practice_c(world, tmp_path / "world")
    planted = _planted_notebooks(tmp_path / "nb", "raise")
    # B's report takes a while: an overview started with the reports would be done first.
    nb = nbformat.read(str(planted / "monthly_report.ipynb"), as_version=4)
    slow = nbformat.v4.new_code_cell(f'if practice_id == "{B}":\n    __import__("time").sleep(6)')
    slow.id = "slow-b"
    nb.cells.append(slow)
    nbformat.write(nb, str(planted / "monthly_report.ipynb"))
    shutil.copy(runner.notebook_path("overview"), planted / "overview.ipynb")
    monkeypatch.setenv(runner.NOTEBOOK_ENV, str(planted))
    told = []
    result = runner.run_monthly(
        db,
        MARCH,
        practices=[A, C, B],
        out=tmp_path / "out",
        workers=2,
        overview=True,
        on_overview=told.append,
    )
    assert [o.ok for o in result.outcomes] == [True, False, True]
    assert result.overview is not None and result.overview.ok, result.overview
    assert told == [result.overview]
    page = result.overview.path
    assert page == result.folder / "overview.html"
    text = page.read_text("utf-8")
    assert LEAK not in text
    # Rendered once every report was written: it links both reports, not the failed one.
    links = {a.attrs["href"] for a in parse_html(text).find_all("a")}
    assert {f"{A}.html", f"{B}.html"} <= links and f"{C}.html" not in links

    # The batch's manifest records the overview and its notebook; the index links it.
    check = verify_folder(result.folder)
    assert check.ok, check.problems
    manifest = read_manifest(result.folder)
    assert "overview.html" in {f["path"] for f in manifest["files"]}
    run = manifest["runs"][-1]
    assert run["parameters"]["overview"] is True
    assert set(run["notebooks"]) == {"monthly_report.ipynb", "overview.ipynb"}
    index = parse_html((result.folder / "index.html").read_text("utf-8"))
    assert "overview.html" in {a.attrs["href"] for a in index.find_all("a")}

    # The same page as `report overview` run afterwards beside the same reports.
    alone = tmp_path / "alone"
    shutil.copytree(result.folder, alone / str(MARCH))
    from delegation_reports.reports.documents import run_overview

    again = run_overview(db, MARCH, out=alone)
    assert without_generation_time(again.read_text("utf-8")) == without_generation_time(text)


def test_a_batch_without_overview_writes_none(world, tmp_path):
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(world.db, db)  # the batch records its report runs there
    result = runner.run_monthly(db, MARCH, practices=[A], out=tmp_path / "out")
    assert result.overview is None
    assert not (result.folder / "overview.html").exists()
    assert "overview" not in read_manifest(result.folder)["runs"][-1]["parameters"]
