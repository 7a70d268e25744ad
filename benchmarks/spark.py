"""The same refresh on DuckDB and on Spark: where Spark's per-statement cost stands.

For each size (default 1 million and 5 million audit events over twelve months), builds a
warehouse as benchmarks/analysis.py does, then times in the same run:

1. DuckDB: a whole refresh of the warehouse (core models, every month's marts and findings);
2. Spark: the same refresh of a lake holding the warehouse's inputs
   (``delegation-reports spark refresh``), on ``--master`` (default ``local[2]``);

and the cost of one trivial Spark statement (the per-statement overhead), then prints the
times, their ratio, and the statements the Spark refresh sent.

    python benchmarks/spark.py --events 1000000 --events 5000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from delegation_reports import warehouse
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import refresh
from delegation_reports.engines import spark_runner
from delegation_reports.engines.spark_session import session
from delegation_reports.lake import export_lake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis import build  # noqa: E402


def statement_overhead(spark, repeats: int = 10) -> float:
    """Median seconds of a statement that does nothing."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        spark.sql("SELECT count(*) FROM range(1)").collect()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="audit events (repeatable)")
    parser.add_argument("--mailboxes", type=int, default=2000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--conf", action="append", default=[], help="a Spark setting KEY=VALUE (repeatable)"
    )
    args = parser.parse_args()
    sizes = args.events or [1_000_000, 5_000_000]
    config = load_config()
    settings = dict(item.split("=", 1) for item in args.conf)
    spark = session(args.master, app="delegation-reports-benchmark", config=settings)
    overhead = statement_overhead(spark)
    print(
        f"load average {os.getloadavg()[0]:.1f}; Spark ({args.master}): "
        f"{overhead * 1000:.0f} ms per trivial statement",
        flush=True,
    )
    for events in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "w.duckdb"
            build(path, events, args.mailboxes)
            con = warehouse.connect(path)
            start = time.perf_counter()
            refresh(con, config=config, force=True)
            duck = time.perf_counter() - start
            lake = Path(folder) / "lake"
            export_lake(con, lake)
            con.close()
            start = time.perf_counter()
            result = spark_runner.refresh(lake, config=config, spark=spark)
            on_spark = time.perf_counter() - start
        print(
            f"{events:>11,} events, {len(result.months)} months: DuckDB {duck:7.1f} s, "
            f"Spark {on_spark:7.1f} s ({on_spark / duck:4.1f}x DuckDB); "
            f"{result.statements} Spark statements, "
            f"~{result.statements * overhead:.0f} s of per-statement overhead; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    spark.stop()


if __name__ == "__main__":
    main()
