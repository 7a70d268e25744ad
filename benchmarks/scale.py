"""The warehouse at the scale of a regional service: 100 million events, or the most that fits.

Builds a warehouse of N events (default 100 million; fewer when this machine's free disk or
memory would not hold them, and the number used is printed) over a year, 1,000 practices and
4,000 mailboxes, its tables filled in SQL (``analysis.py``'s builder), then times:

1. the first refresh: the core models, every month's marts, and the findings and stored
   attributed accesses (``practice_access``) of ``--month`` (of every month with
   ``--all-months``);
2. ingest: ``ingest_file`` of a new canonical audit file of ``--ingest-rows`` events (checked,
   deduplicated against the whole warehouse, recorded);
3. a month's refresh after a new audit file covering it (as ``analysis.py`` measures it);
4. one practice's data: the month of its attributed accesses fetched alone (as Arrow
   columns) from ``practice_access`` (target: at most 10 ms), against the same rows through the
   ``attributed_access`` view (which attributes the whole month first), and all the queries
   of its monthly report (``MonthlyReport.from_connection``), medians over several
   practices;
5. ``delegation_reports.integrity.verify`` on the warehouse, when the package has it (the
   builder's rows carry no digest: it checks the chain and the ingested file's rows).

    python benchmarks/scale.py --events 100000000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month
from delegation_reports.analysis.models import Month, create_model_macros, month_bounds, refresh
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.reports.monthly import MonthlyReport

sys.path.insert(0, str(Path(__file__).parent))

from analysis import build  # noqa: E402
from ingest import generate  # noqa: E402

# Disk per event, measured on the builder's warehouses (with headroom, and the month's
# stored attributed accesses).
DISK_PER_EVENT = 70
PRACTICE_MONTH = (
    "SELECT * FROM {table} "
    "WHERE occurred_at >= $from_at AND occurred_at < $until_at AND practice_id = $practice_id"
)


def _fitting(events: int, folder: Path) -> int:
    free = shutil.disk_usage(folder).free
    fits = int(free * 0.5 / DISK_PER_EVENT)
    if fits < events:
        print(f"  {free / 1e9:.0f} GB free on disk: {fits:,} events fit, not {events:,}")
    return min(events, fits)


def _load_average() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def _timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:58s} {elapsed:9.3f} s", flush=True)
    return value, elapsed


def _median_ms(fn, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--practices", type=int, default=1_000)
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the warehouse")
    parser.add_argument(
        "--all-months", action="store_true", help="first refresh: every month, not only --month"
    )
    args = parser.parse_args()
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        events = _fitting(args.events, tmp)
        memory = psutil.virtual_memory()
        print(
            f"warehouse: {events:,} events, {args.practices:,} practices, "
            f"{args.practices * 4:,} mailboxes (memory available: {memory.available / 1e9:.0f} GB; "
            f"load average {_load_average()})",
            flush=True,
        )
        db = tmp / "scale.duckdb"
        _timed("building the tables in SQL", lambda: build(db, events, args.practices * 4))
        print(f"  warehouse file: {db.stat().st_size / 1e9:.1f} GB")
        con = warehouse.connect(db)
        config = load_config()
        _timed(
            "first refresh of " + ("every month" if args.all_months else str(month)),
            lambda: refresh(con, None if args.all_months else [month], config),
        )
        print(f"  warehouse file: {db.stat().st_size / 1e9:.1f} GB")

        csv = tmp / "audit-new.csv"
        generate(csv, args.ingest_rows)
        result, ingest_s = _timed(
            f"ingest of {args.ingest_rows:,} new events", lambda: ingest_file(con, csv)
        )
        print(
            f"  {result.status}: {result.rows_loaded:,} loaded, {args.ingest_rows / ingest_s:,.0f} rows/s"
        )

        from_at, until_at = month_bounds(con, month)
        con.execute(
            "INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format, "
            "operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, "
            "covered_to_at, started_at, ended_at, tool_version) "
            "SELECT max(file_id) + 1, 'scale', 'scale', 0, 'scale', 'audit', 'audit', 'Op', 0, 0, "
            "0, 0, $from_at, $until_at - INTERVAL 1 SECOND, now(), now(), 'scale' FROM ingest_file",
            {"from_at": from_at, "until_at": until_at},
        )
        _timed(
            f"refresh of {month} after a new file covering it",
            lambda: ensure_month(con, month, config),
        )
        n_month = con.execute(
            "SELECT count(*) FROM audit_event WHERE occurred_at >= ? AND occurred_at < ?",
            [from_at, until_at],
        ).fetchone()[0]
        print(f"  {n_month:,} events in {month}")
        con.close()

        con = warehouse.connect(db, read_only=True)
        create_model_macros(con)
        practices = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT practice_id FROM roster_member ORDER BY 1 LIMIT 7"
            ).fetchall()
        ]
        MonthlyReport.from_connection(con, practices[0], month)  # warm the caches

        reader = con.cursor()

        def fetch(table: str, practice: str):
            # As columns (Arrow), as a data frame would read them: converting every value
            # to a Python object (the delegation judged against is a struct of instants)
            # costs far more than finding the rows.
            return reader.sql(
                PRACTICE_MONTH.format(table=table),
                params={"from_at": from_at, "until_at": until_at, "practice_id": practice},
            ).to_arrow_table()

        fetch_ms = _median_ms(lambda p: fetch("practice_access", p), practices * 3)
        rows = fetch("practice_access", practices[0]).num_rows
        view_ms = _median_ms(lambda p: fetch("attributed_access", p), practices[:3])
        report_ms = _median_ms(lambda p: MonthlyReport.from_connection(con, p, month), practices)
        print(
            f"one practice's month ({rows:,} events) fetched from practice_access: "
            f"{fetch_ms:9.1f} ms (target <= 10)"
        )
        print(f"  the same through the attributed_access view: {view_ms:9.1f} ms")
        print(f"one practice's monthly report queries: {report_ms:9.1f} ms")
        print(f"load average: {_load_average()}")
        con.close()

        if importlib.util.find_spec("delegation_reports.integrity.verify") is None:
            print("verify: delegation_reports.integrity.verify is not in this version")
            return
        from delegation_reports.integrity.verify import verify

        # Only the ingested file is chained and digested: the builder's rows are not.
        con = warehouse.connect(db)
        checked, _ = _timed("verify (chain and digests)", lambda: verify(con))
        print(f"  {len(checked.problems)} problem(s) reported")
        con.close()


if __name__ == "__main__":
    main()
