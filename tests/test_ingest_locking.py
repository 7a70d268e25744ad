"""One process writes the warehouse at a time: another one gets a clear message, not a trace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TESTS, VALID
from delegation_reports.cli import main

HOLDER = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE held (x INTEGER)")
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the warehouse file open for writing."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.mark.parametrize(
    "command", [["ingest", str(VALID / "audit.csv")], ["status"], ["quarantine"]]
)
def test_a_command_on_a_held_warehouse_says_it_is_in_use(db_path, holder, command):
    result = CliRunner().invoke(main, [*command, "--db", str(db_path)])

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    [message] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "warehouse in use" in message
    assert str(db_path) in message and f"process {holder.pid}" in message


def test_ingest_in_another_process_on_a_held_warehouse(db_path, holder):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(TESTS.parent / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "delegation_reports.cli",
            "ingest",
            str(VALID / "audit.csv"),
            "--db",
            str(db_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert done.returncode != 0
    assert "warehouse in use" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_the_warehouse_is_usable_once_released(db_path, holder):
    runner = CliRunner()
    assert (
        runner.invoke(main, ["ingest", str(VALID / "audit.csv"), "--db", str(db_path)]).exit_code
        != 0
    )

    holder.terminate()
    holder.wait(timeout=10)
    result = runner.invoke(
        main, ["ingest", str(VALID / "audit.csv"), "--db", str(db_path), "--json"]
    )

    assert result.exit_code == 0, result.output
    assert '"rows_loaded": 4' in result.stdout
