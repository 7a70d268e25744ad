"""The monthly batch: papermill runs in workers, the index, kept notebooks, shared assets,
offline pages and deterministic output."""

from __future__ import annotations

import hashlib
import json
import re

import nbformat
import pytest

from delegation_reports.integrity.reports import verify_folder
from delegation_reports.reports import labels, runner
from delegation_reports.reports.documents import run_overview
from delegation_reports.reports.monthly import MonthlyReport, page_html

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_NAME,
    B_NAME,
    MARCH,
    VERSION,
    A,
    B,
    findings_by_severity,
    parse_html,
    table_rows,
    without_generation_time,
    without_plotly_library,
    without_version,
)

# The shared fixtures (world, batch, cli_batch), registered once for the session.
pytest_plugins = ["reports_cases"]

pytestmark = pytest.mark.slow


def _index_rows(index_html: str) -> dict[str, list[str]]:
    table = parse_html(index_html).find("table")
    return {row[1]: row for row in table_rows(table)}


# ---- 1. the papermill run, its index and its notebooks ---------------------------------------


def test_batch_writes_both_reports_and_an_index(batch, world):
    assert [o.practice_id for o in batch.outcomes] == [A, B]
    assert all(o.ok for o in batch.outcomes), [o.error for o in batch.outcomes]
    assert batch.folder.name == "2026-03"
    for practice in (A, B):
        path = batch.folder / f"{practice}.html"
        assert path.is_file()
        assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert batch.index == batch.folder / "index.html"
    rows = _index_rows(batch.index.read_text(encoding="utf-8"))
    assert set(rows) == {A, B}
    for practice, name in ((A, A_NAME), (B, B_NAME)):
        counts = findings_by_severity(world.db, practice)
        cabinet, identifier, critical, warning, info, link = rows[practice]
        assert (cabinet, identifier) == (name, practice)
        assert (int(critical), int(warning), int(info)) == (
            counts["critical"],
            counts["warning"],
            counts["info"],
        )
        # No PDF in this batch; the evidence files, named with the practice.
        assert link == f"preuves (CSV) — {name} · preuves (Excel) — {name}"
    # A's findings, designed into its rows: 3 critical (a message sent without the send right
    # among them), 3 warnings; B's: one off-hours access.
    assert rows[A][2:5] == ["3", "3", "0"]
    assert rows[B][2:5] == ["0", "1", "0"]
    # Each report is linked by its practice's name, critical findings first, with its
    # evidence files beside it.
    links = [
        (a.attrs["href"], a.clean_text)
        for a in parse_html(batch.index.read_text("utf-8")).find_all("a")
    ]
    assert [link for link in links if link[0].endswith(".html")] == [
        (f"{A}.html", A_NAME),
        (f"{B}.html", B_NAME),
    ]
    assert {href for href, _ in links} >= {f"{A}-preuves.csv", f"{B}-preuves.xlsx"}
    assert "2 rapports produits" in batch.index.read_text("utf-8")
    assert "Mars 2026" in batch.index.read_text("utf-8")


def test_batch_leaves_no_notebook_nor_temporary_file_by_default(batch):
    # Each report, its evidence files, the index.
    assert sorted(p.name for p in batch.folder.iterdir()) == [
        f"{A}-preuves.csv",
        f"{A}-preuves.xlsx",
        f"{A}.html",
        f"{B}-preuves.csv",
        f"{B}-preuves.xlsx",
        f"{B}.html",
        "index.html",
        "manifest.json",
    ]
    assert not list(batch.folder.parent.rglob("*.ipynb"))


def test_keep_notebooks_keeps_the_executed_notebooks(cli_batch):
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    kept = cli_batch.folder / "notebooks"
    assert sorted(p.name for p in kept.iterdir()) == [f"{A}.ipynb", f"{B}.ipynb"]
    for practice in (A, B):
        nb = nbformat.read(str(kept / f"{practice}.ipynb"), as_version=4)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        assert f'practice_id = "{practice}"' in injected[0].source
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"]
        assert sum("text/html" in o.get("data", {}) for o in outputs) == len(MonthlyReport.SECTIONS)


# ---- the index follows the folder, whatever the order of the commands -------------------------


def _index_links(folder) -> set[str]:
    page = parse_html((folder / "index.html").read_text("utf-8"))
    return {a.attrs["href"] for a in page.find_all("a")}


def _assert_manifest_holds(folder) -> None:
    """verify-report passes, the index's entry being that of the index now on disk."""
    check = verify_folder(folder)
    assert check.ok, check.problems
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == "index.html")
    assert entry["sha256"] == hashlib.sha256((folder / "index.html").read_bytes()).hexdigest()


@pytest.mark.parametrize("overview_first", [False, True], ids=["monthly-first", "overview-first"])
def test_the_index_links_what_the_folder_holds_whatever_the_order(world, tmp_path, overview_first):
    folder = tmp_path / "2026-03"
    if overview_first:
        run_overview(world.db, MARCH, out=tmp_path)
        assert not (folder / "index.html").exists()  # no monthly batch there yet
    runner.run_monthly(world.db, MARCH, practices=[A], out=tmp_path)
    if not overview_first:
        assert "overview.html" not in _index_links(folder)
        _assert_manifest_holds(folder)
        run_overview(world.db, MARCH, out=tmp_path)
    assert "overview.html" in _index_links(folder)
    _assert_manifest_holds(folder)
    # Another practice's batch later into the same folder: the index lists both practices,
    # each with its own counts, and still the overview.
    runner.run_monthly(world.db, MARCH, practices=[B], out=tmp_path)
    assert {f"{A}.html", f"{B}.html", "overview.html"} <= _index_links(folder)
    rows = _index_rows((folder / "index.html").read_text("utf-8"))
    assert rows[A][2:5] == ["3", "3", "0"] and rows[B][2:5] == ["0", "1", "0"]
    assert "2 rapports produits" in (folder / "index.html").read_text("utf-8")
    _assert_manifest_holds(folder)


# ---- 6. offline pages, shared plotly.js -------------------------------------------------------

NETWORK = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", re.I)


def _assert_offline(text: str) -> None:
    rest = without_plotly_library(text)
    assert not NETWORK.search(rest), NETWORK.search(rest)
    for needle in (
        "http://",
        "https://",
        "//cdn",
        "require.js",
        "requirejs",
        "require(",
        "MathJax",
        "mathjax",
    ):
        assert needle not in rest, needle
    for node in parse_html(text).iter():
        for name in ("src", "href"):
            value = (node.attrs.get(name) or "").strip().lower()
            assert not value or not re.match(r"^([a-z][a-z0-9+.-]*:|//)", value), (node.tag, value)
    assert "<link" not in rest  # no stylesheet nor font from anywhere


def test_inline_reports_are_offline(batch):
    for practice in (A, B):
        text = (batch.folder / f"{practice}.html").read_text("utf-8")
        _assert_offline(text)
        scripts = parse_html(text).find_all("script")
        assert all("src" not in s.attrs for s in scripts)
        assert "plotly.js v" in scripts[0].text[:400]
    _assert_offline(batch.index.read_text("utf-8"))
    assert "<script" not in batch.index.read_text("utf-8")


def test_shared_assets_reference_plotly_beside_the_reports(cli_batch, batch):
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    library = cli_batch.folder / runner.PLOTLY_FILE
    assert library.is_file()
    assert library.stat().st_size > 1_000_000
    assert "plotly.js v" in library.read_text("utf-8")[:400]
    for practice in (A, B):
        text = (cli_batch.folder / f"{practice}.html").read_text("utf-8")
        _assert_offline(text)
        sources = [s.attrs["src"] for s in parse_html(text).find_all("script") if "src" in s.attrs]
        assert sources == [runner.PLOTLY_FILE]
        assert "plotly.js v" not in text
        inline_size = (batch.folder / f"{practice}.html").stat().st_size
        shared_size = (cli_batch.folder / f"{practice}.html").stat().st_size
        assert shared_size * 20 < inline_size, (shared_size, inline_size)


# ---- 5. determinism -----------------------------------------------------------------------------


def test_two_runs_give_the_same_report_but_for_the_generation_time(batch, cli_batch):
    """The runner's inline batch and the CLI's shared batch differ only by the plotly.js tag and
    the time they were generated."""
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    for practice in (A, B):
        inline = (batch.folder / f"{practice}.html").read_text("utf-8")
        shared = (cli_batch.folder / f"{practice}.html").read_text("utf-8")
        inline = re.sub(
            r"<script>[^<]*?plotly\.js v.*?</script>",
            f'<script src="{runner.PLOTLY_FILE}"></script>',
            inline,
            count=1,
            flags=re.S,
        )
        # Whichever batch ran second replaces the first one's report and says so.
        assert VERSION.search(inline) or VERSION.search(shared)
        assert without_generation_time(without_version(inline)) == without_generation_time(
            without_version(shared)
        )


def test_rendering_again_with_the_same_generation_time_is_byte_identical(
    cli_batch, world, tmp_path
):
    """Re-running the kept notebook's parameters through execute, notebook_body and page_html
    gives exactly the file the CLI wrote."""
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    kept = nbformat.read(str(cli_batch.folder / "notebooks" / f"{A}.ipynb"), as_version=4)
    injected = next(c for c in kept.cells if "injected-parameters" in c.metadata.get("tags", []))
    generated_at = re.search(r'generated_at = "([^"]+)"', injected.source).group(1)
    executed = tmp_path / f"{A}.ipynb"
    runner.execute(
        runner.notebook_path("monthly_report"),
        executed,
        {
            "db": str(world.db.resolve()),
            "practice_id": A,
            "month": "2026-03",
            "generated_at": generated_at,
        },
    )
    title = f"{A_NAME} — {labels.month_title(MARCH.first_day)}"
    again = page_html(
        runner.notebook_body(executed), title, plotly_js="shared", plotly_src=runner.PLOTLY_FILE
    )
    written = (cli_batch.folder / f"{A}.html").read_text("utf-8")
    # Rendered after the CLI's run was recorded, it names the report it would replace.
    assert "remplace le rapport du" in VERSION.search(again).group(0)
    assert without_version(again) == without_version(written)
