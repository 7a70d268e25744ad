"""Writing a lake's inputs from a warehouse, and comparing a lake's model outputs with the
warehouse's tables: what the Spark engine's tests share."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from delegation_reports.lake import table_columns

# Input tables, with their hive partitions (see docs/scale-out.md, "Lake layout").
LAKE_INPUTS = {
    "audit_event": [
        {"key": "month", "source": "occurred_at", "transform": "paris_month"},
        {"key": "operator", "source": "operator", "transform": "identity"},
    ],
    "delegation_event": [{"key": "operator", "source": "operator", "transform": "identity"}],
    "delegation_snapshot": [{"key": "operator", "source": "operator", "transform": "identity"}],
    "roster_member": [],
    "directory_entry": [],
    "ingest_file": [],
    "ingest_file_gap": [],
    "purge_record": [],
}


def write_lake_inputs(con: duckdb.DuckDBPyConnection, folder: Path) -> Path:
    """The warehouse's input tables as a lake (Parquet, hive partitions) with its lake.json."""
    tables = []
    for name, partitions in LAKE_INPUTS.items():
        target = folder / "inputs" / name
        target.mkdir(parents=True)
        query = f"SELECT * FROM {name}"
        if any(p["key"] == "month" for p in partitions):
            query = (
                f"SELECT *, strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') AS month "
                f"FROM {name}"
            )
        keys = [p["key"] for p in partitions]
        if keys and con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]:
            con.execute(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, PARTITION_BY ({', '.join(keys)}))"
            )
        else:
            con.execute(f"COPY ({query}) TO '{target / 'data.parquet'}' (FORMAT parquet)")
        tables.append({"name": name, "path": f"inputs/{name}", "partitioning": partitions})
    (folder / "lake.json").write_text(
        json.dumps({"format_version": 1, "tables": tables}), encoding="utf-8"
    )
    return folder


def lake_table_sql(con, lake: Path, table: str) -> str:
    """The lake's output ``table`` with the warehouse table's columns and types."""
    folder = lake / "models" / table
    month_scoped = any(folder.glob("month=*"))
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    assert files, f"no output for {table}"
    file_list = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    options = (
        "hive_partitioning = true, hive_types = {'month': VARCHAR}"
        if month_scoped
        else "hive_partitioning = false"
    )
    select = []
    for name, type_ in table_columns(con, table):
        value = "CAST(month || '-01' AS DATE)" if month_scoped and name == "month" else f'"{name}"'
        select.append(f'CAST({value} AS {type_}) AS "{name}"')
    return f"SELECT {', '.join(select)} FROM read_parquet({file_list}, {options})"


def differences(con, lake: Path, table: str, months=None) -> tuple[int, int, list]:
    """Rows of the warehouse's ``table`` missing from the lake's, rows of the lake's missing
    from the warehouse's (EXCEPT ALL both ways: duplicates count, list order and NULL versus
    an empty list matter), and a few of them to show."""
    ours = f"SELECT * FROM {table}"
    theirs = lake_table_sql(con, lake, table)
    if months is not None:
        days = ", ".join(f"DATE '{m.first_day}'" for m in months)
        ours = f"SELECT * FROM ({ours}) WHERE month IN ({days})"
    missing = con.execute(f"SELECT * FROM (({ours}) EXCEPT ALL ({theirs})) LIMIT 3").fetchall()
    extra = con.execute(f"SELECT * FROM (({theirs}) EXCEPT ALL ({ours})) LIMIT 3").fetchall()
    n_missing = con.execute(f"SELECT count(*) FROM (({ours}) EXCEPT ALL ({theirs}))").fetchone()[0]
    n_extra = con.execute(f"SELECT count(*) FROM (({theirs}) EXCEPT ALL ({ours}))").fetchone()[0]
    return n_missing, n_extra, missing + extra
