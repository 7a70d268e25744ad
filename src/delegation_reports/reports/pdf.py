"""Printing an HTML report to PDF with headless Chromium (Debian's ``chromium``), for the
archive: the same page, its print rules (A4) and its charts."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError
from .output import replacing

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# The page is laid out, and its charts drawn, at the printable width of an A4 page (210 mm
# less the 2 × 12 mm margins of report.css, at 96 px an inch): charts drawn wider would be
# cut at the right edge of the paper.
A4_PRINTABLE_WIDTH_PX = 703
# Flags for a closed network: no background services, no first-run work, no sandbox as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--hide-scrollbars",
)


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise UserError("--pdf needs Chromium: install Debian's 'chromium' package")


def print_pdf(html: Path, pdf: Path, timeout: float = 120) -> Path:
    """Print ``html`` to ``pdf``; scripts (the charts) run before printing. Chromium prints to
    a new temporary file beside ``pdf``, which then replaces it: a print that fails or is
    interrupted (Chromium killed, Ctrl-C, time out) leaves no PDF, whole or partial."""
    with (
        tempfile.TemporaryDirectory(prefix="delegation-pdf-") as profile,
        replacing(pdf) as printed,
    ):
        command = [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=10000",
            f"--window-size={A4_PRINTABLE_WIDTH_PX},1000",
            f"--print-to-pdf={printed}",
            html.resolve().as_uri(),
        ]
        returncode, stderr = _run_chromium(command, html, timeout)
        if returncode != 0 or printed.stat().st_size == 0:
            raise UserError(f"{html.name}: Chromium could not print the PDF ({stderr[-300:]})")
    return pdf


def _run_chromium(command: list[str], html: Path, timeout: float) -> tuple[int, str]:
    """Run Chromium in a process group of its own, and stop the whole group (browser, zygote,
    renderers) if the print times out or the run is interrupted (Ctrl-C, a stopped batch):
    no Chromium process outlives the command."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise UserError(
            f"{html.name}: Chromium did not print the PDF within {timeout:.0f} s"
        ) from None
    except BaseException:
        _kill_group(process)
        raise
    # The browser may leave helpers behind once it has printed.
    _kill_group(process)
    return process.returncode, (stderr or "").strip()


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
