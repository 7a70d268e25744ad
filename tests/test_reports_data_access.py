"""How the reports read the warehouse: one practice's queries read only that practice's row
groups of ``practice_access`` (whatever its id looks like), a mailbox's history only those of
its practices and none of the whole events, and a batch's later reports look nothing up
before reading a month's stored accesses."""

from __future__ import annotations

import re
import shutil
from datetime import date

import pytest

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import (
    Month,
    create_model_macros,
    ensure_practice_access,
    refresh,
)
from delegation_reports.reports import labels
from delegation_reports.reports.history import HistoryReport
from delegation_reports.reports.monthly import MonthlyReport

FEBRUARY, MARCH = Month(2026, 2), Month(2026, 3)
# Ids sharing more than the 8 bytes a row group's bounds keep of a text column: sorted and
# filtered by them alone, every row group would hold the bounds of every practice.
PREFIX = "cabinet-medical-du-"
PRACTICES = 120
EVENTS = 960_000  # about 4 row groups of 122,880 rows in each month


class Recording:
    """A connection recording each query it runs (with its parameters)."""

    def __init__(self, con):
        self.con = con
        self.queries: list[tuple[str, object]] = []

    def execute(self, sql, params=None):
        self.queries.append((sql, params))
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def __getattr__(self, name):
        return getattr(self.con, name)


def row_groups_read(con, sql: str, params) -> tuple[int, int]:
    return warehouse.row_groups_read(con, sql, params, "practice_access")


def reads_practice_access(sql: str) -> bool:
    return re.search(r"\bpractice_access\b(?!_)", re.sub(r"--[^\n]*", "", sql)) is not None


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """A warehouse of many practices with long ids sharing a prefix, their mailboxes' events
    of February and March in arrival order (practices and months interleaved), both months
    built and stored, one after the other."""
    db = tmp_path_factory.mktemp("crowded") / "w.duckdb"
    con = warehouse.connect(db)
    params = {"prefix": PREFIX, "practices": PRACTICES, "events": EVENTS}
    con.execute(
        """
        INSERT INTO roster_member (practice_id, practice_name, member, member_kind, member_rpps,
                                   practice_siret, practice_finess, source_file_id)
        SELECT $prefix || lpad(p::VARCHAR, 4, '0'), 'Cabinet ' || p,
               'praticien' || p || '@medecin.mssante.fr', 'holder', NULL, NULL, NULL, 0
        FROM range($practices) AS t(p)
        UNION ALL
        SELECT $prefix || lpad(p::VARCHAR, 4, '0'), 'Cabinet ' || p,
               'secretaire' || p || '@pro.mssante.fr', 'staff', NULL, NULL, NULL, 0
        FROM range($practices) AS t(p)
        """,
        {k: params[k] for k in ("prefix", "practices")},
    )
    con.execute(
        """
        INSERT INTO delegation_event
        SELECT 'Op', 'D' || p, 'grant', TIMESTAMPTZ '2026-01-05 08:00:00+00',
               'praticien' || p || '@medecin.mssante.fr', 'secretaire' || p || '@pro.mssante.fr',
               'Secrétaire ' || p, 'secretary', ['read', 'send'], NULL, NULL,
               'praticien' || p || '@medecin.mssante.fr', 0
        FROM range($practices) AS t(p)
        """,
        {"practices": PRACTICES},
    )
    con.execute(
        """
        INSERT INTO audit_event
        SELECT 'Op', 'E' || i,
               TIMESTAMPTZ '2026-02-02 08:00:00+00' + to_days(((i // $practices) % 2) * 28)
                   + to_seconds((i * 2419) % (25 * 86400)),
               'praticien' || (i % $practices) || '@medecin.mssante.fr',
               CASE WHEN i % 3 = 0 THEN 'praticien' || (i % $practices) || '@medecin.mssante.fr'
                    ELSE 'secretaire' || (i % $practices) || '@pro.mssante.fr' END,
               (['read', 'send', 'move'])[i % 3 + 1], 'success', 'otp', '198.51.100.7',
               'Thunderbird 128', 'S' || (i // 12), NULL, 0
        FROM range($events) AS t(i)
        """,
        {"practices": PRACTICES, "events": EVENTS},
    )
    con.execute(
        "INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format, "
        "operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, "
        "covered_to_at, started_at, ended_at, tool_version) "
        "SELECT 0, 'test', 'test', 0, 'test', 'audit', 'audit', 'Op', $n, $n, 0, 0, "
        "min(occurred_at), max(occurred_at), now(), now(), 'test' FROM audit_event",
        {"n": EVENTS},
    )
    refresh(con, [FEBRUARY, MARCH], load_config())
    create_model_macros(con)
    assert ensure_practice_access(con, [MARCH]) == [MARCH]
    assert ensure_practice_access(con, [FEBRUARY]) == [FEBRUARY]
    con.close()
    con = warehouse.connect(db, read_only=True)
    yield con
    con.close()


def test_a_practice_s_report_reads_only_its_row_groups(crowded):
    recording = Recording(crowded)
    practice = f"{PREFIX}0042"
    report = MonthlyReport.from_connection(recording, practice, MARCH)
    assert report.coverage is not None  # the practice has traces: its rows are read
    reading = [(sql, p) for sql, p in recording.queries if reads_practice_access(sql)]
    assert len(reading) >= 4  # key figures, activity, heatmap, coverage
    for sql, params in reading:
        read, total = row_groups_read(crowded, sql, params)
        assert total >= 8, sql  # both months'
        assert read <= 2, sql  # a practice's ~4,000 rows of March, maybe across a boundary
    # Nor does it scan the events of the whole warehouse.
    assert not [sql for sql, _ in recording.queries if "audit_event" in sql]


def test_a_mailbox_s_history_reads_only_its_practice_s_row_groups_and_no_events(crowded):
    recording = Recording(crowded)
    mailbox = "praticien42@medecin.mssante.fr"
    HistoryReport.from_connection(recording, mailbox, date(2026, 2, 1), date(2026, 3, 31))
    reading = [(sql, p) for sql, p in recording.queries if reads_practice_access(sql)]
    assert len(reading) >= 2  # the calendar and the month-by-month activity
    for sql, params in reading:
        read, total = row_groups_read(crowded, sql, params)
        assert total >= 8 and read <= 4, sql  # its practice's, in each month
    # The mailbox's traced days and operators come from the monthly days: no query reads
    # the events but for the instants of its first and last days.
    events = [sql for sql, _ in recording.queries if "audit_event" in sql]
    assert all("$first_from_at" in sql for sql in events), events


def test_a_history_s_traced_range_and_operators_are_the_events(crowded):
    mailbox = "praticien7@medecin.mssante.fr"
    history = HistoryReport.from_connection(crowded, mailbox, date(2026, 3, 1), date(2026, 3, 31))
    first, last = crowded.execute(
        "SELECT min(occurred_at), max(occurred_at) FROM audit_event WHERE mailbox = ?", [mailbox]
    ).fetchone()
    assert history.traced == (labels.prose_when(first), labels.prose_when(last))
    assert history.operators == "Op"


def test_later_reports_of_a_batch_look_nothing_up(crowded):
    """On a read-only connection (a batch's), the month's stored accesses are looked up for
    the first report, then taken as found: nothing can write meanwhile."""
    recording = Recording(crowded)
    assert ensure_practice_access(recording, [MARCH]) == []
    assert recording.queries  # the first report looks the month up
    recording.queries.clear()
    for _ in range(3):
        assert ensure_practice_access(recording, [MARCH]) == []
    assert recording.queries == []
    # Another connection looks the month up for its own first report.
    other = Recording(crowded.cursor())
    assert ensure_practice_access(other, [MARCH]) == []
    assert other.queries


def test_a_writable_connection_looks_up_every_time(tmp_path, crowded):
    """A connection that can write may have changed what the month is made from."""
    path = crowded.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    con = warehouse.connect(copy)
    try:
        recording = Recording(con)
        for _ in range(2):
            recording.queries.clear()
            assert ensure_practice_access(recording, [MARCH]) == []
            assert recording.queries
    finally:
        con.close()
