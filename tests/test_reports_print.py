"""Printed reports (A4 PDFs read back with pypdf) and the markup that makes them print well:
no word or address cut mid-way, page numbers and a running header on every page, pages not
shrunk to fit a table, the index by severity, the twelve-month trend, readable heatmaps."""

from __future__ import annotations

import html
import json
import re
import unicodedata
import warnings
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.register_assert_rewrite("reports_cases")

from pypdf import PdfReader  # noqa: E402

from delegation_reports.analysis.models import Month  # noqa: E402
from delegation_reports.reports import figures, markup  # noqa: E402
from delegation_reports.reports.monthly import _Frame  # noqa: E402
from delegation_reports.reports.overview import OverviewReport  # noqa: E402
from delegation_reports.reports.runner import ReportOutcome, index_html  # noqa: E402
from delegation_reports.warehouse import connect  # noqa: E402
from reports_cases import A_INTRUDER, A_NAME, MARCH, B, decoded, parse_html  # noqa: E402

pytest_plugins = ["reports_cases"]

ADDRESS = re.compile(r"[\w.'=()+-]+@[\w-]+(?:\.[\w-]+)+")
LONG_WORD = re.compile(r"[^\W\d_]{9,}")
# Where a line may end inside an address: right after one of these.
BREAK_POINTS = "@.-_"


# ---- reading a PDF and its source ---------------------------------------------------------


def _pages(pdf: Path) -> list[str]:
    assert pdf.read_bytes().startswith(b"%PDF")
    # NFKC: the PDF's "ﬁ" ligatures read as "fi".
    return [unicodedata.normalize("NFKC", p.extract_text()) for p in PdfReader(str(pdf)).pages]


def _printed_text(source: Path) -> str:
    """The text a printed page shows, from its HTML: no script, style, title, nor the
    chart's number tables (folded on screen, not printed)."""
    text = source.read_text("utf-8")
    for element in ("script", "style", "title", "details"):
        text = re.sub(rf"<{element}\b.*?</{element}>", " ", text, flags=re.S)
    text = re.sub(r"<wbr\s*/?>", "", text)
    return unicodedata.normalize("NFKC", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def _split_only_at_break_points(value: str) -> re.Pattern:
    """``value`` whole, or with line ends only right after its natural break points."""
    parts = [re.escape(c) + (r"\n?" if c in BREAK_POINTS else "") for c in value]
    return re.compile("".join(parts))


def _check_printed(pdf: Path, source: Path, header: str) -> list[str]:
    pages = _pages(pdf)
    assert len(pages) >= 2
    reader = PdfReader(str(pdf))
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(595, abs=2)  # A4 portrait
        assert float(page.mediabox.height) == pytest.approx(842, abs=2)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} sur {len(pages)}" in text, (number, text[:200])
        first_lines = "\n".join(text.splitlines()[:3])
        assert "Confidentiel" in first_lines, first_lines
        assert header in first_lines.replace("\n", " "), first_lines
    printed = "\n".join(pages)
    shown = _printed_text(source)
    addresses = set(ADDRESS.findall(shown))
    assert addresses
    for address in addresses:
        assert _split_only_at_break_points(address).search(printed), address
    # Every long word of the page is printed whole: no hyphenation, no break inside a word.
    # (Compared in lower case: a kicker is printed in capitals.)
    printed_words = set(LONG_WORD.findall(printed.lower()))
    words = set(LONG_WORD.findall(shown.lower()))
    cut = sorted(w for w in words if w not in printed_words)
    assert cut == [], cut[:20]
    return pages


def test_monthly_pdf_prints_every_address_and_word_whole(documents):
    pages = _check_printed(
        documents.monthly.with_suffix(".pdf"), documents.monthly, f"{A_NAME} — mars 2026"
    )
    printed = "\n".join(pages)
    # The hostile address and the payload name are printed as text.
    assert _split_only_at_break_points(A_INTRUDER).search(printed)
    assert "<script>alert(1)</script>" in printed.replace("\n", "")


def test_history_and_overview_pdfs_print_whole_words_and_number_their_pages(documents):
    _check_printed(
        documents.history.with_suffix(".pdf"),
        documents.history,
        "Historique des délégations",
    )
    pages = _pages(documents.overview.with_suffix(".pdf"))
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} sur {len(pages)}" in text
        assert "Confidentiel" in text and "Vue d'ensemble" in text


def test_every_report_page_fits_the_a4_width(browser_page, documents):
    """No table or chart is wider than the printable width of A4: Chromium would otherwise
    shrink the whole document to fit it, or cut it."""
    from delegation_reports.reports.pdf import A4_PRINTABLE_WIDTH_PX

    page = browser_page
    page.set_viewport_size({"width": A4_PRINTABLE_WIDTH_PX, "height": 1000})
    for path in (
        documents.monthly,
        documents.folder / f"{B}.html",
        documents.history,
        documents.overview,
        documents.index,
    ):
        page.emulate_media(media="screen")
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        page.emulate_media(media="print")
        wide = page.evaluate(
            "w => [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1)"
            ".map(e => e.tagName + ' ' + e.textContent.slice(0, 60))",
            A4_PRINTABLE_WIDTH_PX,
        )
        assert wide == [], (path.name, wide[:5])
        assert page.evaluate("() => document.documentElement.scrollWidth") <= A4_PRINTABLE_WIDTH_PX


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


# ---- markup for print ---------------------------------------------------------------------


def test_breakable_escapes_first_then_marks_the_break_points():
    out = str(markup.breakable("x'<b>on=1</b>@evil.example"))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert out == (
        '<span class="addr">x&#39;&lt;b&gt;on=1&lt;/<wbr>b&gt;@<wbr>evil.<wbr>example</span>'
    )
    assert str(markup.breakable("2001:db8::1")).count("<wbr>") == 3
    assert str(markup.breakable(None)) == ""


@pytest.mark.parametrize(
    "value", ['"; } body { display: none', "</style><script>alert(1)</script>", "a\\b\n«c» — d"]
)
def test_css_string_cannot_leave_its_string(value):
    out = str(markup.css_string(value))
    inner = out[1:-1]
    assert out[0] == out[-1] == '"'
    assert not set(inner) & set("\"'<>{};\n")
    # Decoding the CSS escapes gives the value back.
    decoded = re.sub(r"\\([0-9a-f]+) ", lambda m: chr(int(m.group(1), 16)), inner)
    assert decoded == value


# ---- the index ----------------------------------------------------------------------------


def test_index_is_sorted_by_severity_and_links_every_document(tmp_path):
    folder = tmp_path / "2026-03"
    folder.mkdir()
    outcomes = [
        ReportOutcome("P-INFO", "Cabinet Info", n_info=4, path=folder / "P-INFO.html"),
        ReportOutcome("P-CRIT", "Cabinet Critique", 1, 0, 0, path=folder / "P-CRIT.html"),
        ReportOutcome("P-WARN", "Cabinet Vigilance", 0, 7, 9, path=folder / "P-WARN.html"),
        ReportOutcome("P-FAIL", "Cabinet Échec", 0, 1, 0, error="KeyError: boom"),
    ]
    for name in ("P-CRIT.pdf", "P-CRIT-preuves.csv", "P-CRIT-preuves.xlsx", "overview.html"):
        (folder / name).write_text("x")
    page = index_html(Month(2026, 3), outcomes, "2026-04-01T08:00:00+00:00", folder)
    doc = parse_html(page)
    rows = doc.find("table").find("tbody").find_all("tr")
    names = [r.find_all("td")[0].clean_text for r in rows]
    assert names == ["Cabinet Critique", "Cabinet Vigilance", "Cabinet Échec", "Cabinet Info"]
    links = [(a.attrs["href"], a.clean_text) for a in doc.find_all("a")]
    assert links[0] == ("overview.html", links[0][1]) and "Vue d'ensemble" in links[0][1]
    assert links[1:] == [
        ("P-CRIT.html", "Cabinet Critique"),
        ("P-CRIT.pdf", "PDF — Cabinet Critique"),
        ("P-CRIT-preuves.csv", "preuves (CSV) — Cabinet Critique"),
        ("P-CRIT-preuves.xlsx", "preuves (Excel) — Cabinet Critique"),
        ("P-WARN.html", "Cabinet Vigilance"),
        ("P-INFO.html", "Cabinet Info"),
    ]
    assert "échec : KeyError: boom" in rows[2].clean_text
    # No overview beside it: no link to one.
    (folder / "overview.html").unlink()
    assert "overview.html" not in index_html(
        Month(2026, 3), outcomes, "2026-04-01T08:00:00+00:00", folder
    )


# ---- charts ---------------------------------------------------------------------------------


def test_the_trend_has_twelve_months_with_zeros_and_right_aligned_numbers(world):
    con = connect(world.db, read_only=True)
    try:
        report = OverviewReport.from_connection(con, MARCH, None, "2026-04-01T08:00:00+00:00")
    finally:
        con.close()
    titles = [t.title for t in report.trend]
    assert len(titles) == 12
    assert titles[0] == "avril 2025" and titles[-1] == "mars 2026"
    march = report.trend[-1]
    assert march.has_traces and march.n_critical + march.n_warning + march.n_info > 0
    # The world has traces in March only: the other months are zeros, said to have no trace.
    assert all((t.n_critical, t.n_warning, t.n_info) == (0, 0, 0) for t in report.trend[:-1])
    assert not any(t.has_traces for t in report.trend[:-1])
    section = parse_html(report.section("trend"))
    rows = section.find("table").find("tbody").find_all("tr")
    assert len(rows) == 12
    cells = rows[-1].find_all("td")
    assert [c.attrs.get("class") for c in cells] == ["number"] * 3
    assert [c.clean_text for c in cells] == [
        str(march.n_critical),
        str(march.n_warning),
        str(march.n_info),
    ]
    assert "aucune trace" in rows[0].clean_text
    # The chart has a bar position for each of the twelve months.
    assert all(t in decoded(report.trend_html) for t in titles)


def test_heatmap_stays_readable_when_one_cell_dominates():
    cells = _Frame(
        [
            SimpleNamespace(isodow=1, hour=9, n_actions=5000),
            SimpleNamespace(isodow=2, hour=10, n_actions=2),
            SimpleNamespace(isodow=3, hour=11, n_actions=1),
        ]
    )
    fragment = figures.activity_heatmap(cells)
    data = _figure_data(fragment)
    z = data["z"]
    # Logarithmic: the 2 and the 1 are far from the empty end of the scale, not washed out.
    assert z[0][9] == pytest.approx(3.699, abs=0.01)
    assert z[1][10] / z[0][9] > 0.12 and z[2][11] / z[0][9] > 0.08
    assert z[4][0] is None  # nothing: no colour at all
    assert data["colorscale"] and data["reversescale"] is True
    # The real counts: in the hover, in the cells and in the colour bar.
    assert data["customdata"][0][9] == "Lundi 09 h : 5\u202f000 actions"
    assert data["customdata"][2][11] == "Mercredi 11 h : 1 action"
    assert data["text"][1][10] == "2" and data["text"][0][9] == "5,0 k"
    assert "5\u202f000" in data["colorbar"]["ticktext"]
    # A caption and the numbers as a table.
    doc = parse_html(fragment)
    assert re.search(r"5\s003 actions", doc.find("figcaption").clean_text)
    assert len(doc.find("details").find("table").find("tbody").find_all("tr")) == 3


def _figure_data(fragment: str) -> dict:
    match = re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", fragment, flags=re.S)
    assert match, fragment[:300]
    return json.loads(match.group(1))[0]


def test_timeline_ticks_never_crowd_on_long_windows():
    start = datetime(2020, 1, 1, tzinfo=figures.labels.PARIS)
    end = datetime(2026, 3, 31, tzinfo=figures.labels.PARIS)
    ticks = figures._ticks(start, end)
    assert 6 <= len(ticks) <= 13
    assert ticks[0] == start and all(t.day == 1 for t in ticks)


def test_charts_keep_only_the_three_useful_buttons_and_speak_french():
    config = figures.CONFIG
    assert config["modeBarButtons"] == [["toImage", "zoom2d", "resetScale2d"]]
    assert config["displaylogo"] is False and config["showSendToCloud"] is False
    # plotly.py passes every key on (it warns about, and would drop, ones it does not know).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fragment = figures.trend_bars(
            _Frame(
                [
                    SimpleNamespace(
                        title="mars 2026", label="mars 2026", n_critical=1, n_warning=0, n_info=2
                    )
                ]
            )
        )
    passed = json.loads(re.search(r"(\{\"displaylogo\".*?\})\s*\)", fragment).group(1))
    assert passed == config
    assert config["locale"] == "fr"
    js = figures.plotly_js()
    assert js.index("plotly.js v") < js.index("Plotly.register(")
    assert "'Reset axes': 'Réinitialiser les axes'" in js
    assert "name: 'fr'" in js
