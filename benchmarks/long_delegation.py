"""Ingesting a delegation export that modifies one pair thousands of times.

Writes two delegation exports of ``--events`` rows each (default 3,000, about 380 KB) and
ingests each with ``delegation-reports ingest`` into a new warehouse, in the same run:

1. baseline: the same number of grants spread over as many pairs (one event per pair);
2. one pair: a grant and ``--events - 1`` modifications of the same mailbox and délégataire
   (``--alternate``: grants and revocations in turn instead).

Prints each one's wall-clock time, CPU time (user and system of the command and its
children) and peak resident memory, and their ratios (target: about 1, the core models cost
what the rows are: a delegation's event ids are kept once, in ``delegation_record``, and
segments are not tested against every period of their pair).

    python benchmarks/long_delegation.py --events 10000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from measure import run

HEADER = (
    "event_id,event_type,event_at,mailbox,delegate,delegate_name,delegate_role,rights,"
    "valid_from,valid_to,performed_by,operator\n"
)
RIGHTS = ("read", "read|send", "read|send|documents")
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def export(path: Path, events: int, shape: str) -> Path:
    """A delegation export of ``events`` rows, hourly: ``spread`` (a grant per pair),
    ``modify`` (one pair, modified again and again) or ``alternate`` (one pair, granted and
    revoked in turn)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for i in range(events):
            mailbox = f"titulaire{i if shape == 'spread' else 0}@medecin.mssante.fr"
            kind = {
                "spread": "grant",
                "modify": "grant" if i == 0 else "modify",
                "alternate": "revoke" if i % 2 else "grant",
            }[shape]
            rights = "" if kind == "revoke" else RIGHTS[i % len(RIGHTS)]
            at = (START + timedelta(hours=i)).isoformat()
            handle.write(
                f"D{i + 1},{kind},{at},{mailbox},secretaire@pro.mssante.fr,Secrétaire,"
                f"secretary,{rights},,,{mailbox},Messagerie Alpha\n"
            )
    return path


def ingest(folder: Path, path: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak memory (GB) of ingesting ``path`` into a new
    warehouse (which builds the core models)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "delegation_reports.cli", "ingest", str(path)]
    wall, peak = run([*command, "--db", str(folder / f"{path.stem}.duckdb")])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--alternate", action="store_true")
    args = parser.parse_args()
    shape = "alternate" if args.alternate else "modify"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = ingest(folder, export(folder / "spread.csv", args.events, "spread"))
        pair = ingest(folder, export(folder / f"{shape}.csv", args.events, shape))
    for name, (wall, cpu, peak) in (
        (f"baseline ({args.events:,} pairs, one grant each)", base),
        (f"one pair, {shape} ({args.events:,} events)", pair),
    ):
        print(f"{name}: {wall:.2f} s, CPU {cpu:.2f} s, peak {peak:.2f} GB")
    print(
        f"ratio: {pair[0] / base[0]:.2f}; CPU {pair[1] / base[1]:.2f}; "
        f"peak memory {pair[2] / base[2]:.2f}"
    )


if __name__ == "__main__":
    main()
