"""Exporting a warehouse to the Parquet lake, and reading a month's findings back from it.

Builds the warehouse of benchmarks/analysis.py (N audit events, default 5 million, over
2,000 mailboxes and twelve months) with its models, then times in the same run:

1. baseline: one bare ``COPY audit_event TO '….parquet'`` (unsorted, unpartitioned);
2. ``export_lake``: the inputs as ``export-lake`` writes them (every month, partitioned by
   month then operator, sorted by mailbox, actor and time), then with ``--models``;
3. ``findings --month`` from the warehouse, and from the lake (building its catalog of
   views, then the same query).

Prints each, their ratios, and the number and sizes of the audit files written.

    python benchmarks/lake.py --events 5000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

# The script's own folder comes first on sys.path: the analysis benchmark's warehouse.
from analysis import build

from delegation_reports import lake, warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.findings import ensure_month, month_findings
from delegation_reports.analysis.models import Month, refresh


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--mailboxes", type=int, default=2_000)
    parser.add_argument("--month", default="2025-06")
    args = parser.parse_args()
    month = Month.parse(args.month)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        print(
            f"building a warehouse of {args.events:,} events, {args.mailboxes:,} mailboxes ...",
            flush=True,
        )
        build(db, args.events, args.mailboxes)
        config = load_config()
        with warehouse.opened(db) as con:
            refresh(con, None, config)
            base_s, _ = _timed(
                lambda: con.execute(
                    f"COPY audit_event TO '{Path(tmp) / 'bare.parquet'}' (FORMAT parquet, "
                    "COMPRESSION zstd)"
                )
            )
            export_s, _ = _timed(lambda: lake.export_lake(con, Path(tmp) / "lake"))
            models_s, _ = _timed(lambda: lake.export_lake(con, Path(tmp) / "lake", models=True))
            ensure_month(con, month, config)
            db_s, expected = _timed(lambda: month_findings(con, month))
        files = sorted((Path(tmp) / "lake" / "inputs" / "audit_event").rglob("*.parquet"))
        sizes = [p.stat().st_size / 1e6 for p in files]

        def from_lake():
            with (
                lake.lake_catalog(Path(tmp) / "lake") as catalog,
                warehouse.opened(catalog, read_only=True) as reader,
            ):
                ensure_month(reader, month, config)
                return month_findings(reader, month)

        lake_s, got = _timed(from_lake)
        assert got == expected, "the lake's findings differ from the warehouse's"
    print(f"bare COPY of audit_event (baseline)      {base_s:8.2f} s")
    print(
        f"export-lake, inputs                      {export_s:8.2f} s   ratio {export_s / base_s:.2f}"
    )
    print(
        f"export-lake again, with --models         {models_s:8.2f} s   ratio {models_s / base_s:.2f}"
    )
    print(
        f"audit files: {len(files)}, {min(sizes):.1f} to {max(sizes):.1f} MB "
        f"(a new file past {lake.FILE_SIZE_BYTES // 2**20} MB)"
    )
    print(f"findings --month from the warehouse      {db_s:8.3f} s")
    print(f"findings --month from the lake           {lake_s:8.3f} s   ratio {lake_s / db_s:.1f}")


if __name__ == "__main__":
    main()
