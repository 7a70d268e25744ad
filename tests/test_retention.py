"""Retention: the purge of traces older than the retention, recorded in the chain, after
which the warehouse still verifies; the retention and the next purge in ``status``."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import (
    Month,
    covered_months,
    ensure_practice_access,
    refresh,
    require_traces,
)
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.integrity import chain, retention
from delegation_reports.integrity.verify import verify
from delegation_reports.warehouse import connect
from test_integrity import build, tamper

TODAY = date(2026, 11, 30)
SRC = Path(__file__).resolve().parents[1] / "src" / "delegation_reports"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("retention") / "built.duckdb"
    build(path)
    con = connect(path)
    try:
        refresh(con)
    finally:
        con.close()
    return path


@pytest.fixture
def path(built, tmp_path) -> Path:
    target = tmp_path / "w.duckdb"
    shutil.copy(built, target)
    return target


def counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            "audit_event",
            "quarantine",
            "dovecot_session",
            "delegation_event",
            "delegation_snapshot",
            "m365_permission_state",
            "roster_member",
            "directory_entry",
            "finding",
            "chain_entry",
        ]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def do_purge(path: Path, **options) -> retention.PurgeResult:
    con = connect(path)
    try:
        return retention.purge(con, today=TODAY, **options)
    finally:
        con.close()


def verified(path: Path):
    con = connect(path, read_only=True)
    try:
        return verify(con)
    finally:
        con.close()


def test_the_first_month_kept_follows_the_retention():
    assert retention.first_kept_month(12, TODAY) == Month(2025, 11)
    assert retention.first_kept_month(6, TODAY) == Month(2026, 5)
    assert retention.first_kept_month(6, date(2026, 1, 1)) == Month(2025, 7)


def test_a_purge_removes_old_traces_records_itself_and_still_verifies(path):
    con = connect(path)
    try:  # the stored accesses the reports read, of every month
        # audit.csv's last event (July) comes more than 92 days after the one before (March):
        # April to June are not covered (docs/formats.md#coverage).
        covered = covered_months(con)
        assert [str(m) for m in covered] == ["2026-01", "2026-02", "2026-03", "2026-07"]
        assert len(ensure_practice_access(con, covered)) == 4
    finally:
        con.close()
    before = counts(path)
    con = duckdb.connect(str(path), read_only=True)
    old_events = con.execute(
        "SELECT count(*) FROM audit_event WHERE occurred_at < TIMESTAMPTZ '2026-04-30 22:00:00+00'"
    ).fetchone()[0]
    con.close()
    assert 0 < old_events < before["audit_event"]
    result = do_purge(path, months=6, by="DPO du GHT")
    assert result.purged_before == Month(2026, 5)
    after = counts(path)
    assert after["audit_event"] == before["audit_event"] - old_events
    assert result.row_counts["audit_event"] == old_events
    # The quarantined line and the Dovecot sessions belong to files wholly before May.
    assert after["quarantine"] == 0 and after["dovecot_session"] == 0
    assert result.row_counts["quarantine"] == 1 and result.row_counts["dovecot_session"] == 3
    # Delegation history, rosters and the directory are kept.
    for table in ("delegation_event", "delegation_snapshot", "m365_permission_state"):
        assert after[table] == before[table], table
    assert after["roster_member"] == before["roster_member"]
    assert after["finding"] < before["finding"]
    assert after["chain_entry"] == before["chain_entry"] + 1
    con = connect(path, read_only=True)
    try:
        last = chain.links(con)[-1]
        assert (last.kind, last.ref_id) == ("purge", result.purge_id)
        record = con.execute("SELECT * FROM purge_record").fetchone()
        names = [d[0] for d in con.description]
        row = dict(zip(names, record, strict=True))
        assert row["purged_before"] == date(2026, 5, 1)
        assert row["performed_by"] == "DPO du GHT"
        assert json.loads(row["row_counts"])["audit_event"] == old_events
        assert re.fullmatch(r"[0-9a-f]{64}", row["removed_digest"])
        assert set(json.loads(row["removed"])) == {"1", "6", "7", "8"}  # files with old rows
        chain.check_head(con)
        months = [r[0] for r in con.execute("SELECT month FROM finding").fetchall()]
        assert months and min(months) >= date(2026, 5, 1)
        # The stored copy of the attributed accesses goes with the traces.
        stored = con.execute("SELECT min(occurred_at), count(*) FROM practice_access").fetchone()
        assert stored[0] >= datetime(2026, 4, 30, 22, tzinfo=UTC) and stored[1] > 0
        assert json.loads(row["row_counts"])["practice_access"] > 0
        with pytest.raises(UserError, match="traces before 2026-05 were purged"):
            require_traces(con, Month(2026, 3))
    finally:
        con.close()
    result = verified(path)
    assert result.ok, result.problems


def test_a_refresh_after_a_purge_builds_no_purged_month(path):
    do_purge(path, months=6)
    con = connect(path)
    try:
        refresh(con, force=True)
        assert con.execute("SELECT min(month) FROM mart_state").fetchone()[0] >= date(2026, 5, 1)
        assert con.execute("SELECT min(month) FROM finding").fetchone()[0] >= date(2026, 5, 1)
    finally:
        con.close()
    assert verified(path).ok


def test_tampering_before_or_after_a_purge_still_shows(path):
    do_purge(path, months=6)
    # Putting a purged row back is a row added to its file.
    tamper(
        path,
        "INSERT INTO audit_event SELECT * REPLACE ('restored' AS event_id, "
        "TIMESTAMPTZ '2026-01-05 10:00:00+00' AS occurred_at) "
        "FROM audit_event WHERE source_file_id = 1 LIMIT 1",
    )
    (problem,) = verified(path).problems
    assert (problem.file_id, problem.table, problem.what, problem.rows) == (
        1,
        "audit_event",
        "added",
        1,
    )


def test_a_purge_refuses_a_warehouse_that_does_not_verify(path):
    tamper(path, "UPDATE audit_event SET actor = 'x' || actor WHERE rowid = 0")
    before = counts(path)
    with pytest.raises(UserError, match="does not verify"):
        do_purge(path, months=6)
    assert counts(path) == before


def test_a_dry_run_counts_and_changes_nothing(path):
    before = counts(path)
    result = do_purge(path, months=6, dry_run=True)
    assert result.row_counts["audit_event"] > 0 and result.purge_id is None
    assert counts(path) == before


def test_delegation_history_goes_only_when_asked(path):
    con = duckdb.connect(str(path), read_only=True)
    latest = con.execute(
        "SELECT count(DISTINCT (operator, mailbox, delegate)) FROM m365_permission_state"
    ).fetchone()[0]
    old = con.execute(
        "SELECT count(*) FROM delegation_event WHERE event_at < TIMESTAMPTZ '2026-04-30 22:00:00+00'"
    ).fetchone()[0]
    con.close()
    before = counts(path)
    result = do_purge(path, months=6, delegations=True)
    after = counts(path)
    assert old and result.row_counts["delegation_event"] == old
    assert after["delegation_event"] == before["delegation_event"] - old
    # The latest state of each delegate's Microsoft 365 permissions stays.
    assert after["m365_permission_state"] == latest
    assert verified(path).ok


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"months": 24}, "retention_months = 24 is outside 6 to 12 months"),
        ({"months": 3}, "retention_months = 3 is outside 6 to 12 months"),
        ({"months": 12, "before": Month(2026, 8)}, "keeps 3 month(s) of traces, fewer than 6"),
        ({"months": 12, "before": Month(2027, 1)}, "keeps 0 month(s)"),
        ({"months": 24, "force_reason": "  "}, "--force needs a reason"),
    ],
)
def test_a_retention_outside_six_to_twelve_months_needs_force(path, options, message):
    before = counts(path)
    with pytest.raises(UserError, match=re.escape(message)):
        do_purge(path, **options)
    assert counts(path) == before


def test_a_forced_purge_records_its_reason(path):
    result = do_purge(path, months=3, force_reason="fin du contrat avec l'opérateur")
    assert result.purged_before == Month(2026, 8)
    con = connect(path, read_only=True)
    try:
        assert con.execute(
            "SELECT forced_reason, retention_months FROM purge_record"
        ).fetchone() == (
            "fin du contrat avec l'opérateur",
            3,
        )
    finally:
        con.close()
    assert verified(path).ok


def test_retention_months_in_the_configuration(tmp_path):
    assert retention.retention_months(load_config()) == 12
    config = tmp_path / "rules.toml"
    config.write_text("retention_months = 6\n", encoding="utf-8")
    assert retention.retention_months(load_config(config)) == 6
    config.write_text('retention_months = "six"\n', encoding="utf-8")
    with pytest.raises(UserError, match="retention_months must be a whole number"):
        load_config(config)
    # The retention is no setting of the rules: changing it rebuilds no month.
    config.write_text("retention_months = 6\n", encoding="utf-8")
    assert load_config(config).digest == load_config().digest


def test_purge_and_status_commands(path, tmp_path):
    runner = CliRunner()
    status = runner.invoke(main, ["status", "--db", str(path), "--json"])
    assert status.exit_code == 0, status.output
    state = json.loads(status.output)["retention"]
    assert state["retention_months"] == 12
    assert state["oldest_trace_at"].startswith("2026-01-02")
    assert state["next_purge_due_on"] == "2027-02-01"  # January 2026 leaves a 12-month retention
    text = runner.invoke(main, ["status", "--db", str(path)])
    assert "Retention: 12 months; oldest trace: 2026-01-02" in text.output
    assert "2027-02-01" in text.output
    refused = runner.invoke(main, ["purge", "--db", str(path), "--force"])
    assert refused.exit_code == 2 and "--force needs --reason" in refused.output
    dry = runner.invoke(main, ["purge", "--db", str(path), "--before", "2026-04", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would be removed; nothing changed" in dry.output
    done = runner.invoke(
        main, ["purge", "--db", str(path), "--before", "2026-04", "--by", "DPO", "--json"]
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["purged_before"] == "2026-04" and body["performed_by"] == "DPO"
    assert body["row_counts"]["audit_event"] > 0
    assert runner.invoke(main, ["verify", "--db", str(path)]).exit_code == 0
    after = json.loads(runner.invoke(main, ["status", "--db", str(path), "--json"]).output)
    assert after["retention"]["last_purge"]["performed_by"] == "DPO"
    assert after["retention"]["oldest_trace_at"] >= "2026-03-31"


# Tables whose rows are evidence: nothing but the purge removes or changes them. The loader's
# settling of repeats removes rows of the file being loaded, inside its own transaction, before
# the file's digest is taken: it never touches a committed row.
APPEND_ONLY = (
    "audit_event",
    "delegation_event",
    "delegation_snapshot",
    "roster_member",
    "directory_entry",
    "m365_permission_state",
    "dovecot_session",
    "quarantine",
    "finding_review",
    "purge_record",
    "chain_entry",
    "ingest_file",
)
_WRITE = re.compile(r"\b(UPDATE|DELETE\s+FROM|TRUNCATE)\s+(\{[^}]*\}|\w+)", re.IGNORECASE)


def test_nothing_but_the_purge_updates_or_deletes_evidence():
    found = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".sql"):
            continue
        text = path.read_text(encoding="utf-8")
        for match in _WRITE.finditer(text):
            target = match.group(2)
            where = f"{path.relative_to(SRC)}:{text.count(chr(10), 0, match.start()) + 1}"
            if target.startswith("{") or target in APPEND_ONLY:
                found.append((where, match.group(0)))
    # Statements whose table is a template are reviewed one by one.
    allowed = {
        # The purge: the one place rows of traces leave the warehouse (and the derived
        # monthly tables of the purged months).
        ("integrity/retention.py", "DELETE FROM {name}"),
        ("integrity/retention.py", "DELETE FROM {table}"),
        # Rows of the file being loaded, in its transaction, before its digest is taken.
        ("ingest/repeats.py", "DELETE FROM {kind.table}"),
        # A warehouse made before the chain: its manifest entries get their digest once,
        # before their link is made.
        ("integrity/chain.py", "UPDATE ingest_file"),
        # A month's slice of the derived monthly tables (marts, findings), replaced: the
        # table is checked to be one of them (models.MONTH_SLICED).
        ("analysis/models.py", "DELETE FROM {table}"),
    }
    unexpected = [
        (where, statement)
        for where, statement in found
        if (where.split(":")[0], statement) not in allowed
    ]
    assert not unexpected, unexpected
    assert {(where.split(":")[0], statement) for where, statement in found} == allowed


def _report_body(path: Path, kind: str) -> str:
    """The whole body of a report of July 2026 (the monthly report of the practice, the
    month's overview, or its first holder's history) on the warehouse as it is now."""
    from delegation_reports.reports.history import HistoryReport
    from delegation_reports.reports.monthly import MonthlyReport
    from delegation_reports.reports.overview import OverviewReport

    con = connect(path)
    try:
        refresh(con)
        month = Month(2026, 7)
        if kind == "monthly":
            return MonthlyReport.from_connection(con, "C52249671000024", month).body_html()
        if kind == "overview":
            return OverviewReport.from_connection(con, month).body_html()
        holder = con.execute(
            "SELECT min(member) FROM roster_member WHERE member_kind = 'holder'"
        ).fetchone()[0]
        return HistoryReport.from_connection(
            con, holder, date(2026, 1, 1), date(2026, 7, 31)
        ).body_html()
    finally:
        con.close()


@pytest.mark.parametrize("kind", ["monthly", "overview", "history"])
def test_every_report_states_the_retention(path, kind):
    body = _report_body(path, kind)
    assert body.count("la plus ancienne conservée date du 2 janvier 2026") == 1
    do_purge(path, months=6)
    body = _report_body(path, kind)
    assert body.count("Les traces sont conservées 6 mois") == 1
    assert "antérieures au 1er mai 2026 ont été supprimées le" in body
    assert "la plus ancienne conservée" not in body
