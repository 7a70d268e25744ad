"""The committed sample exports load cleanly, and everything the ground truth cites is there."""

from __future__ import annotations

import csv
import io

from conftest import NOT_EXPORTS, SAMPLES


def _sample_records(name: str) -> int:
    """The number of records a sample export holds, read with Python's own readers."""
    path = SAMPLES / name
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        return sum(1 for line in data.splitlines() if line.strip())
    encoding, delimiter = "utf-8", ","
    if name.startswith("sud_"):
        encoding, delimiter = "cp1252", ";"
    elif name.startswith("Extraction_"):
        return sum(1 for line in data.splitlines()[1:] if line.strip())
    rows = list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=delimiter))
    return sum(1 for row in rows[1:] if row)


def test_every_sample_export_loads_without_quarantine(samples):
    exports = {p.name for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS}

    assert set(samples.results) == exports
    for name, result in samples.results.items():
        assert result.status == "loaded", (name, result.message)
        assert result.rows_quarantined == 0, name
        assert result.rows_read == _sample_records(name), name
        assert result.rows_read == result.rows_loaded + result.rows_duplicate
    assert samples.con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_sample_formats_are_recognised(samples):
    formats = {name: r.format for name, r in samples.results.items()}
    assert formats == {
        "Extraction_Correspondance_MSSante_202603012300.txt": "directory",
        "Extraction_Correspondance_MSSante_202603152300.txt": "directory",
        "Extraction_Correspondance_MSSante_202603312300.txt": "directory",
        "alpha_audit.csv": "audit",
        "alpha_audit_2026-03.csv": "audit",
        "alpha_delegations.csv": "delegations",
        "connect_audit.jsonl": "audit",
        "connect_snapshots.csv": "snapshot",
        "roster.csv": "roster",
        "sud_delegations.csv": "profile:fr-delegations",
        "sud_journal_acces.csv": "profile:fr-journal-acces",
    }


def test_overlapping_alpha_exports_share_events_counted_once(samples):
    first = samples.results["alpha_audit.csv"]
    second = samples.results["alpha_audit_2026-03.csv"]

    assert first.rows_duplicate == 0
    assert second.rows_duplicate > 0
    ids = {}
    for name in ("alpha_audit.csv", "alpha_audit_2026-03.csv"):
        with (SAMPLES / name).open(encoding="utf-8", newline="") as handle:
            ids[name] = {row["event_id"] for row in csv.DictReader(handle)}
    shared = ids["alpha_audit.csv"] & ids["alpha_audit_2026-03.csv"]
    assert second.rows_duplicate == len(shared)
    stored = samples.con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM audit_event WHERE operator = 'Messagerie Alpha'"
    ).fetchone()
    assert stored == (len(ids["alpha_audit.csv"] | ids["alpha_audit_2026-03.csv"]),) * 2


def test_audit_rows_in_the_warehouse_match_the_files(samples):
    loaded = sum(r.rows_loaded for r in samples.results.values() if r.kind == "audit")
    assert samples.con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == loaded
    duplicated_keys = samples.con.execute(
        "SELECT count(*) FROM (SELECT operator, event_id FROM audit_event GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    assert duplicated_keys == 0


def _ground_truth() -> list[dict[str, str]]:
    with (SAMPLES / "ground_truth.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_ground_truth_event_is_in_the_warehouse(samples):
    rows = _ground_truth()
    # Rows citing audit events carry their time span; delegation anomalies cite delegation events.
    audit_ids = {i for r in rows if r["first_at"] for i in r["event_ids"].split("|")}
    delegation_ids = {i for r in rows if not r["first_at"] for i in r["event_ids"].split("|") if i}

    assert len(audit_ids) > 100 and delegation_ids
    stored_audit = {
        r[0] for r in samples.con.execute("SELECT event_id FROM audit_event").fetchall()
    }
    stored_delegation = {
        r[0] for r in samples.con.execute("SELECT event_id FROM delegation_event").fetchall()
    }
    assert audit_ids <= stored_audit
    assert delegation_ids <= stored_delegation
