"""Exploring the warehouse from a notebook: findings, the events behind them, actors,
mailboxes and delegation timelines, as pandas DataFrames; plot helpers returning plotly
figures.

A notebook never holds the warehouse open: ``open_warehouse`` only checks the file and keeps
its path, and every call opens it read-only, reads, and closes it. An analyst's notebook left
open therefore never blocks ``ingest`` or ``report`` (a call made while one of them is writing
is told the warehouse is in use, and can simply be run again). Every value reaches SQL as a
bound parameter::

    from delegation_reports import explore

    wh = explore.open_warehouse()            # $DELEGATION_REPORTS_DB or ./delegation.duckdb
    findings = explore.findings(wh, "2026-03", severity="critical")
    events = explore.finding_events(wh, findings.finding_id[0])
    explore.timeline_figure(explore.delegation_timeline(wh, "dr.martin@medecin.mssante.fr"))

Open-ended bounds (a delegation without end date) come back as missing values (``NaT``).
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from .analysis.config import RULE_IDS, load_config
from .analysis.models import Month, create_model_macros, is_stale, require_traces
from .errors import UserError
from .warehouse import connect, default_db_path, sql_text

__all__ = [
    "StaleFindings",
    "Warehouse",
    "open_warehouse",
    "findings",
    "finding_events",
    "actor_events",
    "mailbox_events",
    "delegation_timeline",
    "delegations_in_force",
    "pivot_by",
    "timeline_figure",
    "activity_figure",
]

SEVERITIES = ("critical", "warning", "info")
# Open bounds (the models' unbounded_from() and unbounded_until(): 1 January of year 1 and
# the last microsecond of 9999) are shown missing, and so are instants as far (an export's
# 9999-12-31 meaning "no end").
_FAR = pd.Timestamp("9999-12-31", tz="UTC")
_EARLY = pd.Timestamp("0001-01-02", tz="UTC")


class StaleFindings(UserWarning):
    """Warned when a month's findings are older than the warehouse's data or configuration
    (files loaded since, or their refresh interrupted): explorations are read-only and cannot
    rebuild them."""


def _warn_if_stale(con: duckdb.DuckDBPyConnection, month: Month) -> None:
    if is_stale(con, month, load_config()):
        warnings.warn(
            f"the findings of {month} are not up to date with the warehouse (files were loaded "
            "or the configuration changed since they were built, or their refresh was "
            f"interrupted): run 'delegation-reports findings --month {month}' to rebuild them",
            StaleFindings,
            stacklevel=3,
        )


def _models_built(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        return bool(con.execute("SELECT count(*) FROM core_state").fetchone()[0])
    except duckdb.CatalogException:
        return False


class Warehouse:
    """A warehouse to explore, by its path: nothing is held open between calls."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        with self.connection():  # a clear error now if there is no warehouse there
            pass

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one call, closed after it."""
        con = connect(self.path, read_only=True)
        try:
            if not _models_built(con):
                raise UserError(
                    f"the models of {self.path} have not been built yet (their refresh was "
                    "interrupted or skipped): run 'delegation-reports refresh' first"
                )
            create_model_macros(con)
            yield con
        finally:
            con.close()

    def close(self) -> None:
        """Nothing to close: kept so that notebooks written for a connection still run."""

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"


def open_warehouse(db: Path | str | None = None) -> Warehouse:
    """The warehouse, read-only (explorations cannot change the evidence), opened afresh by
    every call."""
    return Warehouse(db or default_db_path())


def _open_bounds_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Open bounds, and instants as far, as missing values."""
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
            far = _FAR if isinstance(column.dtype, pd.DatetimeTZDtype) else _FAR.tz_localize(None)
            early = (
                _EARLY if isinstance(column.dtype, pd.DatetimeTZDtype) else _EARLY.tz_localize(None)
            )
            frame[name] = column.where((column < far) & (column > early))
    return frame


def _query(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> pd.DataFrame:
    sql = sql_text(name)
    frame = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).df()
    return _open_bounds_missing(frame)


def _frame(wh: Warehouse | Path | str, name: str, params: dict) -> pd.DataFrame:
    with _warehouse(wh).connection() as con:
        return _query(con, name, params)


def _warehouse(wh: Warehouse | Path | str) -> Warehouse:
    if isinstance(wh, Warehouse):
        return wh
    if isinstance(wh, str | Path):
        return Warehouse(wh)
    raise TypeError(
        f"expected the warehouse from explore.open_warehouse(), not {type(wh).__name__}"
    )


def _choice(value: str | None, valid, what: str) -> str | None:
    if value is not None and value not in valid:
        raise UserError(f"unknown {what} {value!r}: choose one of {', '.join(valid)}")
    return value


def _instant(value: str | date | datetime | None, *, end: bool = False) -> datetime | None:
    """A bound: a date means that whole day in Europe/Paris; a naive time is Paris time."""
    from .reports.labels import PARIS

    if value is None:
        return None
    if isinstance(value, str):
        value = (
            datetime.fromisoformat(value)
            if ("T" in value or " " in value)
            else date.fromisoformat(value)
        )
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=PARIS)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=PARIS)


def findings(
    wh: Warehouse,
    month: str,
    *,
    practice_id: str | None = None,
    rule_id: str | None = None,
    severity: str | None = None,
) -> pd.DataFrame:
    """The month's findings (one row each), most severe first. An unknown rule or severity,
    or a month the traces do not cover, is an error (it would otherwise read as "no
    finding"); findings older than the data are warned of (`StaleFindings`)."""
    month_ = Month.parse(month)
    with _warehouse(wh).connection() as con:
        require_traces(con, month_)
        _warn_if_stale(con, month_)
        return _query(
            con,
            "explore/findings.sql",
            {
                "month": month_.first_day,
                "practice_id": practice_id,
                "rule_id": _choice(rule_id, RULE_IDS, "rule"),
                "severity": _choice(severity, SEVERITIES, "severity"),
            },
        )


def finding_events(wh: Warehouse, finding_id: str) -> pd.DataFrame:
    """The attributed events behind a finding, with the delegation in force (or not) at
    each event's time; warns (`StaleFindings`) when its month is not up to date."""
    with _warehouse(wh).connection() as con:
        for (month,) in con.execute(
            "SELECT DISTINCT month FROM finding WHERE finding_id = ?", [finding_id]
        ).fetchall():
            _warn_if_stale(con, Month(month.year, month.month))
        frame = _query(con, "explore/finding_events.sql", {"finding_id": finding_id})
        if (
            frame.empty
            and not con.execute(
                "SELECT count(*) FROM finding WHERE finding_id = ?", [finding_id]
            ).fetchone()[0]
        ):
            raise UserError(f"no finding {finding_id!r}")
    return frame


def actor_events(
    wh: Warehouse, actor: str, start=None, end=None, mailbox: str | None = None
) -> pd.DataFrame:
    """An account's attributed events in a window (dates are Paris days, inclusive)."""
    return _frame(
        wh,
        "explore/events.sql",
        {
            "actor": actor.lower(),
            "mailbox": mailbox.lower() if mailbox else None,
            "from_at": _instant(start),
            "until_at": _instant(end, end=True),
        },
    )


def mailbox_events(
    wh: Warehouse, mailbox: str, start=None, end=None, actor: str | None = None
) -> pd.DataFrame:
    """A mailbox's attributed events in a window (dates are Paris days, inclusive)."""
    return _frame(
        wh,
        "explore/events.sql",
        {
            "actor": actor.lower() if actor else None,
            "mailbox": mailbox.lower(),
            "from_at": _instant(start),
            "until_at": _instant(end, end=True),
        },
    )


def delegation_timeline(wh: Warehouse, mailbox: str) -> pd.DataFrame:
    """Every delegation period of a mailbox, oldest first; an open bound is missing (NaT)."""
    return _frame(wh, "explore/delegation_timeline.sql", {"mailbox": mailbox.lower()})


def delegations_in_force(wh: Warehouse, mailbox: str, at) -> pd.DataFrame:
    """The delegation periods of a mailbox in force at an instant."""
    return _frame(
        wh, "explore/delegations_at.sql", {"mailbox": mailbox.lower(), "at": _instant(at)}
    )


def pivot_by(events: pd.DataFrame, by: str, values: str = "event_id") -> pd.DataFrame:
    """Events counted by ``by`` (actor, client_ip, user_agent...) and attribution."""
    if events.empty:
        return pd.DataFrame()
    return events.pivot_table(
        index=by, columns="attribution", values=values, aggfunc="count", fill_value=0
    )


def timeline_figure(periods: pd.DataFrame) -> go.Figure:
    """A delegation timeline: one bar per period; open bounds drawn to today."""
    fig = go.Figure()
    now = pd.Timestamp.now(tz="UTC")
    for row in periods.itertuples():
        start = row.in_force_from_at if pd.notna(row.in_force_from_at) else row.started_latest_at
        end = row.in_force_until_at if pd.notna(row.in_force_until_at) else now
        if pd.isna(start):
            continue
        label = html.escape(f"{row.delegate_name or row.delegate} ({row.delegate_role or '?'})")
        fig.add_trace(
            go.Bar(
                x=[(end - start).total_seconds() * 1000],
                base=[start],
                y=[label],
                orientation="h",
                hovertext=[
                    html.escape(
                        f"{row.delegate} — {', '.join(row.rights) if row.rights is not None else ''}"
                    )
                ],
                hoverinfo="text",
                showlegend=False,
            )
        )
    fig.update_layout(
        xaxis={"type": "date"},
        yaxis={"autorange": "reversed"},
        barmode="overlay",
        template="plotly_white",
        height=140 + 30 * len(periods),
    )
    return fig


def activity_figure(events: pd.DataFrame, by: str = "actor") -> go.Figure:
    """Events per Paris day, one line per ``by`` value."""
    fig = go.Figure()
    if events.empty:
        return fig
    days = events.assign(day=events["occurred_local"].dt.date)
    counts = days.groupby([by, "day"]).size().reset_index(name="n")
    for key, part in counts.groupby(by):
        fig.add_trace(
            go.Scatter(x=part["day"], y=part["n"], mode="lines+markers", name=html.escape(str(key)))
        )
    fig.update_layout(template="plotly_white", yaxis_title="événements", height=360)
    return fig
