"""Verifying the warehouse, against a bare full scan of the same tables.

Builds a warehouse of N audit events (default 5 million) loaded by twelve files, with
delegations, a roster and some quarantined lines, each file's manifest entry carrying its
digest and sealed in the chain as ingestion does, then times in the same run:

1. baseline: a bare full scan of the tables verification reads: per table and file, the
   number of rows and the length of every value (every value of every row is read);
2. verify: what ``delegation-reports verify`` does: the chain link by link, every manifest
   entry against its link, and every file's rows against its digest.

Prints both and their ratio (target: at most 1.5).

    python benchmarks/verify.py --events 5000000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from delegation_reports import warehouse
from delegation_reports.integrity import chain, digest
from delegation_reports.integrity.verify import verify

FILES = 12


def build(path: Path, events: int, mailboxes: int) -> None:
    """Rows filled directly in SQL (ingestion is benchmarked apart), one twelfth of the
    events per file, each file then recorded and sealed as the loader records it."""
    con = warehouse.connect(path)
    con.execute(
        """
        INSERT INTO roster_member (practice_id, practice_name, member, member_kind, member_rpps,
                                   practice_siret, practice_finess, source_file_id)
        SELECT 'P' || lpad((m // 4)::VARCHAR, 5, '0'), 'Cabinet ' || (m // 4),
               'praticien' || m || '@medecin.mssante.fr', 'holder', NULL, NULL, NULL, $file
        FROM range($mailboxes) AS t(m)
        """,
        {"mailboxes": mailboxes, "file": FILES + 1},
    )
    con.execute(
        """
        INSERT INTO delegation_event
        SELECT 'Op', 'D' || m, 'grant', TIMESTAMPTZ '2025-01-06 08:00:00+00',
               'praticien' || m || '@medecin.mssante.fr', 'secretaire' || (m // 4) || '@pro.mssante.fr',
               'Secrétaire ' || (m // 4), 'secretary', ['documents', 'manage', 'read', 'send'],
               NULL, NULL, 'praticien' || m || '@medecin.mssante.fr', $file
        FROM range($mailboxes) AS t(m)
        """,
        {"mailboxes": mailboxes, "file": FILES + 2},
    )
    con.execute(
        """
        INSERT INTO audit_event
        SELECT 'Op', 'E' || i,
               TIMESTAMPTZ '2025-01-06 08:00:00+00' + to_seconds(i * 6),
               'praticien' || (i % $mailboxes) || '@medecin.mssante.fr',
               CASE WHEN i % 3 = 0 THEN 'praticien' || (i % $mailboxes) || '@medecin.mssante.fr'
                    ELSE 'secretaire' || ((i % $mailboxes) // 4) || '@pro.mssante.fr' END,
               (['login', 'read', 'read', 'read', 'send', 'move', 'delete', 'download', 'logout'])[i % 9 + 1],
               CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END,
               'otp', '198.51.100.' || (i % $mailboxes // 10), 'Thunderbird 128', 'S' || (i // 12),
               CASE WHEN i % 5 = 0 THEN '<' || i || '@mssante.fr>' END,
               1 + i * $files // $events
        FROM range($events) AS t(i)
        """,
        {"events": events, "mailboxes": mailboxes, "files": FILES},
    )
    con.execute(
        """
        INSERT INTO quarantine (file_id, file_sha256, line_number, reason, detail, raw_text)
        SELECT 1 + i % $files, 'bench', i, 'bad_timestamp', 'occurred_at: 31/02/2025',
               'E-bad' || i || ',31/02/2025,...'
        FROM range(1000) AS t(i)
        """,
        {"files": FILES},
    )
    for file_id in range(1, FILES + 3):
        kind = (
            "audit" if file_id <= FILES else ("roster" if file_id == FILES + 1 else "delegations")
        )
        con.execute(
            "INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format, "
            "operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined, started_at, "
            "ended_at, tool_version, rows_digest) VALUES (?, 'bench', ?, 0, ?, ?, ?, 'Op', 0, 0, 0, "
            "0, now(), now(), 'bench', ?)",
            [
                file_id,
                f"file{file_id}.csv",
                f"sha{file_id}",
                kind,
                kind,
                digest.encode(digest.file_digest(con, file_id)),
            ],
        )
        chain.append(con, chain.FILE, file_id)
    con.execute("CHECKPOINT")
    con.close()


def scan_sql(con, table: digest.TraceTable) -> str:
    """Rows per file and a cheap function of every value (a string's length, a number's
    remainder): each value of each row is read, nothing is hashed."""
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table.name],
        ).fetchall()
    )
    parts = []
    for c in table.columns:
        if types[c] == "VARCHAR":
            parts.append(f"coalesce(strlen({c}), 0)")
        elif types[c].endswith("[]"):
            parts.append(f"coalesce(len({c}), 0)")
        elif types[c] == "BOOLEAN":
            parts.append(f"coalesce({c}::INTEGER, 0)")
        elif types[c].startswith("TIMESTAMP"):
            parts.append(f"coalesce(epoch_us({c}) % 7, 0)")
        else:
            parts.append(f"coalesce({c} % 7, 0)")
    return (
        f"SELECT {table.file_column}, count(*), sum({' + '.join(parts)}) "
        f"FROM {table.name} GROUP BY 1"
    )


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--mailboxes", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        print(f"building a sealed warehouse of {args.events:,} events ...", flush=True)
        build(path, args.events, args.mailboxes)
        con = warehouse.connect(path, read_only=True)
        scans = [scan_sql(con, t) for t in digest.TRACE_TABLES]
        result = verify(con)
        if not result.ok:
            raise SystemExit(f"the benchmark's warehouse does not verify: {result.verdict}")

        def bare_scan():
            for sql in scans:
                con.execute(sql).fetchall()

        # Alternate the two, so that a change of the machine's load weighs on both.
        base, checked = [], []
        for _ in range(args.repeat):
            base.append(timed(bare_scan, 1))
            checked.append(timed(lambda: verify(con), 1))
        base_s, verify_s = statistics.median(base), statistics.median(checked)
        con.close()
    print(f"bare full scan of the tables : {base_s:7.3f} s")
    print(
        f"verify                       : {verify_s:7.3f} s  ({result.rows:,} rows, {result.links} links)"
    )
    print(f"ratio: {verify_s / base_s:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
