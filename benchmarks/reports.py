"""Report batches: the notebook machinery against the same content rendered directly.

Builds a warehouse of N practices (default 40; four mailboxes each, 20,000 events per practice
over a year), then, in the same run:

1. ``report monthly --all --workers 2`` as a command (papermill in warm kernels, nbconvert),
   its wall time and the peak resident memory of the command, its workers and their kernels;
2. the floor: the same content without a notebook, the same package functions called from
   this plain Python process, one practice after the other (each monthly report's evidence
   files included, as the batch writes them);
3. unless ``--skip-history``, the same two for ``report history --all-mailboxes`` (every BAL
   PER of the warehouse, over the year, whose months are brought up to date first) and for ``report overview`` (a command of its own, which starts its
   kernel; and as ``report monthly --overview`` renders it, after a few reports, in a warm
   worker).

Prints total times, seconds per report for both, their ratio (target: at most 2) and the
peak memory (target: at most 2 GB).

    python benchmarks/reports.py --practices 1000 --skip-history

``--sample N`` renders only the first N practices of the warehouse (the per-report figures,
and the whole batch extrapolated); ``--db`` reuses a warehouse an earlier run built.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month
from delegation_reports.analysis.models import (
    Month,
    covered_months,
    create_model_macros,
    ensure_practice_access,
    months_between,
    refresh,
)
from delegation_reports.integrity import chain
from delegation_reports.reports.evidence import write_evidence_files
from delegation_reports.reports.history import HistoryReport
from delegation_reports.reports.monthly import MonthlyReport, page_html
from delegation_reports.reports.overview import OverviewReport
from delegation_reports.reports.runner import run_monthly

CLI = str(Path(sys.executable).with_name("delegation-reports"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"{name}_bench", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


measure = _load("measure")


def _cpu(who: int) -> float:
    """CPU seconds (user and system) of this process (``RUSAGE_SELF``) or of its children
    that ended (``RUSAGE_CHILDREN``: a command, its workers and their kernels)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _command(argv: list[str]) -> tuple[float, float, float]:
    """``measure.run``'s wall seconds and peak memory, and the CPU seconds of the command and
    every process it started."""
    before = _cpu(resource.RUSAGE_CHILDREN)
    wall, peak = measure.run(argv)
    return wall, peak, _cpu(resource.RUSAGE_CHILDREN) - before


def _floor(folder: Path, db: Path, items: list, report, companions=None) -> tuple[float, float]:
    """Wall and CPU seconds to render every item's page, and what the batch writes beside it
    (``companions(con, item, folder)``: a monthly report's evidence files), from one process
    and one connection."""
    folder.mkdir()
    cpu = _cpu(resource.RUSAGE_SELF)
    start = time.perf_counter()
    con = warehouse.connect(db, read_only=True)
    create_model_macros(con)
    for i, item in enumerate(items):
        r = report(con, item)
        (folder / f"{i}.html").write_text(page_html(r.body_html(), r.title), "utf-8")
        if companions:
            companions(con, item, folder)
    con.close()
    return time.perf_counter() - start, _cpu(resource.RUSAGE_SELF) - cpu


def _load_average() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def _line(label: str, batch: tuple, floor: tuple, n: int, workers: int):
    """The figures of one kind of document: ``batch`` (wall, peak memory, CPU) and ``floor``
    (wall, CPU)."""
    batch_s, peak_gb, batch_cpu = batch
    floor_s, floor_cpu = floor
    print(f"{label}: {n:,} reports")
    print(
        f"  notebooks ({workers} workers): {batch_s:8.1f} s in all, {batch_s / n:.3f} s per report, "
        f"peak memory {peak_gb:.2f} GB; CPU {batch_cpu / n:.3f} s per report"
    )
    print(
        f"  floor (1 process)   : {floor_s:8.1f} s in all, {floor_s / n:.3f} s per report; "
        f"CPU {floor_cpu / n:.3f} s per report"
    )
    print(f"  ratio notebook / floor per report: {batch_s / floor_s:.2f} (target <= 2)")
    # What the machine spends, whatever else runs on it: the command, its workers and their
    # kernels against the floor's one process.
    print(f"  ratio of CPU time notebook / floor: {batch_cpu / floor_cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=40)
    parser.add_argument("--events", type=int, help="default: 20,000 per practice")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument(
        "--skip-monthly",
        action="store_true",
        help="only the histories and the overview (with --db: of a warehouse already measured)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        help="render only the first N practices (per-report figures; total extrapolated)",
    )
    parser.add_argument(
        "--db", type=Path, help="a warehouse an earlier run built with the same options (kept)"
    )
    args = parser.parse_args()
    events = args.events or args.practices * 20_000
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = args.db or tmp / "bench.duckdb"
        if not db.exists():
            print(f"building a warehouse of {args.practices:,} practices, {events:,} events ...")
            start = time.perf_counter()
            _load("analysis").build(db, events, args.practices * 4)
            con = warehouse.connect(db)
            # The report's month; the histories' batch brings the other months up to date.
            refresh(con, [month], load_config())
            # Sealed as a real warehouse is at each load: reports refuse an unsealed one.
            chain.seal_existing(con)
            con.close()
            print(f"  built and refreshed in {time.perf_counter() - start:.0f} s", flush=True)
        con = warehouse.connect(db, read_only=True)
        practice_ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT practice_id FROM roster_member ORDER BY 1"
            ).fetchall()
        ]
        con.close()
        chosen = ["--all"]
        if args.sample:
            practice_ids = practice_ids[: args.sample]
            chosen = [a for p in practice_ids for a in ("--practice", p)]

        common = ["--db", str(db), "--workers", str(args.workers)]
        print(f"load average: {_load_average()}", flush=True)
        if not args.skip_monthly:
            batch = _command(
                [CLI, "report", "monthly", "--month", str(month), "--out", str(tmp / "nb")]
                + chosen
                + common
            )
            floor = _floor(
                tmp / "floor",
                db,
                practice_ids,
                lambda c, p: MonthlyReport.from_connection(c, p, month),
                # The batch writes each practice's evidence files beside its report.
                lambda c, p, f: write_evidence_files(c, p, month, f),
            )
            _line("monthly reports", batch, floor, len(practice_ids), args.workers)
            if args.sample:
                print(
                    f"  for all {args.practices:,} practices, at this pace: "
                    f"{batch[0] / len(practice_ids) * args.practices / 60:.1f} min"
                )
            print(f"load average: {_load_average()}", flush=True)
        if args.skip_history:
            return

        # The benchmark's year: its first and last days.
        first, last = date(2025, 1, 1), date(2025, 12, 31)
        # The year's months brought up to date first, as a warehouse refreshed at each load
        # has them: the batch and the floor then both time the histories alone.
        con = warehouse.connect(db)
        start = time.perf_counter()
        covered = set(covered_months(con))
        for m in months_between(first, last):
            if m in covered:
                ensure_month(con, m, load_config())
        ensure_practice_access(con, months_between(first, last))
        print(f"the year's months brought up to date in {time.perf_counter() - start:.1f} s")
        mailboxes = [
            r[0]
            for r in con.execute(
                "SELECT member FROM roster_member WHERE member_kind = 'holder' ORDER BY 1"
            ).fetchall()
        ]
        con.close()
        window = ["--from", str(first), "--to", str(last)]
        batch = _command(
            [CLI, "report", "history", "--all-mailboxes", "--out", str(tmp / "nb")]
            + window
            + common
        )
        floor = _floor(
            tmp / "floor-history",
            db,
            mailboxes,
            lambda c, m: HistoryReport.from_connection(c, m, first, last),
        )
        _line("histories", batch, floor, len(mailboxes), args.workers)
        print(f"load average: {_load_average()}", flush=True)

        batch = _command(
            [CLI, "report", "overview", "--month", str(month), "--out", str(tmp / "nb")]
            + ["--db", str(db)]
        )
        floor = _floor(
            tmp / "floor-overview",
            db,
            [month],
            lambda c, m: OverviewReport.from_connection(c, m),
        )
        _line("overview", batch, floor, 1, 1)
        print(f"load average: {_load_average()}", flush=True)

        # The overview as a monthly batch renders it (--overview): once the reports are
        # written, by a worker whose kernel is warm. Its own time against the floor's.
        sample = practice_ids[: 2 * args.workers]
        result = run_monthly(
            db,
            month,
            practices=sample,
            out=tmp / "nb-overview",
            workers=args.workers,
            overview=True,
        )
        seconds = result.overview.seconds
        print(
            f"overview in a monthly batch (--overview, after {len(sample)} reports): "
            f"{seconds:.3f} s against the floor's {floor[0]:.3f} s: ratio {seconds / floor[0]:.2f} "
            "(target <= 2)"
        )
        print(f"load average: {_load_average()}", flush=True)


if __name__ == "__main__":
    main()
