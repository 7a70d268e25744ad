"""The DPO's overview of a month across practices. Run by ``notebooks/overview.ipynb``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from ..analysis.lifecycle import late_changes
from ..analysis.models import Month, create_model_macros, month_bounds
from ..integrity.reports import report_chain_head
from ..warehouse import connect
from . import figures, labels
from .monthly import _environment, _Frame, _records


@dataclass
class OverviewReport:
    month: Month
    generated_at: datetime
    practices: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    unrostered: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    hygiene: SimpleNamespace = None
    quarantine: list = field(default_factory=list)
    trend: list = field(default_factory=list)
    trend_html: str | None = None
    late: list = field(default_factory=list)
    chain_head: str | None = None

    @classmethod
    def load(
        cls, db: str, month: str, reports_dir: str = "", generated_at: str = ""
    ) -> OverviewReport:
        con = connect(db, read_only=True)
        try:
            create_model_macros(con)
            return cls.from_connection(
                con, Month.parse(month), reports_dir or None, generated_at or None
            )
        finally:
            con.close()

    @classmethod
    def from_connection(
        cls, con, month: Month, reports_dir: str | None = None, generated_at: str | None = None
    ):
        stamp = datetime.fromisoformat(generated_at) if generated_at else datetime.now(UTC)
        report = cls(month, stamp)
        report.chain_head = report_chain_head(con)
        from_at, until_at = month_bounds(con, month)
        params = {"month": month.first_day, "from_at": from_at, "until_at": until_at}
        folder = Path(reports_dir) if reports_dir else None
        report.practices = [
            SimpleNamespace(
                **vars(p),
                href=(
                    f"{p.practice_id}.html"
                    if folder and (folder / f"{p.practice_id}.html").is_file()
                    else None
                ),
            )
            for p in _records(con, "reports/overview_practices.sql", params)
        ]
        report.rules = _records(con, "reports/overview_rules.sql", params)
        report.unrostered = [
            SimpleNamespace(
                **vars(f),
                severity_text=labels.SEVERITIES.get(f.severity, f.severity),
                first_text=labels.when(f.first_at) if f.first_at else "—",
            )
            for f in _records(con, "reports/overview_unrostered.sql", params)
        ]
        # Months already reported whose findings changed with data that arrived later.
        report.late = [labels.late_findings(c) for c in late_changes(con, up_to=month)]
        report.operators = [
            SimpleNamespace(
                operator=o.operator,
                from_text=labels.day(o.traced_from_at),
                to_text=labels.day(o.traced_to_at),
                n_events=labels.number(o.n_events_month),
                n_mailboxes=o.n_mailboxes_month,
                n_gap_runs=o.n_gap_runs,
                n_silent=o.n_silent_mailboxes,
            )
            for o in _records(con, "reports/overview_operators.sql", params)
        ]
        report.hygiene = _records(con, "reports/overview_hygiene.sql", params)[0]
        report.quarantine = [
            SimpleNamespace(
                operator=q.operator or "—",
                kind=labels.KINDS.get(q.kind, q.kind),
                reason=labels.REASONS.get(q.reason, q.reason),
                n_rows=labels.number(q.n_rows),
                n_files=q.n_files,
            )
            for q in _records(con, "reports/overview_quarantine.sql", params)
        ]
        trend = _records(con, "reports/overview_trend.sql", params)
        report.trend = [
            SimpleNamespace(
                title=labels.month_title(t.month),
                label=labels.short_month(t.month),
                n_critical=t.n_critical,
                n_warning=t.n_warning,
                n_info=t.n_info,
                has_traces=t.has_traces,
            )
            for t in trend
        ]
        report.trend_html = figures.trend_bars(_Frame(report.trend))
        return report

    @property
    def month_title(self) -> str:
        return labels.month_title(self.month.first_day)

    @property
    def generated_at_text(self) -> str:
        return labels.when(self.generated_at, "d MMMM y 'à' HH:mm")

    @property
    def title(self) -> str:
        return f"Vue d'ensemble — {self.month_title}"

    @staticmethod
    def fmt(value) -> str:
        return labels.number(value)

    SECTIONS = (
        "header",
        "practices",
        "rules",
        "unrostered",
        "operators",
        "hygiene",
        "quarantine",
        "trend",
    )

    def section(self, name: str) -> str:
        macro = getattr(_environment().get_template("overview_sections.html.j2").module, name)
        return str(macro(self, self.trend_html) if name == "trend" else macro(self))

    def display(self, name: str):
        from IPython.display import HTML

        return HTML(self.section(name))

    def body_html(self) -> str:
        return "\n".join(self.section(name) for name in self.SECTIONS)
