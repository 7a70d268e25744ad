"""The monthly report of one practice: its data, read-only, and its sections as HTML.

The notebook ``notebooks/monthly_report.ipynb`` calls these functions cell by cell; the same
functions render the report without a notebook (``MonthlyReport.body_html``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from types import SimpleNamespace

import duckdb
import jinja2

from .. import __version__
from ..analysis import prose
from ..analysis.findings import month_findings
from ..analysis.lifecycle import report_changes
from ..analysis.models import (
    Month,
    audit_spans,
    create_model_macros,
    ensure_practice_access,
    month_bounds,
)
from ..errors import UserError
from ..integrity.reports import report_chain_head, retention_text
from ..lake import LakeSource, lake_source
from ..warehouse import reading, sql_text
from . import evidence, figures, findings_view, labels, markup

# Traces shown under a finding; all of them are in the evidence files.
MAX_EVIDENCE_ROWS = 12


@cache
def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader("delegation_reports.reports", "templates")
    # The package's templates do not change while it runs: a template is not checked against
    # its file each time a report section asks for it (a stat per section).
    env = jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False
    )
    env.filters.update(breakable=markup.breakable, css_string=markup.css_string)
    return env


def stylesheet() -> str:
    return (resources.files("delegation_reports.reports") / "templates" / "report.css").read_text(
        "utf-8"
    )


# One practice's month of `practice_access`, as every query of a report reads it: the
# constant comparison on `practice_key` (what the table is sorted by, see its model) skips
# the row groups of other practices, the one on `occurred_at` those of other months.
PRACTICE_MONTH = (
    "practice_key = practice_key($practice_id) AND practice_id = $practice_id "
    "AND occurred_at >= $from_at AND occurred_at < $until_at"
)


def _records(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> list[SimpleNamespace]:
    sql = sql_text(name)
    cursor = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
    columns = [d[0] for d in cursor.description]
    return [SimpleNamespace(**dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]


def finding_view(f: dict, events: dict) -> SimpleNamespace:
    """A finding as the reports show it: its text, where, its first traces (``events`` by id)
    and its rule's label, who acts and advice."""
    shown = [events[e] for e in f["evidence"][:MAX_EVIDENCE_ROWS] if e in events]
    n = len(f["evidence"])
    return SimpleNamespace(
        finding_id=f["finding_id"],
        rule_id=f["rule_id"],
        severity=f["severity"],
        severity_label=labels.SEVERITIES[f["severity"]],
        title=f["title_fr"],
        explanation=f["explanation_fr"],
        mailbox=f["mailbox"],
        actor=f["actor"],
        n_evidence=n,
        events=shown,
        more=labels.count(n - len(shown), "autre trace") if n > len(shown) and shown else None,
        traces_title=(
            f"Les {len(shown)} premières traces sur {labels.number(n)}"
            if n > len(shown)
            else labels.count(n, "trace").capitalize()
        ),
        practice_name=None,
        href=None,
        status=labels.finding_status(f["status"], f["first_month"]),
        rule_label=f["rule_label"],
        rule_who=f["rule_who"],
        advice=f["advice_fr"],
    )


class _Frame(list):
    """A list of records that ``figures`` can iterate like a DataFrame's rows."""

    def itertuples(self):
        return iter(self)


@dataclass
class MonthlyReport(findings_view.Grouped):
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
    groups: list = field(default_factory=list)
    exceptions: list = field(default_factory=list)
    version: SimpleNamespace | None = None
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
    lake: LakeSource | None = None  # the lake read instead of a warehouse

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def load(
        cls, db: str, practice_id: str, month: str, generated_at: str | None = None
    ) -> MonthlyReport:
        """Read the practice's month from the warehouse (read-only)."""
        month_ = Month.parse(month)
        with reading(db) as con:
            return cls.from_connection(con, practice_id, month_, generated_at)

    @classmethod
    def from_connection(
        cls, con, practice_id: str, month: Month, generated_at: str | None = None
    ) -> MonthlyReport:
        create_model_macros(con)
        ensure_practice_access(con, [month])
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
        report.hours_text = _hours_text(con, practice_id)
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
                "SELECT event_id, occurred_at, action, outcome, client_ip, user_agent FROM practice_access "
                f"WHERE {PRACTICE_MONTH} AND event_id IN (SELECT unnest($ids::VARCHAR[]))",
                {
                    **{k: params[k] for k in ("from_at", "until_at", "practice_id")},
                    "ids": evidence_ids,
                },
            )
            for event_id, at, action, outcome, ip, agent in cursor.fetchall():
                events[event_id] = SimpleNamespace(
                    event_id=event_id,
                    when=labels.when(at, seconds=True),
                    action=labels.ACTIONS.get(action, action),
                    outcome=labels.OUTCOMES.get(outcome, outcome),
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
                until=labels.day(f["accepted_until"]) if f["accepted_until"] else None,
            )
            for f in rows
            if f["status"] == "accepted"
        ]
        self.findings = [finding_view(f, events) for f in alerts]
        self.groups = findings_view.group(self.findings)
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
            replaces=labels.prose_when(p["reported_at"]),
            changes=labels.findings_changed(len(p["appeared"]), len(p["disappeared"])),
            appeared=[SimpleNamespace(**f) for f in p["appeared"]],
            disappeared=[SimpleNamespace(**f) for f in p["disappeared"]],
        )

    def _load_quality(self, con, params) -> None:
        sources = _records(con, "reports/sources.sql", params)
        # An audit file's period is its coverage spans: split where it holds no event for
        # more than 92 days (docs/formats.md#coverage).
        spans: dict[int, list[str]] = {}
        for file_id, _, start, end in audit_spans(con):
            first, last = labels.day(start), labels.day(end)
            spans.setdefault(file_id, []).append(first if first == last else f"{first} – {last}")
        self.operators = sorted({s.operator for s in sources if s.operator})
        self.sources = [
            SimpleNamespace(
                file_name=s.file_name,
                kind=labels.KINDS.get(s.kind, s.kind),
                operator=s.operator or "—",
                period=(
                    " ; ".join(spans[s.file_id])
                    if s.file_id in spans
                    else f"{labels.day(s.covered_from_at)} – {labels.day(s.covered_to_at)}"
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
            f"SELECT min(occurred_at), max(occurred_at) FROM practice_access WHERE {PRACTICE_MONTH}",
            {k: params[k] for k in ("from_at", "until_at", "practice_id")},
        ).fetchone()
        self.coverage = (
            (labels.prose_when(coverage[0]), labels.prose_when(coverage[1]))
            if coverage[0]
            else None
        )
        self.chain_head = report_chain_head(con)
        self.lake = lake_source(con)

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
        return labels.prose_when(self.generated_at)

    @property
    def evidence_links(self) -> tuple[str, str]:
        """Links to the evidence files beside the report (CSV, Excel)."""
        return evidence.links(self.practice_id)

    @property
    def cards(self) -> list[SimpleNamespace]:
        """The key figures, each with its label agreeing with its number."""
        f = self.figures
        cards = (
            (f.n_mailboxes, ("BAL personnelle", "BAL personnelles"), ""),
            (f.n_delegations, ("délégation active", "délégations actives"), ""),
            (f.n_owner_actions, ("action des titulaires", "actions des titulaires"), ""),
            (f.n_delegate_actions, ("action des délégataires", "actions des délégataires"), ""),
            (
                f.n_unknown_actions,
                ("action de compte sans délégation", "actions de comptes sans délégation"),
                " alert" if f.n_unknown_actions else "",
            ),
            (f.n_critical, labels.SEVERITY_COUNTS["critical"], " severity-critical"),
            (f.n_warning, labels.SEVERITY_COUNTS["warning"], " severity-warning"),
            (f.n_info, labels.SEVERITY_COUNTS["info"], " severity-info"),
        )
        return [
            SimpleNamespace(value=labels.number(n), label=labels.plural(n, *words), css=css)
            for n, words, css in cards
        ]

    @property
    def summary(self) -> SimpleNamespace:
        """What happened in the month, what needs action and by whom, in plain French."""
        f = self.figures
        month = self.month_title
        if self.no_traces:
            happened = []  # the header says so, plainly
        else:
            happened = [
                f"En {month}, "
                + (
                    f"{labels.count(f.n_delegates_active, 'délégataire a', 'délégataires ont')} "
                    f"agi dans les boîtes du cabinet "
                    f"({labels.count(f.n_delegate_actions, 'action')})"
                    if f.n_delegates_active
                    else "aucun délégataire n'a agi dans les boîtes du cabinet"
                )
                + f" ; {labels.count(f.n_delegations, 'délégation était active', 'délégations étaient actives')}"
                + (
                    f" et {labels.count(len(self.changes), 'a changé', 'ont changé')}."
                    if self.changes
                    else ", sans changement."
                )
            ]
            if f.n_unknown_actions:
                happened.append(
                    f"{labels.count(f.n_unknown_actions, 'action a été faite', 'actions ont été faites')} "
                    "par des comptes qui n'avaient aucune délégation."
                )
        alerts = labels.severities(f.n_critical, f.n_warning, f.n_info)
        if self.groups:
            headline = f"{alerts[0].upper()}{alerts[1:]} ce mois-ci."
        elif self.no_traces:
            headline = "Aucune alerte ne peut être établie sans traces."
        else:
            headline = "Aucune alerte ce mois-ci : rien à faire."
        accepted = (
            f"{labels.count(len(self.exceptions), 'exception acceptée reste valable', 'exceptions acceptées restent valables')}."
            if self.exceptions
            else None
        )
        return SimpleNamespace(
            happened=happened,
            headline=headline,
            todo=findings_view.todo(self.groups),
            accepted=accepted,
        )

    @staticmethod
    def fmt(value) -> str:
        return labels.number(value)

    def _macro(self, name: str, *args) -> str:
        template = _environment().get_template("monthly_sections.html.j2")
        return str(getattr(template.module, name)(self, *args))

    def section(self, name: str) -> str:
        """One section's HTML: header, summary, critical, key_figures, delegations, access,
        findings, data_quality or method."""
        if name == "delegations":
            return self._macro(name, self.timeline_html)
        if name == "access":
            return self._macro(name, self.heatmap_html)
        return self._macro(name)

    # The summary and the critical findings first, then the tables.
    SECTIONS = (
        "header",
        "summary",
        "critical",
        "key_figures",
        "delegations",
        "access",
        "findings",
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


def _hours_text(con, practice_id: str) -> str:
    """The practice's opening hours in words: "lundi de 7 h 00 à 20 h 00 ; …"."""
    rows = con.execute(
        "SELECT isodow, opens, closes FROM cfg_opening_hours "
        "WHERE practice_id IS NOT DISTINCT FROM (SELECT max(practice_id) FROM cfg_opening_hours "
        "WHERE practice_id = $practice_id) ORDER BY isodow, opens",
        {"practice_id": practice_id},
    ).fetchall()
    by_day: dict[int, list[str]] = {}
    for isodow, opens, closes in rows:
        end = "24 h 00" if closes.hour == 23 and closes.minute == 59 else prose.hour(closes)
        by_day.setdefault(isodow, []).append(f"de {prose.hour(opens)} à {end}")
    parts = [f"{labels.WEEKDAYS[d - 1]} {' et '.join(r)}" for d, r in sorted(by_day.items())]
    return " ; ".join(parts) if parts else "aucun"


# Stands for plotly.js while a page is rendered: through Jinja, the 3.5 MB library was copied
# several times over (marked safe, joined with the page), 20 ms a page.
_PLOTLY_PLACEHOLDER = "<\x00plotly.js\x00>"


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
    if plotly_js != "inline":
        return _page(body, title, None, plotly_src if plotly_js == "shared" else None, notice)
    inline = figures.plotly_js()
    page = _page(body, title, _PLOTLY_PLACEHOLDER, None, notice)
    head, found, tail = page.partition(_PLOTLY_PLACEHOLDER)
    if found and _PLOTLY_PLACEHOLDER not in tail:
        return f"{head}{inline}{tail}"
    # The placeholder's text is somewhere else in the page too: rendered with the library.
    return _page(body, title, inline, None, notice)


def _page(body: str, title: str, inline: str | None, src: str | None, notice: str | None) -> str:
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            title=title,
            body=body,
            css=stylesheet(),
            version=__version__,
            plotly_js_inline=inline,
            plotly_js_src=src,
            notice=notice,
        )
    )
