"""Charts take the plotly_white template validated once per process: each chart's HTML is the
one plotly gives for the same figure with the template set on it and validated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import plotly.graph_objects as go

from delegation_reports.reports import figures

HOSTILE = '<b onmouseover="alert(1)">Sécrétaire & co</b>'


def _reference(fig: go.Figure, div_id: str) -> str:
    """The chart as plotly renders the figure with the template set and validated."""
    fig.update_layout(
        template="plotly_white",
        font={"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
    )
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=figures.CONFIG
    )


def _as_plotly_validates(fig, div_id, caption, numbers=""):
    return _reference(fig, div_id)


class _Rows(list):
    def itertuples(self):
        return iter(self)


def _delegations() -> _Rows:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return _Rows(
        SimpleNamespace(
            shown_from_at=start + timedelta(days=i),
            shown_until_at=start + timedelta(days=20 + i),
            in_force_from_at=start + timedelta(days=i) if i else None,
            in_force_until_at=None,
            delegate_name=f"{HOSTILE} {i}",
            holder=f"titulaire{i}@medecin.mssante.fr",
            delegate_role=role,
            rights="read,send",
        )
        for i, role in enumerate(("secretary", "replacement", "secretary", "unknown-role"))
    )


def _draw_every_chart() -> list[str]:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    return [
        figures.delegation_timeline(_delegations(), start, end),
        figures.delegation_timeline(_delegations(), start, end + timedelta(days=300)),
        figures.activity_heatmap(
            _Rows(
                SimpleNamespace(isodow=d, hour=h, n_actions=(d * 7 + h) % 13)
                for d in range(1, 8)
                for h in range(24)
            )
        ),
        figures.calendar_heatmap(
            _Rows(
                SimpleNamespace(day=date(2026, 3, d), n_others=d * 40, n_holder=d)
                for d in range(1, 31)
            ),
            [datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)],
        ),
        figures.trend_bars(
            [
                SimpleNamespace(
                    label=f"mars {2026 - k}", title=HOSTILE, n_critical=k, n_warning=2 * k, n_info=0
                )
                for k in range(12)
            ]
        ),
    ]


def test_every_chart_is_the_one_plotly_validates(monkeypatch):
    charts = _draw_every_chart()
    monkeypatch.setattr(figures, "_figure", _as_plotly_validates)
    references = _draw_every_chart()
    assert len(charts) == len(references) == 5
    for html, reference in zip(charts, references, strict=True):
        assert '"template":{"data":{"barpolar"' in reference
        assert reference in html
