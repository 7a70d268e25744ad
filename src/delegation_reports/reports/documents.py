"""Single-document reports: a délégant's history, the DPO's overview.

Each runs its notebook once with papermill, like the monthly reports, into one HTML file (and
a PDF with ``pdf=True``).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from ..analysis.config import AnalysisConfig, load_config
from ..analysis.findings import ensure_month
from ..analysis.models import Month, covered_months, months_between, require_traces
from ..errors import UserError
from ..integrity import signing
from ..integrity.reports import ChainState, ReportRun, chain_state, write_manifest
from .history import window
from .monthly import page_html
from .output import copy_file, output_folder, recording, write_file
from .pdf import print_pdf
from .runner import (
    PLOTLY_FILE,
    execute,
    held_warehouse,
    notebook_body,
    notebook_path,
    write_shared_plotly,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def render_document(
    notebook_name: str,
    parameters: dict,
    target: Path,
    title: str,
    *,
    assets: str = "inline",
    keep_notebook: bool = False,
    pdf: bool = False,
    run: ReportRun | None = None,
    sign_key: Path | None = None,
) -> Path:
    """Run one notebook and write its HTML (and PDF) document to ``target``; with ``run``,
    record the files written in the folder's manifest (signed with ``sign_key``)."""
    notebook = notebook_path(notebook_name)
    output_folder(target.parent)  # a folder that cannot be written fails before the notebook runs
    notice = run.chain.notice if run else None
    with recording() as written:
        if assets == "shared":
            write_shared_plotly(target.parent)
        with tempfile.TemporaryDirectory(prefix="delegation-report-") as tmp:
            executed = Path(tmp) / f"{target.stem}.ipynb"
            execute(notebook, executed, parameters)
            html = page_html(
                notebook_body(executed),
                title,
                plotly_js=assets,
                plotly_src=PLOTLY_FILE,
                notice=notice,
            )
            write_file(target, html)
            if keep_notebook:
                copy_file(executed, target.with_suffix(".ipynb"))
        if pdf:
            print_pdf(target, target.with_suffix(".pdf"))
    if run is not None:
        run.notebooks = [notebook]
        write_manifest(target.parent, run, written, sign_key)
    return target


def _generated_at() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def run_history(
    db: Path,
    mailbox: str,
    *,
    start: str | date | None = None,
    end: str | date | None = None,
    out: Path = Path("reports"),
    assets: str = "inline",
    keep_notebook: bool = False,
    pdf: bool = False,
    config: AnalysisConfig | None = None,
    sign_key: Path | None = None,
    allow_unverified: bool = False,
) -> Path:
    """The délégant's history of one BAL PER, as ``OUT/history/<mailbox>_<from>_<to>.html``,
    recorded in ``OUT/history/manifest.json``."""
    mailbox = mailbox.strip().lower()
    config = config or load_config()
    _check_key(sign_key)

    def prepare(con) -> tuple[date, date, ChainState]:
        chain = chain_state(con, allow_unverified)
        known, last_trace = con.execute(
            "SELECT (SELECT count(*) FROM audit_event WHERE mailbox = $m) "
            "+ (SELECT count(*) FROM roster_member WHERE member = $m) "
            "+ (SELECT count(*) FROM delegation_event WHERE mailbox = $m), "
            # The day (Paris) of the mailbox's last trace, else of the warehouse's.
            "(SELECT CAST(timezone('Europe/Paris', coalesce("
            "  (SELECT max(occurred_at) FROM audit_event WHERE mailbox = $m),"
            "  (SELECT max(covered_to_at) FROM ingest_file WHERE kind = 'audit'))) AS DATE))",
            {"m": mailbox},
        ).fetchone()
        if not known:
            raise UserError(f"unknown mailbox {mailbox!r}: no trace, delegation or roster entry")
        first, last = window(start, end, last_trace)
        # Months without traces are built by no one: the report shows them as such.
        covered = set(covered_months(con))
        for month in months_between(first, last):
            if month in covered:
                ensure_month(con, month, config)
        return first, last, chain

    with held_warehouse(db, prepare) as (_, (first, last, chain)):
        target = Path(out) / "history" / f"{_UNSAFE.sub('_', mailbox)}_{first}_{last}.html"
        generated_at = _generated_at()
        return render_document(
            "delegation_history",
            {
                "db": str(Path(db).resolve()),
                "mailbox": mailbox,
                "start": first.isoformat(),
                "end": last.isoformat(),
                "generated_at": generated_at,
            },
            target,
            f"Historique des délégations — {mailbox}",
            assets=assets,
            keep_notebook=keep_notebook,
            pdf=pdf,
            run=_run_record(
                "report history",
                chain,
                generated_at,
                {"mailbox": mailbox, "from": first.isoformat(), "to": last.isoformat()},
                assets=assets,
                pdf=pdf,
                keep_notebooks=keep_notebook,
                config_digest=config.digest,
            ),
            sign_key=sign_key,
        )


def _check_key(sign_key: Path | None) -> None:
    if sign_key:
        signing.load_private_key(sign_key)  # fail before any work when it cannot sign


def _run_record(
    command: str, chain: ChainState, generated_at: str, scope: dict, **parameters
) -> ReportRun:
    return ReportRun(
        command,
        chain,
        [],
        month=scope.pop("month", None),
        parameters={**scope, **parameters},
        generated_at=generated_at,
    )


def run_overview(
    db: Path,
    month: Month,
    *,
    out: Path = Path("reports"),
    assets: str = "inline",
    keep_notebook: bool = False,
    pdf: bool = False,
    config: AnalysisConfig | None = None,
    sign_key: Path | None = None,
    allow_unverified: bool = False,
) -> Path:
    """The DPO's overview of a month, as ``OUT/YYYY-MM/overview.html``, beside the monthly
    reports it links to, recorded in the folder's ``manifest.json``. The trend covers the
    twelve months up to ``month``."""
    config = config or load_config()
    _check_key(sign_key)

    def prepare(con) -> ChainState:
        chain = chain_state(con, allow_unverified)
        require_traces(con, month)
        covered = set(covered_months(con))
        for m in (month.minus(k) for k in range(11, -1, -1)):
            if m in covered or m == month:
                ensure_month(con, m, config)
        return chain

    folder = Path(out) / str(month)
    with held_warehouse(db, prepare) as (_, chain):
        generated_at = _generated_at()
        return render_document(
            "overview",
            {
                "db": str(Path(db).resolve()),
                "month": str(month),
                "reports_dir": str(folder.resolve()),
                "generated_at": generated_at,
            },
            folder / "overview.html",
            f"Vue d'ensemble — {month}",
            assets=assets,
            keep_notebook=keep_notebook,
            pdf=pdf,
            run=_run_record(
                "report overview",
                chain,
                generated_at,
                {"month": str(month)},
                assets=assets,
                pdf=pdf,
                keep_notebooks=keep_notebook,
                config_digest=config.digest,
            ),
            sign_key=sign_key,
        )
