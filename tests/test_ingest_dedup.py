"""Repetitions: the same file twice, overlapping exports, repeated keys inside a file; and a file
that fails midway leaves no trace."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import (
    AUDIT_COLUMNS,
    INVALID,
    OPERATOR,
    SNAPSHOT_COLUMNS,
    VALID,
    audit_fields,
    audit_record,
    csv_line,
    delegation_record,
    directory_line,
    ingest,
    quarantined,
    roster_record,
    table_contents,
    utc,
    write_audit,
    write_csv,
    write_delegations,
    write_directory,
    write_lines,
    write_roster,
)
from delegation_reports.ingest import manifest, pipeline
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect


@pytest.mark.parametrize(
    "name",
    [
        "audit.csv",
        "audit.jsonl",
        "delegations.csv",
        "snapshot.csv",
        "roster.csv",
        "Extraction_Correspondance_MSSante_202604010830.txt",
        "fr_journal_acces.csv",
    ],
)
def test_ingesting_the_same_file_twice_changes_nothing(con, tmp_path, name):
    first = ingest(con, VALID / name)
    before = table_contents(con)
    second = ingest(con, VALID / name)
    copy = tmp_path / f"renamed_{name}"
    shutil.copy(VALID / name, copy)
    third = ingest(con, copy)

    assert first.status == "loaded" and first.rows_loaded > 0
    assert (second.status, third.status) == ("unchanged", "unchanged")
    assert second.sha256 == third.sha256 == first.sha256
    assert (second.rows_loaded, second.rows_quarantined) == (0, 0)
    assert table_contents(con) == before


def test_a_file_with_quarantined_rows_twice_does_not_quarantine_them_again(con):
    path = INVALID / "audit_unknown_action.csv"
    ingest(con, path)
    before = table_contents(con)

    assert ingest(con, path).status == "unchanged"
    assert table_contents(con) == before
    assert len(quarantined(con)) == 1


def _event_ids(con, table: str = "audit_event") -> list[str]:
    return sorted(r[0] for r in con.execute(f"SELECT event_id FROM {table}").fetchall())


def test_overlapping_exports_count_shared_events_as_duplicates(con, tmp_path):
    first = write_audit(tmp_path / "jan.csv", [audit_record(f"E-{i}") for i in range(1, 6)])
    second = write_audit(tmp_path / "feb.csv", [audit_record(f"E-{i}") for i in range(4, 9)])

    r1, r2 = ingest(con, first), ingest(con, second)

    assert (r1.rows_loaded, r1.rows_duplicate) == (5, 0)
    assert (r2.rows_read, r2.rows_loaded, r2.rows_duplicate, r2.rows_quarantined) == (5, 3, 2, 0)
    assert _event_ids(con) == [f"E-{i}" for i in range(1, 9)]
    keys = con.execute(
        "SELECT operator, event_id, count(*) FROM audit_event GROUP BY ALL HAVING count(*) > 1"
    )
    assert keys.fetchall() == []


def test_same_key_with_different_content_in_a_later_export_is_a_conflict(con, tmp_path):
    first = write_audit(tmp_path / "jan.csv", [audit_record(f"E-{i}") for i in range(1, 4)])
    changed = audit_record("E-3", actor="someone.else@pro.mssante.fr")
    second = write_audit(tmp_path / "feb.csv", [audit_record("E-2"), changed, audit_record("E-4")])

    ingest(con, first)
    r2 = ingest(con, second)

    assert (r2.rows_loaded, r2.rows_duplicate, r2.rows_quarantined) == (1, 1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"], row["file_sha256"]) == (
        3,
        "conflicting_duplicate",
        r2.sha256,
    )
    assert row["raw_text"] == second.read_text(encoding="utf-8").splitlines()[2]
    assert "someone.else@pro.mssante.fr" in row["raw_text"]
    actors = dict(con.execute("SELECT event_id, actor FROM audit_event").fetchall())
    assert actors["E-3"] == audit_record("E-3")["actor"]
    assert _event_ids(con) == ["E-1", "E-2", "E-3", "E-4"]


def test_a_file_of_rows_already_loaded_still_records_its_operator_and_coverage(con, tmp_path):
    rows = [
        audit_record("E-1", occurred_at="2026-01-01T10:00:00+01:00"),
        audit_record("E-2", occurred_at="2026-01-31T18:00:00+01:00"),
    ]
    ingest(con, write_audit(tmp_path / "a.csv", rows))
    again = ingest(con, write_audit(tmp_path / "b.csv", [*rows, audit_record("E-3", action="fly")]))

    assert (again.rows_loaded, again.rows_duplicate, again.rows_quarantined) == (0, 2, 1)
    assert again.operator == OPERATOR
    manifest = con.execute(
        "SELECT operator, covered_from_at, covered_to_at FROM ingest_file WHERE sha256 = ?",
        [again.sha256],
    ).fetchone()
    assert manifest == (
        OPERATOR,
        utc("2026-01-01T10:00:00+01:00"),
        utc("2026-01-31T18:00:00+01:00"),
    )
    by_reason = con.execute(
        "SELECT f.operator, q.reason FROM quarantine AS q JOIN ingest_file AS f USING (file_id)"
    ).fetchall()
    assert by_reason == [(OPERATOR, "unknown_action")]


def test_same_event_id_from_another_operator_is_another_event(con, tmp_path):
    first = write_audit(tmp_path / "a.csv", [audit_record("E-1", operator="Alpha")])
    second = write_audit(
        tmp_path / "b.csv", [audit_record("E-1", operator="Beta", actor="x@pro.mssante.fr")]
    )

    ingest(con, first)
    r2 = ingest(con, second)

    assert (r2.rows_loaded, r2.rows_duplicate, r2.rows_quarantined) == (1, 0, 0)
    assert sorted(con.execute("SELECT operator, event_id FROM audit_event").fetchall()) == [
        ("Alpha", "E-1"),
        ("Beta", "E-1"),
    ]


def _repeated_audit(path: Path) -> Path:
    return write_audit(path, [audit_record("E-1"), audit_record("E-2"), audit_record("E-1")])


def _repeated_delegations(path: Path) -> Path:
    return write_delegations(
        path, [delegation_record("D-1"), delegation_record("D-2"), delegation_record("D-1")]
    )


def _repeated_snapshot(path: Path) -> Path:
    row = [
        "2026-03-01",
        "a.b@medecin.mssante.fr",
        "c.d@pro.mssante.fr",
        "C D",
        "secretary",
        "read",
        "",
        "",
        "Op",
    ]
    other = [*row[:2], "e.f@pro.mssante.fr", *row[3:]]
    return write_csv(path, SNAPSHOT_COLUMNS, [row, other, row])


def _repeated_roster(path: Path) -> Path:
    return write_roster(
        path,
        [
            roster_record("a@pro.mssante.fr"),
            roster_record("b@pro.mssante.fr"),
            roster_record("a@pro.mssante.fr"),
        ],
    )


def _repeated_directory(path: Path) -> Path:
    row = directory_line(
        bal_type="PER", address="a.b@medecin.mssante.fr", pp_id_type="8", pp_id="10099990011"
    )
    other = directory_line(bal_type="ORG", address="accueil@ch.mssante.fr")
    return write_directory(
        path.with_name("Extraction_Correspondance_MSSante_202603312300.txt"), [row, other, row]
    )


@pytest.mark.parametrize(
    ("write", "table"),
    [
        (_repeated_audit, "audit_event"),
        (_repeated_delegations, "delegation_event"),
        (_repeated_snapshot, "delegation_snapshot"),
        (_repeated_roster, "roster_member"),
        (_repeated_directory, "directory_entry"),
    ],
    ids=["audit", "delegations", "snapshot", "roster", "directory"],
)
def test_a_row_repeated_inside_one_file_is_a_duplicate(
    con, tmp_path, write: Callable[[Path], Path], table
):
    path = write(tmp_path / "repeated.csv")
    result = ingest(con, path)

    assert (
        result.rows_read,
        result.rows_loaded,
        result.rows_duplicate,
        result.rows_quarantined,
    ) == (3, 2, 1, 0)
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 2


def test_a_key_repeated_inside_one_file_with_another_content_keeps_the_first(con, tmp_path):
    path = write_audit(
        tmp_path / "a.csv",
        [
            audit_record("E-1"),
            audit_record("E-2"),
            audit_record("E-1"),
            audit_record("E-1", action="delete"),
            audit_record("E-3"),
        ],
    )
    result = ingest(con, path)

    assert (
        result.rows_read,
        result.rows_loaded,
        result.rows_duplicate,
        result.rows_quarantined,
    ) == (5, 3, 1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (5, "conflicting_duplicate")
    assert "line 2" in row["detail"]
    assert con.execute("SELECT action FROM audit_event WHERE event_id = 'E-1'").fetchall() == [
        ("read",)
    ]


def test_a_conflicting_key_first_seen_late_in_the_file_keeps_its_first_line(con, tmp_path):
    path = write_audit(
        tmp_path / "a.csv",
        [
            audit_record("E-0"),
            audit_record("E-1", action="send"),
            audit_record("E-1", action="read"),
            audit_record("E-1", action="send"),
        ],
    )
    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_duplicate, result.rows_quarantined) == (2, 1, 1)
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (4, "conflicting_duplicate")
    ]
    assert con.execute("SELECT action FROM audit_event WHERE event_id = 'E-1'").fetchall() == [
        ("send",)
    ]


def test_snapshots_of_different_days_are_different_rows(con, tmp_path):
    row = [
        "2026-03-01",
        "a.b@medecin.mssante.fr",
        "c.d@pro.mssante.fr",
        "C D",
        "secretary",
        "read",
        "",
        "",
        "Op",
    ]
    path = write_csv(tmp_path / "s.csv", SNAPSHOT_COLUMNS, [row, ["2026-03-02", *row[1:]]])
    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_duplicate) == (2, 0)


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom")


def _assert_untouched(con, before, path: Path) -> None:
    # A failed load is recorded in ingest_failure, and only there.
    after = table_contents(con)
    after.pop("ingest_failure")
    before = {t: rows for t, rows in before.items() if t != "ingest_failure"}
    assert after == before
    temp = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'temp'"
    )
    assert temp.fetchall() == []
    retry = ingest(con, path)
    assert retry.status == "loaded"
    assert retry.rows_read == retry.rows_loaded + retry.rows_duplicate + retry.rows_quarantined


@pytest.mark.parametrize(
    "step",
    ["settle_repeats", "locate_and_quarantine", "quarantine_rejects", "record_manifest"],
)
def test_a_load_failing_midway_leaves_no_row_of_the_file(con, tmp_path, monkeypatch, step):
    ingest(con, VALID / "audit.csv")
    before = table_contents(con)
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1")),
        csv_line(audit_fields("E-2", action="fly")),
        ",".join(audit_fields("E-3")[:3]),
        csv_line(audit_fields("E-4")),
    ]
    path = write_lines(tmp_path / "failing.csv", lines)
    monkeypatch.setattr(pipeline, step, _boom)

    with pytest.raises(RuntimeError, match="boom"):
        ingest_file(con, path)

    monkeypatch.undo()
    _assert_untouched(con, before, path)
    assert _event_ids(con) == sorted(["E-001", "E-002", "E-003", "E-004", "E-1", "E-4"])
    assert len(quarantined(con)) == 2


def test_a_failing_manifest_insert_gives_a_failed_result_and_no_rows(con, tmp_path, monkeypatch):
    ingest(con, VALID / "roster.csv")
    before = table_contents(con)
    path = INVALID / "audit_unknown_action.csv"
    monkeypatch.setattr(manifest, "__version__", None)

    result = ingest_file(con, path)

    assert result.status == "failed"
    assert "could not be loaded" in result.message and "\n" not in result.message
    monkeypatch.undo()
    _assert_untouched(con, before, path)


def test_a_failing_jsonl_load_leaves_no_row(con, monkeypatch):
    before = table_contents(con)
    monkeypatch.setattr(pipeline, "settle_repeats", _boom)

    with pytest.raises(RuntimeError):
        ingest_file(con, VALID / "audit.jsonl")

    monkeypatch.undo()
    _assert_untouched(con, before, VALID / "audit.jsonl")


def test_the_warehouse_file_is_usable_by_another_connection_after_a_failure(db_path, monkeypatch):
    con = connect(db_path)
    monkeypatch.setattr(pipeline, "settle_repeats", _boom)
    with pytest.raises(RuntimeError):
        ingest_file(con, VALID / "delegations.csv")
    monkeypatch.undo()
    con.close()

    reopened = connect(db_path)
    try:
        assert ingest(reopened, VALID / "delegations.csv").rows_loaded == 5
        assert reopened.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 1
    finally:
        reopened.close()
