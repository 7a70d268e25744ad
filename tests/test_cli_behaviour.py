"""Commands that behave: every user mistake or environment problem (a folder that cannot be
written, a full disk, Ctrl-C, an interrupted PDF print) is one clear line, never a traceback;
no process outlives a stopped command; a report batch reads one state of the warehouse; no
control character from the data or a file name reaches the terminal.

The interruption tests run the real command in a process group of its own and signal it once
a condition shows it is at the step under test (a kernel running, Chromium printing)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from click.testing import CliRunner

from conftest import audit_record, write_audit
from delegation_reports.cli import main
from delegation_reports.reports import runner
from delegation_reports.warehouse import opened

pytest.register_assert_rewrite("reports_cases")

from reports_cases import A_HOLDER, A, B, parse_html, table_rows  # noqa: E402

pytest_plugins = ["reports_cases"]

CLI = [sys.executable, "-m", "delegation_reports.cli"]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Generous: the machine running the tests may be loaded; every wait ends on a condition.
PATIENCE = 900


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


_STARTED: list[subprocess.Popen] = []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args) -> subprocess.Popen:
    """The command in a process group of its own (as a terminal would run it)."""
    process = subprocess.Popen(
        [*CLI, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C interrupts it, whatever the tests inherited (a shell's background job
        # ignores SIGINT, and so would every command it starts).
        preexec_fn=_default_sigint,
    )
    _STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def _nothing_left_running() -> Iterator[None]:
    """A test that fails half-way leaves no command, server or kernel behind."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            for child in descendants(process.pid):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(condition: Callable[[], object], process: subprocess.Popen | None = None):
    """The first truthy value of ``condition``; fails if ``process`` ends first."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the command ended (status {process.returncode}) first:\n{out}\n{err}")
        time.sleep(0.1)
    pytest.fail("condition not reached")


def descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).children(recursive=True)
    return []


def running(processes: list[psutil.Process], word: str) -> list[psutil.Process]:
    found = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            if word in " ".join(p.cmdline()):
                found.append(p)
    return found


def assert_all_gone(processes: list[psutil.Process]) -> None:
    """Every process listed has ended (zombies reaped or not, none still running)."""
    deadline = time.monotonic() + 60
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=PATIENCE)
    return process.returncode, out, err


@pytest.fixture
def db_copy(world, tmp_path) -> Path:
    """The reports' test warehouse, copied: these tests may write to it."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(world.db, copy)
    return copy


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[bool]:
    """A real small file system at ``path`` when the tests run as root with ``mount``
    (True), else nothing mounted (False: the caller injects the error instead)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        yield False
        return
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def one_clear_line(result) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# ---- date and month options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option", "expected"),
    [
        (["findings", "--month", "03/2026"], "--month", "YYYY-MM"),
        (["refresh", "--month", "mars 2026"], "--month", "YYYY-MM"),
        (["report", "monthly", "--all", "--month", "2026-3"], "--month", "YYYY-MM"),
        (["report", "overview", "--month", "2026-13"], "--month", "YYYY-MM"),
        (["report", "history", "--mailbox", "x", "--from", "01/01/2026"], "--from", "YYYY-MM-DD"),
        (["report", "history", "--mailbox", "x", "--to", "2026-02-30"], "--to", "YYYY-MM-DD"),
        (["review", "f", "--accept", "--until", "30/06/2026"], "--until", "YYYY-MM-DD"),
    ],
)
def test_every_date_and_month_option_names_the_expected_format(tmp_path, args, option, expected):
    result = run(*args, "--db", tmp_path / "none.duckdb")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    value = args[args.index(option) + 1]
    assert f"Invalid value for '{option}': {value!r} is not a" in result.output
    assert f"expected {expected}, e.g." in result.output
    assert f"[{expected}]" not in result.output or "--help" in result.output


# ---- control characters ---------------------------------------------------------------------

HOSTILE = "\x1b[31m\x07\r\x00\x9b2J\x7f"


def test_hostile_file_names_and_values_never_reach_the_terminal(db_copy, tmp_path):
    """A file name and field values carrying ESC, BEL, CR, NUL and C1 controls: every output
    of every command (tables, CSV, JSON) prints them without their control characters."""
    export = write_audit(
        tmp_path / f"journal{HOSTILE.replace(chr(0), '')}.csv",  # no NUL in a file name
        [
            audit_record(
                "H-1",
                occurred_at="2026-03-10T10:00:00+01:00",
                user_agent=f"Agent{HOSTILE}",
                operator=f"Op{HOSTILE}",
            ),
            audit_record(
                "H-2", occurred_at="2026-03-10T10:05:00+01:00", actor=f"eve{HOSTILE}@x.fr"
            ),
        ],
    )
    ingested = run("ingest", "--db", db_copy, export)
    assert ingested.exit_code == 0, ingested.output
    assert run("refresh", "--db", db_copy, "--month", "2026-03").exit_code == 0
    # Values in the findings (the rules only ever quote data): made hostile where they are.
    with opened(db_copy) as con:
        con.execute(
            "UPDATE finding SET actor = actor || $h, mailbox = mailbox || $h, "
            "explanation_fr = explanation_fr || $h, evidence = list_append(evidence, $h)",
            {"h": HOSTILE},
        )
        finding_id = con.execute("SELECT any_value(finding_id) FROM finding").fetchone()[0]
    decided = run(
        "review",
        finding_id,
        "--db",
        db_copy,
        "--accept",
        "--by",
        f"Dr{HOSTILE}",
        "--reason",
        f"ok{HOSTILE}",
    )
    assert decided.exit_code == 0, decided.output
    outputs = {
        "ingest": ingested,
        "status": run("status", "--db", db_copy),
        "status --json": run("status", "--db", db_copy, "--json"),
        "quarantine": run("quarantine", "--db", db_copy),
        "quarantine --json": run("quarantine", "--db", db_copy, "--json"),
        "findings": run("findings", "--db", db_copy, "--month", "2026-03"),
        "findings csv": run("findings", "--db", db_copy, "--month", "2026-03", "--format", "csv"),
        "findings json": run("findings", "--db", db_copy, "--month", "2026-03", "--format", "json"),
        "review --list": run("review", "--list", "--db", db_copy),
        "review --list --json": run("review", "--list", "--db", db_copy, "--json"),
        "review": decided,
    }
    # Last: loading the file again records it, which makes the month's findings stale.
    outputs["ingest --json"] = run("ingest", "--db", db_copy, "--json", export)
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output)
        assert not CONTROL.search(result.output), (name, result.output)
    # The values are there, only without their control characters.
    assert "[31m2J" in outputs["findings csv"].output
    assert "by Dr[31m2J" in decided.output
    rows = json.loads(outputs["findings json"].output)
    assert all(r["actor"].endswith("[31m2J") for r in rows)
    # JSON keeps every character, each control one as an escape.
    names = {f["file_name"] for f in json.loads(outputs["status --json"].output)["files"]}
    assert export.name in names
    decisions = json.loads(outputs["review --list --json"].output)
    assert [d["reason"] for d in decisions] == [f"ok{HOSTILE}"]


# ---- output folders and full disks ----------------------------------------------------------


def test_an_output_folder_under_a_file_is_one_clear_line(world, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for command in (["monthly", "--all"], ["overview"]):
        result = run(
            "report", *command, "--db", world.db, "--month", "2026-03", "--out", plain / "out"
        )
        assert result.exit_code == 1
        line = one_clear_line(result)
        assert line.startswith(f"Error: cannot write to the output folder {plain / 'out'}")
        assert "choose another with --out" in line


def test_a_missing_output_folder_is_created(world, tmp_path):
    out = tmp_path / "a" / "b" / "c"
    result = run("report", "overview", "--db", world.db, "--month", "2026-03", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "2026-03" / "overview.html").is_file()


def test_a_monthly_batch_with_its_overview_names_both(db_copy, tmp_path):
    args = ["report", "monthly", "--db", db_copy, "--month", "2026-03", "--out", tmp_path]
    result = run(*args, "--all", "--overview")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "2026-03"
    # The index, then the overview; counted in the summary with the reports.
    assert result.stdout.strip().splitlines()[-2:] == [
        str(folder / "index.html"),
        str(folder / "overview.html"),
    ]
    n_practices = len([p for p in folder.glob("*.html") if p.stem not in ("index", "overview")])
    assert f"{n_practices + 1} report(s) done, 0 failed" in result.stderr


def test_a_read_only_output_folder_is_one_clear_line(world, tmp_path):
    folder = tmp_path / "read-only"
    with tmpfs(folder, "1m", read_only=True) as mounted:
        if not mounted:  # not root: the permission bits are enough
            folder.chmod(0o555)
        result = run(
            "report", "monthly", "--all", "--db", world.db, "--month", "2026-03", "--out", folder
        )
        folder.chmod(0o755) if not mounted else None
    assert result.exit_code == 1
    line = one_clear_line(result)
    reason = "Read-only file system" if mounted else "Permission denied"
    assert line.startswith(f"Error: cannot write to the output folder {folder}") and reason in line


def test_a_disk_full_while_writing_a_report_is_one_clear_line(world, tmp_path, monkeypatch):
    """On a real 512 KiB file system (as root) the report does not fit; elsewhere the write
    fails the same way by an injected ENOSPC. Either way: one line, nothing half-written."""
    folder = tmp_path / "small"
    with tmpfs(folder, "512k") as mounted:
        if not mounted:
            from delegation_reports.reports import output

            def full(fd, data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            real_write = output.os.write
            monkeypatch.setattr(
                output.os,
                "write",
                lambda fd, data: full(fd, data) if len(data) > 4096 else real_write(fd, data),
            )
        result = run("report", "overview", "--db", world.db, "--month", "2026-03", "--out", folder)
        left = sorted(p.name for p in folder.rglob("*") if p.is_file())
    assert result.exit_code == 1
    line = one_clear_line(result)
    assert line.startswith("Error: ") and "no space left on the device" in line
    assert left == []  # no partial report, no temporary file


def test_a_full_disk_under_the_warehouse_is_one_clear_line(tmp_path, monkeypatch):
    folder = tmp_path / "small-db"
    export = write_audit(
        tmp_path / "audit.csv",
        [
            audit_record(f"E-{i}", occurred_at=f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00+01:00")
            for i in range(2000)
        ],
    )
    with tmpfs(folder, "256k") as mounted:
        if not mounted:
            import duckdb

            from delegation_reports import warehouse

            def refuse(*args, **kwargs):
                raise duckdb.IOException('Could not write file "x": No space left on device')

            monkeypatch.setattr(warehouse.duckdb, "connect", refuse)
        result = run("ingest", "--db", folder / "db.duckdb", export)
    assert result.exit_code == 1
    text = result.output
    assert "Traceback" not in text
    assert "No space left on device" in text or "no space left on the device" in text


# ---- Ctrl-C and interrupted prints ----------------------------------------------------------


def test_ctrl_c_in_a_report_batch_with_workers(db_copy, tmp_path):
    """Ctrl-C (SIGINT to the process group) once the workers' notebooks run: "interrompu",
    status 130, no traceback, no worker, kernel or temporary file left."""
    out = tmp_path / "out"
    process = start(
        "report",
        "monthly",
        "--db",
        db_copy,
        "--month",
        "2026-03",
        "--all",
        "--workers",
        "2",
        "--out",
        out,
    )
    press_ctrl_c_once_running(process, "ipykernel")
    assert [p.name for p in out.rglob("*.tmp")] == []


def press_ctrl_c_once_running(process: subprocess.Popen, word: str) -> None:
    """SIGINT to the command's process group once a descendant whose command line holds
    ``word`` runs; then "interrompu", status 130, no traceback, every descendant gone (those
    in sessions of their own, like kernels, included)."""
    started = wait_until(lambda: running(descendants(process.pid), word), process)
    tree = descendants(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrompu"
    assert "Traceback" not in err
    assert_all_gone(tree + started)


@pytest.fixture
def history_args(world, tmp_path) -> list:
    with opened(world.db, read_only=True) as con:
        mailbox = con.execute(
            "SELECT mailbox FROM audit_event GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    return ["report", "history", "--db", world.db, "--mailbox", mailbox, "--out", tmp_path / "h"]


def test_ctrl_c_while_printing_a_pdf(history_args, tmp_path):
    process = start(*history_args, "--pdf")
    press_ctrl_c_once_running(process, "--print-to-pdf")
    assert [p.name for p in (tmp_path / "h").rglob("*") if p.suffix in (".pdf", ".tmp")] == []


def test_an_interrupted_pdf_print_is_one_clear_line(history_args, tmp_path):
    """Chromium killed while it prints: the command says the PDF could not be printed, and
    leaves no PDF, whole or partial."""
    process = start(*history_args, "--pdf")
    chromium = wait_until(lambda: running(descendants(process.pid), "--print-to-pdf"), process)
    for p in chromium:
        with contextlib.suppress(psutil.Error):
            p.kill()
    code, out, err = finish(process)
    assert code == 1, err
    assert "Traceback" not in err
    assert "Chromium could not print the PDF" in err
    assert [p.name for p in (tmp_path / "h").rglob("*") if p.suffix in (".pdf", ".tmp")] == []
    assert_all_gone(chromium)


# ---- one state of the warehouse per batch ---------------------------------------------------


def _gated_notebooks(folder: Path, gate: Path) -> Path:
    """The report notebook, waiting after its parameters until ``gate`` exists: a batch
    still rendering whatever the machine's speed."""
    nb = nbformat.read(str(runner.notebook_path("monthly_report")), as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(
        f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists():\n"
        "    time.sleep(0.05)"
    )
    cell.id = "gate"
    nb.cells.insert(position + 1, cell)
    folder.mkdir()
    nbformat.write(nb, str(folder / "monthly_report.ipynb"))
    return folder


def test_an_ingest_during_a_batch_cannot_change_what_it_reads(
    world, db_copy, tmp_path, monkeypatch
):
    """While a batch renders, an ingest of new traces for the month is refused (the batch
    holds the warehouse); the index, the reports and the recorded report runs agree; once
    the batch is done the same ingest goes through."""
    gate = tmp_path / "gate"
    # The command inherits the environment.
    monkeypatch.setenv(runner.NOTEBOOK_ENV, str(_gated_notebooks(tmp_path / "nb", gate)))
    out = tmp_path / "out"
    late = write_audit(
        tmp_path / "late.csv",
        [
            audit_record(
                f"LATE-{i}",
                occurred_at=f"2026-03-{10 + i:02d}T03:00:00+01:00",
                mailbox=A_HOLDER,
                actor="intrus@pro.mssante.fr",
            )
            for i in range(3)
        ],
    )
    process = start(
        "report",
        "monthly",
        "--db",
        db_copy,
        "--month",
        "2026-03",
        "--all",
        "--workers",
        "1",
        "--out",
        out,
    )
    wait_until(lambda: running(descendants(process.pid), "ipykernel"), process)
    during = subprocess.run(
        [*CLI, "ingest", "--db", str(db_copy), str(late)], capture_output=True, text=True
    )
    gate.touch()
    code, _, err = finish(process)
    assert code == 0, err
    assert during.returncode == 1
    assert "warehouse in use" in during.stderr and "Traceback" not in during.stderr
    index = parse_html((out / "2026-03" / "index.html").read_text(encoding="utf-8"))
    rows = table_rows(index.find("table"))
    with opened(db_copy, read_only=True) as con:
        for practice in (A, B):
            counts = con.execute(
                "SELECT count(*) FILTER (severity = 'critical'), count(*) FILTER (severity = "
                "'warning'), count(*) FILTER (severity = 'info') FROM finding "
                "WHERE practice_id = ? AND month = DATE '2026-03-01'",
                [practice],
            ).fetchone()
            row = next(r for r in rows if practice in r)
            assert [str(n) for n in counts] == [c for c in row if c.isdigit()][:3]
            shown = con.execute(
                "SELECT count(*) FROM report_run_finding JOIN report_run USING (run_id) "
                "WHERE practice_id = ?",
                [practice],
            ).fetchone()[0]
            assert shown == sum(counts)
    after = subprocess.run(
        [*CLI, "ingest", "--db", str(db_copy), str(late)], capture_output=True, text=True
    )
    assert after.returncode == 0, after.stderr
    with opened(db_copy, read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM audit_event WHERE actor = 'intrus@pro.mssante.fr'"
            ).fetchone()[0]
            == 3
        )


# ---- lab ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_lab_keeps_its_token_off_command_lines_and_stops_with_its_kernels(world):
    port = free_port()
    process = start("lab", "--db", world.db, "--port", port, "--no-browser")
    url = wait_until(
        lambda: next((line for line in iter(process.stdout.readline, "") if "token=" in line), ""),
        process,
    )
    token = re.search(r"token=([0-9a-f]+)", url).group(1)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/kernels",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 201
        kernel_id = json.loads(answer.read())["id"]

    def ready_kernels() -> list[psutil.Process]:
        # A kernel ready for the analyst listens on its five channels (one still importing
        # would only be interrupted mid-start).
        found = running(descendants(process.pid), kernel_id)
        with contextlib.suppress(psutil.Error):
            if found and len([c for c in found[0].net_connections() if c.status == "LISTEN"]) >= 5:
                return found
        return []

    kernels = wait_until(ready_kernels, process)
    tree = descendants(process.pid)
    for p in [psutil.Process(process.pid), *tree]:
        with contextlib.suppress(psutil.NoSuchProcess):
            assert token not in " ".join(p.cmdline()), p.cmdline()
    token_files = [
        Path(p.environ()["JUPYTER_TOKEN_FILE"]) for p in tree if "jupyterlab" in p.cmdline()
    ]
    assert token_files and all(f.stat().st_mode & 0o777 == 0o600 for f in token_files)
    os.kill(process.pid, signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 0, err
    assert "Traceback" not in err, err[err.index("Traceback") - 2000 :]
    assert_all_gone(tree + kernels)
    assert not any(f.exists() for f in token_files)


def test_lab_on_a_busy_port_says_so_before_any_url(world):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("lab", "--db", world.db, "--port", port, "--no-browser")
    assert result.exit_code == 1
    assert "http://" not in result.output
    assert one_clear_line(result) == (
        f"Error: port {port} on 127.0.0.1 is already in use: choose another with --port"
    )


def test_too_little_memory_is_one_clear_line(db_copy, monkeypatch):
    """DuckDB out of memory (and of temporary disk to spill to): a line saying what to do."""
    monkeypatch.setenv("DELEGATION_REPORTS_MEMORY_LIMIT", "2MB")
    result = run("refresh", "--db", db_copy)
    assert result.exit_code == 1
    line = one_clear_line(result)
    assert line.startswith("Error: not enough memory or temporary disk space")
    assert "DELEGATION_REPORTS_MEMORY_LIMIT" in line
    monkeypatch.setenv("DELEGATION_REPORTS_MEMORY_LIMIT", "lots")
    result = run("status", "--db", db_copy)
    assert one_clear_line(result) == (
        "Error: invalid $DELEGATION_REPORTS_MEMORY_LIMIT 'lots': expected a size such as 2GB "
        "or 512MB"
    )
