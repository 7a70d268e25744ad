"""The national MSSanté directory extraction at full scale, against a bare DuckDB read.

Generates an extraction in the real format (31 ``|``-separated columns, official header and
file name) of N lines (default 536,000, about 125 MB like the 2026 files), then times in the
same run, each in its own process on a fresh database file: a bare ``read_csv`` of the 31
columns into a table, and ``delegation-reports ingest --no-refresh`` of the same file. Prints
rows/s, peak memory and the ratio.

    python benchmarks/directory.py --rows 536000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb
from measure import run

from delegation_reports.ingest.detect import DIRECTORY_HEADERS

BARE = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
columns = {f"c{i}": "VARCHAR" for i in range(31)}
con.execute("CREATE TABLE d AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
            "delim = '|', quote = '', columns = " + repr(columns) + ")", [sys.argv[1]])
con.close()
"""


def generate(path: Path, rows: int) -> None:
    """PER rows with a Luhn-valid RPPS, ORG rows without; structures on two rows in three."""
    con = duckdb.connect()
    body = path.with_suffix(".body")
    con.execute(
        f"""
        COPY (
            SELECT
                CASE WHEN i % 10 = 0 THEN 'ORG' ELSE 'PER' END,
                CASE WHEN i % 10 = 0 THEN 'secretariat' || i || '@chu-' || (i % 300) || '.mssante.fr'
                     ELSE 'prenom' || i || '.nom' || (i % 977) || '@'
                          || (['medecin', 'pharmacien', 'chirurgien-dentiste', 'masseur-kinesitherapeute', 'pro'])[i % 5 + 1]
                          || '.mssante.fr' END,
                CASE WHEN i % 10 = 0 THEN '' ELSE '8' END,
                CASE WHEN i % 10 = 0 THEN '' ELSE '10099990011' END,
                CASE WHEN i % 10 = 0 THEN '' ELSE '810099990011' END,
                CASE WHEN i % 3 = 0 THEN '' ELSE '3' END,
                CASE WHEN i % 3 = 0 THEN '' ELSE '99999999800019' END,
                '', CASE WHEN i % 2 = 0 THEN 'DR' ELSE 'MME' END, 'NOM' || (i % 977), 'PRENOM' || (i % 311),
                'C', 'Civil', '10', 'Médecin', 'SM54', 'Médecine générale',
                CASE WHEN i % 4 = 0 THEN 'N' ELSE 'O' END,
                'CABINET MEDICAL ' || (i % 5000), '', '', '', (i % 120)::VARCHAR, '', 'RUE',
                'DE LA REPUBLIQUE ' || (i % 90), '', (i % 95 + 1)::VARCHAR || '000 VILLE',
                lpad((i % 95 + 1)::VARCHAR, 2, '0') || '000', lpad((i % 95 + 1)::VARCHAR, 2, '0'), 'FRANCE'
            FROM range({int(rows)}) AS t(i)
        ) TO '{body}' (HEADER false, DELIMITER '|', QUOTE '')
        """
    )
    con.close()
    with path.open("wb") as out:
        out.write(("|".join(DIRECTORY_HEADERS) + "\n").encode("utf-8"))
        with body.open("rb") as rows_file:
            while chunk := rows_file.read(1 << 20):
                out.write(chunk)
    body.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=536_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "Extraction_Correspondance_MSSante_202603020830.txt"
        generate(path, args.rows)
        print(f"file: {path.stat().st_size / 1e6:,.0f} MB, {args.rows:,} lines")
        bare_s, bare_gb = run([sys.executable, "-c", BARE, str(path), str(folder / "bare.duckdb")])
        ingest_s, ingest_gb = run(
            [
                sys.executable,
                "-m",
                "delegation_reports.cli",
                "ingest",
                str(path),
                "--db",
                str(folder / "ingest.duckdb"),
                "--json",
                "--no-refresh",
            ]
        )
        con = duckdb.connect(str(folder / "ingest.duckdb"), read_only=True)
        loaded = con.execute("SELECT rows_loaded + rows_duplicate FROM ingest_file").fetchone()[0]
        con.close()
        if loaded != args.rows:
            raise SystemExit(f"ingest accounted for {loaded:,} lines instead of {args.rows:,}")
    print(
        f"bare read_csv : {bare_s:6.2f} s  {args.rows / bare_s:10,.0f} rows/s  peak {bare_gb:.2f} GB"
    )
    print(
        f"ingest        : {ingest_s:6.2f} s  {args.rows / ingest_s:10,.0f} rows/s  peak {ingest_gb:.2f} GB"
    )
    print(f"ratio ingest / bare: {ingest_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
