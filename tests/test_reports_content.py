"""What the monthly report says: sections, counts, French dates and Paris times, sources;
hostile values escaped; nothing of one practice in another's report."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from markupsafe import escape

from delegation_reports.analysis.config import rule_catalogue

# Before the import: reports_cases is also a plugin, whose asserts pytest rewrites.
pytest.register_assert_rewrite("reports_cases")

from reports_cases import (  # noqa: E402
    A_ASSISTANT,
    A_AUDIT_FILE,
    A_DISTINCTIVE,
    A_HOLDER,
    A_INTRUDER,
    A_INTRUDER_EVENT,
    A_NAME,
    A_OPERATOR,
    A_REPLACEMENT,
    A_SECRETARY,
    A_STYLED,
    B_AUDIT_FILE,
    B_CANARIES,
    B_DELEGATE,
    B_DELEGATE_NAME,
    B_DELEGATION_FILE,
    DIRECTORY_FILE,
    IMG,
    LINK,
    PAYLOADS,
    SCRIPT,
    SPAN,
    SVG,
    A,
    B,
    decoded,
    finding_rules,
    findings_by_severity,
    parse_html,
    table_rows,
    without_plotly_library,
    without_scripts,
)

# The shared fixtures (world, batch, cli_batch), registered once for the session.
pytest_plugins = ["reports_cases"]

pytestmark = pytest.mark.slow

# The summary and the critical alerts first, then the tables.
SECTIONS = {
    "essentiel": "L'essentiel du mois",
    "alertes-critiques": "Alertes critiques",
    "chiffres-cles": "Chiffres clés du mois",
    "delegations": "Délégations en vigueur pendant le mois",
    "acces": "Accès des délégataires",
    "alertes": "Points à vérifier et informations",
    "qualite": "Qualité des données",
    "methode": "Méthode",
}
# Each key figure's label, singular and plural: the label agrees with its number.
CARDS = {
    "BAL personnelles": "BAL personnelle",
    "délégations actives": "délégation active",
    "actions des titulaires": "action des titulaires",
    "actions des délégataires": "action des délégataires",
    "actions de comptes sans délégation": "action de compte sans délégation",
    "alertes critiques": "alerte critique",
    "points à vérifier": "point à vérifier",
    "informations": "information",
}
FRENCH_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@pytest.fixture(scope="module")
def pages(batch) -> dict[str, str]:
    assert all(o.ok for o in batch.outcomes), [o.error for o in batch.outcomes]
    return {p: (batch.folder / f"{p}.html").read_text("utf-8") for p in (A, B)}


@pytest.fixture(scope="module")
def doc_a(pages):
    return parse_html(pages[A])


def _section(doc, section_id: str):
    return doc.find("section", id=section_id)


def _cards(doc) -> dict[str, int]:
    """The key figures by their plural label, each label checked against its number."""
    cards = doc.find("section", id="chiffres-cles").find_all("div", cls="card")
    singular = {one: many for many, one in CARDS.items()}
    out = {}
    for c in cards:
        label = c.find("span", cls="label").clean_text
        value = int(c.find("span", cls="value").clean_text)
        assert label == (CARDS[singular[label]] if label in singular else label), label
        assert (label in singular) == (value <= 1), (label, value)
        out[singular.get(label, label)] = value
    return out


# ---- 2. content ---------------------------------------------------------------------------------


def test_report_has_the_french_sections_in_order(doc_a, pages):
    top = [s for s in doc_a.find_all("section") if s.attrs["id"] != "exceptions"]
    headings = [s.find("h2").clean_text for s in top]
    assert headings == list(SECTIONS.values())
    assert [s.attrs["id"] for s in top] == list(SECTIONS)
    assert doc_a.find("html").attrs["lang"] == "fr"
    assert doc_a.find("title").text == f"{A_NAME} — mars 2026"
    assert doc_a.find("h1").text == A_NAME
    assert "Mars 2026" in doc_a.find("p", cls="subtitle").text
    # Only the rich outputs: no code, no prompt, no stream or log output of the notebook.
    for needle in (
        "MonthlyReport",
        "report.display",
        "In&nbsp;[",
        "input_prompt",
        "jp-InputArea",
        "output_stream",
        "output_stderr",
    ):
        assert needle not in pages[A], needle


@pytest.mark.parametrize("practice", [A, B])
def test_key_figures_match_the_rows_written(practice, pages, world):
    expected = world.expected[practice]
    severities = findings_by_severity(world.db, practice)
    assert _cards(parse_html(pages[practice])) == {
        "BAL personnelles": expected.n_mailboxes,
        "délégations actives": expected.n_delegations,
        "actions des titulaires": expected.n_owner_actions,
        "actions des délégataires": expected.n_delegate_actions,
        "actions de comptes sans délégation": expected.n_unknown_actions,
        "alertes critiques": severities["critical"],
        "points à vérifier": severities["warning"],
        "informations": severities["info"],
    }


def test_key_figures_of_a_are_the_designed_ones(doc_a):
    cards = _cards(doc_a)
    assert cards["délégations actives"] == 4
    assert cards["actions des titulaires"] == 22  # one read per weekday of March 2026
    assert cards["actions des délégataires"] == 13
    assert cards["actions de comptes sans délégation"] == 1
    # The replacement, off the roster, is not "outside the practice": a replacement never is;
    # the assistant's message sent without the send right is critical.
    assert (cards["alertes critiques"], cards["points à vérifier"]) == (3, 3)


def test_delegations_table_in_french(doc_a):
    section = _section(doc_a, "delegations")
    tables = section.find_all("table")
    in_force = {row[1]: row for row in table_rows(tables[0])}
    assert len(in_force) == 4
    secretary = in_force[f"{SCRIPT} {A_SECRETARY}"]
    assert secretary[2:] == ["Secrétaire", "lecture, envoi", "05/01/2026", "sans date de fin"]
    assert secretary[0] == f"Alice {SVG}"  # holder name from the directory
    assistant = in_force[f"{IMG} {A_ASSISTANT}"]
    assert assistant[2:] == ["Assistant médical", "lecture", "06/01/2026", "20/03/2026"]
    replacement = in_force[f"{LINK} {A_REPLACEMENT}"]
    assert replacement[2:] == [
        "Remplaçant",
        "documents, lecture, envoi",
        "16/03/2026",
        "27/03/2026",
    ]
    styled = in_force[f"{SPAN} {A_STYLED}"]
    assert styled[2:] == ["Secrétaire", "lecture", "03/03/2026", "sans date de fin"]
    changes = table_rows(tables[1])
    assert [(c[0], c[1]) for c in changes] == [
        ("02/03/2026 10:00", "Délégation donnée"),
        ("03/03/2026 10:00", "Délégation donnée"),
        ("20/03/2026 18:00", "Délégation retirée"),
    ]
    assert changes[0][5] == IMG  # performed by: free text from the export
    assert section.find("div", id="figure-delegations")


def test_activity_table_counts_and_paris_times(doc_a, world):
    section = _section(doc_a, "acces")
    rows = {row[0].split()[-1]: row for row in table_rows(section.find("table"))}
    expected = world.expected[A].actions
    actors = {actor for actor, _ in expected}
    assert set(rows) == actors
    for actor, row in rows.items():
        reads, sends = int(row[2]), int(row[3])
        assert reads == expected.get((actor, "read"), 0), actor
        assert sends == expected.get((actor, "send"), 0), actor
    # 2026-03-10T08:30:00Z is 09:30 in Paris (UTC+1); 2026-03-30T08:00:00Z is 10:00 (UTC+2,
    # after the change to summer time on 29 March).
    assert rows[A_INTRUDER][8:10] == ["10/03/2026 09:30", "10/03/2026 09:30"]
    assert rows[A_SECRETARY][8:11] == ["02/03/2026 09:00", "30/03/2026 10:00", "1"]
    assert rows[A_STYLED][8:11] == ["14/03/2026 15:00", "14/03/2026 15:00", "1"]
    flagged = {
        r.find_all("td")[0].clean_text.split()[-1]
        for r in section.find("table").find_all("tr", cls="flagged")
    }
    assert flagged == {A_INTRUDER, A_ASSISTANT, A_REPLACEMENT}
    assert section.find("div", id="figure-heatmap")


def _groups(doc) -> list:
    """The groups of findings of both finding sections, in page order."""
    return [
        g
        for section in ("alertes-critiques", "alertes")
        for g in _section(doc, section).find_all("div", cls="rule-group")
    ]


def test_findings_show_evidence_with_the_hostile_user_agents(doc_a, world):
    groups = _groups(doc_a)
    articles = [a for g in groups for a in g.find_all("article", cls="finding")]
    rules = finding_rules(world.db, A)
    assert len(articles) == sum(len(v) for v in rules.values())
    assert {"access_without_delegation", "off_hours_access", "right_exceeded"} <= set(rules)
    headings = [g.find("h3").clean_text for g in groups]
    assert "Critique Accès sans délégation — 1 constat" in headings
    # The assistant sent a message without the send right: critical.
    assert "Critique Action au-delà des droits délégués — 1 constat" in headings
    assert "À vérifier Activité en dehors des heures d'ouverture — 2 constats" in headings
    # Critical findings first, in a section of their own before the tables.
    severities = [a.attrs["class"].split()[1] for a in articles]
    assert severities == sorted(
        severities, key=["severity-critical", "severity-warning", "severity-info"].index
    )
    critical = _section(doc_a, "alertes-critiques").find_all("article", cls="finding")
    assert len(critical) == severities.count("severity-critical") == 3
    evidence = {
        row[5]: row
        for g in groups
        for t in g.find_all("table", cls="evidence-table")
        for row in table_rows(t)
    }
    assert evidence[A_INTRUDER_EVENT] == [
        "10/03/2026 09:30:00",
        "lecture",
        "réussite",
        "198.51.100.7",
        SCRIPT,
        A_INTRUDER_EVENT,
    ]
    assert evidence["ALPHA-M-2"][1] == "envoi"
    assert evidence["ALPHA-M-2"][4] == IMG
    assert evidence["ALPHA-S-8"][0] == "12/03/2026 23:30:00"
    assert evidence["ALPHA-S-8"][4] == LINK
    assert evidence["ALPHA-Y-1"][4] == SPAN
    intruder = next(a for a in articles if A_INTRUDER in a.clean_text)
    # Elision: "la boîte d'Alice", never "de Alice".
    assert f"Le compte {A_INTRUDER} a agi dans la boîte d'Alice {SVG}" in intruder.clean_text


def test_every_finding_carries_its_rule_advice(doc_a, world):
    """Each group of findings says what to do, from the rule catalogue, once per group."""
    catalogue = rule_catalogue()
    by_label = {rule["label"]: rule_id for rule_id, rule in catalogue.items()}
    shown = {}
    for g in _groups(doc_a):
        rule_id = by_label[g.find("span", cls="rule-label").clean_text]
        advice = g.find_all("p", cls="advice")
        assert [p.clean_text for p in advice] == [f"Que faire : {catalogue[rule_id]['advice']}"]
        shown[rule_id] = shown.get(rule_id, 0) + len(g.find_all("article", cls="finding"))
    rules = finding_rules(world.db, A)
    assert shown == {rule_id: len(found) for rule_id, found in rules.items()}
    # No sentence is said twice in the page's text.
    sentences = [
        s.strip()
        for s in re.split(r"(?<=[.!?])\s+", doc_a.find("main").clean_text)
        if len(s.strip()) > 40
    ]
    repeated = {s for s in sentences if sentences.count(s) > 1}
    assert repeated == set()


def test_summary_says_what_happened_and_who_acts(doc_a, world):
    summary = _section(doc_a, "essentiel")
    text = summary.clean_text
    assert text.startswith("L'essentiel du mois En mars 2026, ")
    assert "1 action a été faite par des comptes qui n'avaient aucune délégation." in text
    assert "3 alertes critiques et 3 points à vérifier ce mois-ci." in text
    items = [li.clean_text for li in summary.find("ul", cls="todo").find_all("li")]
    catalogue = rule_catalogue()
    for rule_id in finding_rules(world.db, A):
        rule = catalogue[rule_id]
        who = rule["who"][0].upper() + rule["who"][1:]
        assert any(i.startswith(f"{who} : ") and rule["label"] in i for i in items), rule_id
    # Links to each group of findings, and to the evidence files.
    hrefs = [a.attrs["href"] for a in summary.find_all("a")]
    assert f"./{A}-preuves.csv" in hrefs and f"./{A}-preuves.xlsx" in hrefs
    anchors = {g.attrs["id"] for g in _groups(doc_a)}
    assert {h[1:] for h in hrefs if h.startswith("#")} == anchors


def test_data_quality_lists_the_sources_with_their_sha256(doc_a, pages, world):
    section = _section(doc_a, "qualite")
    # Each file's row, then its fingerprint on a row of its own (whole on one line in print).
    rows = table_rows(section.find("table", cls="sources"))
    sources = {}
    for row, fingerprint in zip(rows[::2], rows[1::2], strict=True):
        assert fingerprint[0].startswith("Empreinte SHA-256 : "), fingerprint
        sources[row[0]] = [*row, fingerprint[0].removeprefix("Empreinte SHA-256 : ")]
    own = (A_AUDIT_FILE, "delegations-alpha.csv", DIRECTORY_FILE, "roster-1.csv", "roster-2.csv")
    assert set(sources) == set(own)
    for name in own:
        assert sources[name][6] == world.sha256(name), name
        assert re.fullmatch(r"[0-9a-f]{64}", sources[name][6])
    assert sources[A_AUDIT_FILE][1:6] == [
        "journal des accès",
        A_OPERATOR,
        "02/03/2026 – 31/03/2026",
        "36",
        "0",
    ]
    for other in (B_AUDIT_FILE, B_DELEGATION_FILE):
        assert world.sha256(other) not in pages[A]
    text = section.clean_text
    assert "Aucune ligne des fichiers sources n'a été écartée." in text
    assert "Aucune interruption des traces" in text
    method = _section(doc_a, "methode").clean_text
    assert "lundi de 7 h 00 à 20 h 00 ; mardi" in method
    assert "samedi de 8 h 00 à 13 h 00 ;" in method


def test_header_dates_are_french(doc_a):
    facts = doc_a.find("dl", cls="facts")
    values = dict(
        zip(
            [d.clean_text for d in facts.find_all("dt")],
            [d.clean_text for d in facts.find_all("dd")],
            strict=True,
        )
    )
    assert re.fullmatch(
        rf"(1er|\d{{1,2}}) ({'|'.join(FRENCH_MONTHS)}) \d{{4}} à \d{{1,2}} h \d\d",
        values["Généré le"],
    )
    assert values["Traces couvertes"] == "du 2 mars 2026 à 9 h 00 au 31 mars 2026 à 10 h 00"
    assert values["Opérateurs"] == A_OPERATOR


# ---- 3. escaping ----------------------------------------------------------------------------------


def test_payloads_never_appear_raw(pages, batch):
    """Not in the markup, not in the figures' data: only the plotly.js library is skipped."""
    index = batch.index.read_text("utf-8")
    for text in (without_plotly_library(pages[A]), index):
        for payload in (*PAYLOADS, "<b>gras</b>", "<i>A</i>", "<i onmouseover"):
            assert payload not in text, payload
    # The page is re-serialised by nbconvert: text keeps < > & escaped, quotes need not be.
    markup = without_scripts(pages[A])
    for payload in PAYLOADS:
        assert html.escape(payload, quote=False) in markup, payload
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "Cabinet &lt;b&gt;gras&lt;/b&gt;" in index
    assert "<title>Cabinet &lt;b&gt;gras&lt;/b&gt; — mars 2026</title>" in pages[A]


def test_figures_get_escaped_labels(pages):
    """plotly renders <b>, <a href> and <span style> found in labels: the data must carry them
    escaped, and the JSON must not close the script element."""
    scripts = re.findall(r"<script>(.*?)</script>", without_plotly_library(pages[A]), flags=re.S)
    figures = [s for s in scripts if "Plotly.newPlot" in s]
    assert len(figures) == 2
    timeline = next(s for s in figures if '"figure-delegations"' in s)
    for payload in (SCRIPT, IMG, LINK, SPAN):
        label = json.dumps(html.escape(payload, quote=False))[1:-1]
        assert label.replace("/", "\\u002f") in timeline or label in timeline, payload
        assert payload not in timeline


def test_static_markup_has_no_element_nor_attribute_from_the_data(pages):
    for practice in (A, B):
        doc = parse_html(pages[practice])
        tags = {n.tag for n in doc.iter()} - {"#document"}
        allowed = {
            "html",
            "head",
            "meta",
            "title",
            "style",
            "script",
            "body",
            "main",
            "footer",
            "header",
            "section",
            "article",
            "div",
            "p",
            "h1",
            "h2",
            "h3",
            "dl",
            "dt",
            "dd",
            "code",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "span",
            "br",
            "strong",
            "ul",
            "li",
            # A chart with its caption and its numbers; line-break opportunities in addresses.
            "figure",
            "figcaption",
            "details",
            "summary",
            "wbr",
            "a",
        }
        assert tags <= allowed, tags - allowed
        for node in doc.iter():
            for name, value in node.attrs.items():
                assert not name.startswith("on"), (node.tag, name)
                assert "javascript:" not in (value or "").lower(), (node.tag, name, value)
            if node.tag == "a":
                # Links stay inside the page or go to the evidence files beside it.
                href = node.attrs["href"]
                assert href.startswith("#") or href in (
                    f"./{practice}-preuves.csv",
                    f"./{practice}-preuves.xlsx",
                ), href
        assert not [s for s in doc.find_all("span") if "color:red" in (s.attrs.get("style") or "")]
        scripts = doc.find_all("script")
        assert len(scripts) == 3  # plotly.js, then one per figure
        assert all("Plotly" in s.text for s in scripts)


def test_payloads_read_back_as_literal_text(doc_a):
    """After HTML parsing, the payloads are plain text in the cells, not double-escaped."""
    text = doc_a.find("main").text
    for payload in PAYLOADS:
        assert payload in text, payload
    assert "&lt;" not in text
    assert A_AUDIT_FILE in text


# ---- 4. isolation ---------------------------------------------------------------------------------


def _forms(value: str) -> set[str]:
    """The ways a value may be written in a page: as is, HTML-escaped, in JSON."""
    return {
        value,
        str(escape(value)),
        json.dumps(value)[1:-1],
        json.dumps(str(escape(value)))[1:-1],
    }


def test_a_report_holds_none_of_b(pages):
    text = without_plotly_library(pages[A])
    plain = decoded(text)
    for canary in (*B_CANARIES, B_DELEGATE, B_DELEGATE_NAME, B):
        assert canary not in plain, canary
        for form in _forms(canary):
            assert form not in text, form


def test_b_report_holds_none_of_a(pages):
    text = without_plotly_library(pages[B])
    plain = decoded(text)
    for value in (*A_DISTINCTIVE, A, "Alice"):
        assert value not in plain, value
        for form in _forms(value):
            assert form not in text, form
    # The canaries are there: the check above is not vacuous.
    for canary in B_CANARIES:
        assert canary in plain, canary
    assert A_HOLDER in decoded(pages[A])


def test_evidence_files_beside_each_report_hold_only_its_practice(batch, world, pages):
    for practice, others in ((A, (*B_CANARIES, B_DELEGATE, B)), (B, (*A_DISTINCTIVE, A))):
        csv_text = (batch.folder / f"{practice}-preuves.csv").read_bytes().decode("utf-8-sig")
        xlsx = batch.folder / f"{practice}-preuves.xlsx"
        assert xlsx.read_bytes().startswith(b"PK")
        ids = {e for f in finding_rules(world.db, practice).values() for e in sum(f, [])}
        rows = list(csv.reader(io.StringIO(csv_text), delimiter=";"))
        assert rows[0][:3] == ["finding_id", "Gravité", "Règle"]
        # Every trace behind every finding (an event id starting like a formula is guarded).
        cited = {r[7].removeprefix("'") for r in rows[1:]}
        assert ids <= cited, ids - cited
        for value in others:
            assert value not in csv_text, value
