"""Ingest speed and memory against a bare DuckDB load of the same file, in the same run.

Generates a canonical audit CSV of N rows, then times (each in its own process, on a fresh
database file):

1. bare: DuckDB ``read_csv`` with explicit column types into a table, no validation;
2. ingest: ``delegation-reports ingest --no-refresh`` of the same file (validation,
   quarantine, dedup, manifest, one transaction; the models, rebuilt apart, are measured by
   ``analysis.py``).

Prints rows/s for both, their ratio (target: at most 2.5) and each run's peak memory
(target for ingest: under 3 GB).

    python benchmarks/ingest.py --rows 5000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import duckdb
from measure import run

BARE = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
con.execute('''CREATE TABLE audit AS SELECT * FROM read_csv(?, header = true, auto_detect = false,
    columns = {'event_id': 'VARCHAR', 'occurred_at': 'TIMESTAMPTZ', 'mailbox': 'VARCHAR',
               'actor': 'VARCHAR', 'action': 'VARCHAR', 'outcome': 'VARCHAR',
               'auth_method': 'VARCHAR', 'client_ip': 'VARCHAR', 'user_agent': 'VARCHAR',
               'session_id': 'VARCHAR', 'message_id': 'VARCHAR', 'operator': 'VARCHAR'})''',
    [sys.argv[1]])
con.close()
"""


def generate(path: Path, rows: int, defect_every: int = 0) -> None:
    """A canonical audit CSV with realistic cardinalities, written by DuckDB itself. With
    ``defect_every``, one row in that many lacks its UTC offset (to be quarantined)."""
    offset = (
        f"CASE WHEN i % {int(defect_every)} = 7 THEN '' ELSE '+01:00' END"
        if defect_every
        else "'+01:00'"
    )
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT
                'E' || lpad(i::VARCHAR, 10, '0') AS event_id,
                strftime(TIMESTAMP '2026-01-01 07:00:00' + to_seconds(i * 2), '%Y-%m-%dT%H:%M:%S') || {offset} AS occurred_at,
                'praticien' || (i % 2000) || '@medecin.mssante.fr' AS mailbox,
                CASE WHEN i % 3 = 0 THEN 'praticien' || (i % 2000) || '@medecin.mssante.fr'
                     ELSE 'secretaire' || (i % 2500) || '@pro.mssante.fr' END AS actor,
                (['login', 'read', 'read', 'read', 'send', 'move', 'delete', 'download', 'logout'])[i % 9 + 1] AS action,
                CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END AS outcome,
                (['cps', 'e-cps', 'psc', 'otp', 'password'])[i % 5 + 1] AS auth_method,
                '198.51.100.' || (i % 250) AS client_ip,
                'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.' || (i % 10) AS user_agent,
                'S' || (i // 20) AS session_id,
                '<' || md5(i::VARCHAR)[:16] || '@mssante.fr>' AS message_id,
                'Messagerie Alpha' AS operator
            FROM range({int(rows)}) AS t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the files in")
    parser.add_argument(
        "--defect-every",
        type=int,
        default=1000,
        help="also ingest a copy with one bad row in this many (0: skip)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / f"audit_{args.rows}.csv"
        if not csv_path.exists():
            print(f"generating {args.rows:,} rows ...", flush=True)
            generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"file: {size_mb:,.0f} MB, {args.rows:,} rows")
        for db in ("bare.duckdb", "ingest.duckdb"):
            (folder / db).unlink(missing_ok=True)
        bare_s, bare_gb = run(
            [sys.executable, "-c", BARE, str(csv_path), str(folder / "bare.duckdb")]
        )
        cli = [
            sys.executable,
            "-m",
            "delegation_reports.cli",
            "ingest",
            str(csv_path),
            "--db",
            str(folder / "ingest.duckdb"),
            "--json",
            "--no-refresh",
        ]
        ingest_s, ingest_gb = run(cli)
        check = duckdb.connect(str(folder / "ingest.duckdb"), read_only=True)
        loaded = check.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        check.close()
        if loaded != args.rows:
            raise SystemExit(f"ingest loaded {loaded:,} rows instead of {args.rows:,}")
        print(
            f"bare read_csv : {bare_s:7.2f} s  {args.rows / bare_s:12,.0f} rows/s  peak {bare_gb:.2f} GB"
        )
        print(
            f"ingest        : {ingest_s:7.2f} s  {args.rows / ingest_s:12,.0f} rows/s  peak {ingest_gb:.2f} GB"
        )
        print(
            f"ratio ingest / bare: {ingest_s / bare_s:.2f} (target <= 2.5); "
            f"ingest peak memory {ingest_gb:.2f} GB (target < 3)"
        )
        if args.defect_every:
            dirty = folder / f"audit_{args.rows}_defects_{args.defect_every}.csv"
            if not dirty.exists():
                generate(dirty, args.rows, args.defect_every)
            (folder / "dirty.duckdb").unlink(missing_ok=True)
            dirty_s, dirty_gb = run(
                [
                    *cli[:4],
                    str(dirty),
                    "--db",
                    str(folder / "dirty.duckdb"),
                    "--json",
                    "--no-refresh",
                ]
            )
            print(
                f"ingest with 1 bad row in {args.defect_every:,}: {dirty_s:7.2f} s  "
                f"ratio to bare {dirty_s / bare_s:.2f}  peak {dirty_gb:.2f} GB"
            )
            (folder / "dirty.duckdb").unlink(missing_ok=True)
        for db in ("bare.duckdb", "ingest.duckdb"):
            (folder / db).unlink(missing_ok=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
