"""Loading and refreshing an audit export holding one event dated decades away from the rest.

Copies the bundled samples twice, the second time with one more event in Messagerie Alpha's
audit export, dated ``--far`` (default 2199-12-31: a clock that jumped), then times in the
same run, each in a new warehouse:

1. baseline: ingesting the samples as they are (which refreshes their months);
2. far event: ingesting the samples with the far event.

Prints both, in wall-clock and CPU time (user and system, every thread), their ratio (target:
about 1: the far event covers its own month, not every month and hour in between, see
docs/formats.md#coverage), and the months each refresh built.

    python benchmarks/far_event.py --far 1970-01-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from analysis import timed

from delegation_reports.analysis.models import refresh_pending
from delegation_reports.ingest.pipeline import ingest_paths
from delegation_reports.warehouse import connect

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
FAR_EVENT = (
    "A-999999,{at},helene.garnier@medecin.mssante.fr,sandrine.moulin@pro.mssante.fr,read,"
    "success,otp,192.0.2.17,Thunderbird 115.18.0,s-far,,Messagerie Alpha\n"
)


def exports(folder: Path, far_at: str | None) -> list[Path]:
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns(*NOT_EXPORTS))
    if far_at:
        with open(folder / "alpha_audit.csv", "a", encoding="utf-8") as handle:
            handle.write(FAR_EVENT.format(at=far_at))
    return sorted(folder.iterdir())


def load(db: Path, paths: list[Path]) -> list[str]:
    """Ingest ``paths`` into a new warehouse and refresh their months, as ``ingest`` does;
    the months built."""
    db.unlink(missing_ok=True)
    con = connect(db)
    try:
        ingest_paths(con, paths)
        return [str(m) for m in refresh_pending(con)]
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--far", default="2199-12-31T12:00:00Z")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = exports(root / "plain", None)
        far = exports(root / "far", args.far)
        cpu: list[float] = []
        months = {}
        base = timed(
            lambda: months.update(plain=load(root / "plain.duckdb", plain)), args.repeat, cpu
        )
        with_far = timed(
            lambda: months.update(far=load(root / "far.duckdb", far)), args.repeat, cpu
        )
    print(f"baseline (samples): {base:.2f} s, CPU {cpu[0]:.2f} s; months built: {months['plain']}")
    print(
        f"with one event at {args.far}: {with_far:.2f} s, CPU {cpu[1]:.2f} s; "
        f"months built: {months['far']}"
    )
    print(f"ratio: {with_far / base:.2f}; CPU {cpu[1] / cpu[0]:.2f}")


if __name__ == "__main__":
    main()
