"""Disk full during a load or a refresh: a clear message, exit status 1, and a warehouse that
opens and works once space is back, ending where it would have without the interruption.

Room runs out in two ways: a small tmpfs holding the warehouse, filled up (when the tests run
as root and can mount one), and everywhere a file-size limit (RLIMIT_FSIZE) on the process,
under which the operating system refuses writes past a size as it does on a full disk.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from conftest import SAMPLES

# Bytes left to write: far less than loading an audit file or refreshing a month writes.
MARGIN = 64 * 1024
BASE = ("roster.csv", "alpha_delegations.csv")
AUDIT = "alpha_audit_2026-03.csv"
MONTH = "2026-03"


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    with tempfile.TemporaryDirectory() as folder:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder], capture_output=True
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", folder], check=True)
    return True


class Room:
    """A folder for the warehouse where room can run out and come back."""

    def __init__(self, folder: Path, mechanism: str) -> None:
        self.folder, self.mechanism, self.full = folder, mechanism, False
        self.filler = folder / "filler"

    def fill(self) -> None:
        if self.mechanism == "tmpfs":
            free = shutil.disk_usage(self.folder).free
            with open(self.filler, "wb") as out:
                out.truncate(0)
                out.write(b"\0" * max(free - MARGIN, 0))
        self.full = True

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
        self.full = False

    def limit(self) -> None:
        """In the child process: past this size, writes fail as on a full disk."""
        if self.mechanism == "file-size-limit" and self.full:
            resource.setrlimit(resource.RLIMIT_FSIZE, (MARGIN, MARGIN))

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "delegation_reports.cli", *args],
            capture_output=True,
            text=True,
            preexec_fn=self.limit,
        )


MECHANISMS = ["file-size-limit"] + (["tmpfs"] if _can_mount_tmpfs() else [])


@pytest.fixture(params=MECHANISMS)
def room(request, tmp_path) -> Iterator[Room]:
    folder = tmp_path / f"room-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    if request.param == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(folder)], check=True)
    try:
        yield Room(folder, request.param)
    finally:
        if request.param == "tmpfs":
            subprocess.run(["umount", str(folder)], check=True)


def _ingest(room: Room, db: Path, *names: str, options=()) -> subprocess.CompletedProcess:
    return room.run("ingest", *(str(SAMPLES / n) for n in names), "--db", str(db), *options)


def _findings(room: Room, db: Path) -> list[dict]:
    result = room.run("findings", "--month", MONTH, "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_clear_failure(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no room left to write" in result.stderr
    assert "free some space and run the command again" in result.stderr
    assert "Traceback" not in result.stderr


def test_disk_full_during_load_and_refresh(room, tmp_path):
    reference = tmp_path / "reference.duckdb"
    ok = Room(tmp_path, "none")
    assert _ingest(ok, reference, *BASE, AUDIT).returncode == 0
    expected = _findings(ok, reference)
    assert expected

    db = room.folder / "w.duckdb"
    assert _ingest(room, db, *BASE).returncode == 0

    # Loading: the file is refused whole, and the warehouse is as before.
    room.fill()
    _assert_clear_failure(loading := _ingest(room, db, AUDIT))
    assert AUDIT in loading.stderr and "nothing of it was loaded" in loading.stderr
    room.free()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == len(BASE)
    status = room.run("status", "--db", str(db), "--json")
    assert status.returncode == 0, status.stderr

    # Refreshing: the file is in (loaded without refresh), the refresh of its month fails.
    assert _ingest(room, db, AUDIT, options=["--no-refresh"]).returncode == 0
    room.fill()
    _assert_clear_failure(_ingest(room, db, AUDIT))
    room.free()
    # Space is back: readers rebuild the month, and ingest of the same file ends the refresh.
    assert _findings(room, db) == expected
    again = _ingest(room, db, AUDIT, options=["--json"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["status"] == "unchanged"
    with duckdb.connect(str(db), read_only=True) as con:
        through = con.execute("SELECT max(refreshed_through) FROM refresh_state").fetchone()[0]
        assert through == con.execute("SELECT max(file_id) FROM ingest_file").fetchone()[0]
