"""Make ``docs/report-example.png``: the top of a monthly report on the bundled samples, as a
reader sees it in headless Chromium (Debian's ``chromium``).

    .venv/bin/python docs/report_example.py

The samples are loaded into a new warehouse in a temporary folder; the report is dated
1 April 2026 so that the picture only changes when the report does.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from delegation_reports.analysis.models import Month, refresh
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.reports.monthly import MonthlyReport, page_html
from delegation_reports.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
PICTURE = ROOT / "docs" / "report-example.png"
PRACTICE, MONTH = "C58142415700120", "2026-03"
WIDTH, HEIGHT = 1000, 2300


def render(folder: Path) -> Path:
    db = folder / "samples.duckdb"
    con = connect(db)
    try:
        for export in sorted(SAMPLES.iterdir()):
            if export.name not in ("ground_truth.csv", "samples.json"):
                ingest_file(con, export)
        refresh(con, [Month.parse(MONTH)])
    finally:
        con.close()
    report = MonthlyReport.load(str(db), PRACTICE, MONTH, "2026-04-01T08:00:00+00:00")
    page = folder / "report.html"
    page.write_text(page_html(report.body_html(), report.title), encoding="utf-8")
    return page


def main() -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        report = render(Path(tmp))
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(report.as_uri())
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))"
            )
            # The first chart's toolbar shows, as when the mouse is over it.
            page.locator(".js-plotly-plot").first.hover()
            page.screenshot(
                path=str(PICTURE), clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}
            )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
