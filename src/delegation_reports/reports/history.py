"""A délégant's delegation history for one BAL PER: the transparency the holder is promised.

Run by ``notebooks/delegation_history.ipynb``; nothing about other mailboxes is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

from ..analysis.models import (
    audit_spans,
    create_model_macros,
    ensure_practice_access,
    months_between,
    purged_before,
)
from ..errors import UserError
from ..integrity.reports import report_chain_head, retention_text
from ..lake import LakeSource, lake_source
from ..warehouse import reading
from . import figures, findings_view, labels
from .monthly import _environment, _Frame, _records


def _day(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def window(
    start: str | date | None, end: str | date | None, last_trace: date | None = None
) -> tuple[date, date]:
    """The history's days: given ones, else the twelve months up to the last trace (when
    known: the history never runs past the data), else up to today."""
    try:
        last = _day(end) or last_trace or datetime.now(UTC).date()
        first = _day(start) or (last.replace(day=1) - timedelta(days=335)).replace(day=1)
    except ValueError as exc:
        raise UserError(f"invalid date: {exc}; expected YYYY-MM-DD") from None
    if first > last:
        raise UserError(f"--from {first} is after --to {last}")
    return first, last


@dataclass
class HistoryReport(findings_view.Grouped):
    mailbox: str
    first_day: date
    last_day: date
    generated_at: datetime
    holder: str = ""
    practice_name: str | None = None
    operators: str | None = None
    traced: tuple | None = None
    delegations: list = field(default_factory=list)
    months: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    review: list = field(default_factory=list)
    gaps: list = field(default_factory=list)
    untraced: list = field(default_factory=list)
    n_sources: int = 0
    n_quarantined: int = 0
    timeline_html: str | None = None
    calendar_html: str | None = None
    chain_head: str | None = None
    retention_text: str = ""
    lake: LakeSource | None = None  # the lake read instead of a warehouse

    @classmethod
    def load(
        cls, db: str, mailbox: str, start: str = "", end: str = "", generated_at: str = ""
    ) -> HistoryReport:
        with reading(db) as con:
            return cls.from_connection(
                con, mailbox, *window(start or None, end or None), generated_at or None
            )

    @classmethod
    def from_connection(
        cls, con, mailbox: str, first: date, last: date, generated_at: str | None = None
    ):
        mailbox = mailbox.strip().lower()
        stamp = datetime.fromisoformat(generated_at) if generated_at else datetime.now(UTC)
        create_model_macros(con)
        report = cls(mailbox, first, last, stamp)
        report.chain_head = report_chain_head(con)
        report.retention_text = retention_text(con)
        report.lake = lake_source(con)
        from_at = datetime.combine(first, time(), tzinfo=labels.PARIS)
        until_at = datetime.combine(last + timedelta(days=1), time(), tzinfo=labels.PARIS)
        months = months_between(first, last)
        ensure_practice_access(con, months)
        params = {
            "mailbox": mailbox,
            "from_at": from_at,
            "until_at": until_at,
            "first_month": months[0].first_day,
            "last_month": months[-1].first_day,
        }
        params["practice_keys"] = [
            k.practice_key for k in _records(con, "reports/history_practice_keys.sql", params)
        ]
        info = _records(con, "reports/history_mailbox.sql", params)[0]
        if info.first_day is None and info.practice_id is None:
            raise UserError(f"unknown mailbox {mailbox!r}: no trace and no roster entry")
        report.holder = info.holder_name or mailbox
        report.practice_name = info.practice_name
        report.operators = info.operators
        report.traced = _traced(con, mailbox, info.first_day, info.last_day)
        delegations = _records(con, "reports/history_delegations.sql", params)
        report.delegations = [
            SimpleNamespace(
                delegate_name=d.delegate_name,
                delegate=d.delegate,
                role=labels.role(d.delegate_role),
                rights=labels.rights(d.rights),
                from_text=labels.day(d.in_force_from_at)
                if d.in_force_from_at
                else "avant le début du suivi",
                to_text=labels.last_day(d.in_force_until_at)
                if d.in_force_until_at
                else "sans date de fin",
                granted_by=d.granted_by or "—",
                revoked=(
                    labels.day(d.revoked_at) + (f" par {d.revoked_by}" if d.revoked_by else "")
                )
                if d.revoked_at
                else "—",
            )
            for d in delegations
        ]
        report.timeline_html = figures.delegation_timeline(
            _Frame(delegations), from_at, until_at, with_holder=False
        )
        names = {d.delegate: d.delegate_name for d in delegations}
        by_month: dict[date, list] = {}
        for a in _records(con, "reports/history_monthly_activity.sql", params):
            by_month.setdefault(a.month, []).append(
                SimpleNamespace(
                    actor=a.actor,
                    actor_name=report.holder if a.is_holder else names.get(a.actor, a.actor),
                    as_what="titulaire" if a.is_holder else _as_what(a.attribution),
                    n_read=labels.number(a.n_read),
                    n_send=labels.number(a.n_send),
                    n_delete=labels.number(a.n_delete),
                    n_download=labels.number(a.n_download),
                    n_other=labels.number(a.n_other),
                    first=labels.when(a.first_at),
                    last=labels.when(a.last_at),
                    flagged=a.n_not_entitled > 0,
                )
            )
        # Every month of the window, said for what it is: actions, none, or no traces at all
        # (a month the operators' files do not cover says nothing about the mailbox).
        traced = _traced_months(con, mailbox)
        report.months = [
            SimpleNamespace(
                title=labels.month_title(m.first_day),
                rows=by_month.get(m.first_day, []),
                traced=m.first_day in traced,
            )
            for m in months
        ]
        report.untraced = [m.title for m in report.months if not m.traced]
        report.calendar_html = figures.calendar_heatmap(
            _Frame(_records(con, "reports/history_calendar.sql", params)),
            [datetime.combine(m.first_day, time(), tzinfo=labels.PARIS) for m in months],
        )
        found = _records(con, "reports/history_findings.sql", params)
        report.findings = [
            SimpleNamespace(
                finding_id=f.finding_id,
                rule_id=f.rule_id,
                severity=f.severity,
                severity_label=labels.SEVERITIES[f.severity],
                title=f.title_fr,
                explanation=f.explanation_fr,
                status=labels.month_title(f.month).capitalize(),
                mailbox=None,
                actor=None,
                events=[],
                more=None,
                traces_title="",
                practice_name=None,
                href=None,
                rule_label=f.rule_label,
                rule_who=f.rule_who,
                advice=f.advice_fr,
            )
            for f in found
            if f.rule_id != "audit_gap"
        ]
        report.groups = findings_view.group(report.findings)
        # Every delegation still open at the end of the window is worth a look; the findings
        # about it (with what to ask) are listed above, named here by their rule.
        latest = max((f.month for f in found), default=None)
        about = {}
        for f in found:
            if f.month == latest and f.actor and f.rule_id != "audit_gap":
                label = findings_view.rule_texts(f.rule_id, f.rule_label)[0]
                about.setdefault(f.actor, []).append(label)
        report.review = [
            f"La délégation à {d.delegate_name or d.delegate} ({labels.role(d.delegate_role).lower()}, "
            f"droits : {labels.rights(d.rights)}) est toujours active"
            + (f" depuis le {labels.prose_day(d.in_force_from_at)}" if d.in_force_from_at else "")
            + "."
            + (
                f" Voir ci-dessus : {labels.listing(sorted(set(about[d.delegate])))}."
                if d.delegate in about
                else ""
            )
            for d in delegations
            if d.in_force_until_at is None or d.in_force_until_at >= until_at
        ]
        report.gaps = [g.explanation_fr for g in _records(con, "reports/history_gaps.sql", params)]
        sources = con.execute(
            "SELECT count(*), coalesce(sum(rows_quarantined), 0) FROM ingest_file "
            "WHERE operator IN (SELECT DISTINCT operator FROM mailbox_day WHERE mailbox = $mailbox)",
            {"mailbox": mailbox},
        ).fetchone()
        report.n_sources, report.n_quarantined = sources
        report.n_delegations = len(delegations)
        report.n_others = len(
            {a.actor for m in report.months for a in m.rows if a.as_what != "titulaire"}
        )
        return report

    @property
    def from_text(self) -> str:
        return labels.prose_day(self.first_day)

    @property
    def to_text(self) -> str:
        return labels.prose_day(self.last_day)

    @property
    def generated_at_text(self) -> str:
        return labels.prose_when(self.generated_at)

    @property
    def sources_text(self) -> str:
        """ "3 fichiers sources, dont 1 ligne écartée pour défaut de format"."""
        text = labels.count(self.n_sources, "fichier source", "fichiers sources")
        if self.n_quarantined:
            return text + (
                f", dont {labels.count(self.n_quarantined, 'ligne écartée')} pour défaut de format"
            )
        return text + ", sans aucune ligne écartée"

    @property
    def summary(self) -> SimpleNamespace:
        """What happened over the period, what needs action and by whom."""
        period = f"Du {self.from_text} au {self.to_text}"
        if len(self.untraced) == len(self.months):
            happened = [
                f"{period}, aucune trace d'accès à votre boîte n'a été reçue : ce document ne peut "
                "rien dire de son utilisation."
            ]
        else:
            others = (
                f"{labels.count(self.n_others, 'autre personne que vous a', 'autres personnes que vous ont')} "
                "agi dans votre boîte"
                if self.n_others
                else "personne d'autre que vous n'a agi dans votre boîte"
            )
            happened = [
                f"{period}, {others} ; "
                + (
                    f"{labels.count(self.n_delegations, 'délégation a', 'délégations ont')} "
                    "été en vigueur."
                    if self.n_delegations
                    else "votre boîte n'a été déléguée à personne."
                )
            ]
            if self.untraced:
                happened.append(
                    f"Les traces ne couvrent pas {labels.listing(self.untraced)} : "
                    "rien n'est connu de ces mois."
                )
        counts = {
            s: sum(len(g.findings) for g in self.groups if g.severity == s)
            for s in labels.SEVERITY_ORDER
        }
        alerts = labels.severities(counts["critical"], counts["warning"], counts["info"])
        headline = (
            f"{alerts[0].upper()}{alerts[1:]} sur la période."
            if self.groups
            else "Aucune anomalie relevée sur la période."
        )
        return SimpleNamespace(
            happened=happened,
            headline=headline,
            todo=findings_view.todo(self.groups),
            accepted=None,
        )

    @property
    def title(self) -> str:
        return f"Historique des délégations — {self.holder}"

    # The summary and the critical findings first, then the tables.
    SECTIONS = (
        "header",
        "summary",
        "critical",
        "delegations",
        "activity",
        "findings",
        "review",
        "basis",
    )

    def section(self, name: str) -> str:
        template = _environment().get_template("history_sections.html.j2")
        macro = getattr(template.module, name)
        if name == "delegations":
            return str(macro(self, self.timeline_html))
        if name == "activity":
            return str(macro(self, self.calendar_html))
        return str(macro(self))

    def display(self, name: str):
        from IPython.display import HTML

        return HTML(self.section(name))

    def body_html(self) -> str:
        return "\n".join(self.section(name) for name in self.SECTIONS)


def _traced(con, mailbox: str, first: date | None, last: date | None) -> tuple | None:
    """The first and last instants traced for the mailbox, as prose, read from the events of
    its first and last days with traces (and the day either side: Paris days)."""
    if first is None:
        return None

    def day(d: date) -> datetime:
        return datetime.combine(d, time(), tzinfo=labels.PARIS)

    bounds = {
        "mailbox": mailbox,
        "first_from_at": day(first - timedelta(days=1)),
        "first_until_at": day(first + timedelta(days=2)),
        "last_from_at": day(last - timedelta(days=1)),
        "last_until_at": day(last + timedelta(days=2)),
    }
    traced = _records(con, "reports/history_traced.sql", bounds)[0]
    if traced.traced_from_at is None:  # days without their events: a month not rebuilt yet
        return None
    return (labels.prose_when(traced.traced_from_at), labels.prose_when(traced.traced_to_at))


def _traced_months(con, mailbox: str) -> set[date]:
    """The months the traces cover for the mailbox: those of its operators' audit files'
    coverage spans (all operators' when no trace names the mailbox), from the manifest and
    the monthly days with traces (the events themselves would be scanned whole)."""
    spans = audit_spans(
        con,
        "operator IN (SELECT DISTINCT operator FROM mailbox_day WHERE mailbox = ?) "
        "OR NOT EXISTS (SELECT 1 FROM mailbox_day WHERE mailbox = ?)",
        [mailbox, mailbox],
    )
    rows = {(start, end) for *_, start, end in spans}
    cutoff = purged_before(con)
    kept = cutoff.astimezone(labels.PARIS).date() if cutoff else date.min
    return {
        m.first_day
        for start, end in rows
        for m in months_between(
            start.astimezone(labels.PARIS).date(), end.astimezone(labels.PARIS).date()
        )
        if m.first_day >= kept  # months a retention purge removed hold no traces
    }


def _as_what(attribution: str | None) -> str:
    return {
        "delegate_authorised": "délégataire",
        "delegate_beyond_rights": "délégataire (au-delà de ses droits)",
        "delegate_outside_period": "délégataire (hors période)",
        "delegate_after_revocation": "ancien délégataire",
        "no_delegation": "sans délégation",
        "system": "service technique",
    }.get(attribution or "", "délégataire")
