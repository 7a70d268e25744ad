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
4. the first report's cost: storing the month's attributed accesses in practice order
   (``practice_access``, ``ensure_practice_access``), and what the same call costs the later
   reports of a batch (on the batch's read-only connection: no lookup);
5. one practice's data: the month of its attributed accesses fetched alone (as Arrow
   columns) from ``practice_access`` (target: at most 10 ms), against the same rows through the
   ``attributed_access`` view (which attributes the whole month first); then every query of
   its monthly report (``MonthlyReport.from_connection``) and of a mailbox's history
   (``HistoryReport.from_connection`` over the refreshed months), each timed, with the row
   groups of ``practice_access`` it read out of those of the table, medians over several
   practices and mailboxes;
6. ``delegation_reports.integrity.verify`` on the warehouse, when the package has it (the
   builder's rows carry no digest: it checks the chain and the ingested file's rows).

Practice ids are long and share a prefix (``--practice-prefix``, by default 10 characters, as
the SIRETs of one organisation's establishments): row group bounds keep only the first 8
bytes of a text column, which such ids defeat unless the table is sorted and filtered by
``practice_key``. ``--warehouse PATH`` keeps the warehouse built (or measures again one kept
by an earlier run, skipping steps 1 to 4).

    python benchmarks/scale.py --events 100000000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import psutil

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month
from delegation_reports.analysis.models import (
    Month,
    create_model_macros,
    ensure_practice_access,
    month_bounds,
    refresh,
)
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.reports.history import HistoryReport
from delegation_reports.reports.monthly import PRACTICE_MONTH, MonthlyReport

sys.path.insert(0, str(Path(__file__).parent))

from analysis import build  # noqa: E402
from ingest import generate  # noqa: E402

# Disk per event, measured on the builder's warehouses (with headroom, and the month's
# stored attributed accesses).
DISK_PER_EVENT = 70
FETCH = f"SELECT * FROM {{table}} WHERE {PRACTICE_MONTH}"
SAMPLES = 7  # practices, and mailboxes, each measured


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
    return _median_ms_and_cpu(fn, items)[0]


def _median_ms_and_cpu(fn, items) -> tuple[float, float]:
    """Medians of the wall time and of the process's CPU time (every thread's), in ms: on a
    loaded machine the CPU time says what the work costs, the wall time adds the wait for a
    core."""
    times, cpu = [], []
    for item in items:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(item)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times) * 1000, statistics.median(cpu) * 1000


class _Result:
    """A finished result, as the reports read it."""

    def __init__(self, rows, description):
        self.rows, self.description = rows, description

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


class _Timing:
    """The report's connection, timing each query (run and fetched) by its text."""

    def __init__(self, con):
        self._con = con
        self.queries: list[tuple[str, dict | list | None, float]] = []

    def execute(self, sql, params=None):
        start = time.perf_counter()
        cursor = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        result = _Result(cursor.fetchall(), cursor.description)
        self.queries.append((sql, params, time.perf_counter() - start))
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


_REPORT_SQL = {
    warehouse.sql_text(f"reports/{path.name}"): path.stem
    for path in (Path(warehouse.__file__).parent / "sql" / "reports").glob("*.sql")
}


def _label(sql: str) -> str:
    if sql in _REPORT_SQL:
        return _REPORT_SQL[sql] + ".sql"
    text = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()
    return text[:50]


_READS = re.compile(r"\bpractice_access\b(?!_)")


def _per_query(con, title: str, load, items) -> None:
    """Every query ``load(connection, item)`` runs, medians over ``items``: those reading
    ``practice_access`` with the row groups they read, then the rest together."""
    times: dict[str, list[float]] = defaultdict(list)
    example: dict[str, tuple] = {}
    totals = []
    for item in items:
        timing = _Timing(con)
        start = time.perf_counter()
        load(timing, item)
        totals.append(time.perf_counter() - start)
        for sql, params, seconds in timing.queries:
            times[_label(sql)].append(seconds)
            example.setdefault(_label(sql), (sql, params))
    reading = [
        label for label, (sql, _) in example.items() if _READS.search(re.sub(r"--[^\n]*", "", sql))
    ]
    print(f"{title}, medians over {len(items)}:")
    for label in reading:
        read, total = warehouse.row_groups_read(con, *example[label], "practice_access")
        print(
            f"  {label:50s} {statistics.median(times[label]) * 1000:7.1f} ms"
            f"  (row groups of practice_access read: {read} of {total})"
        )
    fetch = sum(statistics.median(times[label]) for label in reading) * 1000
    rest = sum(statistics.median(v) for label, v in times.items() if label not in reading)
    print(f"  {'its data fetched from practice_access, in all':50s} {fetch:7.1f} ms")
    print(f"  {f'the {len(times) - len(reading)} other queries, in all':50s} {rest * 1000:7.1f} ms")
    slowest = sorted(
        (statistics.median(v), label) for label, v in times.items() if label not in reading
    )[-3:]
    for seconds, label in reversed(slowest):
        print(f"    {label:48s} {seconds * 1000:7.1f} ms")
    print(
        f"  {'the whole load (queries and their Python)':50s} {statistics.median(totals) * 1000:7.1f} ms"
    )


def _build(db: Path, events: int, args, month: Month) -> None:
    _timed(
        "building the tables in SQL",
        lambda: build(db, events, args.practices * 4, args.practice_prefix),
    )
    print(f"  warehouse file: {db.stat().st_size / 1e9:.1f} GB")
    con = warehouse.connect(db)
    config = load_config()
    _timed(
        "first refresh of " + ("every month" if args.all_months else str(month)),
        lambda: refresh(con, None if args.all_months else [month], config),
    )
    print(f"  warehouse file: {db.stat().st_size / 1e9:.1f} GB")

    csv = db.parent / "audit-new.csv"
    generate(csv, args.ingest_rows)
    result, ingest_s = _timed(
        f"ingest of {args.ingest_rows:,} new events", lambda: ingest_file(con, csv)
    )
    csv.unlink()
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
    create_model_macros(con)
    _timed(
        f"storing {month}'s attributed accesses (the first report's cost)",
        lambda: ensure_practice_access(con, [month]),
    )
    print(f"  warehouse file: {db.stat().st_size / 1e9:.1f} GB")
    con.close()


def _measure(db: Path, month: Month) -> None:
    con = warehouse.connect(db, read_only=True)
    create_model_macros(con)
    first = _median_ms(lambda _: ensure_practice_access(con, [month]), [0])
    later = _median_ms(lambda _: ensure_practice_access(con, [month]), range(20))
    print(
        f"ensure_practice_access on a batch's connection: first report {first:.2f} ms, "
        f"later ones {later * 1000:.0f} us"
    )
    practices = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT practice_id FROM roster_member ORDER BY 1 LIMIT ?", [SAMPLES + 1]
        ).fetchall()
    ]
    MonthlyReport.from_connection(con, practices[-1], month)  # warm the caches
    from_at, until_at = month_bounds(con, month)
    reader = con.cursor()
    create_model_macros(reader)

    def fetch(table: str, practice: str):
        # As columns (Arrow), as a data frame would read them: converting every value
        # to a Python object (the delegation judged against is a struct of instants)
        # costs far more than finding the rows.
        return reader.sql(
            FETCH.format(table=table),
            params={"from_at": from_at, "until_at": until_at, "practice_id": practice},
        ).to_arrow_table()

    practices = practices[:SAMPLES]
    fetch_ms, fetch_cpu = _median_ms_and_cpu(lambda p: fetch("practice_access", p), practices * 3)
    rows = fetch("practice_access", practices[0]).num_rows
    print(
        f"one practice's month ({rows:,} events) fetched from practice_access: "
        f"{fetch_ms:9.1f} ms (target <= 10), CPU time {fetch_cpu:.1f} ms"
    )
    view = (
        "SELECT * FROM attributed_access WHERE occurred_at >= $from_at "
        "AND occurred_at < $until_at AND practice_id = $practice_id"
    )
    view_ms = _median_ms(
        lambda p: reader.sql(
            view, params={"from_at": from_at, "until_at": until_at, "practice_id": p}
        ).to_arrow_table(),
        practices[:3],
    )
    print(f"  the same through the attributed_access view: {view_ms:9.1f} ms")
    _per_query(
        con,
        f"one practice's monthly report ({month})",
        lambda c, p: MonthlyReport.from_connection(c, p, month),
        practices,
    )
    mailboxes = [
        r[0]
        for r in con.execute(
            "SELECT mailbox FROM mailbox_practice WHERE practice_id IN (SELECT unnest(?)) "
            "ORDER BY 1",
            [practices],
        ).fetchall()
    ][:SAMPLES]
    last = month.next().first_day - timedelta(days=1)
    _per_query(
        con,
        f"one mailbox's history ({month})",
        lambda c, m: HistoryReport.from_connection(c, m, month.first_day, last),
        mailboxes,
    )
    print(f"load average: {_load_average()}")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--practices", type=int, default=1_000)
    parser.add_argument("--practice-prefix", default="2675004520")
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the warehouse")
    parser.add_argument(
        "--warehouse", type=Path, default=None, help="keep the warehouse there (or reuse it)"
    )
    parser.add_argument(
        "--all-months", action="store_true", help="first refresh: every month, not only --month"
    )
    args = parser.parse_args()
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = args.warehouse or Path(tmp) / "scale.duckdb"
        memory = psutil.virtual_memory()
        if db.exists():
            print(f"warehouse kept by an earlier run: {db} ({db.stat().st_size / 1e9:.1f} GB)")
        else:
            events = _fitting(args.events, db.parent)
            print(
                f"warehouse: {events:,} events, {args.practices:,} practices, "
                f"{args.practices * 4:,} mailboxes (memory available: "
                f"{memory.available / 1e9:.0f} GB; load average {_load_average()})",
                flush=True,
            )
            _build(db, events, args, month)
        _measure(db, month)

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
