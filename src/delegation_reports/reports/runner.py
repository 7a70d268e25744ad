"""Running report notebooks with papermill and turning them into standalone HTML.

A batch runs one papermill run per document in worker processes, each worker with one warm
kernel (``kernel.WarmKernel``, reset between documents) and one HTML exporter; workers are
replaced every ``RECYCLE_AFTER`` documents. The warehouse is opened read-only by the notebooks,
so runs do not block each other. A failed document does not stop the batch.

A batch reads one state of the warehouse: once the month is built, the batch holds a
read-only connection (DuckDB's shared lock) until the last report and the index are written,
so an ``ingest`` or ``refresh`` started meanwhile is told the warehouse is in use instead of
changing the data between two reports, or between a report and the index.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.util
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from ..analysis.config import AnalysisConfig, load_config
from ..analysis.findings import ensure_month
from ..analysis.lifecycle import record_report_runs, shown_findings_of
from ..analysis.models import Month, covered_months, ensure_practice_access, require_traces
from ..errors import UserError
from ..integrity import signing
from ..integrity.reports import ChainState, ReportRun, chain_state, write_manifest
from ..lake import is_catalog
from ..warehouse import KEEP_READER_ENV, connect, opened, sql_text
from . import figures, labels
from .evidence import write_evidence
from .kernel import WarmKernel
from .monthly import _environment, page_html, stylesheet
from .output import output_folder, private_folder, recording, write_file

NOTEBOOK_ENV = "DELEGATION_REPORTS_NOTEBOOKS"
ASSET_CHOICES = ("inline", "shared")
PLOTLY_FILE = "plotly.min.js"
# Documents a worker renders before it is replaced, with its kernel: a bound on memory
# whatever leaks in a long batch, for the price of one kernel start per this many documents.
RECYCLE_AFTER = 200


def notebooks_dir() -> Path:
    """``$DELEGATION_REPORTS_NOTEBOOKS``, else the project's ``notebooks/`` folder."""
    if os.environ.get(NOTEBOOK_ENV):
        return Path(os.environ[NOTEBOOK_ENV])
    return Path(__file__).resolve().parents[3] / "notebooks"


def notebook_path(name: str) -> Path:
    path = notebooks_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise UserError(f"report notebook not found: {path} (set ${NOTEBOOK_ENV} to its folder)")
    return path


@functools.lru_cache(maxsize=16)
def _declared_parameters(path: str, mtime_ns: int) -> dict:
    import papermill

    return papermill.inspect_notebook(path)


def validate_parameters(notebook: Path, parameters: dict) -> dict:
    """Refuse parameters the notebook does not declare, and values of the wrong type."""
    declared = _declared_parameters(str(notebook), Path(notebook).stat().st_mtime_ns)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise UserError(
            f"{notebook.name}: unknown parameters {unknown}; it takes {sorted(declared)}"
        )
    for name, value in parameters.items():
        expected = declared[name]["inferred_type_name"]
        if expected == "str" and not isinstance(value, str):
            raise UserError(
                f"{notebook.name}: parameter {name} must be a string, not {type(value).__name__}"
            )
    return parameters


def execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Run a notebook with validated parameters into ``output``, in a kernel of its own (the
    reference a batch's warm kernels are compared with)."""
    import papermill

    validate_parameters(notebook, parameters)
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        cwd=str(output.parent),
    )


# The exporter's settings: the outputs only, no code and no prompts. The notebook is validated
# once, after the preprocessors, not after each of them.
EXPORTER_OPTIONS = {
    "template_name": "basic",
    "exclude_input": True,
    "exclude_input_prompt": True,
    "exclude_output_prompt": True,
    "optimistic_validation": True,
}


@functools.cache
def _exporter():
    """One HTML exporter per process: its template is compiled once, on first use; its last
    pass (BeautifulSoup's) is streamed (see ``soup``)."""
    from .soup import ReportExporter

    return ReportExporter(**EXPORTER_OPTIONS)


def notebook_body(executed: Path | nbformat.NotebookNode) -> str:
    """The HTML of the notebook's rich outputs only: no code, no prompts, no logs."""
    if isinstance(executed, nbformat.NotebookNode):
        nb = nbformat.from_dict(executed)
    else:
        nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in nb.cells:
        cell.outputs = [
            o
            for o in cell.get("outputs", [])
            if o.get("output_type") in ("display_data", "execute_result")
            and "text/html" in o.get("data", {})
        ]
    # Cells without output would stay as empty divs; papermill's injected-parameters cell
    # has a random id, which would make two runs differ.
    nb.cells = [c for c in nb.cells if c.outputs]
    body, _ = _exporter().from_notebook_node(nb)
    return body


def write_shared_plotly(folder: Path) -> None:
    """plotly.js (with its French locale) once beside the reports that load it
    (``--assets shared``)."""
    write_file(folder / PLOTLY_FILE, figures.plotly_js())


class _Outcome:
    """A document's outcome: ``ok`` unless it carries an error."""

    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ReportOutcome(_Outcome):
    """One practice's report: where it is, or why it failed."""

    practice_id: str
    practice_name: str
    n_critical: int = 0
    n_warning: int = 0
    n_info: int = 0
    has_traces: bool = True
    path: Path | None = None
    error: str | None = None
    seconds: float = 0.0
    # Every file the practice's run wrote (report, PDF, kept notebook...), for the manifest.
    written: list[str] = field(default_factory=list)

    # What the month's index shows of the report, as the folder's manifest records it.
    INDEXED = ("practice_id", "practice_name", "n_critical", "n_warning", "n_info", "has_traces")

    def index_record(self) -> dict:
        return {**{name: getattr(self, name) for name in self.INDEXED}, "error": self.error}

    @classmethod
    def from_index_record(cls, record: dict) -> ReportOutcome | None:
        """The outcome a manifest records, None when the record is not one (edited by hand)."""
        practice_id = record.get("practice_id")
        if (
            not isinstance(practice_id, str)
            or not practice_id
            or practice_id.startswith(".")
            or "/" in practice_id
            or not isinstance(record.get("practice_name"), str)
            or not all(
                isinstance(record.get(n), int) for n in ("n_critical", "n_warning", "n_info")
            )
            or not isinstance(record.get("error"), str | None)
        ):
            return None
        return cls(**{name: record.get(name) for name in (*cls.INDEXED, "error")})


@dataclass
class BatchResult:
    month: Month
    folder: Path
    index: Path
    outcomes: list[ReportOutcome] = field(default_factory=list)
    generated_at: datetime | None = None
    manifest: Path | None = None
    overview: Rendered | None = None  # the month's overview, when the batch rendered it

    @property
    def failed(self) -> list[ReportOutcome]:
        return [o for o in self.outcomes if not o.ok]


# ---- rendering one document -----------------------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    """One document to render: a notebook, its parameters, where its HTML goes."""

    key: str
    notebook: str
    parameters: dict
    target: str
    title: str
    assets: str = "inline"
    pdf: bool = False
    keep_notebook: str | None = None  # where to keep the executed notebook, if at all
    notice: str | None = None  # the banner of a warehouse whose chain did not check
    # (db, practice_id, month) of a monthly report: its evidence files go beside its page.
    evidence: tuple[str, str, str] | None = None


@dataclass
class Rendered(_Outcome):
    """What became of a job: its file, or why it failed."""

    key: str
    path: Path | None = None
    error: str | None = None
    seconds: float = 0.0
    # Every file the job wrote (page, evidence, PDF, kept notebook), for the manifest.
    written: list[str] = field(default_factory=list)


def document_job(
    notebook: Path,
    parameters: dict,
    target: Path,
    title: str,
    *,
    key: str | None = None,
    assets: str = "inline",
    pdf: bool = False,
    keep_notebook: bool = False,
    notice: str | None = None,
) -> RenderJob:
    """A job whose executed notebook, when kept, goes beside its page."""
    return RenderJob(
        key=key or target.stem,
        notebook=str(notebook),
        parameters=parameters,
        target=str(target),
        title=title,
        assets=assets,
        pdf=pdf,
        keep_notebook=str(target.with_suffix(".ipynb")) if keep_notebook else None,
        notice=notice,
    )


def check_batch_options(workers: int, assets: str) -> None:
    if assets not in ASSET_CHOICES:
        raise UserError(f"--assets must be one of {ASSET_CHOICES}")
    if workers < 1:
        raise UserError("--workers must be at least 1")


# The exporter being made in a thread while this process's first notebook runs.
_exporter_made: Future | None = None


def _make_exporter_meanwhile() -> None:
    """Import nbconvert, compile its template and what its conversion builds on first use
    (its filters, the streamed last pass's parser), in a thread, the first time: this process only waits
    while its kernel runs the notebook (a single document's kernel starts then too), and the
    conversion afterwards needs them."""
    global _exporter_made
    if _exporter_made is None:
        pool = ThreadPoolExecutor(1, thread_name_prefix="exporter")
        _exporter_made = pool.submit(_warm_exporter)
        pool.shutdown(wait=False)  # the thread ends with its one task


def _warm_exporter() -> None:
    """The exporter, having converted a notebook of one HTML output (which it then forgets)."""
    cell = nbformat.v4.new_code_cell(id="warm-up")
    cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": "<p></p>"})]
    notebook_body(nbformat.v4.new_notebook(cells=[cell]))


def _render(job: RenderJob, kernel: WarmKernel) -> Path:
    """Run the job's notebook in ``kernel`` and write its page (and evidence files, PDF and
    notebook)."""
    _make_exporter_meanwhile()
    nb = kernel.execute(job.notebook, job.parameters)
    _exporter_made.result()
    target = Path(job.target)
    html = page_html(
        notebook_body(nb),
        job.title,
        plotly_js=job.assets,
        plotly_src=PLOTLY_FILE,
        notice=job.notice,
    )
    write_file(target, html)
    if job.evidence:
        db, practice_id, month = job.evidence
        write_evidence(db, practice_id, Month.parse(month), target.parent)
    if job.pdf:
        from .pdf import print_pdf

        print_pdf(target, target.with_suffix(".pdf"))
    if job.keep_notebook:
        kept = Path(job.keep_notebook)
        private_folder(kept.parent)
        nb.metadata.papermill["output_path"] = str(kept)
        write_file(kept, nbformat.writes(nb))
    return target


def render(job: RenderJob, kernel: WarmKernel) -> Rendered:
    """``_render``, a failure returned, not raised, so that a batch goes on; the files it
    wrote are in ``written``."""
    done = Rendered(job.key)
    start = time.perf_counter()
    try:
        with recording() as written:
            done.path = _render(job, kernel)
        done.written = [str(p) for p in written]
    except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the batch
        done.error = _error_text(exc)
    done.seconds = time.perf_counter() - start
    return done


def render_alone(job: RenderJob, kernel: WarmKernel | None = None) -> Path:
    """One job in this process, in ``kernel`` (perhaps started ahead, see
    ``WarmKernel.start``) or one started for it; its failure is raised."""
    validate_parameters(Path(job.notebook), job.parameters)
    if kernel is not None:
        return _render(job, kernel)
    with WarmKernel() as kernel:
        return _render(job, kernel)


# ---- batches --------------------------------------------------------------------------------


def _quiet_worker() -> None:
    """Kernels inherit the worker's stderr and chatter on it (transport warnings): silence
    them; failures are reported through the outcome, not the console. A worker leaves Ctrl-C
    to the batch, which stops it (and its kernel and Chromium) by SIGTERM."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Spawned with SIGINT blocked (see render_all): a Ctrl-C pending since is now discarded.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGTERM, _stop_worker)


def _stop_worker(signum, frame) -> None:
    """SIGTERM in a worker: unwind, so that papermill shuts its kernel down and a Chromium
    printing a PDF is killed, then exit."""
    raise SystemExit(128 + signum)


def _stop_pool(pool: ProcessPoolExecutor, grace: float = 30.0) -> None:
    """Stop a batch's workers now (Ctrl-C): no new report starts, each running one unwinds
    (kernel and Chromium stopped, temporary files removed), then the pool is gone."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


# A worker's kernel, started with the worker, stopped when it exits.
_worker_kernel: WarmKernel | None = None


def _start_worker() -> None:
    global _worker_kernel
    _quiet_worker()
    # The worker (its evidence files) and its kernel (its documents) each keep one connection
    # to the warehouse for all their documents: the batch holds the warehouse read-only.
    os.environ[KEEP_READER_ENV] = "1"
    _worker_kernel = WarmKernel()
    multiprocessing.util.Finalize(_worker_kernel, _worker_kernel.close, exitpriority=10)
    _worker_kernel.start()


def _render_in_worker(job: RenderJob) -> Rendered:
    return render(job, _worker_kernel)


def render_all(
    jobs: list[RenderJob],
    *,
    workers: int = 1,
    recycle_after: int | None = RECYCLE_AFTER,
    on_done: Callable[[Rendered], None] | None = None,
    last: list[RenderJob] = (),
) -> dict[str, Rendered]:
    """Render every job, ``workers`` at a time, each worker with one warm kernel, replaced
    after about ``recycle_after`` jobs (a round of ``workers × recycle_after``) so that memory
    stays flat however long the batch. The ``last`` jobs (documents that read what the others
    wrote, such as the overview linking to the reports) start once every other job is done,
    in the last round's workers, whose kernels are warm. Every job's parameters are checked
    against its notebook before any runs."""
    for job in (*jobs, *last):
        validate_parameters(Path(job.notebook), job.parameters)
    done: dict[str, Rendered] = {}
    if len(jobs) <= 1:
        with WarmKernel() as kernel:
            for job in (*jobs, *last):
                result = done[job.key] = render(job, kernel)
                if on_done:
                    on_done(result)
        return done
    # NOTE: the pool's own max_tasks_per_child does not replace a worker that reached its
    # quota while jobs still wait (before Python 3.13 the pool counts the finished jobs as idle
    # workers): the batch hung once every worker had reached it. The jobs go in rounds of
    # `workers × recycle_after` instead, each round to new workers and kernels.
    size = workers * recycle_after if recycle_after else len(jobs)
    starts = range(0, len(jobs), size)
    for first in starts:
        then = last if first == starts[-1] else ()
        _render_round(jobs[first : first + size], workers, done, on_done, then)
    return done


def _render_round(
    jobs: list[RenderJob],
    workers: int,
    done: dict[str, Rendered],
    on_done: Callable[[Rendered], None] | None,
    then: list[RenderJob] = (),
) -> None:
    """Render ``jobs`` in a pool of new workers, each with its kernel, into ``done``; then,
    once they are all done, the ``then`` jobs in the same workers."""
    # Spawned workers: a fork would copy this process's open handles and threads.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=context,
        initializer=_start_worker,
    )
    try:
        _collect(_submit(pool, jobs), done, on_done)
        if then:
            try:
                futures = _submit(pool, then)
            except BrokenProcessPool:
                # A worker died and took the pool with it: new workers for the last jobs.
                pool.shutdown()
                _render_round(then, workers, done, on_done)
                return
            _collect(futures, done, on_done)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown()


def _collect(
    futures: dict[Future, str],
    done: dict[str, Rendered],
    on_done: Callable[[Rendered], None] | None,
) -> None:
    """Each job's result into ``done`` as it comes."""
    for future in as_completed(futures):
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a worker that died fails its jobs only
            result = Rendered(futures[future], error=_error_text(exc))
        done[result.key] = result
        if on_done:
            on_done(result)


def _submit(pool: ProcessPoolExecutor, jobs: list[RenderJob]) -> dict[Future, str]:
    """Each job to ``pool``: their futures, and the job's key."""
    # Workers start with SIGINT blocked (the pool starts them as jobs are submitted), so that
    # a Ctrl-C while one is still starting does not interrupt it before it ignores SIGINT: the
    # batch stops it instead. This thread sees the Ctrl-C once the jobs are submitted.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return {pool.submit(_render_in_worker, job): job.key for job in jobs}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"[:300]
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"timed out after {exc.timeout:.0f} s"
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".splitlines()[0][:300]
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _practices(con, month: Month) -> dict[str, ReportOutcome]:
    cursor = con.execute(sql_text("reports/practices_for_month.sql"), {"month": month.first_day})
    return {
        row[0]: ReportOutcome(
            practice_id=row[0],
            practice_name=row[1],
            n_critical=row[2],
            n_warning=row[3],
            n_info=row[4],
            has_traces=row[5],
        )
        for row in cursor.fetchall()
    }


OVERVIEW_FILE = "overview.html"


def overview_document(
    db: Path, month: Month, folder: Path, generated_at: str
) -> tuple[dict, Path, str]:
    """The overview notebook's parameters, target and title: beside the month's reports, which
    it links to."""
    return (
        {
            "db": str(Path(db).resolve()),
            "month": str(month),
            "reports_dir": str(folder.resolve()),
            "generated_at": generated_at,
        },
        folder / OVERVIEW_FILE,
        f"Vue d'ensemble — {month}",
    )


def ensure_overview_months(con, month: Month, config: AnalysisConfig) -> None:
    """The months the overview's trend shows (the twelve up to ``month``) up to date."""
    covered = set(covered_months(con))
    for m in (month.minus(k) for k in range(11, -1, -1)):
        if m in covered or m == month:
            ensure_month(con, m, config)


def run_monthly(
    db: Path,
    month: Month,
    *,
    practices: list[str] | None = None,
    out: Path = Path("reports"),
    workers: int = 1,
    assets: str = "inline",
    keep_notebooks: bool = False,
    pdf: bool = False,
    config: AnalysisConfig | None = None,
    recycle_after: int | None = RECYCLE_AFTER,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[ReportOutcome], None] | None = None,
    sign_key: Path | None = None,
    allow_unverified: bool = False,
    overview: bool = False,
    on_overview: Callable[[Rendered], None] | None = None,
) -> BatchResult:
    """Render the monthly report of each practice (all when ``practices`` is None) into
    ``out/YYYY-MM/<practice_id>.html`` (and ``.pdf`` with ``pdf``), its evidence files
    (``<practice_id>-preuves.csv`` and ``.xlsx``), an ``index.html`` listing them, and the
    folder's ``manifest.json`` (signed with ``sign_key``). With ``overview``, the month's
    overview too (``overview.html``, as ``report overview`` writes it), once the reports it
    links to are written, by the batch's warm workers; ``on_overview`` is told when it is done.

    A warehouse whose chain head does not check is refused, unless ``allow_unverified``:
    every page then says so."""
    check_batch_options(workers, assets)
    notebook = notebook_path("monthly_report")
    overview_notebook = notebook_path("overview") if overview else None
    if pdf:
        from .pdf import chromium

        chromium()  # fail before any work when PDFs cannot be printed
    if sign_key:
        signing.load_private_key(sign_key)  # fail before any work when it cannot sign
    config = config or load_config()

    def prepare(con) -> ChainState:
        chain = chain_state(con, allow_unverified)
        require_traces(con, month)
        if overview:
            ensure_overview_months(con, month, config)
        else:
            ensure_month(con, month, config)
        ensure_practice_access(con, [month])  # before the workers, which only read
        return chain

    with held_warehouse(db, prepare) as (con, chain):
        result, shown = _run_batch(
            con,
            db,
            month,
            practices,
            Path(out) / str(month),
            notebook=notebook,
            workers=workers,
            assets=assets,
            keep_notebooks=keep_notebooks,
            pdf=pdf,
            recycle_after=recycle_after,
            on_start=on_start,
            on_done=on_done,
            run=ReportRun(
                "report monthly",
                chain,
                [notebook, *([overview_notebook] if overview else [])],
                month=str(month),
                parameters={
                    "assets": assets,
                    "pdf": pdf,
                    "keep_notebooks": keep_notebooks,
                    "config_digest": config.digest,
                    **({"overview": True} if overview else {}),
                },
            ),
            sign_key=sign_key,
            overview_notebook=overview_notebook,
            on_overview=on_overview,
        )
    # What each practice was shown, and when: findings that change afterwards (data arriving
    # late) are named by `status`, the overview and the next version of the report. A lake
    # is read-only: its report runs are not recorded. All of them in one transaction.
    if is_catalog(db):
        return result
    with opened(db, create=False) as con:
        record_report_runs(
            con,
            month,
            result.generated_at,
            {o.practice_id: shown[o.practice_id] for o in result.outcomes if o.ok},
        )
    return result


def _state_mark(con) -> tuple:
    """What changes whenever the warehouse's content does: its last file, the models' last
    build, the number of review decisions."""
    return con.execute(
        "SELECT (SELECT max(file_id) FROM ingest_file), "
        "(SELECT max(refreshed_at) FROM model_state), (SELECT count(*) FROM finding_review)"
    ).fetchone()


@contextmanager
def held_warehouse(db: Path, prepare: Callable, attempts: int = 3) -> Iterator[tuple]:
    """``prepare(con)`` (building what the reports read) with a writing connection, then a
    read-only connection held for as long as the block runs: DuckDB's shared lock keeps any
    writer (``ingest``, ``refresh``, ``review``) out meanwhile, so everything made in the block
    reads one state of the warehouse. Yields the connection and what ``prepare`` returned. A
    writer that slipped in between the two connections is caught, and the preparation made
    again. A lake's catalog is only ever read: prepared and held on one read-only
    connection."""
    if is_catalog(db):
        with opened(db, read_only=True) as con:
            yield con, prepare(con)
        return
    for _ in range(attempts):
        with opened(db, create=False) as con:
            prepared = prepare(con)
            mark = _state_mark(con)
        con = connect(db, read_only=True)
        try:
            if _state_mark(con) == mark:
                yield con, prepared
                return
        finally:
            con.close()
    raise UserError(
        f"the warehouse {db} kept changing while the reports were prepared: "
        "wait for the ingest or refresh running on it to finish, and try again"
    )


def _run_batch(
    con,
    db: Path,
    month: Month,
    practices: list[str] | None,
    folder: Path,
    *,
    notebook: Path,
    workers: int,
    assets: str,
    keep_notebooks: bool,
    pdf: bool,
    recycle_after: int | None,
    on_start: Callable[[int], None] | None,
    on_done: Callable[[ReportOutcome], None] | None,
    run: ReportRun,
    sign_key: Path | None,
    overview_notebook: Path | None = None,
    on_overview: Callable[[Rendered], None] | None = None,
) -> tuple[BatchResult, dict[str, list[tuple]]]:
    """The batch itself, on the held connection ``con``: the reports (and the overview, given
    its notebook), the index, the folder's manifest (``run`` and the files written), and what
    each practice's report shows (for the report runs)."""
    known = _practices(con, month)
    if practices:
        unknown = sorted(set(practices) - set(known))
        if unknown:
            raise UserError(f"unknown practice ids {unknown}: they are on no roster")
        chosen = [known[p] for p in dict.fromkeys(practices)]
    else:
        chosen = list(known.values())
    if not chosen:
        raise UserError("no practice to report on: ingest a roster first")
    output_folder(folder)  # a folder that cannot be written fails before any notebook runs
    shown = shown_findings_of(con, month, [o.practice_id for o in chosen])
    with recording() as written:
        if assets == "shared":
            write_shared_plotly(folder)
    generated_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    month_title = labels.month_title(month.first_day)
    jobs = [
        RenderJob(
            key=o.practice_id,
            notebook=str(notebook),
            parameters={
                "db": str(Path(db).resolve()),
                "practice_id": o.practice_id,
                "month": str(month),
                "generated_at": generated_at,
            },
            target=str(folder / f"{o.practice_id}.html"),
            title=f"{o.practice_name} — {month_title}",
            assets=assets,
            pdf=pdf,
            keep_notebook=str(folder / "notebooks" / f"{o.practice_id}.ipynb")
            if keep_notebooks
            else None,
            notice=run.chain.notice,
            evidence=(str(Path(db).resolve()), o.practice_id, str(month)),
        )
        for o in chosen
    ]
    last = []
    if overview_notebook:
        parameters, target, title = overview_document(db, month, folder, generated_at)
        # Keyed by its path, which no practice id is (they hold no "/").
        last = [
            document_job(
                overview_notebook,
                parameters,
                target,
                title,
                key=str(target),
                assets=assets,
                pdf=pdf,
                keep_notebook=keep_notebooks,
                notice=run.chain.notice,
            )
        ]
    outcomes = {o.practice_id: o for o in chosen}

    def done(result: Rendered) -> None:
        if result.key not in outcomes:  # the overview
            if on_overview:
                on_overview(result)
            return
        outcome = outcomes[result.key]
        outcome.path, outcome.error, outcome.seconds = result.path, result.error, result.seconds
        outcome.written = result.written
        if on_done:
            on_done(outcome)

    if on_start:
        on_start(len(jobs) + len(last))
    rendered = render_all(
        jobs, workers=workers, recycle_after=recycle_after, on_done=done, last=last
    )
    ordered = [outcomes[o.practice_id] for o in chosen]
    run.generated_at = generated_at
    run.practices = [o.practice_id for o in ordered if o.ok]
    run.reports = [o.index_record() for o in ordered]
    done_last = [rendered[job.key] for job in last]
    files = [*written, *(Path(p) for o in (*ordered, *done_last) for p in o.written)]
    manifest = write_manifest(
        folder,
        run,
        files,
        sign_key,
        derive=month_index(folder, month, generated_at, run.chain.notice),
    )
    result = BatchResult(
        month,
        folder,
        folder / INDEX_FILE,
        ordered,
        datetime.fromisoformat(generated_at),
        manifest,
        overview=done_last[0] if done_last else None,
    )
    return result, shown


# Files beside a practice's report that the index links to when they exist: its PDF and its
# evidence files.
COMPANION_DOCUMENTS = (
    ("{}.pdf", "PDF"),
    ("{}-preuves.csv", "preuves (CSV)"),
    ("{}-preuves.xlsx", "preuves (Excel)"),
)


INDEX_FILE = "index.html"


def month_index(
    folder: Path, month: Month, generated_at: str, notice: str | None = None
) -> Callable:
    """What writes the month's index under the folder's manifest lock (``write_manifest``'s
    ``derive``): every practice whose report some run recorded in the folder (its last
    outcome; a report since removed from the folder is left out), with the overview, PDFs and
    evidence files found beside them. Written whichever command runs last, so that the index
    is right in any order of commands; nothing is written before a monthly batch ran there.
    The index carries the ``notice`` of the run writing it, else that of a run whose reports
    it shows and whose warehouse chain did not check."""

    def write(reports: list[dict], runs: dict[str, dict]) -> list[Path]:
        shown = [
            (r, outcome)
            for r in reports
            if (outcome := ReportOutcome.from_index_record(r)) is not None
            and (not outcome.ok or (folder / f"{outcome.practice_id}.html").is_file())
        ]
        if not shown:
            return []
        warning = notice
        for run_id in dict.fromkeys(str(r.get("run_id")) for r, _ in shown):
            run = runs.get(run_id) or {}
            if warning is None and run.get("chain_verified") is False:
                warning = ChainState(run.get("chain_head"), False, run.get("chain_problem")).notice
        outcomes = [outcome for _, outcome in shown]
        with recording() as written:
            write_file(
                folder / INDEX_FILE, index_html(month, outcomes, generated_at, folder, warning)
            )
        return written

    return write


def _severity_rank(outcome: ReportOutcome) -> tuple:
    return (-outcome.n_critical, -outcome.n_warning, -outcome.n_info, outcome.practice_name)


def index_html(
    month: Month,
    outcomes: list[ReportOutcome],
    generated_at: str,
    folder: Path | None = None,
    notice: str | None = None,
) -> str:
    """The batch's index: practices by severity (critical findings first), each with its
    report and, when they are in ``folder``, its PDF and evidence files; the month's overview
    when it is there; the ``notice`` of a warehouse whose chain did not check."""
    rows = [
        {
            "practice_id": o.practice_id,
            "practice_name": o.practice_name,
            "n_critical": o.n_critical,
            "n_warning": o.n_warning,
            "n_info": o.n_info,
            "has_traces": o.has_traces,
            "failed": not o.ok,
            "error": o.error,
            "href": f"{o.practice_id}.html",
            "documents": [
                (label, pattern.format(o.practice_id))
                for pattern, label in COMPANION_DOCUMENTS
                if folder and (folder / pattern.format(o.practice_id)).is_file()
            ],
        }
        for o in sorted(outcomes, key=_severity_rank)
    ]
    overview = folder is not None and (folder / "overview.html").is_file()
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            month_title=labels.month_title(month.first_day),
            generated_at_text=labels.prose_when(datetime.fromisoformat(generated_at)),
            practices=rows,
            overview_href="overview.html" if overview else None,
            css=stylesheet(),
            n_ok=sum(1 for o in outcomes if o.ok),
            n_ok_text=labels.count(
                sum(1 for o in outcomes if o.ok), "rapport produit", "rapports produits"
            ),
            n_failed=sum(1 for o in outcomes if not o.ok),
            notice=notice,
        )
    )
