"""Crash safety: `ingest` killed at any step of loading or of the model refresh leaves a
warehouse that opens, holds each file whole or not at all, and that the next `ingest` brings
to exactly the state of an uninterrupted run; readers never answer from stale months.

The killed process stops itself at its N-th stop point (``$DELEGATION_REPORTS_STOP_AT``, see
``warehouse.stop_point``); the test waits until it is stopped, then kills it with SIGKILL.
Processes are forked from a server that has imported the package once, so each run costs its
work, not an interpreter start.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time
import warnings
from pathlib import Path

import duckdb
import psutil
import pytest
from click.testing import CliRunner

from conftest import SAMPLES
from delegation_reports import explore
from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.ingest.kinds import KINDS
from delegation_reports.integrity.chain import check_head
from delegation_reports.integrity.verify import verify
from delegation_reports.warehouse import STEP_LOG_ENV, STOP_AT_ENV

# Delegations, a roster, the directory, snapshots and audit traces: every kind of file, and a
# refresh that builds the core models, the months' marts and their rules.
INPUTS = (
    "roster.csv",
    "alpha_delegations.csv",
    "connect_snapshots.csv",
    "Extraction_Correspondance_MSSante_202603012300.txt",
    "alpha_audit_2026-03.csv",
)
KILL_POINTS = 20
# Columns holding when something ran, not what it holds, and the chain's hashes, which seal
# manifest rows with those times: they differ between any two runs. The chain is checked by
# `verify` instead.
RUN_TIMES = {
    "ingest_file": ("started_at", "ended_at"),
    "quarantine": ("quarantined_at",),
    "model_state": ("refreshed_at",),
    "chain_entry": ("content", "previous_hash", "entry_hash"),
    "chain_head": ("head_hash",),
}


def _arguments(db: Path, names=INPUTS) -> list[str]:
    return ["ingest", *(str(SAMPLES / name) for name in names), "--db", str(db), "--json"]


def _ingest_process(arguments: list[str], env: dict) -> None:
    """A forked `delegation-reports ingest`, with the stop-point variables of ``env``."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.environ.update(env)
    main(arguments)


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["delegation_reports.cli", "delegation_reports.analysis.prose", "pandas"]
    )
    return context


def _run(context, arguments, *, stop_at: int | None = None, log: Path | None = None) -> int:
    """Run `ingest` in its own process; with ``stop_at``, kill it (SIGKILL) once it has
    stopped itself at that stop point. Returns its exit status."""
    env = {}
    if stop_at is not None:
        env[STOP_AT_ENV] = str(stop_at)
    if log is not None:
        env[STEP_LOG_ENV] = str(log)
    process = context.Process(target=_ingest_process, args=(arguments, env))
    process.start()
    if stop_at is not None:
        watched = psutil.Process(process.pid)
        while process.is_alive() and watched.status() != psutil.STATUS_STOPPED:
            time.sleep(0.01)
        assert process.is_alive(), f"ingest ended before stop point {stop_at}"
        os.kill(process.pid, signal.SIGKILL)
    process.join()
    return process.exitcode


def _steps(log: Path) -> list[str]:
    return [line.split("\t")[1] for line in log.read_text(encoding="utf-8").splitlines()]


def _table_digests(con) -> dict[str, tuple[int, str]]:
    """Every stored table's row count and a digest of its rows in a canonical order, without
    the columns that record when a step ran."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
    ]
    digests = {}
    for table in tables:
        excluded = RUN_TIMES.get(table, ())
        columns = f"* EXCLUDE ({', '.join(excluded)})" if excluded else "*"
        digests[table] = con.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::VARCHAR, chr(10) ORDER BY r::VARCHAR), '')) "
            f"FROM (SELECT {columns} FROM {table}) AS r"
        ).fetchone()
    return digests


def _check_files_whole(con, names: set[str]) -> int:
    """Each file in the manifest has exactly the rows it says it loaded and quarantined, and
    no row belongs to a file the manifest does not hold. Returns the number of files."""
    files = con.execute(
        "SELECT file_id, file_name, kind, rows_loaded, rows_quarantined FROM ingest_file"
    ).fetchall()
    ids = {f[0] for f in files}
    for file_id, name, kind, loaded, quarantined in files:
        assert name in names
        table = KINDS[kind].table
        assert (
            con.execute(
                f"SELECT count(*) FROM {table} WHERE source_file_id = ?", [file_id]
            ).fetchone()[0]
            == loaded
        ), name
        assert (
            con.execute(
                "SELECT count(DISTINCT line_number) FROM quarantine WHERE file_id = ?", [file_id]
            ).fetchone()[0]
            == quarantined
        ), name
    for kind in KINDS.values():
        orphans = con.execute(
            f"SELECT count(*) FROM {kind.table} WHERE source_file_id NOT IN (SELECT unnest(?::INTEGER[]))",
            [sorted(ids)],
        ).fetchone()[0]
        assert orphans == 0, kind.table
    return len(files)


def _findings(db: Path, month: str) -> list[dict]:
    result = CliRunner().invoke(
        main, ["findings", "--month", month, "--db", str(db), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _ingest(arguments: list[str]) -> None:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_ingest_killed_at_any_step_recovers_exactly(tmp_path, forkserver):
    # An uninterrupted run: its stop points and its tables.
    log = tmp_path / "steps.log"
    reference = tmp_path / "reference.duckdb"
    assert _run(forkserver, _arguments(reference), log=log) == 0
    steps = _steps(log)
    with duckdb.connect(str(reference), read_only=True) as con:
        expected = _table_digests(con)
    assert expected["finding"][0] > 0 and expected["audit_event"][0] > 0

    # Points spread evenly over the run, and two that matter most: between the last load's
    # commit and the refresh, and just before the refresh commits.
    total = len(steps)
    after_last_load = max(
        n for n, label in enumerate(steps, 1) if label == "committed" and n < total
    )
    # The others spread over the remaining steps, so that none falls on those two.
    special = {after_last_load, total - 1}
    others = [n for n in range(1, total) if n not in special]
    spread = len(others) / (KILL_POINTS - 1)
    points = {others[round(k * spread)] for k in range(1, KILL_POINTS - 1)} | special
    assert len(points) >= 20
    assert sum(n <= after_last_load for n in points) >= 5
    assert sum(steps[n - 1].startswith("refresh") for n in points) >= 5

    for point in sorted(points):
        db = tmp_path / f"killed-{point}.duckdb"
        assert _run(forkserver, _arguments(db), stop_at=point) == -signal.SIGKILL
        # The warehouse opens, each file is whole or absent, and the chain holds.
        with duckdb.connect(str(db)) as con:
            _check_files_whole(con, set(INPUTS))
            check_head(con)
        # Running ingest again (each file loaded anew, or found unchanged and the refresh
        # finished) ends where an uninterrupted run ends.
        _ingest(_arguments(db))
        with duckdb.connect(str(db), read_only=True) as con:
            assert _table_digests(con) == expected, f"stopped at {point} ({steps[point - 1]})"
            assert verify(con).ok


def test_readers_never_answer_from_an_interrupted_refresh(tmp_path, forkserver):
    """A refresh killed after its load: `explore` says the month is stale, `findings`
    rebuilds it, and `ingest` of the same, unchanged file finishes the refresh."""
    reference, db = tmp_path / "reference.duckdb", tmp_path / "w.duckdb"
    _ingest(_arguments(reference))
    month = "2026-03"
    expected = _findings(reference, month)
    assert expected
    # The warehouse without the March traces, refreshed; the stop points of loading them.
    _ingest(_arguments(db, INPUTS[:-1]))
    probe, log = tmp_path / "probe.duckdb", tmp_path / "steps.log"
    shutil.copy(db, probe)
    assert _run(forkserver, _arguments(probe, INPUTS[-1:]), log=log) == 0
    # Loading them, killed just before the refresh commits.
    before_commit = len(_steps(log)) - 1
    assert _steps(log)[before_commit - 1] == "commit"
    assert _run(forkserver, _arguments(db, INPUTS[-1:]), stop_at=before_commit) == -signal.SIGKILL

    con = explore.open_warehouse(db)
    try:
        with pytest.warns(explore.StaleFindings, match="2026-03"):
            explore.findings(con, month)
    finally:
        con.close()
    # `findings` rebuilds the month before answering; `ingest` of the unchanged file then
    # refreshes what remains (the watermark of refreshed files moves on).
    assert _findings(db, month) == expected
    with duckdb.connect(str(db)) as con:
        through = con.execute("SELECT max(refreshed_through) FROM refresh_state").fetchone()[0]
        last = con.execute("SELECT max(file_id) FROM ingest_file").fetchone()[0]
    assert through < last
    result = CliRunner().invoke(main, _arguments(db, INPUTS[-1:]))
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["status"] == "unchanged"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT max(refreshed_through) FROM refresh_state").fetchone()[0] == last
        assert _table_digests(con)["finding"] == _table_digests_of(reference)["finding"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        con = explore.open_warehouse(db)
        try:
            assert len(explore.findings(con, month)) == len(expected)
        finally:
            con.close()


def test_explore_refuses_a_warehouse_whose_first_refresh_did_not_finish(tmp_path):
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(main, [*_arguments(db, INPUTS[:2]), "--no-refresh"])
    assert result.exit_code == 0
    with pytest.raises(UserError, match="run 'delegation-reports refresh' first"):
        explore.open_warehouse(db)


def _table_digests_of(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return _table_digests(con)
