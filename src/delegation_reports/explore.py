"""Exploring the warehouse from a notebook: findings, the events behind them, actors,
mailboxes and delegation timelines, as pandas DataFrames; plot helpers returning plotly
figures.

Everything opens the warehouse read-only, and every value reaches SQL as a bound parameter::

    from delegation_reports import explore

    wh = explore.open_warehouse()            # $DELEGATION_REPORTS_DB or ./delegation.duckdb
    findings = explore.findings(wh, "2026-03", severity="critical")
    events = explore.finding_events(wh, findings.finding_id[0])
    explore.timeline_figure(explore.delegation_timeline(wh, "dr.martin@medecin.mssante.fr"))
"""

from __future__ import annotations

import html
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from .analysis.models import Month, create_model_macros
from .errors import UserError
from .warehouse import connect, default_db_path, sql_text

__all__ = [
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


def open_warehouse(db: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only: explorations cannot change the evidence."""
    con = connect(db or default_db_path(), read_only=True)
    create_model_macros(con)
    return con


def _frame(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> pd.DataFrame:
    sql = sql_text(name)
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).df()


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
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    practice_id: str | None = None,
    rule_id: str | None = None,
    severity: str | None = None,
) -> pd.DataFrame:
    """The month's findings (one row each), most severe first."""
    return _frame(
        con,
        "explore/findings.sql",
        {
            "month": Month.parse(month).first_day,
            "practice_id": practice_id,
            "rule_id": rule_id,
            "severity": severity,
        },
    )


def finding_events(con: duckdb.DuckDBPyConnection, finding_id: str) -> pd.DataFrame:
    """The attributed events behind a finding, with the delegation in force (or not) at
    each event's time."""
    frame = _frame(con, "explore/finding_events.sql", {"finding_id": finding_id})
    if (
        frame.empty
        and not con.execute(
            "SELECT count(*) FROM finding WHERE finding_id = ?", [finding_id]
        ).fetchone()[0]
    ):
        raise UserError(f"no finding {finding_id!r}")
    return frame


def actor_events(con, actor: str, start=None, end=None, mailbox: str | None = None) -> pd.DataFrame:
    """An account's attributed events in a window (dates are Paris days, inclusive)."""
    return _frame(
        con,
        "explore/events.sql",
        {
            "actor": actor.lower(),
            "mailbox": mailbox.lower() if mailbox else None,
            "from_at": _instant(start),
            "until_at": _instant(end, end=True),
        },
    )


def mailbox_events(
    con, mailbox: str, start=None, end=None, actor: str | None = None
) -> pd.DataFrame:
    """A mailbox's attributed events in a window (dates are Paris days, inclusive)."""
    return _frame(
        con,
        "explore/events.sql",
        {
            "actor": actor.lower() if actor else None,
            "mailbox": mailbox.lower(),
            "from_at": _instant(start),
            "until_at": _instant(end, end=True),
        },
    )


def delegation_timeline(con, mailbox: str) -> pd.DataFrame:
    """Every delegation period of a mailbox, oldest first."""
    return _frame(con, "explore/delegation_timeline.sql", {"mailbox": mailbox.lower()})


def delegations_in_force(con, mailbox: str, at) -> pd.DataFrame:
    """The delegation periods of a mailbox in force at an instant."""
    return _frame(
        con, "explore/delegations_at.sql", {"mailbox": mailbox.lower(), "at": _instant(at)}
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
