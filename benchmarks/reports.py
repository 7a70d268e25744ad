"""Monthly reports: the notebook machinery against the same content rendered directly.

Builds a warehouse of N practices (default 40; four mailboxes each, a year of activity),
then, in the same run:

1. renders every practice's monthly report with ``run_monthly`` (papermill, nbconvert) and
   ``--workers 2``;
2. renders the same content without a notebook: the same package functions called from this
   plain Python process, one practice after the other.

Prints seconds per report for both and their ratio: the price of the notebook machinery.

    python benchmarks/reports.py --practices 40
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import Month, refresh
from delegation_reports.reports.monthly import MonthlyReport, page_html
from delegation_reports.reports.runner import run_monthly


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "analysis_bench", Path(__file__).with_name("analysis.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=40)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--month", default="2025-06")
    args = parser.parse_args()
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        print(
            f"building a warehouse of {args.practices} practices, {args.events:,} events ...",
            flush=True,
        )
        _build_module().build(db, args.events, args.practices * 4)
        con = warehouse.connect(db)
        refresh(con, [month], load_config())
        practice_ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT practice_id FROM roster_member ORDER BY 1"
            ).fetchall()
        ]
        con.close()

        start = time.perf_counter()
        result = run_monthly(db, month, out=Path(tmp) / "notebook", workers=args.workers)
        notebook_s = time.perf_counter() - start
        if result.failed:
            raise SystemExit(f"{len(result.failed)} reports failed: {result.failed[0].error}")

        direct = Path(tmp) / "direct"
        direct.mkdir()
        start = time.perf_counter()
        con = warehouse.connect(db, read_only=True)
        for practice_id in practice_ids:
            report = MonthlyReport.from_connection(con, practice_id, month)
            (direct / f"{practice_id}.html").write_text(
                page_html(report.body_html(), report.title), "utf-8"
            )
        con.close()
        direct_s = time.perf_counter() - start

    n = len(practice_ids)
    print(
        f"notebooks ({args.workers} workers): {notebook_s:6.1f} s for {n} reports, "
        f"{notebook_s / n:.2f} s per report"
    )
    print(
        f"direct (1 process)     : {direct_s:6.1f} s for {n} reports, {direct_s / n:.2f} s per report"
    )
    print(
        f"ratio notebook / direct per report: {notebook_s / direct_s:.1f} "
        f"(target for now: a batch of 40 under 120 s)"
    )


if __name__ == "__main__":
    main()
