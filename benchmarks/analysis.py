"""Refreshing the models and listing one month's findings, against a full-scan aggregate.

Builds a warehouse of N audit events (default 5 million) over 2,000 mailboxes and twelve
months, with rosters and delegations, then times in the same run:

1. baseline: one aggregate scanning the whole audit table (events per mailbox and action),
   timed before each repetition of the cases below (its median over all of them);
2. analysis: what follows the arrival of a new audit file covering one month (its rows
   and manifest entry are written before, untimed: ingestion is benchmarked apart): the
   refresh of the models for that month (its marts and findings; the core models are
   rebuilt only when delegations, rosters, directory or configuration changed) and
   ``findings`` for that month, as ``delegation-reports findings --month`` runs them.
   Twice: for a file sent again (every row a duplicate: nothing new anywhere, so the
   month's findings are recognised as up to date and left as they are), and for a file
   adding a working day's events to the month (a late or completing export: the marts and
   findings are computed again);
   and, apart, what the first report to read the month then adds: storing its attributed
   accesses in practice order (``practice_access``, see ``ensure_practice_access``).

Prints each and its ratio to the baseline (target: about 8 at most), in wall-clock time and in the CPU time
of the process (user and system, every thread): on a machine shared with other work the wall
times vary more than the work done, and the CPU times compare two versions of the code better.

    python benchmarks/analysis.py --events 5000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month, month_findings
from delegation_reports.analysis.models import (
    Month,
    ensure_practice_access,
    month_bounds,
    refresh,
)

BASELINE = "SELECT mailbox, action, count(*) FROM audit_event GROUP BY ALL"

# An event's columns after its instant, from its number i: one in three by the holder, one in a
# thousand by an unknown account, one in 97 failed.
_EVENT_COLUMNS = """
               'praticien' || (i % $mailboxes) || '@medecin.mssante.fr',
               CASE WHEN i % 3 = 0 THEN 'praticien' || (i % $mailboxes) || '@medecin.mssante.fr'
                    WHEN i % 1000 = 1 THEN 'inconnu' || (i % 7) || '@pro.mssante.fr'
                    ELSE 'secretaire' || ((i % $mailboxes) // 4) || '@pro.mssante.fr' END,
               (['login', 'read', 'read', 'read', 'send', 'move', 'delete', 'download', 'logout'])[i % 9 + 1],
               CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END,
               'otp', '198.51.100.' || (i % $mailboxes // 10), 'Thunderbird 128', 'S' || (i // 12), NULL"""


def build(path: Path, events: int, mailboxes: int, practice_prefix: str = "P") -> None:
    """A warehouse whose tables are filled directly in SQL (ingestion is benchmarked apart).
    Practice ids are ``practice_prefix`` and a 5-digit number."""
    con = warehouse.connect(path)
    n_practices = mailboxes // 4
    con.execute(
        """
        INSERT INTO roster_member (practice_id, practice_name, member, member_kind, member_rpps,
                                   practice_siret, practice_finess, source_file_id)
        SELECT $prefix || lpad((m // 4)::VARCHAR, 5, '0'), 'Cabinet ' || (m // 4),
               'praticien' || m || '@medecin.mssante.fr', 'holder', NULL, NULL, NULL, 0
        FROM range($mailboxes) AS t(m)
        UNION ALL
        SELECT $prefix || lpad(p::VARCHAR, 5, '0'), 'Cabinet ' || p,
               'secretaire' || p || '@pro.mssante.fr', 'staff', NULL, NULL, NULL, 0
        FROM range($practices) AS t(p)
        """,
        {"mailboxes": mailboxes, "practices": n_practices, "prefix": practice_prefix},
    )
    con.execute(
        """
        INSERT INTO delegation_event
        SELECT 'Op', 'D' || m, 'grant', TIMESTAMPTZ '2025-01-06 08:00:00+00', 'praticien' || m || '@medecin.mssante.fr',
               'secretaire' || (m // 4) || '@pro.mssante.fr', 'Secrétaire ' || (m // 4), 'secretary',
               ['documents', 'manage', 'read', 'send'], NULL, NULL, 'praticien' || m || '@medecin.mssante.fr', 0
        FROM range($mailboxes) AS t(m)
        """,
        {"mailboxes": mailboxes},
    )
    # Events over the working days of 2025 (Monday 6 January on), 08:00-18:00 UTC, in
    # arrival order.
    con.execute(
        f"""
        INSERT INTO audit_event
        SELECT 'Op', 'E' || i,
               TIMESTAMPTZ '2025-01-06 08:00:00+00'
                   + to_days(((i * 250 // $events) // 5) * 7 + (i * 250 // $events) % 5)
                   + to_seconds((i * 7919) % 36000),
               {_EVENT_COLUMNS}, 0
        FROM range($events) AS t(i)
        """,
        {"events": events, "mailboxes": mailboxes},
    )
    con.execute(
        "INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format, operator, "
        "rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, covered_to_at, "
        "started_at, ended_at, tool_version) "
        "SELECT 0, 'bench', 'bench', 0, 'bench', 'audit', 'audit', 'Op', $n, $n, 0, 0, "
        "min(occurred_at), max(occurred_at), now(), now(), 'bench' FROM audit_event",
        {"n": events},
    )
    con.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn, repeat: int, cpu: list | None = None, setup=None, beside=None) -> float:
    """The median wall-clock time of ``fn``; its median CPU time is appended to ``cpu``.
    ``setup()``, untimed, runs before each call, and ``beside()`` (the baseline, timing
    itself) before that: the two are measured at the same moments of a shared machine."""
    times, cpu_times = [], []
    for _ in range(repeat):
        if beside is not None:
            beside()
        if setup is not None:
            setup()
        start, start_cpu = time.perf_counter(), _cpu()
        fn()
        times.append(time.perf_counter() - start)
        cpu_times.append(_cpu() - start_cpu)
    if cpu is not None:
        cpu.append(statistics.median(cpu_times))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--mailboxes", type=int, default=2_000)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        print(
            f"building a warehouse of {args.events:,} events, {args.mailboxes:,} mailboxes ...",
            flush=True,
        )
        build(path, args.events, args.mailboxes)
        con = warehouse.connect(path)
        config = load_config()
        month = Month.parse(args.month)
        start = time.perf_counter()
        refresh(con, None, config)  # every month: core models, marts, findings
        first_s = time.perf_counter() - start
        from_at, until_at = month_bounds(con, month)

        def new_file(rows: int) -> None:
            """What `ingest` records of a new audit file covering the month: ``rows`` new
            events on one of its working days (a late or completing export), or none (a file
            sent again, every row a duplicate)."""
            file_id = con.execute("SELECT max(file_id) + 1 FROM ingest_file").fetchone()[0]
            day = days[file_id % len(days)]
            con.execute(
                f"""
                INSERT INTO audit_event
                SELECT 'Op', 'F' || $file_id || '-' || i,
                       $day_at + to_seconds((i * 7919) % 36000),
                       {_EVENT_COLUMNS}, $file_id
                FROM range($first, $first + $rows) AS t(i)
                """,
                {
                    "file_id": file_id,
                    "day_at": day,
                    "first": file_id * rows,
                    "rows": rows,
                    "mailboxes": args.mailboxes,
                },
            )
            con.execute(
                "INSERT INTO ingest_file (file_id, path, file_name, size_bytes, sha256, kind, format, "
                "operator, rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, "
                "covered_to_at, started_at, ended_at, tool_version) "
                "VALUES ($file_id, 'bench', 'bench', 0, 'bench' || $file_id, 'audit', 'audit', 'Op', "
                "$read, $rows, $read - $rows, 0, $from_at, $until_at - INTERVAL 1 SECOND, now(), now(), "
                "'bench')",
                {
                    "file_id": file_id,
                    "read": max(rows, day_events),
                    "rows": rows,
                    "from_at": day if rows else from_at,
                    "until_at": day + timedelta(days=1) if rows else until_at,
                },
            )

        def analysis():
            # What `findings --month` does once `ingest` loaded a new audit file covering the
            # month (`new_file`, untimed: ingestion is benchmarked apart): the manifest
            # changed, the month is stale, and it is brought up to date.
            ensure_month(con, month, config)
            return month_findings(con, month)

        # The month's working days (08:00 UTC), and a day's share of the events.
        days = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT date_trunc('day', occurred_at) + INTERVAL 8 HOUR FROM audit_event "
                "WHERE occurred_at >= ? AND occurred_at < ? ORDER BY 1",
                [from_at, until_at],
            ).fetchall()
        ]
        day_events = args.events // 250

        # The baseline is timed before each repetition of every case (its median over all
        # of them): a load that comes and goes on the machine weighs on both alike.
        base_times, base_cpu = [], []

        def baseline() -> None:
            start, start_cpu = time.perf_counter(), _cpu()
            con.execute(BASELINE).fetchall()
            base_times.append(time.perf_counter() - start)
            base_cpu.append(_cpu() - start_cpu)

        cpu: list[float] = []
        analysis_s = timed(analysis, args.repeat, cpu, lambda: new_file(0), baseline)
        added_s = timed(analysis, args.repeat, cpu, lambda: new_file(day_events), baseline)
        warm_s = timed(lambda: month_findings(con, month), args.repeat, beside=baseline)

        # What the first report to read the month adds: its attributed accesses, stored.
        def store():
            con.execute("DELETE FROM practice_access_state")
            ensure_practice_access(con, [month])

        stored_s = timed(store, args.repeat, beside=baseline)
        base_s = statistics.median(base_times)
        cpu.insert(0, statistics.median(base_cpu))
        n_findings = len(month_findings(con, month))
        n_month = con.execute(
            "SELECT count(*) FROM audit_event WHERE occurred_at >= ? AND occurred_at < ?",
            [from_at, until_at],
        ).fetchone()[0]
        con.close()
    print(f"full-scan aggregate       : {base_s:7.3f} s")
    print(
        f"refresh + findings {month}, the month's audit sent again (no new row): {analysis_s:7.3f} s, "
        f"ratio {analysis_s / base_s:.1f} (target <= 8)"
    )
    print(
        f"refresh + findings {month}, a file adding a day's {day_events:,} events: {added_s:7.3f} s, "
        f"ratio {added_s / base_s:.1f} (target <= 8)"
    )
    print(f"({n_month:,} events in the month at the end, {n_findings:,} findings)")
    print(
        f"CPU time: full scan {cpu[0]:.3f} s, refresh + findings {cpu[1]:.3f} s and {cpu[2]:.3f} s, "
        f"ratios {cpu[1] / cpu[0]:.1f} and {cpu[2] / cpu[0]:.1f}"
    )
    print(
        f"then, for the first report to read the month, storing its attributed accesses "
        f"(practice_access): {stored_s:7.3f} s, ratio {stored_s / base_s:.1f}"
    )
    print(f"first refresh of the whole warehouse (every month): {first_s:7.3f} s")
    print(
        f"findings of an up-to-date month (no rebuild): {warm_s:7.3f} s, ratio {warm_s / base_s:.2f}"
    )


if __name__ == "__main__":
    main()
