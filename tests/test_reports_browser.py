"""The report in a real browser: headless Chromium through Playwright, offline.

Uses the system's Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``; ``.ci/run`` installs
Debian's package). Never downloads a browser.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_AUDIT_FILE,
    IMG,
    LINK,
    PAYLOADS,
    SCRIPT,
    SPAN,
    SVG,
    A,
)

# The shared fixtures (world, batch, cli_batch), registered once for the session.
pytest_plugins = ["reports_cases"]

from playwright import sync_api  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIGURES = ("figure-delegations", "figure-heatmap")


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).is_file(), f"no Chromium at {CHROMIUM}: install Debian's chromium package"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    page: object
    requests: list = field(default_factory=list)
    blocked: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)


def _open(browser, path: Path) -> Visit:
    """Open a report from disk, every request outside file: and data: blocked and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    visit = Visit(page)

    def route(r):
        url = r.request.url
        visit.requests.append(url)
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            visit.blocked.append(url)
            r.abort()

    def on_dialog(dialog):
        visit.dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and visit.errors.append(("console", m.text)))
    page.on("pageerror", lambda e: visit.errors.append(("pageerror", str(e))))
    page.on("dialog", on_dialog)
    page.goto(path.resolve().as_uri())
    page.wait_for_function(
        "ids => ids.every(id => document.querySelector(`#${id} svg.main-svg`))",
        arg=list(FIGURES),
        timeout=30_000,
    )
    return visit


def _check_clean(visit: Visit, url: str) -> None:
    page = visit.page
    assert visit.blocked == []
    assert visit.errors == []
    assert visit.dialogs == []
    assert visit.requests[0] == url
    # Only plotly's scripts: the library, then one per figure.
    scripts = page.evaluate("() => [...document.scripts].map(s => [s.src, s.text])")
    assert len(scripts) == 1 + len(FIGURES), [s[0] for s in scripts]
    library_src, library_text = scripts[0]
    assert library_src.endswith("/plotly.min.js") or "Plotly" in library_text
    for src, text in scripts[1:]:
        assert src == "" and "Plotly.newPlot" in text
    on_attributes = page.evaluate(
        "() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
        ".filter(a => a.name.toLowerCase().startsWith('on')).map(a => e.tagName + ' ' + a.name))"
    )
    assert on_attributes == []
    assert page.locator('a[href^="javascript:"]').count() == 0
    # The only links: to a place in the page, or to the practice's evidence files beside it.
    hrefs = page.evaluate(
        "() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))"
    )
    assert hrefs and all(
        h.startswith("#") or re.fullmatch(r"\./[\w.-]+-preuves\.(csv|xlsx)", h) for h in hrefs
    ), hrefs
    assert page.locator('span[style*="color:red"]').count() == 0
    assert page.locator("img, iframe, object, embed").count() == 0
    # The only svg elements are plotly's: inside the figures, and its text-measuring one.
    assert page.evaluate(
        "() => [...document.querySelectorAll('svg')]"
        ".every(s => s.closest('.js-plotly-plot') || s.closest('#js-plotly-tester'))"
    )
    body = page.inner_text("body")
    for payload in PAYLOADS:
        assert payload in body, payload
    assert A_AUDIT_FILE in body
    assert "&lt;" not in body


def test_report_renders_offline_without_running_the_payloads(browser, batch, tmp_path):
    path = batch.folder / f"{A}.html"
    url = path.resolve().as_uri()
    visit = _open(browser, path)
    try:
        assert visit.requests == [url]
        _check_clean(visit, url)
        page = visit.page
        for figure in FIGURES:
            assert page.locator(f"#{figure}.js-plotly-plot svg.main-svg").count() >= 1
        # The figure's labels are the payloads as text, neither markup nor double-escaped.
        ticks = page.eval_on_selector_all(
            "#figure-delegations .ytick text", "els => els.map(e => e.textContent)"
        )
        # Each label on two lines (délégataire, then "→ délégant"), read as one text here.
        assert sorted(ticks) == sorted(f"{p}→ Alice {SVG}" for p in (SCRIPT, IMG, LINK, SPAN))
        assert page.locator("#figure-delegations a").count() == 0
        # Hovering a bar shows its text; plotly must not turn it into a link or a styled span.
        # The chart comes after the summary and the critical alerts: scroll to it first.
        bar = page.locator("#figure-delegations .bars .point path").first
        bar.scroll_into_view_if_needed()
        box = bar.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#figure-delegations .hoverlayer .hovertext", timeout=5_000)
        hover = page.locator("#figure-delegations .hoverlayer").text_content()
        assert "alert(1)" in hover and "&lt;" not in hover and "&quot;" not in hover
        assert page.locator("#figure-delegations .hoverlayer a").count() == 0
        assert visit.dialogs == [] and visit.errors == []

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 20_000
        height = int.from_bytes(data[20:24], "big")
        assert height > 900  # full page, taller than the viewport
    finally:
        visit.page.close()


def test_shared_assets_report_loads_plotly_from_beside_it(browser, cli_batch):
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    path = cli_batch.folder / f"{A}.html"
    visit = _open(browser, path)
    try:
        library = (cli_batch.folder / "plotly.min.js").resolve().as_uri()
        assert visit.requests == [path.resolve().as_uri(), library]
        assert visit.page.evaluate("() => document.scripts[0].src") == library
        _check_clean(visit, path.resolve().as_uri())
    finally:
        visit.page.close()


# ---- every kind of page: the chart toolbar, requests, accessibility ------------------------

# The toolbar's buttons, by their French tooltips (plotly.js's ``fr`` locale, shipped inline).
TOOLBAR = {
    "Télécharger le graphique en fichier PNG": "toImage",
    "Zoom": "zoom2d",
    "Réinitialiser les axes": "resetScale2d",
}
PAGE_KINDS = ("monthly", "history", "overview", "index")
LOCAL_SCHEMES = ("file:", "data:", "blob:")


@dataclass
class Watched(Visit):
    """A visit in a context of its own, with the windows the page tried to open."""

    context: object = None
    popups: list = field(default_factory=list)


def _watch(browser, path: Path) -> Watched:
    """``path`` opened in a fresh context that records every request (of the page, its
    workers and any window it would open) and aborts every one that would leave the disk."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watched = Watched(page, context=context)

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            watched.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    context.on("request", lambda r: watched.requests.append(r.url))
    context.on("page", lambda p: p is not page and watched.popups.append(p.url))
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and watched.errors.append(m.text))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    # Every chart drawn (the index has none).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=30_000,
    )
    return watched


def _kind_path(documents, kind: str) -> Path:
    return {
        "monthly": documents.monthly,
        "history": documents.history,
        "overview": documents.overview,
        "index": documents.index,
    }[kind]


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_every_toolbar_button_is_french_and_no_click_leaves_the_page(browser, documents, kind):
    watched = _watch(browser, _kind_path(documents, kind))
    page = watched.page
    try:
        charts = page.locator(".js-plotly-plot")
        expected = {"index": 0, "overview": 1}.get(kind, 2)
        assert charts.count() == expected
        # Nothing plotly could use to send data: no logo link, no Chart Studio button or link.
        assert (
            page.locator(".modebar-btn--logo, a[href*='plot.ly'], a[href*='plotly.com']").count()
            == 0
        )
        for i in range(charts.count()):
            chart = charts.nth(i)
            chart.scroll_into_view_if_needed()
            chart.hover()
            buttons = chart.locator(".modebar-btn")
            titles = [buttons.nth(j).get_attribute("data-title") for j in range(buttons.count())]
            assert sorted(titles) == sorted(TOOLBAR), titles
            for j in range(buttons.count()):
                button = buttons.nth(j)
                title = button.get_attribute("data-title")
                chart.hover()
                if TOOLBAR[title] == "toImage":
                    with page.expect_download() as download:
                        button.click()
                    assert download.value.suggested_filename == "graphique.png"
                else:
                    button.click()
                # Plotly's work after a click is asynchronous: let it settle before checking.
                page.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))"
                )
            # Zoom by dragging, then reset: still nothing leaves.
            box = chart.locator(".nsewdrag").first.bounding_box()
            if box:
                page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)
                page.mouse.up()
                page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        # Every link of the page stays on the disk, beside it.
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        assert all(h.startswith("file:") for h in hrefs), hrefs
        assert watched.blocked == []
        assert watched.popups == []
        assert watched.errors == []
        assert all(u.startswith(LOCAL_SCHEMES) for u in watched.requests), watched.requests
    finally:
        watched.context.close()


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_pages_have_no_serious_accessibility_violation(browser, documents, kind):
    from axe_playwright_python.sync_playwright import Axe

    watched = _watch(browser, _kind_path(documents, kind))
    try:
        results = Axe().run(watched.page)
        violations = results.response["violations"]
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
        # axe ran for real: it reports the rules it checked.
        assert results.response["testEngine"]["name"] == "axe-core"
        assert watched.blocked == []
    finally:
        watched.context.close()


def test_charts_have_a_text_alternative(browser, documents):
    """Each chart is a figure with a caption; the heatmaps also carry their numbers as a table
    and in their cells, so that neither colour nor the mouse is needed to read them."""
    watched = _watch(browser, documents.monthly)
    page = watched.page
    try:
        for figure in ("figure-delegations", "figure-heatmap"):
            caption = page.locator(f"figure:has(#{figure}) figcaption").inner_text()
            assert len(caption) > 40, caption
        heatmap = page.locator("figure:has(#figure-heatmap)")
        assert "action" in heatmap.locator("figcaption").inner_text()
        rows = heatmap.locator("details table tbody tr")
        assert rows.count() >= 1
        total = sum(
            int(rows.nth(i).locator("td").nth(2).text_content().replace("\u202f", ""))
            for i in range(rows.count())
        )
        assert f"{total} action" in heatmap.locator("figcaption").inner_text().replace("\u202f", "")
        # The count of each busy cell is written in the cell itself.
        cell_texts = page.eval_on_selector_all(
            "#figure-heatmap g.heatmap-label text",
            "els => els.map(e => e.textContent).filter(t => t)",
        )
        assert len(cell_texts) == rows.count()
    finally:
        watched.context.close()
