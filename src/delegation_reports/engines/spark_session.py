"""A Spark session set up for the models: UTC session time zone, the French wording functions.

pyspark is an optional dependency (``pip install 'delegation-reports[spark]'``) and needs a
Java 17 runtime; nothing here assumes local mode: any master URL works.
"""

from __future__ import annotations

import os
import sys

from ..analysis import prose
from ..errors import UserError

DEFAULT_MASTER = "local[2]"


def _pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "the Spark engine needs pyspark: pip install 'delegation-reports[spark]' "
            "(and a Java 17 runtime)"
        ) from None
    return SparkSession


def session(
    master: str = DEFAULT_MASTER, app: str = "delegation-reports", config: dict | None = None
):
    """A Spark session (the running one when there is one) with what the models need: the
    session time zone in UTC (instants are Spark TIMESTAMPs, see engines/spark_sql.py) and the
    wording functions registered. ``config`` adds Spark settings (e.g. a catalog for a table
    format)."""
    SparkSession = _pyspark()
    # Python workers read instants as microseconds (see register_prose), but keep them in UTC
    # all the same.
    os.environ.setdefault("TZ", "UTC")
    if master.startswith("local"):
        # A local session talks to itself only, and its Python workers run this interpreter
        # (which has this package: the wording functions are its own). On a cluster, the
        # executors' Python must have the package installed.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.executorEnv.TZ", "UTC")
        # The driver plans every statement and, in local mode, runs the tasks too; its
        # default (1g) is short for a refresh of millions of events (`--conf` overrides it).
        .config("spark.driver.memory", "2g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Small inputs are the rule between two months; big ones get their partitions from AQE.
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        # Partition folders are text (an operator named 123 stays text).
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        # Parquet as other readers expect it: instants in microseconds, proleptic calendar.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.parquet.datetimeRebaseModeInWrite", "CORRECTED")
        .config("spark.sql.parquet.int96RebaseModeInWrite", "CORRECTED")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    register_prose(spark)
    return spark


def _udf(function, strict: bool):
    def call(*args):
        args = tuple(list(a) if isinstance(a, list | tuple) else a for a in args)
        if strict and None in args:
            return None
        return function(*args)

    return call


def register_prose(spark) -> None:
    """The French wording functions of analysis/prose.py as Spark functions, under the same
    names. Instants are passed as microseconds since the epoch (the build step wraps them in
    ``unix_micros``), as DuckDB passes them."""
    from pyspark.sql.types import StringType

    for name, function, _parameters, strict in prose.FUNCTIONS:
        spark.udf.register(name, _udf(function, strict), StringType())
