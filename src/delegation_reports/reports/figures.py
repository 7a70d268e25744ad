"""Plotly figures of the reports, as HTML fragments without plotly.js (included once per page).

Every text that comes from the data is escaped before it reaches a figure: plotly renders
``<b>``, ``<span style>`` and ``<a href>`` found in labels and hover texts.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta

import plotly.graph_objects as go

from . import labels

_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["toImage"]}
_ROLE_COLOURS = {
    "secretary": "#2f6f9f",
    "medical_assistant": "#3c9d6b",
    "replacement": "#c9782b",
    "other": "#7a6fa8",
}


def _text(value) -> str:
    # Quotes stay as they are: without "<" no tag can form, and plotly.js decodes only a few
    # named entities (not &quot;), so escaped quotes would show as "&quot;".
    return html.escape(str(value), quote=False)


def _fragment(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(
        template="plotly_white",
        font={"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
    )
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)


def _ticks(start: datetime, end: datetime) -> list[datetime]:
    """Tick positions for French date labels (plotly.js's own are English without a locale
    file): weekly over a month, on the first of each month over longer windows."""
    if (end - start).days <= 62:
        return [start + timedelta(days=d) for d in range(0, (end - start).days + 1, 7)]
    local = start.astimezone(labels.PARIS)
    ticks, year, month = [], local.year, local.month
    while True:
        tick = datetime(year, month, 1, tzinfo=labels.PARIS)
        if tick > end:
            return ticks
        if tick >= start:
            ticks.append(tick)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def delegation_timeline(delegations, month_start: datetime, month_end: datetime) -> str | None:
    """One bar per delegation in force during the month, clipped to the month."""
    if len(delegations) == 0:
        return None
    fig = go.Figure()
    shown_roles = set()
    for row in delegations.itertuples():
        start, end = row.shown_from_at, row.shown_until_at
        label = f"{_text(row.delegate_name)} → {_text(row.holder)}"
        role_name = labels.role(row.delegate_role)
        fig.add_trace(
            go.Bar(
                x=[(end - start) / timedelta(milliseconds=1)],
                base=[start.astimezone(labels.PARIS).isoformat()],
                y=[label],
                orientation="h",
                name=_text(role_name),
                legendgroup=row.delegate_role,
                showlegend=row.delegate_role not in shown_roles,
                marker_color=_ROLE_COLOURS.get(row.delegate_role, "#888888"),
                hovertext=[
                    f"{label}<br>{_text(role_name)} — droits : {_text(labels.rights(row.rights))}"
                    f"<br>du {labels.day(row.in_force_from_at) if row.in_force_from_at else 'début du suivi'}"
                    f" au {labels.last_day(row.in_force_until_at) if row.in_force_until_at else 'sans date de fin'}"
                ],
                hoverinfo="text",
            )
        )
        shown_roles.add(row.delegate_role)
    ticks = _ticks(month_start, month_end)
    fig.update_layout(
        barmode="overlay",
        height=120 + 34 * len(delegations),
        xaxis={
            "type": "date",
            "range": [
                month_start.astimezone(labels.PARIS).isoformat(),
                month_end.astimezone(labels.PARIS).isoformat(),
            ],
            "tickvals": [t.astimezone(labels.PARIS).isoformat() for t in ticks],
            "ticktext": [
                labels.short_day(t)
                if (month_end - month_start).days <= 62
                else labels.short_month(t)
                for t in ticks
            ],
        },
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": -0.25},
    )
    return _fragment(fig, "figure-delegations")


def calendar_heatmap(days, months: list[datetime]) -> str | None:
    """Actions of everyone but the holder per Paris day: one row per month, one column per
    day of the month."""
    if len(days) == 0:
        return None
    index = {(m.year, m.month): i for i, m in enumerate(months)}
    z = [[None] * 31 for _ in months]
    text = [[""] * 31 for _ in months]
    for row in days.itertuples():
        i = index.get((row.day.year, row.day.month))
        if i is None:
            continue
        z[i][row.day.day - 1] = int(row.n_others)
        text[i][row.day.day - 1] = (
            f"{row.day.day:02d}/{row.day.month:02d}/{row.day.year} : "
            f"{labels.count(int(row.n_others), 'action des délégataires', 'actions des délégataires')}, "
            f"{labels.count(int(row.n_holder), 'action du titulaire', 'actions du titulaire')}"
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(d) for d in range(1, 32)],
            y=[labels.short_month(m).capitalize() for m in months],
            text=text,
            hoverinfo="text",
            colorscale="Oranges",
            colorbar={"title": {"text": "actions"}},
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(height=140 + 26 * len(months), yaxis={"autorange": "reversed"})
    return _fragment(fig, "figure-calendar")


def activity_heatmap(cells) -> str | None:
    """Délégataires' actions by Paris weekday and hour."""
    if len(cells) == 0:
        return None
    z = [[0] * 24 for _ in range(7)]
    for row in cells.itertuples():
        z[int(row.isodow) - 1][int(row.hour)] = int(row.n_actions)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d} h" for h in range(24)],
            y=[d.capitalize() for d in labels.WEEKDAYS],
            colorscale="Blues",
            hovertemplate="%{y} %{x} — actions : %{z}<extra></extra>",
            colorbar={"title": {"text": "actions"}},
        )
    )
    fig.update_layout(height=320, yaxis={"autorange": "reversed"})
    return _fragment(fig, "figure-heatmap")


def trend_bars(months) -> str | None:
    """Findings per month, stacked by severity."""
    if len(months) == 0:
        return None
    x = [_text(m.title) for m in months]
    fig = go.Figure()
    for key, colour in (("critical", "#b42318"), ("warning", "#b54708"), ("info", "#175cd3")):
        fig.add_trace(
            go.Bar(
                x=x,
                y=[getattr(m, f"n_{key}") for m in months],
                name=labels.SEVERITIES[key],
                marker_color=colour,
            )
        )
    fig.update_layout(barmode="stack", height=320, legend={"orientation": "h", "y": -0.2})
    return _fragment(fig, "figure-trend")
