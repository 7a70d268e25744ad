"""Plotly figures of the reports, as HTML fragments without plotly.js (included once per page).

Every text that comes from the data is escaped before it reaches a figure: plotly renders
``<b>``, ``<span style>`` and ``<a href>`` found in labels and hover texts.

Each figure is a ``<figure>`` with a caption; the heatmaps also carry their numbers in a table
(and in their cells), so that colour is never the only way to read them. Colours are safe for
colour-blind readers (cividis, the Okabe-Ito palette) and doubled by patterns.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta
from functools import cache

import plotly.graph_objects as go
import plotly.io as pio

from . import labels

# The chart toolbar keeps only what helps a reader and sends nothing anywhere: an allow-list
# of buttons (a newer plotly.js adds none) without plotly.js's "send to Plotly Cloud" button
# (shown by default, and switched off too), no plotly logo link. (plotly.js 4 has no Chart
# Studio link or edit button left to switch off.) Its tooltips are French: the ``fr`` locale
# is registered with plotly.js, see ``plotly_js``.
MODEBAR_BUTTONS = ("toImage", "zoom2d", "resetScale2d")
CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showTips": False,
    "locale": "fr",
    "responsive": True,
    "modeBarButtons": [list(MODEBAR_BUTTONS)],
    "toImageButtonOptions": {"format": "png", "filename": "graphique"},
}
# Okabe & Ito's palette, told apart by colour-blind readers; a pattern doubles each colour.
_ROLE_STYLES = {
    "secretary": ("#0072B2", ""),
    "medical_assistant": ("#009E73", "/"),
    "replacement": ("#E69F00", "x"),
    "other": ("#CC79A7", "."),
}
_SEVERITY_STYLES = {
    "critical": ("#B42318", "x"),
    "warning": ("#E69F00", "/"),
    "info": ("#0072B2", ""),
}
_MAX_TICKS = 12
TEMPLATE = "plotly_white"


@cache
def _locale_js() -> str:
    from importlib import resources

    return (
        resources.files("delegation_reports.reports") / "templates" / "plotly-locale-fr.js"
    ).read_text("utf-8")


@cache
def plotly_js() -> str:
    """plotly.js with its French locale registered: the toolbar's tooltips and number
    formats of every chart (``locale: "fr"``) come from it, offline."""
    from plotly.offline import get_plotlyjs

    return f"{get_plotlyjs()}\n{_locale_js()}"


def _text(value) -> str:
    # Quotes stay as they are: without "<" no tag can form, and plotly.js decodes only a few
    # named entities (not &quot;), so escaped quotes would show as "&quot;".
    return html.escape(str(value), quote=False)


@cache
def _template() -> dict:
    """The ``plotly_white`` template as a figure's JSON carries it, validated once: setting
    it on each figure would validate and copy its hundreds of properties every time (about
    45 ms a figure, most of a chart's cost)."""
    return go.Figure(layout={"template": TEMPLATE}).to_dict()["layout"]["template"]


def _new_figure(data=None) -> go.Figure:
    """An empty figure (or one of ``data``'s traces) without plotly's default template:
    ``go.Figure()`` would copy and validate it into each figure, for ``_figure`` to drop it."""
    return go.Figure(data, layout={"template": {}})


def _figure(fig: go.Figure, div_id: str, caption: str, numbers: str = "") -> str:
    """The chart in a ``<figure>`` with its caption and, when given, its numbers as a table
    (``numbers``: HTML already escaped)."""
    fig.update_layout(
        font={"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        template=None,  # not copied by to_dict
    )
    spec = fig.to_dict()
    # The template first, where a figure's layout has it: the same JSON as the figure with
    # the template set, without validating the template again.
    layout = spec["layout"]
    layout.pop("template", None)
    spec["layout"] = {"template": _template(), **layout}
    chart = pio.to_html(
        spec,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=CONFIG,
    )
    return (
        f'<figure class="figure" id="{div_id}-figure">{chart}'
        f"<figcaption>{html.escape(caption)}</figcaption>{numbers}</figure>"
    )


def _numbers_table(summary: str, head: tuple[str, ...], rows: list[tuple]) -> str:
    """A table of the chart's numbers, folded under a summary line (not printed: the printed
    chart shows the numbers in its cells)."""
    head_html = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<details class="figure-numbers"><summary>{html.escape(summary)}</summary>'
        f'<table class="numbers"><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>'
        "</details>"
    )


def _shortened(value, limit: int = 40) -> str:
    """A label short enough for a chart's axis; the whole text is in the hover and the table."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ticks(start: datetime, end: datetime) -> list[datetime]:
    """Tick positions for French date labels: weekly over a month, on the first of a month
    over longer windows, at most about twelve so that labels never overlap."""
    if (end - start).days <= 62:
        return [start + timedelta(days=d) for d in range(0, (end - start).days + 1, 7)]
    local = start.astimezone(labels.PARIS)
    firsts, year, month = [], local.year, local.month
    while True:
        tick = datetime(year, month, 1, tzinfo=labels.PARIS)
        if tick > end:
            break
        if tick >= start:
            firsts.append(tick)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    step = max(1, math.ceil(len(firsts) / _MAX_TICKS))
    return firsts[::step]


def delegation_timeline(
    delegations, month_start: datetime, month_end: datetime, *, with_holder: bool = True
) -> str | None:
    """One bar per delegation in force during the window, clipped to it; ``with_holder``
    names the délégant beside the délégataire (a history has only one)."""
    if len(delegations) == 0:
        return None
    fig = _new_figure()
    shown_roles = set()
    for row in delegations.itertuples():
        start, end = row.shown_from_at, row.shown_until_at
        label = _text(_shortened(row.delegate_name))
        if with_holder:
            # On two lines: the axis's labels take less of the chart's width.
            label = f"{label}<br>→ {_text(_shortened(row.holder))}"
        role_name = labels.role(row.delegate_role)
        colour, pattern = _ROLE_STYLES.get(row.delegate_role, ("#888888", "-"))
        fig.add_trace(
            go.Bar(
                x=[(end - start) / timedelta(milliseconds=1)],
                base=[start.astimezone(labels.PARIS).isoformat()],
                y=[label],
                orientation="h",
                name=_text(role_name),
                legendgroup=row.delegate_role,
                showlegend=row.delegate_role not in shown_roles,
                marker={
                    "color": colour,
                    "pattern": {"shape": pattern, "fgcolor": "#ffffff", "solidity": 0.3},
                },
                hovertext=[
                    f"{_text(row.delegate_name)}"
                    + (f" → {_text(row.holder)}" if with_holder else "")
                    + f"<br>{_text(role_name)} — droits : {_text(labels.rights(row.rights))}"
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
        height=140 + 34 * len(delegations),
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
            "tickangle": 0,
        },
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": -0.25},
    )
    return _figure(
        fig,
        "figure-delegations",
        "Chaque barre représente une délégation du tableau ci-dessus, de son début à sa fin "
        "dans la période ; la couleur et le motif indiquent la fonction du délégataire.",
    )


def _compact(n: int) -> str:
    """A count short enough for a heatmap cell: '987', '1,2 k', '35 k'."""
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f} k".replace(".", ",")
    return f"{round(n / 1000)} k"


def _count_heatmap(counts: list[list[int]], x: list[str], y: list[str], hover) -> go.Heatmap:
    """Counts on a logarithmic colour scale (one busy cell does not wash the others out),
    with each cell's count written in it and the real count in its hover and colour bar."""
    top = max((c for row in counts for c in row), default=0)
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000) if v <= top]
    ticks = ticks[:: max(1, math.ceil(len(ticks) / 6))]
    if top and top not in ticks:
        ticks.append(top)
    return go.Heatmap(
        z=[[math.log10(1 + c) if c else None for c in row] for row in counts],
        x=x,
        y=y,
        text=[[_compact(c) if c else "" for c in row] for row in counts],
        texttemplate="%{text}",
        textfont={"size": 9},
        customdata=hover,
        hovertemplate="%{customdata}<extra></extra>",
        hoverongaps=False,
        colorscale="Cividis",
        reversescale=True,
        zmin=0,
        zmax=math.log10(1 + max(top, 1)),
        colorbar={
            "title": {"text": "actions"},
            "tickvals": [math.log10(1 + v) for v in ticks],
            "ticktext": [labels.number(v) for v in ticks],
        },
        xgap=1,
        ygap=1,
    )


def _actions(n: int) -> str:
    return labels.count(n, "action")


def calendar_heatmap(days, months: list[datetime]) -> str | None:
    """Actions of everyone but the holder per Paris day: one row per month, one column per
    day of the month."""
    if len(days) == 0:
        return None
    index = {(m.year, m.month): i for i, m in enumerate(months)}
    counts = [[0] * 31 for _ in months]
    hover = [[""] * 31 for _ in months]
    rows = []
    for row in days.itertuples():
        i = index.get((row.day.year, row.day.month))
        if i is None:
            continue
        others, holder = int(row.n_others), int(row.n_holder)
        counts[i][row.day.day - 1] = others
        when = f"{row.day.day:02d}/{row.day.month:02d}/{row.day.year}"
        hover[i][row.day.day - 1] = (
            f"{when} : {_actions(others)} des délégataires, {_actions(holder)} du titulaire"
        )
        if others:
            rows.append((when, labels.number(others), labels.number(holder)))
    fig = _new_figure(
        _count_heatmap(
            counts,
            [str(d) for d in range(1, 32)],
            [labels.short_month(m).capitalize() for m in months],
            hover,
        )
    )
    fig.update_layout(
        height=160 + 26 * len(months),
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"dtick": 1, "tickangle": 0, "tickfont": {"size": 10}},
    )
    total = sum(c for row in counts for c in row)
    return _figure(
        fig,
        "figure-calendar",
        f"Actions faites dans votre boîte par d'autres que vous, jour par jour : {_actions(total)} "
        f"sur {labels.count(len(rows), 'jour')}. Le nombre de chaque jour est écrit "
        "dans sa case ; plus la case est foncée, plus il y en a eu (échelle logarithmique).",
        _numbers_table(
            "Les chiffres du graphique",
            ("Jour", "Actions des délégataires", "Actions du titulaire"),
            rows,
        ),
    )


def activity_heatmap(cells) -> str | None:
    """Délégataires' actions by Paris weekday and hour."""
    if len(cells) == 0:
        return None
    counts = [[0] * 24 for _ in range(7)]
    for row in cells.itertuples():
        counts[int(row.isodow) - 1][int(row.hour)] += int(row.n_actions)
    hours = [f"{h:02d} h" for h in range(24)]
    days = [d.capitalize() for d in labels.WEEKDAYS]
    hover = [
        [f"{days[d]} {hours[h]} : {_actions(counts[d][h])}" for h in range(24)] for d in range(7)
    ]
    rows = [
        (days[d], f"{h:02d} h – {h + 1:02d} h", labels.number(counts[d][h]))
        for d in range(7)
        for h in range(24)
        if counts[d][h]
    ]
    fig = _new_figure(_count_heatmap(counts, [str(h) for h in range(24)], days, hover))
    fig.update_layout(
        height=340,
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"tickangle": 0, "title": {"text": "heure de début du créneau (heure de Paris)"}},
    )
    total = sum(map(sum, counts))
    day, hour = max(((d, h) for d in range(7) for h in range(24)), key=lambda k: counts[k[0]][k[1]])
    return _figure(
        fig,
        "figure-heatmap",
        f"Actions des délégataires par jour de la semaine et par heure (heure de Paris) : "
        f"{_actions(total)}, le plus souvent le {labels.WEEKDAYS[day]} entre {hour:02d} h et "
        f"{hour + 1:02d} h ({_actions(counts[day][hour])}). Le nombre de chaque créneau est écrit dans sa case ; plus la case "
        "est foncée, plus il y en a eu (échelle logarithmique).",
        _numbers_table("Les chiffres du graphique", ("Jour", "Heure", "Actions"), rows),
    )


def trend_bars(months) -> str | None:
    """Findings per month, stacked by severity, each segment labelled with its count."""
    if len(months) == 0:
        return None
    # Short month names on two lines ("avr." over "2025"): twelve fit side by side, unturned.
    x = [_text(m.label).replace(" ", "<br>") for m in months]
    fig = _new_figure()
    for key in labels.SEVERITY_ORDER:
        colour, pattern = _SEVERITY_STYLES[key]
        values = [getattr(m, f"n_{key}") for m in months]
        fig.add_trace(
            go.Bar(
                x=x,
                y=values,
                name=labels.SEVERITIES[key],
                marker={
                    "color": colour,
                    "pattern": {"shape": pattern, "fgcolor": "#ffffff", "solidity": 0.3},
                },
                text=[str(v) if v else "" for v in values],
                textposition="inside",
                insidetextanchor="middle",
                customdata=[_text(m.title) for m in months],
                hovertemplate=f"%{{customdata}} : %{{y}} — {labels.SEVERITIES[key].lower()}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=340,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "traceorder": "normal"},
        xaxis={"tickangle": 0, "automargin": True},
        # A count that does not fit its segment is not drawn (it is in the table below).
        uniformtext={"mode": "hide", "minsize": 9},
    )
    return _figure(
        fig,
        "figure-trend",
        "Alertes par mois et par gravité sur les douze derniers mois (critiques en bas, puis "
        "points à vérifier, puis informations) ; les chiffres sont dans le tableau ci-dessous.",
    )
