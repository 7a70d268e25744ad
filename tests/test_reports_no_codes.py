"""No raw code reaches a reader: rule ids, the values the warehouse stores (severities,
statuses, attributions, actions, outcomes, authentication methods, roles, rights, kinds of
file, quarantine reasons) and field names only show through their French words, in every kind
of report, on the samples and on a warehouse where every rule fires."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from analysis_cases import MONTHS, build_varied, new_case
from delegation_reports.analysis.config import RULE_IDS, rule_catalogue
from delegation_reports.analysis.models import Month, refresh
from delegation_reports.ingest.pipeline import REASONS, ingest_file
from delegation_reports.reports import labels
from delegation_reports.reports.history import HistoryReport
from delegation_reports.reports.monthly import MonthlyReport
from delegation_reports.reports.overview import OverviewReport
from delegation_reports.reports.runner import ReportOutcome, index_html
from delegation_reports.warehouse import connect
from reports_cases import parse_html

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
SAMPLE_MONTHS = (Month(2026, 1), Month(2026, 2), Month(2026, 3))

# What the warehouse stores and a reader must never see as such. French words that are also
# codes ("documents") are left out; so are words the data itself may hold.
CODES = {
    *RULE_IDS,
    "critical",
    "warning",
    "info",
    "new",
    "ongoing",
    "accepted",
    "owner",
    "system",
    "delegate_authorised",
    "delegate_beyond_rights",
    "delegate_after_revocation",
    "delegate_outside_period",
    "no_delegation",
    *(a for a in labels.ACTIONS if a != "other"),
    "success",
    "failure",
    "e-cps",
    "psc",
    "otp",
    "password",
    "certificate",
    "secretary",
    "medical_assistant",
    "replacement",
    "read",
    "send",
    "manage",
    "audit",
    "delegations",
    "snapshot",
    "snapshots",
    "roster",
    "directory",
    "events",
    "grant",
    "modify",
    "revoke",
    "holder",
    "staff",
    *REASONS,
    "practice_id",
    "finding_id",
    "mailbox",
    "actor",
    "delegation_key",
    "first_at",
    "last_at",
    "n_events",
    "title_fr",
    "explanation_fr",
    "None",
    "null",
    "NaT",
}
_CODE = re.compile(
    r"(?<![\w@.\-/])("
    + "|".join(re.escape(c) for c in sorted(CODES, key=len, reverse=True))
    + r")(?![\w@\-/])"
)


def _visible(html: str) -> str:
    """The text a reader sees (no script or style), without the values that come from the
    data: addresses, identifiers, file names and software versions hold any word."""
    words = [w.strip(".,;:()«»!?'\"") for w in parse_html(html).text.split()]
    return " ".join(w for w in words if not re.search(r"[@./:\\\d]", w))


def _codes(html: str) -> list[str]:
    return sorted({m.group(1) for m in _CODE.finditer(_visible(html))})


def _documents(con, months) -> dict[str, str]:
    """Every kind of report on every month and practice, and every holder's history."""
    out = {}
    practices = [
        r[0] for r in con.execute("SELECT DISTINCT practice_id FROM roster_member").fetchall()
    ]
    holders = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT member FROM roster_member WHERE member_kind = 'holder'"
        ).fetchall()
    ]
    for month in months:
        for p in practices:
            out[f"monthly {p} {month}"] = MonthlyReport.from_connection(con, p, month).body_html()
        out[f"overview {month}"] = OverviewReport.from_connection(con, month).body_html()
    first, last = months[0].first_day, months[-1].next().first_day.replace(day=1)
    last = date.fromordinal(last.toordinal() - 1)
    for mailbox in holders:
        out[f"history {mailbox}"] = HistoryReport.from_connection(
            con, mailbox, first, last
        ).body_html()
    outcomes = [ReportOutcome(p, f"Cabinet {p}", 1, 2, 3) for p in practices]
    out["index"] = index_html(months[-1], outcomes, "2026-04-01T08:00:00+00:00")
    return out


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    with new_case(tmp_path_factory.mktemp("no-codes-varied")) as case:
        build_varied(case)
        yield case


@pytest.fixture(scope="module")
def samples_con(tmp_path_factory):
    db = tmp_path_factory.mktemp("no-codes-samples") / "samples.duckdb"
    con = connect(db)
    try:
        for export in sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS):
            ingest_file(con, export)
        refresh(con)
        yield con
    finally:
        con.close()


def test_every_rule_fires_in_the_varied_warehouse(varied):
    fired = {r[0] for r in varied.con.execute("SELECT DISTINCT rule_id FROM finding").fetchall()}
    assert fired == set(RULE_IDS)


def test_no_code_in_any_report_where_every_rule_fires(varied):
    documents = _documents(varied.con, MONTHS)
    found = {name: _codes(html) for name, html in documents.items()}
    assert {name: codes for name, codes in found.items() if codes} == {}
    # Every rule's French name is shown somewhere instead.
    text = " ".join(_visible(h) for h in documents.values())
    missing = [r for r in RULE_IDS if rule_catalogue()[r]["label"] not in text]
    assert missing == []


def test_no_code_in_any_report_on_the_samples(samples_con):
    documents = _documents(samples_con, SAMPLE_MONTHS)
    found = {name: _codes(html) for name, html in documents.items()}
    assert {name: codes for name, codes in found.items() if codes} == {}


def test_the_check_finds_a_code_when_there_is_one():
    """The detector is not blind: a rule id, a severity or an enum value in the text is found,
    a data value holding the same word is not."""
    assert _codes("<p>Règle access_without_delegation, gravité critical</p>") == [
        "access_without_delegation",
        "critical",
    ]
    assert _codes("<p>Action : read.</p>") == ["read"]
    assert _codes("<p>compte read.only@pro.mssante.fr, fichier audit_read.csv</p>") == []
    assert _codes("<script>var x = 'critical';</script><p>Critique</p>") == []
