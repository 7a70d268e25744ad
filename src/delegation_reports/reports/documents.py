"""Single-document reports: a délégant's history, the DPO's overview.

Each runs its notebook once with papermill, like the monthly reports, into one HTML file (and
a PDF with ``pdf=True``); histories also come in batches, one per BAL PER of a practice or of
the whole warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from ..analysis.config import AnalysisConfig, load_config
from ..analysis.findings import ensure_month
from ..analysis.models import (
    Month,
    covered_months,
    ensure_practice_access,
    months_between,
    require_traces,
)
from ..errors import UserError
from ..integrity import signing
from ..integrity.reports import ChainState, Derive, ReportRun, chain_state, write_manifest
from ..warehouse import sql_text
from .history import window
from .kernel import WarmKernel
from .output import output_folder, recording
from .runner import (
    RECYCLE_AFTER,
    Rendered,
    check_batch_options,
    document_job,
    ensure_overview_months,
    held_warehouse,
    month_index,
    notebook_path,
    overview_document,
    render_all,
    render_alone,
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
    derive: Derive | None = None,
    kernel: WarmKernel | None = None,
) -> Path:
    """Run one notebook (in ``kernel``, when one was started ahead) and write its HTML (and
    PDF) document to ``target``; with ``run``, record the files written in the folder's
    manifest (signed with ``sign_key``), and those ``derive`` writes from it (the month's
    index)."""
    notebook = notebook_path(notebook_name)
    job = document_job(
        notebook,
        parameters,
        target,
        title,
        assets=assets,
        pdf=pdf,
        keep_notebook=keep_notebook,
        notice=run.chain.notice if run else None,
    )
    output_folder(target.parent)  # a folder that cannot be written fails before the notebook runs
    with recording() as written:
        if assets == "shared":
            write_shared_plotly(target.parent)
        render_alone(job, kernel)
    if run is not None:
        run.notebooks = [notebook]
        write_manifest(target.parent, run, written, sign_key, derive)
    return target


def _generated_at() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _history_document(
    db: Path, mailbox: str, first: date, last: date, out: Path, generated_at: str
) -> tuple[dict, Path, str]:
    """The history notebook's parameters, target and title for one BAL PER."""
    return (
        {
            "db": str(Path(db).resolve()),
            "mailbox": mailbox,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "generated_at": generated_at,
        },
        Path(out) / "history" / f"{_UNSAFE.sub('_', mailbox)}_{first}_{last}.html",
        f"Historique des délégations — {mailbox}",
    )


def _ensure_months(con, first: date, last: date, config: AnalysisConfig) -> None:
    # Months without traces are built by no one: the report shows them as such.
    covered = set(covered_months(con))
    for month in months_between(first, last):
        if month in covered:
            ensure_month(con, month, config)
    ensure_practice_access(con, months_between(first, last))  # before the workers, which only read


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
        _ensure_months(con, first, last, config)
        return first, last, chain

    # The kernel starts while the warehouse is prepared.
    with WarmKernel() as kernel, held_warehouse(db, _starting(kernel, prepare)) as held:
        _, (first, last, chain) = held
        generated_at = _generated_at()
        parameters, target, title = _history_document(db, mailbox, first, last, out, generated_at)
        return render_document(
            "delegation_history",
            parameters,
            target,
            title,
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
            kernel=kernel,
        )


def _starting(kernel: WarmKernel, prepare: Callable) -> Callable:
    """``prepare``, the kernel started first (once) so that it starts meanwhile."""

    def started(con):
        kernel.start()
        return prepare(con)

    return started


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


@dataclass
class HistoryBatch:
    """The histories of a batch, in the order of their mailboxes."""

    folder: Path
    outcomes: list[Rendered] = field(default_factory=list)

    @property
    def failed(self) -> list[Rendered]:
        return [o for o in self.outcomes if not o.ok]


def run_histories(
    db: Path,
    *,
    practice: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    out: Path = Path("reports"),
    workers: int = 1,
    assets: str = "inline",
    keep_notebooks: bool = False,
    pdf: bool = False,
    config: AnalysisConfig | None = None,
    recycle_after: int | None = RECYCLE_AFTER,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[Rendered], None] | None = None,
    sign_key: Path | None = None,
    allow_unverified: bool = False,
) -> HistoryBatch:
    """The history of every BAL PER of ``practice`` (its holders on the roster), or of the
    whole warehouse (every holder on a roster and every mailbox a delegation names), each as
    ``OUT/history/<mailbox>_<from>_<to>.html``, rendered like one practice's monthly reports.
    Without ``end``, every history ends on the day of the warehouse's last trace. The files
    written are recorded in ``OUT/history/manifest.json`` (signed with ``sign_key``)."""
    check_batch_options(workers, assets)
    notebook = notebook_path("delegation_history")
    if pdf:
        from .pdf import chromium

        chromium()  # fail before any work when PDFs cannot be printed
    _check_key(sign_key)
    config = config or load_config()

    def prepare(con) -> tuple[list[str], date, date, ChainState]:
        chain = chain_state(con, allow_unverified)
        if (
            practice is not None
            and not con.execute(
                "SELECT count(*) FROM roster_member WHERE practice_id = $p", {"p": practice}
            ).fetchone()[0]
        ):
            raise UserError(f"unknown practice id {practice!r}: it is on no roster")
        mailboxes = [
            r[0]
            for r in con.execute(
                sql_text("reports/history_mailboxes.sql"), {"practice_id": practice}
            ).fetchall()
        ]
        if not mailboxes:
            raise UserError("no BAL PER to report on: ingest a roster or delegations first")
        last_trace = con.execute(
            "SELECT CAST(timezone('Europe/Paris', max(covered_to_at)) AS DATE) "
            "FROM ingest_file WHERE kind = 'audit'"
        ).fetchone()[0]
        first, last = window(start, end, last_trace)
        _ensure_months(con, first, last, config)
        return mailboxes, first, last, chain

    with held_warehouse(db, prepare) as (_, (mailboxes, first, last, chain)):
        generated_at = _generated_at()
        jobs = []
        for mailbox in mailboxes:
            parameters, target, title = _history_document(
                db, mailbox, first, last, out, generated_at
            )
            jobs.append(
                document_job(
                    notebook,
                    parameters,
                    target,
                    title,
                    key=mailbox,
                    assets=assets,
                    pdf=pdf,
                    keep_notebook=keep_notebooks,
                    notice=chain.notice,
                )
            )
        folder = output_folder(Path(out) / "history")
        with recording() as written:
            if assets == "shared":
                write_shared_plotly(folder)
        if on_start:
            on_start(len(jobs))
        done = render_all(jobs, workers=workers, recycle_after=recycle_after, on_done=on_done)
        outcomes = [done[job.key] for job in jobs]
        run = _run_record(
            "report history",
            chain,
            generated_at,
            {"practice": practice, "from": first.isoformat(), "to": last.isoformat()},
            assets=assets,
            pdf=pdf,
            keep_notebooks=keep_notebooks,
            config_digest=config.digest,
        )
        run.notebooks = [notebook]
        files = [*written, *(Path(p) for o in outcomes for p in o.written)]
        write_manifest(folder, run, files, sign_key)
    return HistoryBatch(folder, outcomes)


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
    reports it links to, recorded in the folder's ``manifest.json``; the month's index, when
    there is one, is written again to link to it. The trend covers the twelve months up to
    ``month``."""
    config = config or load_config()
    _check_key(sign_key)

    def prepare(con) -> ChainState:
        chain = chain_state(con, allow_unverified)
        require_traces(con, month)
        ensure_overview_months(con, month, config)
        return chain

    folder = Path(out) / str(month)
    with WarmKernel() as kernel, held_warehouse(db, _starting(kernel, prepare)) as (_, chain):
        generated_at = _generated_at()
        parameters, target, title = overview_document(db, month, folder, generated_at)
        return render_document(
            "overview",
            parameters,
            target,
            title,
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
            # The month's index, when a monthly batch wrote one, now links to the overview.
            derive=month_index(folder, month, generated_at, chain.notice),
            kernel=kernel,
        )
