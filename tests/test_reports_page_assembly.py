"""How a page is put together, faster and to the same bytes: nbconvert's last pass streamed
(BeautifulSoup's text, byte for byte, and the real pass whenever the page holds something the
streamed one does not cover), and plotly.js set into the page after Jinja renders it."""

from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from nbconvert import HTMLExporter

from delegation_reports.reports import figures, monthly, runner, soup

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import A  # noqa: E402

pytest_plugins = ["reports_cases"]


def _bs4(html: str) -> str:
    return str(BeautifulSoup(html, features="html.parser"))


def _notebook(*html_outputs: str) -> nbformat.NotebookNode:
    cells = []
    for i, html in enumerate(html_outputs):
        cell = nbformat.v4.new_code_cell("x", id=f"cell-{i}")
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "x"})
        ]
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


def _stock_body(nb, monkeypatch) -> str:
    """``notebook_body`` with nbconvert's own exporter and the same settings."""
    with monkeypatch.context() as m:
        m.setattr(runner, "_exporter", lambda: HTMLExporter(**runner.EXPORTER_OPTIONS))
        return runner.notebook_body(nb)


# ---- the reports themselves -----------------------------------------------------------------


@pytest.mark.slow
def test_a_monthly_report_takes_the_streamed_pass_and_gives_nbconvert_s_bytes(
    cli_batch, monkeypatch
):
    assert cli_batch.result.exit_code == 0, cli_batch.result.output
    nb = nbformat.read(str(cli_batch.folder / "notebooks" / f"{A}.ipynb"), as_version=4)
    streamed = []
    real = soup.reserialized

    def recorded(html):
        streamed.append(page := real(html))
        return page

    monkeypatch.setattr(soup, "reserialized", recorded)
    body = runner.notebook_body(nb)
    assert streamed and streamed[0] is not None, "the report fell back to the real pass"
    assert body == _stock_body(nb, monkeypatch)
    # The pass changes the exporter's text (whitespace, attribute order, entities): what the
    # streamed one gives is not the text it was given.
    assert "&#39;" not in body and "\n\n" not in body


# ---- pages the streamed pass covers, and those it leaves to the real one ---------------------


def test_what_the_pass_normalises_comes_out_as_beautifulsoup_writes_it():
    html = (
        '<div id="z" class=" b  a " data-x=\'say "hi"\' title="it&#39;s &amp; <ok>">\n   \n'
        "<p>l&#39;accès &lt;b&gt; &eacute;t&eacute; &#x263A; &nbsp;</p><br><input disabled>"
        "<pre>  \n  </pre><script>if (a < b && c) {}</script><style> p > a {} </style>"
        "<td headers=' h1   h2 '>\t</td><span title='both \" and &#39;'>x</span></div>"
    )
    streamed = soup.reserialized(html)
    assert streamed is not None
    assert streamed == _bs4(html)
    assert '<br/><input disabled=""/>' in streamed
    assert "<pre>  \n  </pre>" in streamed  # whitespace kept there only


@pytest.mark.parametrize(
    "html",
    [
        '<div><img src="a.png"></div>',  # the pass gives it an alt text
        '<div class="jp-Notebook"><div class="jp-OutputArea-output">x</div></div>',
        "<!-- a comment --><p>x</p>",
        "<!DOCTYPE html><p>x</p>",
        '<meta charset="latin-1"><p>x</p>',
        "<div><p>x</div>",  # an end tag closing more than the last open tag
        "<div><p>x",  # tags left open
        "</p><p>x</p>",  # an end tag closing nothing
    ],
)
def test_pages_the_streamed_pass_does_not_cover_take_the_real_one(html, monkeypatch):
    assert soup.reserialized(html) is None
    nb = _notebook(html, "<p>l&#39;autre</p>")
    assert runner._exporter().from_notebook_node(nb)[0] == _stock_body(nb, monkeypatch)


def test_an_image_without_alt_text_gets_nbconvert_s(monkeypatch):
    nb = _notebook('<p><img src="chart.png"></p>')
    body = runner._exporter().from_notebook_node(nb)[0]
    assert 'alt="No description has been provided for this image"' in body
    assert body == _stock_body(nb, monkeypatch)


# ---- any markup: the streamed pass gives BeautifulSoup's text or steps aside -----------------

_TAGS = ["div", "p", "span", "td", "a", "pre", "script", "style", "br", "img", "meta", "b"]
_TEXT = st.lists(
    st.sampled_from(list("ab \n\t<>&\"'=/;#x3é") + ["&amp;", "&#39;", "&lt;", "&nbsp", "&#x80;"]),
    max_size=12,
).map("".join)


@st.composite
def _markup(draw, depth=0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "tag", "tag", "raw"] if depth < 3 else ["text"]))
        if kind == "text":
            parts.append(draw(_TEXT))
        elif kind == "raw":
            parts.append(draw(st.sampled_from(["<!-- c -->", "</b>", "<br/>", "<div/>", "<p>"])))
        else:
            name = draw(st.sampled_from(_TAGS))
            attrs = "".join(
                f" {draw(st.sampled_from(['class', 'id', 'title', 'alt', 'CLASS', 'headers']))}"
                f'={draw(st.sampled_from(["", "="]))}"{draw(_TEXT).replace(chr(34), "")}"'
                for _ in range(draw(st.integers(0, 2)))
            )
            inner = draw(_markup(depth=depth + 1))
            parts.append(f"<{name}{attrs}>{inner}</{name}>")
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(_markup())
def test_any_markup_gives_beautifulsoup_s_text_or_the_real_pass(html):
    streamed = soup.reserialized(html)
    if streamed is not None:
        assert streamed == _bs4(html)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["div", "p", "span", "td", "b", "pre"]), _TEXT), max_size=6)
)
def test_well_formed_markup_takes_the_streamed_pass(items):
    html = "".join(
        f'<{name} class="c {i}" title="{text.replace(chr(34), "")}">{text}<br></{name}>'
        for i, (name, text) in enumerate(items)
        if "<" not in text and "&" not in text
    )
    streamed = soup.reserialized(html)
    assert streamed is not None
    assert streamed == _bs4(html)


# ---- plotly.js set into the rendered page -----------------------------------------------------


@pytest.mark.parametrize("notice", [None, "Chaîne non vérifiée"])
@pytest.mark.parametrize(
    "body",
    [
        "<p>l'accès</p>",
        # The placeholder's text in the body: the page is rendered with the library instead.
        "<p>" + monthly._PLOTLY_PLACEHOLDER + "</p>",
    ],
)
def test_the_page_is_the_one_jinja_renders_with_plotly_js_in_it(body, notice):
    title = 'Cabinet <Dupont> & "fils"'
    page = monthly.page_html(body, title, notice=notice)
    assert page == monthly._page(body, title, figures.plotly_js(), None, notice)
    assert page.count(figures.plotly_js()) == 1
    shared = monthly.page_html(body, title, plotly_js="shared", plotly_src="p.js", notice=notice)
    assert shared == monthly._page(body, title, None, "p.js", notice)
    assert figures.plotly_js() not in shared and '<script src="p.js">' in shared
