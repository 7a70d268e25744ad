"""Evidence files of a large practice: time and peak memory against DuckDB writing the same
traces to CSV itself, and against the CSV evidence file alone.

Builds a warehouse of one practice whose mailbox an account without delegation reads N times
in a month (default 1,000,000: one finding a day, every read behind it), then, each in its
own process:

1. writes the practice's evidence files (CSV and XLSX) with ``reports.evidence``, in one pass;
2. the CSV evidence file alone (the same query, labels and formatting, no workbook);
3. the XLSX evidence file alone;
4. the baseline: DuckDB's ``COPY`` of the same audit events to a CSV file.

Prints seconds and peak resident memory of each and the ratios: both files against the
``COPY`` and against the CSV alone (what the workbook adds). Memory must stay flat as N
grows: rows are streamed from DuckDB in batches and written as they come.

    python benchmarks/evidence.py --events 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import measure

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import Month, refresh

MONTH = Month(2026, 3)
HOLDER = "helene.garnier@medecin.mssante.fr"
READER = "lecteur.inconnu@pro.mssante.fr"


def build(db: Path, events: int) -> None:
    con = warehouse.connect(db)
    try:
        con.execute(
            "INSERT INTO roster_member (practice_id, practice_name, member, member_kind, "
            "source_file_id) VALUES ('P1', 'Cabinet', ?, 'holder', 1)",
            [HOLDER],
        )
        # Reads spread over March's working hours, by an account with no delegation.
        con.execute(
            "INSERT INTO audit_event SELECT 'Op', 'E-' || i, "
            "TIMESTAMPTZ '2026-03-02 07:00:00+00' + to_seconds((i * 2300000 // $n)::BIGINT), "
            "$holder, $reader, 'read', 'success', 'password', '192.0.2.1', 'Client/1.0', "
            "'s-' || (i // 1000), NULL, 1 FROM range($n) AS t(i)",
            {"n": events, "holder": HOLDER, "reader": READER},
        )
        now = datetime.now(UTC)
        con.execute(
            "INSERT INTO ingest_file (path, file_name, size_bytes, sha256, kind, format, operator, "
            "rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, "
            "covered_to_at, started_at, ended_at, tool_version) VALUES ('/bench/audit.csv', "
            "'audit.csv', 0, repeat('0', 64), 'audit', 'audit', 'Op', 0, 0, 0, 0, "
            "TIMESTAMPTZ '2026-03-01 00:00:00+01', TIMESTAMPTZ '2026-03-31 23:00:00+02', ?, ?, 'bench')",
            [now, now],
        )
        refresh(con, [MONTH], load_config())
    finally:
        con.close()


def evidence(db: Path, out: Path) -> None:
    from delegation_reports.reports.evidence import write_evidence

    write_evidence(db, "P1", MONTH, out)


def _alone(db: Path, out: Path, write) -> None:
    from delegation_reports.analysis.models import create_model_macros

    con = warehouse.connect(db, read_only=True)
    try:
        create_model_macros(con)
        write(con, "P1", MONTH, out)
    finally:
        con.close()


def csv_alone(db: Path, out: Path) -> None:
    from delegation_reports.reports.evidence import write_csv

    _alone(db, out / "alone.csv", write_csv)


def xlsx_alone(db: Path, out: Path) -> None:
    from delegation_reports.reports.evidence import write_xlsx

    _alone(db, out / "alone.xlsx", write_xlsx)


def baseline(db: Path, out: Path) -> None:
    con = warehouse.connect(db, read_only=True)
    try:
        con.execute(
            f"COPY (SELECT * FROM audit_event ORDER BY occurred_at, event_id) "
            f"TO '{out / 'baseline.csv'}' (HEADER, DELIMITER ';')"
        )
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("step", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step, db, out = args.step
        steps = {"evidence": evidence, "csv": csv_alone, "xlsx": xlsx_alone, "baseline": baseline}
        steps[step](Path(db), Path(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db, out = Path(tmp) / "bench.duckdb", Path(tmp)
        print(f"building a warehouse with {args.events:,} reads behind findings ...", flush=True)
        build(db, args.events)
        me = [sys.executable, __file__]
        files, files_peak = measure.run([*me, "evidence", str(db), str(out)])
        csv_only, csv_peak = measure.run([*me, "csv", str(db), str(out)])
        xlsx_only, xlsx_peak = measure.run([*me, "xlsx", str(db), str(out)])
        base, base_peak = measure.run([*me, "baseline", str(db), str(out)])
        rows = sum(1 for _ in (out / "P1-preuves.csv").open(encoding="utf-8-sig")) - 1
        print(
            f"evidence files ({rows:,} traces, CSV and XLSX): {files:.1f} s, peak {files_peak:.2f} GB"
        )
        print(f"CSV evidence file alone: {csv_only:.1f} s, peak {csv_peak:.2f} GB")
        print(f"XLSX evidence file alone: {xlsx_only:.1f} s, peak {xlsx_peak:.2f} GB")
        print(f"baseline (DuckDB COPY of the events to CSV): {base:.1f} s, peak {base_peak:.2f} GB")
        print(f"ratio, both files / COPY: {files / base:.1f}")
        print(f"ratio, both files / CSV alone: {files / csv_only:.2f}")


if __name__ == "__main__":
    main()
