"""The DPO's overview of a month across practices. Run by ``notebooks/overview.ipynb``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from ..analysis.lifecycle import late_changes
from ..analysis.models import Month, create_model_macros, month_bounds
from ..integrity.reports import report_chain_head, retention_text
from ..lake import LakeSource, lake_source
from ..warehouse import reading
from . import figures, findings_view, labels
from .monthly import _environment, _Frame, _records


def _finding(f, **extra) -> SimpleNamespace:
    """A finding row of the overview as the shared finding templates show it."""
    return SimpleNamespace(
        finding_id=f.finding_id,
        rule_id=f.rule_id,
        severity=f.severity,
        severity_label=labels.SEVERITIES.get(f.severity, f.severity),
        title=f.title_fr,
        explanation=f.explanation_fr,
        mailbox=f.mailbox,
        actor=f.actor,
        events=[],
        more=None,
        traces_title="",
        rule_label=f.rule_label,
        rule_who=f.rule_who,
        advice=f.advice_fr,
        **{"practice_name": None, "href": None, "status": "", **extra},
    )


@dataclass
class OverviewReport:
    month: Month
    generated_at: datetime
    practices: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    critical_groups: list = field(default_factory=list)
    unrostered: list = field(default_factory=list)
    unrostered_groups: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    hygiene: SimpleNamespace = None
    quarantine: list = field(default_factory=list)
    trend: list = field(default_factory=list)
    trend_html: str | None = None
    late: list = field(default_factory=list)
    chain_head: str | None = None
    retention_text: str = ""
    lake: LakeSource | None = None  # the lake read instead of a warehouse

    @classmethod
    def load(
        cls, db: str, month: str, reports_dir: str = "", generated_at: str = ""
    ) -> OverviewReport:
        with reading(db) as con:
            return cls.from_connection(
                con, Month.parse(month), reports_dir or None, generated_at or None
            )

    @classmethod
    def from_connection(
        cls, con, month: Month, reports_dir: str | None = None, generated_at: str | None = None
    ):
        stamp = datetime.fromisoformat(generated_at) if generated_at else datetime.now(UTC)
        create_model_macros(con)
        report = cls(month, stamp)
        report.chain_head = report_chain_head(con)
        report.retention_text = retention_text(con)
        report.lake = lake_source(con)
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
        report.rules = [
            SimpleNamespace(**vars(x), label=findings_view.rule_texts(x.rule_id, x.rule_label)[0])
            for x in _records(con, "reports/overview_rules.sql", params)
        ]
        links = {p.practice_id: p.href for p in report.practices}
        report.critical_groups = findings_view.group(
            [
                _finding(
                    f,
                    practice_name=f.practice_name,
                    href=links.get(f.practice_id),
                    status=labels.finding_status(f.status, f.first_month),
                )
                for f in _records(con, "reports/overview_critical.sql", params)
            ]
        )
        report.unrostered = [
            _finding(f) for f in _records(con, "reports/overview_unrostered.sql", params)
        ]
        report.unrostered_groups = findings_view.group(report.unrostered)
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
        return labels.prose_when(self.generated_at)

    @property
    def summary(self) -> SimpleNamespace:
        """The month across practices: what happened, what needs action, by whom."""
        n = {s: sum(getattr(p, f"n_{s}") for p in self.practices) for s in labels.SEVERITY_ORDER}
        flagged = [p for p in self.practices if p.n_critical]
        happened = [
            f"En {self.month_title}, {labels.count(len(self.practices), 'cabinet suivi', 'cabinets suivis')} "
            f"et {labels.count(self.hygiene.n_in_force, 'délégation en vigueur', 'délégations en vigueur')}."
        ]
        if flagged:
            names = [f"{p.practice_name} ({labels.number(p.n_critical)})" for p in flagged]
            happened.append(
                f"{labels.count(len(flagged), 'cabinet a', 'cabinets ont')} des alertes critiques : "
                f"{labels.listing(names)}."
            )
        alerts = labels.severities(n["critical"], n["warning"], n["info"])
        unrostered = (
            f" {labels.count(len(self.unrostered), 'constat porte', 'constats portent')} sur des "
            "boîtes d'aucun cabinet (voir plus bas)."
            if self.unrostered
            else ""
        )
        accepted = sum(p.n_accepted for p in self.practices)
        return SimpleNamespace(
            happened=happened,
            headline=f"{alerts[0].upper()}{alerts[1:]} dans les cabinets." + unrostered,
            todo=findings_view.todo(self.critical_groups + self._other_rules()),
            accepted=(
                labels.count(
                    accepted,
                    "exception acceptée reste valable.",
                    "exceptions acceptées restent valables.",
                )
                if accepted
                else None
            ),
        )

    @property
    def title(self) -> str:
        return f"Vue d'ensemble — {self.month_title}"

    @staticmethod
    def fmt(value) -> str:
        return labels.number(value)

    # The summary and the critical findings first, then the tables.
    def _other_rules(self) -> list[SimpleNamespace]:
        """The rules' warnings and information of the month, for the summary's list of who
        acts: linked to the table of rules (their findings are in each practice's report)."""
        return [
            SimpleNamespace(
                anchor="regles",
                label=x.label,
                who=findings_view.rule_texts(x.rule_id, who=x.rule_who)[1],
                severity=severity,
                severity_label=labels.SEVERITIES[severity],
                count_text=labels.count(n, "constat"),
            )
            for severity in ("warning", "info")
            for x in self.rules
            if (n := getattr(x, f"n_{severity}"))
        ]

    SECTIONS = (
        "header",
        "summary",
        "critical",
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
