"""Timing a command in a child process, with its peak resident memory."""

from __future__ import annotations

import subprocess
import time

import psutil


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (GB) of the command and its children, sampled
    every 50 ms."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(
                c.memory_info().rss for c in watched.children(recursive=True)
            )
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed with status {process.returncode}")
    return elapsed, peak / 1024**3
