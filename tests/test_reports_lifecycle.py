"""Reports and accepted findings: listed as "Exceptions acceptées" with who accepted them and
why (escaped: user text), never counted or shown as alerts."""

from __future__ import annotations

import pytest

from analysis_cases import HOLDER, MARCH, REPLACEMENT, SECRETARY, STRANGER, local, new_case
from delegation_reports.analysis import lifecycle
from delegation_reports.reports.monthly import MonthlyReport
from delegation_reports.reports.overview import OverviewReport
from delegation_reports.reports.runner import _practices
from reports_cases import parse_html

REASON = 'Remplacement signé <script>alert("x")</script> & validé'
BY = "Dr <b>Garnier</b>"


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        c.practice(staff=[SECRETARY, REPLACEMENT], name="Cabinet Garnier")
        c.grant(HOLDER, REPLACEMENT, "2026-03-02 09:00", role="replacement", name="Pauline Guillou")
        c.event(HOLDER, STRANGER, "2026-03-03 10:00")
        c.refresh()
        yield c


def _accept_replacement(case, until=None) -> str:
    [finding] = case.findings("open_ended_replacement")
    lifecycle.record_decision(
        case.con,
        finding["finding_id"],
        lifecycle.ACCEPT,
        by=BY,
        reason=REASON,
        until=until,
        at=local("2026-03-20 10:00"),
    )
    return finding["finding_id"]


def test_accepted_finding_is_an_exception_not_an_alert(case):
    before = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert before.exceptions == []
    assert (before.figures.n_critical, before.figures.n_warning) == (1, 1)
    assert "Exceptions acceptées" not in before.section("findings")

    _accept_replacement(case)
    report = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert (report.figures.n_critical, report.figures.n_warning, report.figures.n_accepted) == (
        1,
        0,
        1,
    )
    assert [f.title for f in report.findings] == ["Accès sans délégation"]
    # The accepted replacement is not to act on: no group of findings, nothing in the summary.
    assert [g.rule_id for g in report.groups] == ["access_without_delegation"]
    assert "Remplacement sans date de fin" not in report.section("summary")
    assert "1 exception acceptée reste valable." in report.section("summary")
    section = report.section("findings")
    doc = parse_html(section)
    exceptions = doc.find("section", id="exceptions")
    assert exceptions.find("h3").clean_text == "Exceptions acceptées"
    cells = [td.clean_text for td in exceptions.find("tbody").find_all("td")]
    assert cells == [
        "Remplacement sans date de fin",
        f"{HOLDER} {REPLACEMENT}",
        BY,
        "20/03/2026",
        REASON,
        "sans date de fin",
    ]
    # User text is escaped, never markup.
    assert "<script>" not in section and "<b>Garnier" not in section
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; validé" in section
    assert "Dr &lt;b&gt;Garnier&lt;/b&gt;" in section
    # Not an alert either: the critical section holds the one alert, the others none.
    assert doc.find_all("article", cls="finding") == []
    critical = parse_html(report.section("critical"))
    groups = [g.find("h3").clean_text for g in critical.find_all("div", cls="rule-group")]
    assert groups == ["Critique Accès sans délégation — 1 constat"]


def test_the_expiry_day_is_shown_and_a_lapsed_acceptance_is_an_alert_again(case):
    from datetime import date

    _accept_replacement(case, until=date(2026, 6, 30))
    report = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert [x.until for x in report.exceptions] == ["30/06/2026"]
    assert "30/06/2026" in report.section("findings")

    _accept_replacement(case, until=date(2026, 2, 28))
    report = MonthlyReport.from_connection(case.con, "P1", MARCH)
    assert report.exceptions == []
    assert report.figures.n_warning == 1
    [replacement] = [f for f in report.findings if f.title == "Remplacement sans date de fin"]
    assert replacement.status == "Nouveau"


def test_index_and_overview_do_not_count_accepted_findings(case):
    _accept_replacement(case)
    [practice] = _practices(case.con, MARCH).values()
    assert (practice.n_critical, practice.n_warning) == (1, 0)
    overview = OverviewReport.from_connection(case.con, MARCH)
    [row] = overview.practices
    assert (row.n_critical, row.n_warning, row.n_accepted) == (1, 0, 1)
    assert [r.rule_id for r in overview.rules] == ["access_without_delegation"]
    # Twelve months, the reported one last; the others have no finding.
    assert [(t.n_critical, t.n_warning) for t in overview.trend] == [(0, 0)] * 11 + [(1, 0)]
    cells = [td.clean_text for td in parse_html(overview.section("practices")).find_all("td")]
    assert cells[3:7] == ["1", "0", "0", "1"]
