"""The monthly report of one practice: its data, read-only, and its sections as HTML.

The notebook ``notebooks/monthly_report.ipynb`` calls these functions cell by cell; the same
functions render the report without a notebook (``MonthlyReport.body_html``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from types import SimpleNamespace

import duckdb
import jinja2

from .. import __version__
from ..analysis.findings import month_findings
from ..analysis.lifecycle import report_changes
from ..analysis.models import Month, create_model_macros, month_bounds
from ..errors import UserError
from ..integrity.reports import report_chain_head
from ..warehouse import connect, sql_text
from . import figures, labels, markup

MAX_EVIDENCE_ROWS = 12
# Findings whose subject is a delegation to review, with the action to ask the operator for.
RECOMMENDATIONS = {
    "dormant_delegation": "Si elle n'est plus utile, demandez à votre opérateur de la supprimer.",
    "open_ended_replacement": "Demandez à votre opérateur de fixer une date de fin au remplacement.",
    "delegate_outside_practice": "Si cet accès n'est plus justifié, demandez son retrait à votre opérateur.",
    "delegation_not_by_holder": "Vérifiez avec le titulaire qu'il a bien demandé cette délégation.",
    "owner_inactive_delegate_active": "Vérifiez avec le titulaire que cette délégation est toujours voulue.",
    "delegation_inconsistency": "Demandez à votre opérateur un historique complet des délégations.",
}


@cache
def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("delegation_reports.reports", "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(breakable=markup.breakable, css_string=markup.css_string)
    return env


def stylesheet() -> str:
    return (resources.files("delegation_reports.reports") / "templates" / "report.css").read_text(
        "utf-8"
    )


def _records(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> list[SimpleNamespace]:
    sql = sql_text(name)
    cursor = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
    columns = [d[0] for d in cursor.description]
    return [SimpleNamespace(**dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]


class _Frame(list):
    """A list of records that ``figures`` can iterate like a DataFrame's rows."""

    def itertuples(self):
        return iter(self)


@dataclass
class MonthlyReport:
    """Everything the monthly report of one practice shows, loaded once."""

    practice_id: str
    practice_name: str
    month: Month
    generated_at: datetime
    figures: SimpleNamespace = None
    delegations: list = field(default_factory=list)
    changes: list = field(default_factory=list)
    activity: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    exceptions: list = field(default_factory=list)
    version: SimpleNamespace | None = None
    recommendations: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    quarantine: list = field(default_factory=list)
    gaps: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    coverage: tuple | None = None
    hours_text: str = ""
    retention_text: str = ""
    timeline_html: str | None = None
    heatmap_html: str | None = None
    chain_head: str | None = None

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def load(
        cls, db: str, practice_id: str, month: str, generated_at: str | None = None
    ) -> MonthlyReport:
        """Read the practice's month from the warehouse (read-only)."""
        month_ = Month.parse(month)
        con = connect(db, read_only=True)
        try:
            return cls.from_connection(con, practice_id, month_, generated_at)
        finally:
            con.close()

    @classmethod
    def from_connection(
        cls, con, practice_id: str, month: Month, generated_at: str | None = None
    ) -> MonthlyReport:
        create_model_macros(con)
        practice = _records(con, "reports/practice.sql", {"practice_id": practice_id})
        if not practice:
            raise UserError(f"unknown practice {practice_id!r}: it is on no roster")
        from_at, until_at = month_bounds(con, month)
        params = {
            "practice_id": practice_id,
            "month": month.first_day,
            "from_at": from_at,
            "until_at": until_at,
        }
        stamp = datetime.fromisoformat(generated_at) if generated_at else datetime.now(UTC)
        report = cls(practice_id, practice[0].practice_name, month, stamp)
        report.figures = _records(con, "reports/key_figures.sql", params)[0]
        report._load_delegations(con, params, from_at, until_at)
        report._load_activity(con, params)
        report._load_findings(con, params)
        report._load_version(con)
        report._load_quality(con, params)
        report.hours_text = _hours_text(con)
        report.retention_text = retention_text(con)
        return report

    def _load_delegations(self, con, params, from_at, until_at) -> None:
        rows = _records(con, "reports/delegations_in_force.sql", params)
        for d in rows:
            d.role = labels.role(d.delegate_role)
            d.rights_text = labels.rights(d.rights)
            d.from_text = (
                labels.day(d.in_force_from_at) if d.in_force_from_at else "avant le début du suivi"
            )
            # Ends are exclusive: the last day in force is the one before.
            d.to_text = (
                labels.last_day(d.in_force_until_at) if d.in_force_until_at else "sans date de fin"
            )
        self.delegations = [
            SimpleNamespace(
                holder=d.holder,
                delegate_name=d.delegate_name,
                delegate=d.delegate,
                role=d.role,
                rights=d.rights_text,
                from_text=d.from_text,
                to_text=d.to_text,
            )
            for d in rows
        ]
        self.timeline_html = figures.delegation_timeline(_Frame(rows), from_at, until_at)
        changes = _records(con, "reports/delegation_changes.sql", params)
        self.changes = [
            SimpleNamespace(
                when=(
                    f"entre le {labels.day(c.changed_earliest_at)} et le {labels.day(c.changed_at)}"
                    if c.changed_earliest_at
                    else labels.when(c.changed_at)
                ),
                change=labels.CHANGES.get(c.change, c.change),
                holder=c.holder,
                delegate_name=c.delegate_name,
                role=labels.role(c.delegate_role),
                rights=labels.rights(c.rights),
                performed_by=c.performed_by or "—",
            )
            for c in changes
        ]

    def _load_activity(self, con, params) -> None:
        rows = _records(con, "reports/delegate_activity.sql", params)
        self.activity = [
            SimpleNamespace(
                actor=a.actor,
                actor_name=a.actor_name,
                holder=a.holder,
                n_read=labels.number(a.n_read),
                n_send=labels.number(a.n_send),
                n_delete=labels.number(a.n_delete),
                n_move=labels.number(a.n_move),
                n_download=labels.number(a.n_download),
                n_failed=labels.number(a.n_failed),
                first=labels.when(a.first_at),
                last=labels.when(a.last_at),
                n_off_hours=labels.number(a.n_off_hours),
                not_entitled=a.n_not_entitled > 0,
            )
            for a in rows
        ]
        self.heatmap_html = figures.activity_heatmap(
            _Frame(_records(con, "reports/activity_heatmap.sql", params))
        )

    def _load_findings(self, con, params: dict) -> None:
        rows = month_findings(con, self.month, params["practice_id"])
        evidence_ids = sorted({e for f in rows for e in f["evidence"][:MAX_EVIDENCE_ROWS]})
        events = {}
        if evidence_ids:
            cursor = con.execute(
                "SELECT event_id, occurred_at, action, outcome, client_ip, user_agent FROM attributed_access "
                "WHERE occurred_at >= $from_at AND occurred_at < $until_at AND practice_id = $practice_id "
                "AND event_id IN (SELECT unnest($ids::VARCHAR[]))",
                {
                    **{k: params[k] for k in ("from_at", "until_at", "practice_id")},
                    "ids": evidence_ids,
                },
            )
            for event_id, at, action, outcome, ip, agent in cursor.fetchall():
                events[event_id] = SimpleNamespace(
                    event_id=event_id,
                    when=labels.when(at, "d MMM y HH:mm:ss"),
                    action=labels.ACTIONS.get(action, action),
                    outcome="réussite" if outcome == "success" else "échec",
                    client_ip=ip or "—",
                    user_agent=agent or "—",
                )
        # Accepted findings are exceptions: listed apart with who accepted them and why.
        alerts = [f for f in rows if f["status"] != "accepted"]
        self.exceptions = [
            SimpleNamespace(
                title=f["title_fr"],
                mailbox=f["mailbox"],
                actor=f["actor"],
                accepted_by=f["accepted_by"],
                accepted_on=labels.day(f["accepted_at"]),
                reason=f["accepted_reason"],
                until=labels.long_day_of(f["accepted_until"]) if f["accepted_until"] else None,
            )
            for f in rows
            if f["status"] == "accepted"
        ]
        self.findings = []
        for f in alerts:
            period = ""
            if f["first_at"] and f["last_at"] and f["last_at"] != f["first_at"]:
                period = f"du {labels.when(f['first_at'])} au {labels.when(f['last_at'])}"
            elif f["first_at"]:
                period = labels.when(f["first_at"])
            self.findings.append(
                SimpleNamespace(
                    severity=f["severity"],
                    severity_label=labels.SEVERITIES[f["severity"]],
                    title=f["title_fr"],
                    explanation=f["explanation_fr"],
                    period=period,
                    mailbox=f["mailbox"],
                    actor=f["actor"],
                    n_evidence=len(f["evidence"]),
                    events=[events[e] for e in f["evidence"][:MAX_EVIDENCE_ROWS] if e in events],
                    status=labels.finding_status(f["status"], f["first_month"]),
                )
            )
        self.recommendations = [
            SimpleNamespace(
                title=f["title_fr"], action=f"{f['explanation_fr']} {RECOMMENDATIONS[f['rule_id']]}"
            )
            for f in alerts
            if f["rule_id"] in RECOMMENDATIONS
        ]
        self.gaps = [f["explanation_fr"] for f in rows if f["rule_id"] == "audit_gap"]

    def _load_version(self, con) -> None:
        """When the month was reported before: the report this one replaces, and the
        findings that appeared or disappeared since (data that arrived later)."""
        previous = report_changes(con, self.month, self.practice_id)
        if not previous:
            return
        p = previous[0]
        self.version = SimpleNamespace(
            number=p["n_runs"] + 1,
            replaces=labels.when(p["reported_at"], "d MMMM y 'à' HH:mm"),
            changes=labels.findings_changed(len(p["appeared"]), len(p["disappeared"])),
            appeared=[SimpleNamespace(**f) for f in p["appeared"]],
            disappeared=[SimpleNamespace(**f) for f in p["disappeared"]],
        )

    def _load_quality(self, con, params) -> None:
        sources = _records(con, "reports/sources.sql", params)
        self.operators = sorted({s.operator for s in sources if s.operator})
        self.sources = [
            SimpleNamespace(
                file_name=s.file_name,
                kind=labels.KINDS.get(s.kind, s.kind),
                operator=s.operator or "—",
                period=(
                    f"{labels.day(s.covered_from_at)} – {labels.day(s.covered_to_at)}"
                    if s.covered_from_at
                    else "—"
                ),
                rows_read=labels.number(s.rows_read),
                rows_quarantined=labels.number(s.rows_quarantined),
                sha256=s.sha256,
            )
            for s in sources
        ]
        quarantine = _records(
            con, "reports/quarantine_summary.sql", {"file_ids": [s.file_id for s in sources]}
        )
        self.quarantine = [
            SimpleNamespace(
                operator=q.operator or "—",
                kind=labels.KINDS.get(q.kind, q.kind),
                reason=labels.REASONS.get(q.reason, q.reason),
                n_rows=labels.number(q.n_rows),
            )
            for q in quarantine
        ]
        coverage = con.execute(
            "SELECT min(occurred_at), max(occurred_at) FROM attributed_access "
            "WHERE occurred_at >= $from_at AND occurred_at < $until_at AND practice_id = $practice_id",
            {k: params[k] for k in ("from_at", "until_at", "practice_id")},
        ).fetchone()
        self.coverage = (
            (labels.when(coverage[0]), labels.when(coverage[1])) if coverage[0] else None
        )
        self.chain_head = report_chain_head(con)

    # ---- rendering -----------------------------------------------------------------------

    @property
    def no_traces(self) -> bool:
        """No trace of the month concerns the practice's mailboxes: the report has no data to
        judge from, which it must say instead of "no alert"."""
        return self.coverage is None

    @property
    def month_title(self) -> str:
        return labels.month_title(self.month.first_day)

    @property
    def generated_at_text(self) -> str:
        return labels.when(self.generated_at, "d MMMM y 'à' HH:mm")

    @staticmethod
    def fmt(value) -> str:
        return labels.number(value)

    def _macro(self, name: str, *args) -> str:
        template = _environment().get_template("monthly_sections.html.j2")
        return str(getattr(template.module, name)(self, *args))

    def section(self, name: str) -> str:
        """One section's HTML: header, key_figures, delegations, access, findings,
        recommendations, data_quality or method."""
        if name == "delegations":
            return self._macro(name, self.timeline_html)
        if name == "access":
            return self._macro(name, self.heatmap_html)
        return self._macro(name)

    SECTIONS = (
        "header",
        "key_figures",
        "delegations",
        "access",
        "findings",
        "recommendations",
        "data_quality",
        "method",
    )

    def display(self, name: str):
        """The section as a notebook display object (text/html)."""
        from IPython.display import HTML

        return HTML(self.section(name))

    def body_html(self) -> str:
        return "\n".join(self.section(name) for name in self.SECTIONS)

    @property
    def title(self) -> str:
        return f"{self.practice_name} — {self.month_title}"


def _hours_text(con) -> str:
    rows = con.execute(
        "SELECT isodow, left(CAST(opens AS VARCHAR), 5), left(CAST(closes AS VARCHAR), 5) FROM cfg_opening_hours "
        "WHERE practice_id IS NULL ORDER BY isodow, opens"
    ).fetchall()
    by_day: dict[int, list[str]] = {}
    for isodow, opens, closes in rows:
        by_day.setdefault(isodow, []).append(f"{opens}–{closes}")
    parts = [f"{labels.WEEKDAYS[d - 1]} {', '.join(r)}" for d, r in sorted(by_day.items())]
    return "; ".join(parts) if parts else "aucun"


def retention_text(con) -> str:
    """What the retention purges removed so far, or the oldest trace kept, in French."""
    last = None
    with contextlib.suppress(duckdb.CatalogException):  # not yet opened by a version that purges
        last = con.execute(
            "SELECT retention_months, purged_before, performed_at FROM purge_record "
            "ORDER BY purge_id DESC LIMIT 1"
        ).fetchone()
    if last:
        months, before, at = last
        return (
            f"Les traces sont conservées {months} mois : celles antérieures au "
            f"{labels.long_day_of(before)} ont été supprimées le {labels.long_day(at)}."
        )
    oldest = con.execute("SELECT min(occurred_at) FROM audit_event").fetchone()[0]
    if oldest is None:
        return "Aucune trace n'a été supprimée au titre de la durée de conservation."
    return (
        "Aucune trace n'a encore été supprimée au titre de la durée de conservation ; "
        f"la plus ancienne conservée date du {labels.long_day(oldest)}."
    )


def page_html(
    body: str,
    title: str,
    *,
    plotly_js: str = "inline",
    plotly_src: str = "plotly.min.js",
    notice: str | None = None,
) -> str:
    """A whole HTML document around a report body: styles, print rules, plotly.js, and the
    ``notice`` of a warehouse whose chain did not check, as a banner."""
    inline = figures.plotly_js() if plotly_js == "inline" else None
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            title=title,
            body=body,
            css=stylesheet(),
            version=__version__,
            plotly_js_inline=inline,
            plotly_js_src=plotly_src if plotly_js == "shared" else None,
            notice=notice,
        )
    )
