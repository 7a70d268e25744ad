"""The exploration API and the explore_findings notebook, on known cases of the samples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import papermill
import pytest

from conftest import audit_record, write_audit
from delegation_reports import explore
from delegation_reports.analysis.models import refresh
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}

DENTIST = "francoise.pages@chirurgien-dentiste.mssante.fr"
INTRUDER = "kevin.arnaud@pro.mssante.fr"
GARNIER = "helene.garnier@medecin.mssante.fr"
ASSISTANT = "julie.barbier@pro.mssante.fr"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    """The samples, ingested and analysed, in a warehouse of this module's own."""
    path = tmp_path_factory.mktemp("explore") / "samples.duckdb"
    con = connect(path)
    try:
        for export in sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS):
            ingest_file(con, export)
        refresh(con)
    finally:
        con.close()
    return path


@pytest.fixture
def wh(sample_db):
    con = explore.open_warehouse(sample_db)
    yield con
    con.close()


def test_findings_filter_by_severity_and_rule(wh):
    critical = explore.findings(wh, "2026-03", severity="critical")
    assert len(critical) > 0
    assert set(critical.severity) == {"critical"}
    unknown = critical[critical.rule_id == "access_without_delegation"]
    assert (DENTIST, INTRUDER) in set(zip(unknown.mailbox, unknown.actor, strict=True))
    only = explore.findings(wh, "2026-03", rule_id="bulk_access")
    assert set(only.rule_id) == {"bulk_access"}


def test_finding_events_show_no_delegation_in_force(wh):
    findings = explore.findings(wh, "2026-03", rule_id="access_without_delegation")
    finding = findings[(findings.mailbox == DENTIST) & (findings.actor == INTRUDER)].iloc[0]
    events = explore.finding_events(wh, finding.finding_id)
    assert list(events.event_id) == list(finding.evidence)
    assert set(events.attribution) == {"no_delegation"}
    assert events.period_role.isna().all()
    # 03:12 Paris on 12 March: the Paris wall-clock is what the analyst reads.
    assert events.occurred_local.min().strftime("%H:%M") == "03:12"


def test_finding_events_of_a_revoked_delegate_and_her_timeline(wh):
    findings = explore.findings(wh, "2026-03", rule_id="access_after_revocation")
    finding = findings[findings.actor == ASSISTANT].iloc[0]
    events = explore.finding_events(wh, finding.finding_id)
    assert set(events.attribution) == {"delegate_after_revocation"}
    timeline = explore.delegation_timeline(wh, GARNIER)
    hers = timeline[timeline.delegate == ASSISTANT]
    assert len(hers) == 1
    revoked = hers.revoked_at.iloc[0]
    assert revoked.strftime("%Y-%m-%d") == "2026-02-13"
    assert (events.occurred_at > revoked).all()
    before = explore.delegations_in_force(wh, GARNIER, "2026-02-10T10:00:00")
    after = explore.delegations_in_force(wh, GARNIER, "2026-02-20T10:00:00")
    assert ASSISTANT in set(before.delegate)
    assert ASSISTANT not in set(after.delegate)


def test_actor_events_match_the_audit_table(wh, sample_db):
    events = explore.actor_events(wh, ASSISTANT, "2026-02-01", "2026-03-31")
    raw = duckdb.connect(str(sample_db), read_only=True)
    try:
        expected = raw.execute(
            "SELECT count(*) FROM audit_event WHERE actor = ? "
            "AND occurred_at >= TIMESTAMPTZ '2026-01-31 23:00:00+00' AND occurred_at < TIMESTAMPTZ '2026-03-31 22:00:00+00'",
            [ASSISTANT],
        ).fetchone()[0]
    finally:
        raw.close()
    assert len(events) == expected > 0
    assert set(events.actor) == {ASSISTANT}
    by_mailbox = explore.pivot_by(events, "mailbox")
    assert by_mailbox.to_numpy().sum() == expected


def test_values_are_bound_never_formatted_into_sql(wh):
    injection = "x' OR '1'='1"
    assert explore.mailbox_events(wh, injection).empty
    assert explore.delegation_timeline(wh, injection).empty
    with pytest.raises(UserError):
        explore.finding_events(wh, injection)


def test_the_warehouse_is_opened_read_only(wh):
    with wh.connection() as con, pytest.raises(duckdb.Error):
        con.execute("DELETE FROM finding")


def test_an_open_exploration_does_not_block_ingest(wh, sample_db, tmp_path):
    """A notebook's explorer, alive with results fetched, holds no connection: the DPO's
    ingest (another process, wanting the write lock) goes through."""
    findings = explore.findings(wh, "2026-03")
    timeline = explore.delegation_timeline(wh, GARNIER)
    assert len(findings) > 0 and len(timeline) > 0
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, copy)
    alive = explore.open_warehouse(copy)
    assert len(explore.findings(alive, "2026-03")) == len(findings)
    export = tmp_path / "late.csv"
    write_audit(export, [audit_record("late-1", mailbox=GARNIER, actor=GARNIER)])
    done = subprocess.run(
        [sys.executable, "-m", "delegation_reports.cli", "ingest", str(export), "--db", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The same explorer sees the new state on its next call.
    assert len(explore.mailbox_events(alive, GARNIER).query("event_id == 'late-1'")) == 1


def test_a_month_without_traces_is_refused_not_empty(wh):
    with pytest.raises(UserError, match="no traces for 2030-01"):
        explore.findings(wh, "2030-01")


def test_open_ended_delegations_have_missing_end_dates(wh):
    timeline = explore.delegation_timeline(wh, GARNIER)
    open_ended = timeline[timeline.in_force_until_at.isna()]
    assert len(open_ended) > 0  # the samples hold delegations without end date
    for column in timeline.select_dtypes(include=["datetime", "datetimetz"]).columns:
        years = timeline[column].dropna().dt.year
        assert years.between(1970, 2100).all(), column
    bars = explore.timeline_figure(timeline).data
    assert bars
    for bar in bars:  # an open end is drawn to today, not to the year 9999
        end = pd.Timestamp(bar.base[0]) + pd.Timedelta(milliseconds=bar.x[0])
        assert end <= pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    # Periods read raw from the warehouse: open bounds missing too, never year 1 or 9999.
    in_force = explore.delegations_in_force(wh, GARNIER, "2026-03-10T10:00:00+01:00")
    assert in_force.in_force_until_at.isna().any()
    for column in ("in_force_from_at", "in_force_until_at"):
        assert in_force[column].dropna().dt.year.between(1970, 2100).all(), column


@pytest.mark.parametrize(
    ("option", "value", "listed"),
    [("severity", "critique", "critical, warning, info"), ("rule_id", "bulk", "bulk_access")],
)
def test_an_unknown_severity_or_rule_lists_the_valid_ones(wh, option, value, listed):
    with pytest.raises(UserError, match=f"unknown .*'{value}'.*{listed}"):
        explore.findings(wh, "2026-03", **{option: value})


def test_explore_notebook_runs_when_the_filter_has_no_findings(sample_db, tmp_path):
    wh = explore.open_warehouse(sample_db)
    month_without, severity = next(
        (month, severity)
        for month in ("2026-01", "2026-02", "2026-03")
        for severity in explore.SEVERITIES
        if explore.findings(wh, month, severity=severity).empty
    )
    output = tmp_path / "explored.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "explore_findings.ipynb"),
        str(output),
        kernel_name="python3",
        progress_bar=False,
        parameters={"db": str(sample_db), "month": month_without, "severity": severity},
        cwd=str(tmp_path),
    )
    assert "Aucune alerte n° 0 pour ce filtre (alertes du mois : 0)." in output.read_text(
        encoding="utf-8"
    )


def test_plot_helpers_return_figures_with_escaped_labels(wh):
    timeline = explore.delegation_timeline(wh, GARNIER)
    figure = explore.timeline_figure(timeline)
    assert len(figure.data) == len(timeline)
    activity = explore.activity_figure(
        explore.mailbox_events(wh, GARNIER, "2026-03-01", "2026-03-31")
    )
    assert {trace.name for trace in activity.data} >= {ASSISTANT, GARNIER}


def test_explore_notebook_runs_top_to_bottom(sample_db, tmp_path):
    output = tmp_path / "explored.ipynb"
    shutil.copy(NOTEBOOKS / "explore_findings.ipynb", tmp_path / "explore.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "explore.ipynb"),
        str(output),
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "db": str(sample_db),
            "month": "2026-03",
            "severity": "critical",
            "finding_rank": 0,
        },
        cwd=str(tmp_path),
    )
    text = output.read_text(encoding="utf-8")
    first = explore.findings(
        explore.open_warehouse(sample_db), "2026-03", severity="critical"
    ).iloc[0]
    # The drill-down printed the first critical finding and its events.
    assert first.title_fr in text
    assert first.evidence[0] in text
    assert "application/vnd.plotly.v1+json" in text
