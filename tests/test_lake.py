"""``export-lake``: the Parquet lake's layout, partitions, order inside files, types, what a
re-export replaces, and clear refusals."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import tree_hashes
from delegation_reports import lake
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import Month, create_model_macros, refresh
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import opened

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
INPUT_NAMES = [t.name for t in lake.INPUT_TABLES]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """Every sample export, models built; tests copy it before changing it."""
    path = tmp_path_factory.mktemp("lake-wh") / "samples.duckdb"
    with opened(path) as con:
        for export in sorted(SAMPLES.iterdir()):
            if export.name not in NOT_EXPORTS:
                assert ingest_file(con, export).status == "loaded"
        refresh(con, None, load_config())
    return path


@pytest.fixture
def copy(warehouse, tmp_path) -> Path:
    target = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, target)
    return target


@pytest.fixture(scope="module")
def exported(warehouse, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lake") / "lake"
    with opened(warehouse, read_only=True) as con:
        lake.export_lake(con, folder)
    return folder


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _read(folder: Path, table: str, where: str = "", columns: str = "*") -> list[tuple]:
    """A lake table's rows, read as any Parquet reader would (partition keys as text)."""
    files = [str(p) for p in sorted((folder / "inputs" / table).rglob("*.parquet"))]
    return (
        duckdb.connect()
        .execute(
            f"SELECT {columns} FROM read_parquet(?, hive_partitioning = true, "
            f"hive_types_autocast = false) {where}",
            [files],
        )
        .fetchall()
    )


# ---- layout ---------------------------------------------------------------------------------


def test_one_folder_per_input_table_described_in_lake_json(exported, warehouse):
    description = json.loads((exported / "lake.json").read_text("utf-8"))
    assert description["format"] == "delegation-reports-lake"
    assert description["format_version"] == lake.FORMAT_VERSION
    assert [t["name"] for t in description["tables"]] == INPUT_NAMES
    assert sorted(p.name for p in (exported / "inputs").iterdir()) == sorted(INPUT_NAMES)
    with opened(warehouse, read_only=True) as con:
        head = con.execute("SELECT head_hash FROM chain_head").fetchone()[0]
        for table in description["tables"]:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [table["name"]],
            ).fetchall()
            assert [(c["name"], c["type"]) for c in table["columns"]] == columns
    assert description["source"]["chain_head"] == head
    audit = description["tables"][0]
    assert [p["key"] for p in audit["partitioning"]] == ["month", "operator"]
    assert audit["sort_by"][:3] == ["mailbox", "actor", "occurred_at"]
    assert audit["months"] == ["2026-01", "2026-02", "2026-03"]
    # Without --models, no model output and no refresh state.
    assert not (exported / "models").exists() and not (exported / "_state").exists()


def test_audit_events_partitioned_by_paris_month_then_operator(exported, warehouse):
    with opened(warehouse, read_only=True) as con:
        expected = con.execute(
            "SELECT strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') AS m, operator, "
            "count(*) FROM audit_event GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    audit = exported / "inputs" / "audit_event"
    folders = sorted(
        (m.name.removeprefix("month="), o.name.removeprefix("operator="))
        for m in audit.iterdir()
        for o in m.iterdir()
    )
    assert folders == [(m, o) for m, o, _ in expected]
    rows = (
        duckdb.connect()
        .execute(
            "SELECT month, operator, count(*), "
            "count(*) FILTER (WHERE strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') "
            "<> month) FROM read_parquet(?, hive_partitioning = true, "
            "hive_types = {'month': 'VARCHAR', 'operator': 'VARCHAR'}) GROUP BY ALL ORDER BY ALL",
            [str(audit / "**" / "*.parquet")],
        )
        .fetchall()
    )
    assert [r[:3] for r in rows] == expected
    assert all(r[3] == 0 for r in rows)  # an event at 23:30 UTC on the 31st is next month's
    # The partition columns live in the folder names only (as Spark and Hive expect).
    one = next(audit.rglob("*.parquet"))
    assert "operator" not in pq.read_schema(one).names
    assert "month" not in pq.read_schema(one).names


def test_other_inputs_by_operator_where_they_have_one(exported):
    for table in ("delegation_event", "delegation_snapshot"):
        assert all(p.name.startswith("operator=") for p in (exported / "inputs" / table).iterdir())
    for table in ("roster_member", "directory_entry", "ingest_file", "finding_review"):
        assert [p.name for p in (exported / "inputs" / table).iterdir()] == ["data_0.parquet"]


def test_rows_sorted_by_mailbox_actor_time_inside_each_file(exported):
    files = sorted((exported / "inputs" / "audit_event").rglob("*.parquet"))
    assert len(files) >= 9
    for path in files:
        table = pq.read_table(path, columns=["mailbox", "actor", "occurred_at", "event_id"])
        keys = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
        assert keys == sorted(keys), path


def test_large_partitions_split_into_files_that_continue_the_order(copy, tmp_path):
    folder = tmp_path / "lake"
    with opened(copy) as con:
        # Eight times the events, so that one partition spans several files.
        con.execute(
            "INSERT INTO audit_event SELECT e.* REPLACE (event_id || '-' || k AS event_id) "
            "FROM audit_event AS e, range(7) AS r(k)"
        )
        lake.export_lake(
            con, folder, months=[Month.parse("2026-03")], file_size=16 * 1024, row_group_size=500
        )
    leaves = list((folder / "inputs" / "audit_event" / "month=2026-03").iterdir())
    for leaf in leaves:
        files = sorted(leaf.glob("*.parquet"), key=lambda p: int(p.stem.split("_")[1]))
        assert len(files) > 1, leaf
        keys = []
        for path in files:
            table = pq.read_table(path, columns=["mailbox", "actor", "occurred_at", "event_id"])
            keys += list(
                zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
            )
        assert keys == sorted(keys)


def test_files_and_folders_are_owner_only(exported):
    for path in [exported, *exported.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), path


# ---- types ----------------------------------------------------------------------------------


def test_types_round_trip_lists_null_and_empty_timestamps_in_utc(copy, tmp_path):
    with opened(copy) as con:
        # One delegation with no rights list, one with an empty list, one with two rights.
        con.execute(
            "UPDATE delegation_event SET rights = CASE "
            "WHEN event_id = (SELECT min(event_id) FROM delegation_event) THEN NULL "
            "WHEN event_id = (SELECT max(event_id) FROM delegation_event) THEN []::VARCHAR[] "
            "ELSE rights END"
        )
        lake.export_lake(con, tmp_path / "lake")
        expected = con.execute(
            "SELECT event_id, rights, event_at, valid_until_at FROM delegation_event ORDER BY 1"
        ).fetchall()
    assert [r[1] for r in expected].count(None) == 1 and [] in [r[1] for r in expected]
    rows = _read(
        tmp_path / "lake",
        "delegation_event",
        "ORDER BY 1",
        "event_id, rights, event_at, valid_until_at",
    )
    assert rows == expected  # NULL stays NULL, [] stays [], instants are the same
    one = next((tmp_path / "lake" / "inputs" / "delegation_event").rglob("*.parquet"))
    schema = pq.read_schema(one)
    assert schema.field("event_at").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_list(schema.field("rights").type)


def test_operator_names_with_special_characters_round_trip(copy, tmp_path):
    odd = 'Opé/ra=teur 100% "sûr"'
    with opened(copy) as con:
        con.execute("UPDATE audit_event SET operator = ? WHERE operator = 'Santé Sud'", [odd])
        lake.export_lake(con, tmp_path / "lake")
        n = con.execute("SELECT count(*) FROM audit_event WHERE operator = ?", [odd]).fetchone()[0]
    folders = {p.name for p in (tmp_path / "lake" / "inputs" / "audit_event").glob("*/*")}
    assert "operator=Opé%2Fra%3Dteur 100%25 %22sûr%22" in folders
    got = (
        duckdb.connect()
        .execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true, "
            "hive_types = {'month': 'VARCHAR', 'operator': 'VARCHAR'}) WHERE operator = ?",
            [str(tmp_path / "lake" / "inputs" / "audit_event" / "**" / "*.parquet"), odd],
        )
        .fetchone()[0]
    )
    assert got == n > 0


# ---- re-export --------------------------------------------------------------------------------


def test_re_export_is_idempotent(warehouse, tmp_path):
    folder = tmp_path / "lake"
    with opened(warehouse, read_only=True) as con:
        lake.export_lake(con, folder)
        first = tree_hashes(folder)
        lake.export_lake(con, folder)
    assert tree_hashes(folder) == first
    assert not [p for p in folder.rglob(".*")]  # no temporary folder left behind


def test_re_export_of_a_month_replaces_that_partition_only(copy, tmp_path):
    folder = tmp_path / "lake"
    with opened(copy) as con:
        lake.export_lake(con, folder)
        inodes = {
            p: p.stat().st_ino for p in (folder / "inputs" / "audit_event").rglob("*.parquet")
        }
        con.execute(
            "DELETE FROM audit_event WHERE operator = 'Santé Sud' AND occurred_at >= "
            "TIMESTAMPTZ '2026-02-15 00:00:00+00' AND occurred_at < TIMESTAMPTZ '2026-03-01 00:00:00+00'"
        )
        con.execute(
            "DELETE FROM audit_event WHERE operator = 'Santé Sud' AND occurred_at >= "
            "TIMESTAMPTZ '2026-03-01 00:00:00+00' AND occurred_at < TIMESTAMPTZ '2026-04-01 00:00:00+00'"
        )
        lake.export_lake(con, folder, months=[Month.parse("2026-03")])
        feb = con.execute(
            "SELECT count(*) FROM audit_event WHERE operator = 'Santé Sud' AND "
            "strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') = '2026-02'"
        ).fetchone()[0]
    march = folder / "inputs" / "audit_event" / "month=2026-03"
    assert not (march / "operator=Santé Sud").exists()  # the month's partition is the new one
    for path, inode in inodes.items():
        if "month=2026-03" not in str(path):
            assert path.stat().st_ino == inode  # other months untouched
    # February was not re-exported: it still holds the events deleted since.
    assert (
        len(_read(folder, "audit_event", "WHERE month = '2026-02' AND operator = 'Santé Sud'"))
        > feb
    )


def test_a_full_export_drops_months_the_warehouse_no_longer_holds(copy, tmp_path):
    folder = tmp_path / "lake"
    with opened(copy) as con:
        lake.export_lake(con, folder)
        con.execute(
            "DELETE FROM audit_event WHERE occurred_at < TIMESTAMPTZ '2026-01-31 23:00:00+00'"
        )
        lake.export_lake(con, folder)
    months = sorted(p.name for p in (folder / "inputs" / "audit_event").iterdir())
    assert months == ["month=2026-02", "month=2026-03"]
    description = json.loads((folder / "lake.json").read_text("utf-8"))
    assert description["tables"][0]["months"] == ["2026-02", "2026-03"]


def test_models_are_exported_with_their_refresh_state_written_after_lake_json(copy, tmp_path):
    folder = tmp_path / "lake"
    with opened(copy) as con:
        result = lake.export_lake(con, folder, models=True)
        findings = con.execute("SELECT count(*) FROM finding").fetchone()[0]
    state = json.loads((folder / lake.STATE_FILE).read_text("utf-8"))
    assert state["lake_sha256"] == result.lake_sha256 == lake.file_sha256(folder / "lake.json")
    assert state["months"] == ["2026-01", "2026-02", "2026-03"]
    assert state["engine"] == "duckdb"
    names = {t["name"] for t in state["tables"]}
    assert set(lake.REQUIRED_MODELS) <= names
    assert not names & {"model_state", "mart_state", "core_state", "chain_entry"}
    assert sorted(p.name for p in (folder / "models" / "finding").iterdir()) == [
        "month=2026-01",
        "month=2026-02",
        "month=2026-03",
    ]
    assert [p.name for p in (folder / "models" / "delegation_period").iterdir()] == [
        "data_0.parquet"
    ]
    assert result.tables["finding"] == findings > 0
    assert state["format_version"] == lake.STATE_FORMAT_VERSION


def test_open_bounds_are_plain_instants_for_any_parquet_reader(copy, tmp_path):
    """A validity without an end is the last microsecond of 9999 in the lake, as in the
    warehouse: a Parquet reader without DuckDB reads it as an ordinary instant."""
    folder = tmp_path / "lake"
    with opened(copy) as con:
        lake.export_lake(con, folder, models=True)
        create_model_macros(con)
        open_ends, pairs = con.execute(
            "SELECT count(*) FILTER (WHERE in_force_until_at = unbounded_until()), "
            "count(DISTINCT (mailbox, delegate)) FROM delegation_period"
        ).fetchone()
    assert open_ends > 0
    periods = pq.read_table(folder / "models" / "delegation_period").to_pylist()
    segments = pq.read_table(folder / "models" / "delegation_segment").to_pylist()
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    first = datetime(1, 1, 1, tzinfo=UTC)
    assert sum(p["in_force_until_at"] == last for p in periods) == open_ends
    assert sum(s["seg_from_at"] == first for s in segments) == pairs
    assert sum(s["seg_until_at"] == last for s in segments) == pairs


# ---- refusals -------------------------------------------------------------------------------


def test_clear_errors_never_a_traceback(warehouse, tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    cases = [
        (("export-lake", a_file, "--db", warehouse), "is a file, not a folder"),
        (("export-lake", busy, "--db", warehouse), "is not empty and holds no lake.json"),
        (("export-lake", tmp_path / "l", "--db", tmp_path / "none.duckdb"), "no warehouse at"),
        (
            ("export-lake", tmp_path / "l", "--db", warehouse, "--months", "2025-06"),
            "no audit events for 2025-06",
        ),
        (
            ("export-lake", tmp_path / "l", "--db", warehouse, "--months", "03/2026"),
            "expected YYYY-MM",
        ),
        (("export-lake", tmp_path / "x" / "y", "--db", warehouse), "does not exist"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert (busy / "notes.txt").read_text() == "mine"


def test_a_lake_of_another_format_version_is_not_overwritten(warehouse, tmp_path):
    folder = tmp_path / "lake"
    with opened(warehouse, read_only=True) as con:
        lake.export_lake(con, folder)
        description = json.loads((folder / "lake.json").read_text("utf-8"))
        description["format_version"] = 99
        (folder / "lake.json").write_text(json.dumps(description))
        with pytest.raises(UserError, match="format version 99 is not supported"):
            lake.export_lake(con, folder)


def test_cli_export_prints_rows_per_table_and_the_lake_digest(warehouse, tmp_path):
    result = run("export-lake", tmp_path / "lake", "--db", warehouse, "--months", "2026-02,2026-03")
    assert result.exit_code == 0, result.output
    assert "2026-02, 2026-03" in result.output
    sha = lake.file_sha256(tmp_path / "lake" / "lake.json")
    assert sha in result.output.replace("\n", "")
    with opened(warehouse, read_only=True) as con:
        n = con.execute(
            "SELECT count(*) FROM audit_event WHERE occurred_at >= TIMESTAMPTZ '2026-01-31 23:00:00+00'"
        ).fetchone()[0]
    assert len(_read(tmp_path / "lake", "audit_event")) == n
    assert os.stat(tmp_path / "lake").st_mode & 0o777 == 0o700


def test_a_second_export_into_the_same_lake_waits_its_turn(warehouse, tmp_path):
    folder = tmp_path / "lake"
    with opened(warehouse, read_only=True) as con:
        lake.export_lake(con, folder)
        before = tree_hashes(folder)
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # an export in progress
            with pytest.raises(UserError, match="being written by another export-lake"):
                lake.export_lake(con, folder, months=[Month.parse("2026-03")])
        finally:
            os.close(handle)
    assert tree_hashes(folder) == before
