"""Single-document reports: a délégant's history, the DPO's overview.

Each runs its notebook once with papermill, like the monthly reports, into one HTML file (and
a PDF with ``pdf=True``).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ..analysis.config import AnalysisConfig, load_config
from ..analysis.findings import ensure_month
from ..analysis.models import Month, months_between, require_traces
from ..errors import UserError
from ..warehouse import opened
from .history import window
from .monthly import page_html
from .output import copy_file, write_file
from .pdf import print_pdf
from .runner import (
    PLOTLY_FILE,
    execute,
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
) -> Path:
    """Run one notebook and write its HTML (and PDF) document to ``target``."""
    notebook = notebook_path(notebook_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if assets == "shared":
        write_shared_plotly(target.parent)
    with tempfile.TemporaryDirectory(prefix="delegation-report-") as tmp:
        executed = Path(tmp) / f"{target.stem}.ipynb"
        execute(notebook, executed, parameters)
        html = page_html(notebook_body(executed), title, plotly_js=assets, plotly_src=PLOTLY_FILE)
        write_file(target, html)
        if keep_notebook:
            copy_file(executed, target.with_suffix(".ipynb"))
    if pdf:
        print_pdf(target, target.with_suffix(".pdf"))
    return target


def _generated_at() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def run_history(
    db: Path,
    mailbox: str,
    *,
    start: str | None = None,
    end: str | None = None,
    out: Path = Path("reports"),
    assets: str = "inline",
    keep_notebook: bool = False,
    pdf: bool = False,
    config: AnalysisConfig | None = None,
) -> Path:
    """The délégant's history of one BAL PER, as ``OUT/history/<mailbox>_<from>_<to>.html``."""
    mailbox = mailbox.strip().lower()
    first, last = window(start, end)
    config = config or load_config()
    with opened(db, create=False) as con:
        known = con.execute(
            "SELECT (SELECT count(*) FROM audit_event WHERE mailbox = $m) "
            "+ (SELECT count(*) FROM roster_member WHERE member = $m) "
            "+ (SELECT count(*) FROM delegation_event WHERE mailbox = $m)",
            {"m": mailbox},
        ).fetchone()[0]
        if not known:
            raise UserError(f"unknown mailbox {mailbox!r}: no trace, delegation or roster entry")
        for month in months_between(first, last):
            ensure_month(con, month, config)
    target = Path(out) / "history" / f"{_UNSAFE.sub('_', mailbox)}_{first}_{last}.html"
    return render_document(
        "delegation_history",
        {
            "db": str(Path(db).resolve()),
            "mailbox": mailbox,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "generated_at": _generated_at(),
        },
        target,
        f"Historique des délégations — {mailbox}",
        assets=assets,
        keep_notebook=keep_notebook,
        pdf=pdf,
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
) -> Path:
    """The DPO's overview of a month, as ``OUT/YYYY-MM/overview.html``, beside the monthly
    reports it links to. The trend covers the twelve months up to ``month``."""
    config = config or load_config()
    with opened(db, create=False) as con:
        require_traces(con, month)
        months = [month.minus(k) for k in range(11, -1, -1)]
        has_data = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT strftime(timezone('Europe/Paris', occurred_at), '%Y-%m') FROM audit_event"
            ).fetchall()
        }
        for m in months:
            if str(m) in has_data or m == month:
                ensure_month(con, m, config)
    folder = Path(out) / str(month)
    return render_document(
        "overview",
        {
            "db": str(Path(db).resolve()),
            "month": str(month),
            "reports_dir": str(folder.resolve()),
            "generated_at": _generated_at(),
        },
        folder / "overview.html",
        f"Vue d'ensemble — {month}",
        assets=assets,
        keep_notebook=keep_notebook,
        pdf=pdf,
    )
