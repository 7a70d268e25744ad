"""The ``delegation-reports`` command: thin click commands over the library."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from . import __version__
from . import status as status_lib
from .analysis import lifecycle
from .analysis.config import RULE_IDS, load_config
from .analysis.evaluate import evaluate as evaluate_findings
from .analysis.evaluate import read_ground_truth
from .analysis.findings import ensure_month, month_findings, to_csv, to_json
from .analysis.models import (
    Month,
    data_months,
    practice_exists,
    refresh_pending,
    require_traces,
)
from .analysis.models import refresh as refresh_models
from .errors import UserError
from .ingest.detect import FORMAT_CHOICES
from .ingest.manifest import COVERAGE_GAP
from .ingest.pipeline import REASONS, FileResult, ingest_paths
from .integrity import retention
from .integrity import verify as verify_lib
from .reports.runner import ASSET_CHOICES, run_monthly
from .warehouse import DB_ENV, default_db_path, opened, storage_error

config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Rule configuration TOML (default: built-in; $DELEGATION_REPORTS_CONFIG).",
)

# Files above this size get a progress bar.
PROGRESS_MIN_BYTES = 20 * 1024 * 1024

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Warehouse file (default: ${DB_ENV} or ./delegation.duckdb).",
)
# The reading commands read a Parquet lake's model outputs instead (see `_reading`).
lake_option = click.option(
    "--lake",
    type=click.Path(path_type=Path),
    default=None,
    help="Read a Parquet lake's model outputs (from export-lake --models or spark refresh) "
    "instead of a warehouse.",
)


# Control characters but tab and line feed: a NUL, a bell, a carriage return or an escape
# sequence in an audit field or a file name would garble or rewrite what the terminal shows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What JSON leaves as it is (ensure_ascii=False) but a terminal may act on: DEL and the C1
# controls (U+009B starts an escape sequence like ESC [ does).
_JSON_CONTROL = re.compile(r"[\x7f-\x9f]")


def clean(text: object) -> str:
    """Any text printed to the terminal: control characters (but tab and line feed) removed.
    Every line the commands print goes through here (or ``escape``, or ``dumps``)."""
    return _CONTROL.sub("", "" if text is None else str(text))


def escape(text: object) -> str:
    """Text printed through rich: ``clean``, and rich markup escaped."""
    return escape_markup(clean(text))


def dumps(value) -> str:
    """JSON for the terminal: every control character written as a ``\\u`` escape (JSON
    escapes those below U+0020 itself)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return _JSON_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: object = "", **kwargs) -> None:
    """``click.echo`` of ``clean`` text."""
    click.echo(clean(text), **kwargs)


def add_row(table: Table, *cells: object) -> None:
    """A table row, each cell through ``escape``: no cell can carry a control character."""
    table.add_row(*(escape(cell) for cell in cells))


class MonthType(click.ParamType):
    """A month typed as YYYY-MM; anything else is refused naming the expected format."""

    name = "YYYY-MM"

    def convert(self, value, param, ctx) -> Month:
        if isinstance(value, Month):
            return value
        try:
            return Month.parse(value)
        except UserError:
            self.fail(
                f"{clean(value)!r} is not a month: expected YYYY-MM, e.g. 2026-03", param, ctx
            )


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class DayType(click.ParamType):
    """A day typed as YYYY-MM-DD; anything else (01/01/2026, 2026-13-01) is refused naming
    the expected format."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if not _DAY.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{clean(value)!r} is not a day: expected YYYY-MM-DD, e.g. 2026-01-31", param, ctx
            )


MONTH = MonthType()
DAY = DayType()


def _console(err: bool = False) -> Console:
    return Console(stderr=err, highlight=False, soft_wrap=True)


def _fmt_ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _os_error_text(exc: OSError) -> str:
    """An operating system error as one line naming the file and what to do."""
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{where}no space left on the device: free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{where}permission denied: choose a folder you can write to"
    if exc.errno == errno.EROFS:
        return f"{where}read-only file system: choose a folder you can write to"
    return f"{where}{reason}"


def _duckdb_error_text(exc: duckdb.Error) -> str:
    full = storage_error(exc)
    if full is not None:
        return str(full)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"the warehouse could not be read or written: {text}"


class _Group(click.Group):
    """Turns user errors and environment problems (a folder that cannot be written, a full
    disk, Ctrl-C) into one clear line and a non-zero exit status, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            # Messages may quote a file's header or name: no control character reaches the
            # terminal.
            raise click.ClickException(clean(exc)) from None
        except (KeyboardInterrupt, duckdb.InterruptException):
            click.echo("interrompu", err=True)
            ctx.exit(130)
        except OSError as exc:
            raise click.ClickException(clean(_os_error_text(exc))) from None
        except (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException) as exc:
            raise click.ClickException(clean(_duckdb_error_text(exc))) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="delegation-reports")
def main() -> None:
    """Who used which MSSanté personal mailbox, on whose behalf, and when."""
    # Every file this process and its workers create (warehouse, its WAL and spill files,
    # reports, PDFs, evidence files) is its owner's only.
    os.umask(os.umask(0o077) | 0o077)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="auto",
    show_default=True,
    help="Kind of file; auto detects it from the header.",
)
@click.option("--profile", default=None, help="Operator profile: a bundled name or a .toml file.")
@click.option(
    "--operator", default=None, help="Operator name for files without an operator column."
)
@click.option(
    "--year",
    type=click.IntRange(1970, 2200),
    default=None,
    help="Dovecot syslog files: the year of the first line (syslog dates have none).",
)
@click.option(
    "--timezone",
    default=None,
    help="Dovecot logs: zone of times without an offset (default Europe/Paris).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@click.option(
    "--no-refresh",
    is_flag=True,
    help="Do not rebuild the models now (many loads in a row: run 'refresh' once after).",
)
@config_option
def ingest(paths, db, fmt, profile, operator, as_json, no_refresh, config, year, timezone):
    """Load exports into the warehouse: every row is loaded, counted as a duplicate, or
    quarantined with a reason.

    Example: delegation-reports ingest data/samples/* --db delegation.duckdb
    """
    console = _console(err=as_json)
    big = any(p.is_file() and p.stat().st_size >= PROGRESS_MIN_BYTES for p in paths)
    with opened(db or default_db_path()) as con:
        if big:
            results = _ingest_with_progress(
                con, paths, fmt, profile, operator, console, year=year, timezone=timezone
            )
        else:
            results = ingest_paths(
                con,
                paths,
                fmt=fmt,
                profile=profile,
                operator=operator,
                year=year,
                timezone=timezone,
            )
        # The months of the files just loaded, and of any load whose refresh was cut short
        # (the process killed, the disk full) or skipped: loading a file again that is
        # already in finishes such a refresh.
        if not no_refresh:
            refresh_pending(con, load_config(config))
    if as_json:
        click.echo(dumps([r.to_json() for r in results]))
    else:
        _print_results(console, results)
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _ingest_with_progress(
    con, paths, fmt, profile, operator, console, *, year=None, timezone=None
) -> list[FileResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=100)

        def on_file(path: Path, size: int) -> None:
            progress.update(task, description=escape(path.name), completed=0)

        def on_progress(percent: float) -> None:
            progress.update(task, completed=percent)

        return ingest_paths(
            con,
            paths,
            fmt=fmt,
            profile=profile,
            operator=operator,
            year=year,
            timezone=timezone,
            on_file=on_file,
            on_progress=on_progress,
        )


def _print_results(console: Console, results: list[FileResult]) -> None:
    table = Table(title="Ingestion")
    for name in ("file", "format", "read", "loaded", "duplicate", "quarantined", "status"):
        table.add_column(
            name,
            justify="right" if name in ("read", "loaded", "duplicate", "quarantined") else "left",
        )
    for r in results:
        add_row(
            table,
            (Path(r.file).name),
            (r.format or ""),
            f"{r.rows_read:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_duplicate:,}",
            f"{r.rows_quarantined:,}",
            r.status,
        )
    console.print(table)
    for r in results:
        if r.message:
            console.print(f"{escape(Path(r.file).name)}: {escape(r.message)}")
        for note in r.notes:
            console.print(f"{escape(Path(r.file).name)}: {escape(note)}")
        if r.rows_quarantined:
            console.print(
                f"{escape(Path(r.file).name)}: {r.rows_quarantined:,} rows quarantined; "
                f"see: delegation-reports quarantine --file {r.sha256[:12]}"
            )


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@config_option
def status(db, as_json, config):
    """What the warehouse holds: rows and coverage per operator and kind, quarantine by
    reason, files ingested, the gaps that split audit files' coverage.

    Example: delegation-reports status --json
    """
    months = retention.retention_months(load_config(config))
    with opened(db or default_db_path(), read_only=True) as con:
        report = status_lib.warehouse_status(con)
        report["retention"] = retention.retention_status(con, months)
    if as_json:
        click.echo(dumps(report))
        return
    console = _console()
    table = Table(title="Data held")
    for name in ("kind", "operator", "rows", "from (UTC)", "to (UTC)"):
        table.add_column(name)
    for row in report["holdings"]:
        add_row(
            table,
            row["kind"],
            (row["operator"] or ""),
            f"{row['n_rows']:,}",
            _fmt_ts(row["covered_from_at"]),
            _fmt_ts(row["covered_to_at"]),
        )
    console.print(table)
    if report["quarantine"]:
        table = Table(title="Quarantined rows")
        for name in ("operator", "kind", "reason", "rows"):
            table.add_column(name)
        for row in report["quarantine"]:
            add_row(
                table, (row["operator"] or ""), row["kind"], row["reason"], f"{row['n_rows']:,}"
            )
        console.print(table)
    else:
        console.print("No quarantined rows.")
    table = Table(title=f"Files ingested ({len(report['files'])})")
    for name in ("id", "file", "sha256", "format", "read", "loaded", "dup.", "quar."):
        table.add_column(name)
    for row in report["files"]:
        add_row(
            table,
            str(row["file_id"]),
            (row["file_name"]),
            row["sha256"][:12],
            (row["format"]),
            f"{row['rows_read']:,}",
            f"{row['rows_loaded']:,}",
            f"{row['rows_duplicate']:,}",
            f"{row['rows_quarantined']:,}",
        )
    console.print(table)
    if report["failures"]:
        table = Table(title=f"Files that failed ({len(report['failures'])})")
        for name in ("file", "lines", "reason", "at (UTC)", "loaded since"):
            table.add_column(name, overflow="fold")
        for row in report["failures"]:
            add_row(
                table,
                (row["file_name"]),
                "" if row["n_lines"] is None else f"{row['n_lines']:,}",
                (row["reason"]),
                _fmt_ts(row["started_at"]),
                "yes" if row["loaded_since"] else "no",
            )
        console.print(table)
    if report["coverage_gaps"]:
        table = Table(
            title=f"Coverage gaps ({len(report['coverage_gaps'])}): no event for more than "
            f"{COVERAGE_GAP.days} days in a file, the months between are not covered"
        )
        for name in ("id", "file", "last event before (UTC)", "first event after (UTC)"):
            table.add_column(name, overflow="fold")
        for row in report["coverage_gaps"]:
            add_row(
                table,
                str(row["file_id"]),
                row["file_name"],
                _fmt_ts(row["after_at"]),
                _fmt_ts(row["before_at"]),
            )
        console.print(table)
    _print_retention(console, report["retention"])
    for warning in report["warnings"]:
        console.print(f"[bold]Note:[/bold] {escape(warning)}")
    for late in report["late_findings"]:
        console.print(f"[bold]Findings changed after a report:[/bold] {escape(late['text'])}")


def _print_retention(console: Console, state: dict) -> None:
    oldest = state["oldest_trace_at"]
    line = f"Retention: {state['retention_months']} months; oldest trace: " + (
        _fmt_ts(oldest) + " UTC" if oldest else "none"
    )
    if state["next_purge_due_on"]:
        due = state["next_purge_due_on"]
        line += (
            f"; purge overdue since {due} (delegation-reports purge)"
            if state["purge_overdue"]
            else f"; next purge due on {due}"
        )
    last = state["last_purge"]
    if last:
        line += f"; last purge {_fmt_ts(last['performed_at'])} UTC (before {last['purged_before']:%Y-%m})"
    console.print(line)


@main.command()
@db_option
@click.option("--file", "file_", default=None, help="A file's sha256 (or its start) or path.")
@click.option(
    "--reason", type=click.Choice(sorted(REASONS)), default=None, help="Only this reason."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def quarantine(db, file_, reason, as_json):
    """List quarantined rows so they can be fixed and sent again.

    Example: delegation-reports quarantine --reason bad_timestamp
    """
    if file_ and Path(file_).exists():
        file_ = str(Path(file_).resolve())
    with opened(db or default_db_path(), read_only=True) as con:
        rows = status_lib.quarantined_rows(con, file_, reason)
    _print_records(
        rows,
        as_json,
        empty="No quarantined rows match.",
        title="Quarantined rows",
        columns=("file", "line", "reason", "detail", "raw text"),
        cells=lambda row: (
            (row["file_name"]),
            str(row["line_number"]),
            row["reason"],
            (row["detail"] or ""),
            ((row["raw_text"] or "")[:300]),
        ),
    )


def _clean_rows(rows: list[dict]) -> list[dict]:
    """Rows whose text (and lists of text) went through ``clean``: before any output, so that
    the CSV's guard against formulas sees the text as printed."""

    def plain(value):
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return [{k: plain(v) for k, v in row.items()} for row in rows]


def _print_records(rows: list[dict], as_json: bool, *, empty, title, columns, cells) -> None:
    """Rows as JSON, or as a table titled with their number (``cells`` gives a row's)."""
    if as_json:
        click.echo(dumps(rows))
        return
    console = _console()
    if not rows:
        console.print(empty)
        return
    table = Table(title=f"{title} ({len(rows)})")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        add_row(table, *cells(row))
    console.print(table)


@main.command()
@db_option
@click.option(
    "--sources",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder holding the files loaded (repeatable): each must match its manifest entry.",
)
@click.option(
    "--head",
    "heads",
    multiple=True,
    help="A chain head published earlier (a report shows the one it rests on; repeatable): "
    "it must be a link of the chain.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(db, sources, heads, as_json):
    """Check that the warehouse still holds what was loaded: the hash chain of manifest
    entries, review decisions and purges, and the digest of every file's rows; exit 1 when
    something no longer matches.

    Example: delegation-reports verify --sources exports/
    """
    for head in heads:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", head):
            raise click.BadParameter(
                f"{head!r} is not a chain head (64 hex digits)", param_hint="--head"
            )
    with opened(db or default_db_path(), read_only=True) as con:
        result = verify_lib.verify(con, list(sources), list(heads))
    if as_json:
        click.echo(dumps(result.to_json()))
    else:
        console = _console()
        for problem in result.problems:
            console.print(f"{problem.scope}: {escape(problem.text)}")
        if result.sources_not_found:
            console.print(
                f"{len(result.sources_not_found)} loaded file(s) not found under --sources: "
                + escape(", ".join(result.sources_not_found[:10]))
                + (" …" if len(result.sources_not_found) > 10 else "")
            )
        console.print(escape(result.verdict))
    sys.exit(0 if result.ok else 1)


@main.command()
@db_option
@click.option(
    "--before",
    type=MONTH,
    default=None,
    help="Purge traces before this month (default: what retention_months no longer keeps).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option(
    "--delegations", is_flag=True, help="Also remove delegation history before that month."
)
@click.option(
    "--force", is_flag=True, help="Allow a retention outside 6 to 12 months (needs --reason)."
)
@click.option("--reason", default=None, help="Why the purge is forced (recorded).")
@click.option("--by", "by", default=None, help="Who runs the purge (default: the system user).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@config_option
def purge(db, before, dry_run, delegations, force, reason, by, as_json, config):
    """Remove traces older than the retention (audit events, their quarantined lines, the
    months' summaries and findings), in one transaction recorded in the warehouse's chain.

    Example: delegation-reports purge --dry-run
    """
    if force and not (reason or "").strip():
        raise click.UsageError("--force needs --reason: it is recorded with the purge")
    if reason and not force:
        raise click.UsageError("--reason goes with --force")
    months = retention.retention_months(load_config(config))
    with opened(db or default_db_path(), create=False) as con:
        result = retention.purge(
            con,
            months=months,
            before=before,
            delegations=delegations,
            dry_run=dry_run,
            force_reason=reason if force else None,
            by=by,
        )
    if as_json:
        click.echo(dumps(result.to_json()))
        return
    console = _console()
    table = Table(title=f"{'Would purge' if dry_run else 'Purged'}: before {result.purged_before}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in sorted(result.row_counts.items()):
        add_row(table, name, f"{n:,}")
    console.print(table)
    if dry_run:
        echo(f"dry run: {result.total:,} row(s) of traces would be removed; nothing changed")
    else:
        echo(
            f"purge {result.purge_id}: {result.total:,} row(s) of traces removed by "
            f"{result.performed_by}, recorded in the chain (head {result.head})"
        )


@main.command()
@db_option
@click.option(
    "--month", type=MONTH, default=None, help="Only this month; default: every month with data."
)
@config_option
def refresh(db, month, config):
    """Rebuild the models from scratch: delegation periods, monthly summaries and findings
    (ingest refreshes what its files change).

    Example: delegation-reports refresh --month 2026-03 --config rules.toml
    """
    months = [month] if month else None
    with opened(db or default_db_path(), create=False) as con:
        # A whole refresh also completes what loads left to refresh.
        through = (
            None if month else con.execute("SELECT max(file_id) FROM ingest_file").fetchone()[0]
        )
        built = refresh_models(con, months, load_config(config), force=True, through=through)
    months_text = f"{len(built)} month{'' if len(built) == 1 else 's'}"
    echo(f"models rebuilt for {months_text}: {', '.join(map(str, built)) or 'none'}")


@main.group()
def spark() -> None:
    """Run the models on Apache Spark over a Parquet lake (see docs/scale-out.md)."""


@spark.command("refresh")
@click.option(
    "--lake",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The lake folder (lake.json, inputs/, models/).",
)
@click.option(
    "--master",
    default="local[2]",
    show_default=True,
    help="Spark master URL (local[N], spark://host:port, yarn, k8s://...).",
)
@click.option(
    "--months",
    type=MONTH,
    multiple=True,
    help="Only these months' findings (repeat the option); default: every month the "
    "lake's traces cover.",
)
@click.option(
    "--conf",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Spark setting (repeat the option), e.g. spark.driver.memory=4g, or a table "
    "format's catalog.",
)
@config_option
def spark_refresh(lake, master, months, settings, config):
    """Rebuild the lake's models on Spark: core models, monthly marts and findings, written
    back to the lake (month partitions replaced, refresh state written last).

    Example: delegation-reports spark refresh --lake /data/lake --master local[4]
    """
    from .engines import spark_runner

    spark_config = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{setting!r} is not KEY=VALUE", param_hint="--conf")
        spark_config[key.strip()] = value
    result = spark_runner.refresh(
        lake,
        master=master,
        months=sorted(set(months), key=lambda m: m.first_day) or None,
        config=load_config(config),
        spark_config=spark_config,
    )
    echo(
        f"models rebuilt on Spark for {len(result.months)} month(s): "
        f"{', '.join(map(str, result.months))} ({result.statements} statements, "
        f"{result.tables.get('finding', 0)} finding(s))"
    )


@main.command()
@db_option
@lake_option
@click.option("--month", type=MONTH, required=True, help="Month to report (Europe/Paris).")
@click.option("--practice", default=None, help="Only this practice id.")
@click.option("--rule", type=click.Choice(RULE_IDS), default=None, help="Only this rule.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    show_default=True,
    help="csv guards cells against spreadsheet formulas; csv and json give instants in "
    "Paris time with their offset.",
)
@config_option
def findings(db, lake, month, practice, rule, fmt, config):
    """List a month's findings, most severe first.

    Example: delegation-reports findings --month 2026-03 --format csv > findings.csv
    """
    month_ = month
    with _reading(db, lake) as path, opened(path, create=False, read_only=bool(lake)) as con:
        require_traces(con, month_)
        if practice is not None and not practice_exists(con, practice):
            raise UserError(f"unknown practice {practice!r}: it is on no roster")
        ensure_month(con, month_, load_config(config))
        rows = _clean_rows(month_findings(con, month_, practice, rule))
    if fmt == "csv":
        click.echo(to_csv(rows), nl=False)
    elif fmt == "json":
        click.echo(to_json(rows))
    else:
        console = _console()
        if not rows:
            console.print(f"No findings for {month_}.")
            return
        table = Table(title=f"Findings {month_} ({len(rows)})")
        for name in (
            "severity",
            "status",
            "rule",
            "practice",
            "mailbox",
            "actor",
            "first (UTC)",
            "events",
        ):
            table.add_column(name, overflow="fold")
        for r in rows:
            add_row(
                table,
                r["severity"],
                r["status"],
                r["rule_id"],
                (r["practice_id"] or ""),
                (r["mailbox"] or ""),
                (r["actor"] or ""),
                _fmt_ts(r["first_at"]),
                str(r["n_events"]),
            )
        console.print(table)


@main.command()
@click.argument("finding_id", required=False)
@db_option
@click.option("--accept", "decision", flag_value=lifecycle.ACCEPT, help="Accept the finding.")
@click.option("--reopen", "decision", flag_value=lifecycle.REOPEN, help="Withdraw an acceptance.")
@click.option("--list", "list_", is_flag=True, help="List the decisions (of FINDING_ID if given).")
@click.option("--reason", default=None, help="Why (required to accept).")
@click.option("--by", "by", default=None, help="Who decides (required to decide).")
@click.option(
    "--until", type=DAY, default=None, help="Last day the acceptance holds (default: no end)."
)
@click.option("--json", "as_json", is_flag=True, help="--list: print the decisions as JSON.")
def review(finding_id, db, decision, list_, reason, by, until, as_json):
    """Record a review decision on a finding (kept for good, never changed), or list them.
    An accepted finding is shown as an accepted exception, not as an alert, until its last
    day or until its delegation changes.

    Example: delegation-reports review 3f0c... --accept --reason "remplacement signé" --by "Dr Garnier" --until 2026-06-30
    """
    if list_:
        if decision or reason or by or until:
            raise click.UsageError("--list takes no decision options")
        with opened(db or default_db_path(), read_only=True) as con:
            rows = lifecycle.decisions(con, finding_id)
        _print_records(
            rows,
            as_json,
            empty="No review decisions.",
            title="Review decisions",
            columns=("id", "finding", "decision", "by", "at (UTC)", "until", "reason", "rule"),
            cells=lambda r: (
                str(r["review_id"]),
                r["finding_id"],
                r["decision"],
                (r["decided_by"]),
                _fmt_ts(r["decided_at"]),
                str(r["valid_until"] or ""),
                (r["reason"] or ""),
                r["rule_id"],
            ),
        )
        return
    if not decision:
        raise click.UsageError("choose --accept or --reopen (or --list)")
    if not finding_id:
        raise click.UsageError("give the FINDING_ID to decide on")
    with opened(db or default_db_path(), create=False) as con:
        row = lifecycle.record_decision(
            con, finding_id, decision, by=by, reason=reason, until=until
        )
    verb = "accepted" if decision == lifecycle.ACCEPT else "reopened"
    limit = f" until {row['valid_until']}" if row["valid_until"] else ""
    echo(
        f"decision {row['review_id']}: finding {row['finding_id']} {verb} by {row['decided_by']}{limit}"
    )


@main.command()
@click.argument("ground_truth", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@config_option
def evaluate(ground_truth, db, config):
    """Compare findings with a ground-truth file: per rule, true and false positives, misses,
    precision and recall.

    Example: delegation-reports evaluate data/samples/ground_truth.csv
    """
    truths = read_ground_truth(ground_truth)
    with opened(db or default_db_path(), create=False) as con:
        cfg = load_config(config)
        for month in data_months(con):
            ensure_month(con, month, cfg)
        scores = evaluate_findings(con, truths)
    console = _console()
    table = Table(title="Findings against the ground truth")
    for name in ("rule", "TP", "FP", "FN", "precision", "recall"):
        table.add_column(name, justify="left" if name == "rule" else "right")
    for s in scores:
        if s.in_truth:
            add_row(
                table,
                s.rule_id,
                str(s.true_positives),
                str(s.false_positives),
                str(s.false_negatives),
                f"{s.precision:.2f}" if s.precision is not None else "-",
                f"{s.recall:.2f}" if s.recall is not None else "-",
            )
        else:
            add_row(
                table,
                s.rule_id,
                "-",
                "-",
                "-",
                "not in ground truth",
                f"{len(s.unexpected)} finding{'' if len(s.unexpected) == 1 else 's'}",
            )
    console.print(table)
    for s in scores:
        for truth in s.missed:
            console.print(
                f"missed {s.rule_id}: {escape(truth.mailbox)} / {escape(truth.actor)} "
                f"{truth.first_at or ''} {escape(truth.note)}"
            )
        if s.in_truth:
            for f in s.unexpected:
                console.print(f"unexpected {s.rule_id}: {escape(f['explanation_fr'])}")


workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Notebooks run in parallel (each worker keeps one kernel).",
)


class _BatchProgress:
    """A batch's progress bar with its ETA, and its closing summary (on stderr)."""

    def __init__(self, console: Console, progress: Progress) -> None:
        self.console, self.progress = console, progress
        self.task = progress.add_task("reports", total=None)
        self.started = time.perf_counter()
        self.n_ok = self.n_failed = 0

    def start(self, total: int) -> None:
        self.started = time.perf_counter()
        self.progress.update(self.task, total=total)

    def advance(self, name: str, ok: bool) -> None:
        if ok:
            self.n_ok += 1
        else:
            self.n_failed += 1
        self.progress.update(self.task, advance=1, description=escape(name))

    def summary(self) -> None:
        elapsed = time.perf_counter() - self.started
        n = self.n_ok + self.n_failed
        self.console.print(
            f"{self.n_ok} report(s) done, {self.n_failed} failed, in {elapsed:.1f} s"
            + (f" ({elapsed / n:.2f} s per report)" if n else "")
        )


@contextmanager
def _batch_progress() -> Iterator[_BatchProgress]:
    console = _console(err=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _BatchProgress(console, progress)


@main.group()
def report():
    """Render reports as standalone HTML files (papermill notebooks), with the folder's
    manifest.json (every file's sha256, the warehouse chain head...)."""


SIGN_KEY_ENV = "DELEGATION_REPORTS_SIGN_KEY"
sign_key_option = click.option(
    "--sign-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar=SIGN_KEY_ENV,
    help=f"Ed25519 private key (from 'keygen') signing manifest.json (${SIGN_KEY_ENV}).",
)
allow_unverified_option = click.option(
    "--allow-unverified",
    is_flag=True,
    help="Report even when the warehouse's chain does not check; every page then says so.",
)


@report.command()
@db_option
@lake_option
@click.option("--month", type=MONTH, required=True, help="Month to report (Europe/Paris).")
@click.option("--practice", "practices", multiple=True, help="A practice id (repeatable).")
@click.option("--all", "all_", is_flag=True, help="Every practice on the roster.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Output folder; reports go to OUT/YYYY-MM/.",
)
@workers_option
@click.option(
    "--assets",
    type=click.Choice(ASSET_CHOICES),
    default="inline",
    show_default=True,
    help="plotly.js inside each report, or once beside them (shared).",
)
@click.option(
    "--keep-notebooks", is_flag=True, help="Keep the executed notebooks (they hold personal data)."
)
@click.option("--pdf", is_flag=True, help="Also print a PDF of each report (needs Chromium).")
@click.option(
    "--overview",
    is_flag=True,
    help="Also render the month's overview (as 'report overview' does), once the reports are "
    "written, in the batch's workers.",
)
@config_option
@sign_key_option
@allow_unverified_option
def monthly(
    db,
    lake,
    month,
    practices,
    all_,
    out,
    workers,
    assets,
    keep_notebooks,
    pdf,
    overview,
    config,
    sign_key,
    allow_unverified,
):
    """Render each practice's monthly report and an index.

    Example: delegation-reports report monthly --month 2026-03 --all --workers 2
    """
    if bool(practices) == all_:
        raise click.UsageError("choose the practices: --practice ID (repeatable) or --all")
    month_ = month
    with _reading(db, lake) as path, _batch_progress() as progress:
        result = run_monthly(
            path,
            month_,
            practices=list(practices) or None,
            out=out,
            workers=workers,
            assets=assets,
            keep_notebooks=keep_notebooks,
            pdf=pdf,
            config=load_config(config),
            on_start=progress.start,
            on_done=lambda o: progress.advance(o.practice_id, o.ok),
            sign_key=sign_key,
            allow_unverified=allow_unverified,
            overview=overview,
            on_overview=lambda r: progress.advance("overview", r.ok),
        )
    out_console = _console()
    table = Table(title=f"Reports {month_}")
    for name in ("practice", "critical", "warning", "info", "seconds", "result"):
        table.add_column(name)
    for o in result.outcomes:
        add_row(
            table,
            o.practice_id,
            str(o.n_critical),
            str(o.n_warning),
            str(o.n_info),
            f"{o.seconds:.1f}",
            ("ok" if o.has_traces else "ok (no traces this month)")
            if o.ok
            else f"failed: {o.error or ''}",
        )
    out_console.print(table)
    progress.summary()
    echo(result.index)
    if result.overview is not None:
        if result.overview.ok:
            _echo_document(result.overview.path, pdf)
        else:
            out_console.print(f"overview failed: {result.overview.error}", markup=False)
    if result.failed or (result.overview is not None and not result.overview.ok):
        sys.exit(1)


def _echo_document(path: Path, pdf: bool) -> None:
    """The document's path, and its PDF's."""
    echo(path)
    if pdf:
        echo(path.with_suffix(".pdf"))


pdf_option = click.option(
    "--pdf", is_flag=True, help="Also print a PDF of each report (needs Chromium)."
)
assets_option = click.option(
    "--assets",
    type=click.Choice(ASSET_CHOICES),
    default="inline",
    show_default=True,
    help="plotly.js inside the report, or once beside it (shared).",
)


@report.command()
@db_option
@lake_option
@click.option("--mailbox", help="The BAL PER address.")
@click.option(
    "--all-mailboxes",
    is_flag=True,
    help="Every BAL PER of --practice, or of the whole warehouse without it.",
)
@click.option("--practice", help="With --all-mailboxes: the practice whose BAL PER to render.")
@click.option(
    "--from",
    "start",
    type=DAY,
    default=None,
    help="First day (default: twelve months before the last day).",
)
@click.option(
    "--to",
    "end",
    type=DAY,
    default=None,
    help="Last day (default: the day of the mailbox's last trace; with --all-mailboxes, of the warehouse's).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Output folder; the reports go to OUT/history/.",
)
@workers_option
@assets_option
@click.option(
    "--keep-notebooks", is_flag=True, help="Keep the executed notebooks (they hold personal data)."
)
@pdf_option
@config_option
@sign_key_option
@allow_unverified_option
def history(
    db,
    lake,
    mailbox,
    all_mailboxes,
    practice,
    start,
    end,
    out,
    workers,
    assets,
    keep_notebooks,
    pdf,
    config,
    sign_key,
    allow_unverified,
):
    """Render a délégant's delegation history: every delegation of the BAL PER, who acted in
    it month by month, its findings, what to review. With --all-mailboxes, the history of
    every BAL PER of a practice or of the warehouse, in a batch.

    Example: delegation-reports report history --mailbox dr.martin@medecin.mssante.fr --from 2026-01-01

    Example: delegation-reports report history --all-mailboxes --practice C52249671000024 --workers 2
    """
    from .reports.documents import run_histories, run_history

    if bool(mailbox) == all_mailboxes:
        raise click.UsageError("choose the mailboxes: --mailbox ADDRESS or --all-mailboxes")
    if practice and not all_mailboxes:
        raise click.UsageError("--practice goes with --all-mailboxes")
    if not all_mailboxes:
        with _reading(db, lake) as source:
            path = run_history(
                source,
                mailbox,
                start=start,
                end=end,
                out=out,
                assets=assets,
                keep_notebook=keep_notebooks,
                pdf=pdf,
                config=load_config(config),
                sign_key=sign_key,
                allow_unverified=allow_unverified,
            )
        _echo_document(path, pdf)
        return
    with _reading(db, lake) as source, _batch_progress() as progress:
        result = run_histories(
            source,
            practice=practice,
            start=start,
            end=end,
            out=out,
            workers=workers,
            assets=assets,
            keep_notebooks=keep_notebooks,
            pdf=pdf,
            config=load_config(config),
            on_start=progress.start,
            on_done=lambda o: progress.advance(o.key, o.ok),
            sign_key=sign_key,
            allow_unverified=allow_unverified,
        )
    out_console = _console()
    for o in result.failed:
        out_console.print(f"{escape(o.key)}: failed: {escape(o.error or '')}")
    progress.summary()
    echo(result.folder)
    if result.failed:
        sys.exit(1)


@report.command()
@db_option
@lake_option
@click.option("--month", type=MONTH, required=True, help="Month (Europe/Paris).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Output folder; the overview goes to OUT/YYYY-MM/overview.html.",
)
@assets_option
@click.option("--keep-notebooks", is_flag=True, help="Keep the executed notebook.")
@pdf_option
@config_option
@sign_key_option
@allow_unverified_option
def overview(db, lake, month, out, assets, keep_notebooks, pdf, config, sign_key, allow_unverified):
    """Render the DPO's overview of a month across practices, linking to the monthly reports
    beside it.

    Example: delegation-reports report overview --month 2026-03 --out reports
    """
    from .reports.documents import run_overview

    with _reading(db, lake) as source:
        path = run_overview(
            source,
            month,
            out=out,
            assets=assets,
            keep_notebook=keep_notebooks,
            pdf=pdf,
            config=load_config(config),
            sign_key=sign_key,
            allow_unverified=allow_unverified,
        )
    _echo_document(path, pdf)


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def keygen(folder):
    """Write an Ed25519 key pair to FOLDER for signing report manifests: the private key
    (owner-only, 0600) and the public key to give whoever checks the reports. Never
    overwrites a key.

    Example: delegation-reports keygen ~/.config/delegation-reports
    """
    from .integrity import signing

    private, public = signing.keygen(folder)
    key = signing.load_public_key(public)
    click.echo(f"private key: {private} (keep it; give it to --sign-key)")
    click.echo(f"public key:  {public} (key {signing.key_id(key)}; give it to verify-report)")


@main.command("verify-report")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The signer's public key: check manifest.json.sig too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_report(folder, public_key, as_json):
    """Check a report folder against its manifest.json: every file present and unchanged, no
    file added, and with --public-key the manifest's signature. Exit status 0 when
    everything holds, 1 otherwise.

    Example: delegation-reports verify-report reports/2026-03 --public-key delegation-reports.pub
    """
    from .integrity.reports import verify_folder

    check = verify_folder(folder, public_key)
    if as_json:
        click.echo(json.dumps(check.to_json(), indent=2, ensure_ascii=False))
    else:
        console = _console()
        for problem in check.problems:
            console.print(
                f"{problem.problem}: {escape(problem.path)}"
                + (f" ({escape(problem.detail)})" if problem.detail else "")
            )
        if check.signature in ("invalid", "missing"):
            console.print(f"signature {check.signature}: manifest.json.sig")
        for head in check.chain_heads:
            console.print(f"rests on warehouse chain head {escape(head)}")
        console.print(escape(check.verdict))
    if not check.ok:
        sys.exit(1)


@main.command()
@db_option
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    default=8888,
    show_default=True,
    help="Port on 127.0.0.1.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
def lab(db, port, no_browser):
    """Start JupyterLab on the project's notebooks, with the warehouse set for
    ``delegation_reports.explore`` (read-only). Stop it with Ctrl-C (or SIGTERM): the server
    and its kernels stop with it.

    Example: delegation-reports lab --db out/delegation.duckdb
    """
    import secrets
    import subprocess
    import tempfile

    from .reports.runner import notebooks_dir

    path = (db or default_db_path()).resolve()
    if not path.exists():
        raise UserError(f"no warehouse at {path}: run 'delegation-reports ingest' first")
    _require_free_port(port)
    folder = notebooks_dir()
    token = secrets.token_hex(16)
    # The token goes to the server through a private file (0600, in a 0700 folder removed
    # when the lab stops), never on a command line, which any local user can read.
    with tempfile.TemporaryDirectory(prefix="delegation-lab-") as private:
        token_file = Path(private) / "token"
        handle = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(handle, token.encode())
        os.close(handle)
        env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
        env.update({DB_ENV: str(path), "JUPYTER_TOKEN_FILE": str(token_file)})
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--ServerApp.root_dir={folder}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
        ]
        if no_browser:
            command.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        echo(
            f"JupyterLab on {folder}, warehouse {path} (read-only through "
            "delegation_reports.explore): starting"
        )
        # Its own session: Ctrl-C reaches this process only, which stops the server cleanly
        # (a server interrupted directly asks for a confirmation first).
        server = subprocess.Popen(command, env=env, start_new_session=True)
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            if not _wait_for_port(server, port):
                raise UserError(
                    f"JupyterLab could not start on port {port} (status {server.returncode}); "
                    "see its messages above"
                )
            echo(f"Open http://127.0.0.1:{port}/lab?token={token}  —  Ctrl-C to stop")
            returncode = server.wait()
        except (KeyboardInterrupt, _Terminated):
            echo("stopping JupyterLab and its kernels", err=True)
            returncode = 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            _stop_server(server)
    sys.exit(returncode)


class _Terminated(Exception):
    """SIGTERM received: stop what was started, then exit."""


def _terminate(signum, frame) -> None:
    raise _Terminated


def _require_free_port(port: int) -> None:
    """Refuse a port already in use on 127.0.0.1, before anything is printed or started."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(
                f"port {port} on 127.0.0.1 is already in use: choose another with --port"
            ) from None


def _wait_for_port(server, port: int, timeout: float = 300.0) -> bool:
    """Whether the server answers on the port before it ends (or ``timeout`` passes)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop_server(server, grace: float = 60.0) -> None:
    """SIGTERM to the server, which shuts its kernels down before exiting; killed (with its
    process group) if it has not within ``grace`` seconds."""
    import subprocess

    if server.poll() is None:
        server.terminate()
        try:
            server.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# ---- the Parquet lake ------------------------------------------------------------------------


@contextmanager
def _reading(db: Path | None, lake: Path | None) -> Iterator[Path]:
    """What a reading command opens: the warehouse (``--db``), or with ``--lake`` a
    catalog of the lake's Parquet files that the same queries read (removed afterwards)."""
    if lake is None:
        yield db or default_db_path()
        return
    if db is not None:
        raise click.UsageError("choose where to read: --db FILE or --lake DIR, not both")
    from .lake import lake_catalog

    with lake_catalog(lake) as path:
        yield path


def _months_list(ctx, param, values) -> list[Month] | None:
    """``--months 2026-01,2026-03`` (repeatable) as months."""
    try:
        months = [Month.parse(m) for value in values for m in value.split(",") if m.strip()]
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None
    return months or None


@main.command("export-lake")
@click.argument("folder", type=click.Path(path_type=Path))
@db_option
@click.option(
    "--months",
    multiple=True,
    callback=_months_list,
    help="Only these months' audit events, e.g. 2026-01,2026-03 (default: every month; "
    "months no longer in the warehouse then leave the lake).",
)
@click.option(
    "--models",
    is_flag=True,
    help="Also write the model outputs (refreshing stale months first), so that the lake "
    "can be read with --lake.",
)
@config_option
def export_lake(folder, db, months, models, config):
    """Write the warehouse's inputs (and with --models its model outputs) as a Parquet lake
    in FOLDER: hive-partitioned folders, described by FOLDER/lake.json (docs/scale-out.md).

    Example: delegation-reports export-lake /data/lake --months 2026-03 --models
    """
    from .lake import export_lake as export

    with opened(db or default_db_path(), create=False, read_only=not models) as con:
        result = export(con, folder, months=months, models=models, config=load_config(config))
    table = Table(title=f"Lake {escape(result.folder)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in result.tables.items():
        add_row(table, name, f"{n:,}")
    _console().print(table)
    what = "inputs and model outputs" if result.models else "inputs"
    echo(
        f"{what} of {len(result.months)} month(s) ({', '.join(result.months)}) written to "
        f"{result.folder}; lake.json sha256 {result.lake_sha256}"
    )


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=None, help="Random seed (default: the recorded one).")
def samples(outdir, seed):
    """Write the deterministic sample exports, and their ground truth, to OUTDIR.

    Example: delegation-reports samples samples-seed7 --seed 7
    """
    from .samples.generator import DEFAULT_SEED, generate

    outdir.mkdir(parents=True, exist_ok=True)
    written = generate(outdir, seed=DEFAULT_SEED if seed is None else seed)
    for path in written:
        echo(path)


if __name__ == "__main__":  # pragma: no cover
    main()
