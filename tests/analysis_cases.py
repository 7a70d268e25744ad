"""Helpers of the analysis tests: small hand-written warehouses.

A ``Case`` wraps a fresh warehouse and writes rows the way ingestion would store them: roster
members, delegation events and snapshots, audit events, and the manifest rows (``ingest_file``)
that tell how far each operator's audit traces go. Wall-clock times are Europe/Paris and are
converted to UTC with zoneinfo, independently of DuckDB, so that the tests check the SQL's own
time-zone handling. A few tests go through real files and ``ingest_file`` instead
(``Case.ingest_*``).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from conftest import AUDIT_COLUMNS, DELEGATION_COLUMNS, OPERATOR
from delegation_reports.analysis import models
from delegation_reports.analysis.config import AnalysisConfig, load_config
from delegation_reports.analysis.models import Month
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect

PARIS = ZoneInfo("Europe/Paris")
MARCH = Month(2026, 3)
HOLDER = "helene.garnier@medecin.mssante.fr"
HOLDER_2 = "thomas.lefevre@medecin.mssante.fr"
SECRETARY = "sandrine.moulin@pro.mssante.fr"
ASSISTANT = "julie.barbier@pro.mssante.fr"
REPLACEMENT = "pauline.guillou@medecin.mssante.fr"
STRANGER = "kevin.arnaud@pro.mssante.fr"
IP = "192.0.2.17"
AGENT = "Thunderbird 128.7.1"

ATTRIBUTIONS = frozenset(
    {
        "owner",
        "system",
        "delegate_authorised",
        "delegate_outside_period",
        "delegate_after_revocation",
        "delegate_beyond_rights",
        "no_delegation",
    }
)
ROSTER_COLUMNS = ("practice_id", "practice_name", "member", "member_kind")


def local(text: str, *, fold: int = 0) -> datetime:
    """A Europe/Paris wall-clock time ``YYYY-MM-DD HH:MM[:SS]`` as an aware UTC datetime."""
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=PARIS, fold=fold).astimezone(UTC)


def day_start(day: date) -> datetime:
    """00:00 in Paris on ``day``, as UTC."""
    return datetime.combine(day, time(), tzinfo=PARIS).astimezone(UTC)


def month_window(month: Month) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's first instant (Paris midnights), UTC."""
    return day_start(month.first_day), day_start(month.next().first_day)


def _bound(value: datetime | date | str | None, *, is_end: bool) -> datetime | None:
    """A validity bound as ingestion stores it: a date means the Paris day (an end includes it,
    so it is stored as the next day's midnight, exclusive)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = local(value) if " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return day_start(value + timedelta(days=1) if is_end else value)


def _at(value: datetime | str) -> datetime:
    return local(value) if isinstance(value, str) else value.astimezone(UTC)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Practice:
    practice_id: str
    holders: tuple[str, ...]
    staff: tuple[str, ...]

    @property
    def holder(self) -> str:
        return self.holders[0]


class Case:
    """A hand-written warehouse: write rows, refresh the models, read what they say."""

    def __init__(self, con: duckdb.DuckDBPyConnection, folder: Path):
        self.con = con
        self.folder = folder
        self._ids = itertools.count(1)
        self._files = itertools.count(1)

    # ---- writing ----------------------------------------------------------------------------

    def practice(
        self,
        practice_id: str = "P1",
        holders: Sequence[str] = (HOLDER,),
        staff: Sequence[str] = (),
        name: str | None = None,
    ) -> Practice:
        """Roster rows of a practice: holders of BAL PER and staff accounts."""
        members = [(m, "holder") for m in holders] + [(m, "staff") for m in staff]
        for member, kind in members:
            self.con.execute(
                "INSERT INTO roster_member (practice_id, practice_name, member, member_kind, "
                "source_file_id) VALUES (?, ?, ?, ?, 1)",
                [practice_id, name or f"Cabinet {practice_id}", member, kind],
            )
        return Practice(practice_id, tuple(holders), tuple(staff))

    def delegation(
        self,
        event_type: str,
        mailbox: str,
        delegate: str,
        at: datetime | str,
        *,
        rights: Sequence[str] | None = ("read", "send"),
        role: str | None = "secretary",
        valid_from: datetime | date | str | None = None,
        valid_to: datetime | date | str | None = None,
        performed_by: str | None = "holder",
        name: str | None = None,
        operator: str = OPERATOR,
        event_id: str | None = None,
    ) -> str:
        """One delegation event; ``performed_by`` defaults to the mailbox's holder."""
        event_id = event_id or f"D-{next(self._ids):05d}"
        if event_type == "revoke":
            rights, role = None, None
        self.con.execute(
            "INSERT INTO delegation_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                operator,
                event_id,
                event_type,
                _at(at),
                mailbox,
                delegate,
                name,
                role,
                sorted(rights) if rights is not None else None,
                _bound(valid_from, is_end=False),
                _bound(valid_to, is_end=True),
                mailbox if performed_by == "holder" else performed_by,
            ],
        )
        return event_id

    def grant(self, mailbox: str, delegate: str, at: datetime | str, **options) -> str:
        return self.delegation("grant", mailbox, delegate, at, **options)

    def modify(self, mailbox: str, delegate: str, at: datetime | str, **options) -> str:
        return self.delegation("modify", mailbox, delegate, at, **options)

    def revoke(self, mailbox: str, delegate: str, at: datetime | str, **options) -> str:
        return self.delegation("revoke", mailbox, delegate, at, **options)

    def snapshot(
        self,
        as_of: date | str,
        mailbox: str,
        delegate: str,
        *,
        rights: Sequence[str] = ("read", "send"),
        role: str = "secretary",
        valid_from: datetime | date | str | None = None,
        valid_to: datetime | date | str | None = None,
        name: str | None = None,
        operator: str = OPERATOR,
    ) -> None:
        """One delegation listed in an operator's snapshot of ``as_of`` (00:00 Paris)."""
        day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        self.con.execute(
            "INSERT INTO delegation_snapshot VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                operator,
                day_start(day),
                mailbox,
                delegate,
                name,
                role,
                sorted(rights),
                _bound(valid_from, is_end=False),
                _bound(valid_to, is_end=True),
            ],
        )

    def directory(self, extracted: date | str, addresses: Iterable[str]) -> None:
        """A directory extraction (00:00 Paris on ``extracted``) listing ``addresses`` as BAL PER."""
        day = date.fromisoformat(extracted) if isinstance(extracted, str) else extracted
        for address in addresses:
            self.con.execute(
                "INSERT INTO directory_entry (extracted_at, row_digest, bal_type, address, "
                "source_file_id) VALUES (?, md5(?), 'PER', ?, 1)",
                [day_start(day), address, address],
            )

    def event(
        self,
        mailbox: str,
        actor: str,
        at: datetime | str,
        action: str = "read",
        outcome: str = "success",
        **options,
    ) -> str:
        """One audit event; returns its id."""
        return self.events(mailbox, actor, [at], action, outcome, **options)[0]

    def events(
        self,
        mailbox: str,
        actor: str,
        times: Iterable[datetime | str],
        action: str = "read",
        outcome: str = "success",
        *,
        ip: str | None = IP,
        agent: str | None = AGENT,
        auth: str = "cps",
        operator: str = OPERATOR,
        prefix: str = "E",
    ) -> list[str]:
        """Audit events of one actor on one mailbox, one per time; returns their ids."""
        values = []
        ids = []
        for at in times:
            event_id = f"{prefix}-{next(self._ids):06d}"
            ids.append(event_id)
            values.append(
                [
                    operator,
                    event_id,
                    _at(at),
                    mailbox,
                    actor,
                    action,
                    outcome,
                    auth,
                    ip,
                    agent,
                    "s-1",
                    None,
                ]
            )
        if values:
            placeholders = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)" for _ in values)
            self.con.execute(
                f"INSERT INTO audit_event VALUES {placeholders}", [v for row in values for v in row]
            )
        return ids

    def series(self, start: datetime | str, count: int, every: timedelta) -> list[datetime]:
        """``count`` instants from ``start``, ``every`` apart."""
        first = _at(start)
        return [first + i * every for i in range(count)]

    def coverage(
        self, from_at: datetime | str, to_at: datetime | str, *, operator: str = OPERATOR
    ) -> None:
        """A manifest row saying the operator's audit traces cover [from_at, to_at]."""
        now = datetime.now(UTC)
        n = next(self._files)
        self.con.execute(
            "INSERT INTO ingest_file (path, file_name, size_bytes, sha256, kind, format, operator, "
            "rows_read, rows_loaded, rows_duplicate, rows_quarantined, covered_from_at, "
            "covered_to_at, started_at, ended_at, tool_version) "
            "VALUES (?, ?, 0, ?, 'audit', 'audit', ?, 0, 0, 0, 0, ?, ?, ?, ?, 'test')",
            [
                f"/tests/audit-{n}.csv",
                f"audit-{n}.csv",
                f"{n:064x}",
                operator,
                _at(from_at),
                _at(to_at),
                now,
                now,
            ],
        )

    def cover_operators(self) -> None:
        """Operators with audit events but no manifest row get one spanning their events, as
        ingestion would have written it."""
        missing = self.con.execute(
            "SELECT operator, min(occurred_at), max(occurred_at) FROM audit_event "
            "WHERE operator NOT IN (SELECT operator FROM ingest_file WHERE kind = 'audit' "
            "AND operator IS NOT NULL) GROUP BY operator ORDER BY operator"
        ).fetchall()
        for operator, first, last in missing:
            self.coverage(first, last, operator=operator)

    # ---- ingesting real files ---------------------------------------------------------------

    def _write(self, name: str, columns: Sequence[str], records: Sequence[dict]) -> Path:
        path = self.folder / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for record in records:
                unknown = set(record) - set(columns)
                assert not unknown, unknown
                writer.writerow([record.get(c, "") for c in columns])
        return path

    def _ingest(self, path: Path, expected_rows: int) -> None:
        result = ingest_file(self.con, path)
        assert result.status == "loaded", result.message
        assert result.rows_loaded == expected_rows, (result.rows_quarantined, path.read_text())

    def ingest_roster(
        self, records: Sequence[dict], name: str = "roster.csv", expected_rows: int | None = None
    ) -> None:
        # The optional end date is written only when a record has one.
        columns = ROSTER_COLUMNS + (
            ("member_until",) if any("member_until" in r for r in records) else ()
        )
        loaded = len(records) if expected_rows is None else expected_rows
        self._ingest(self._write(name, columns, records), loaded)

    def ingest_delegations(self, records: Sequence[dict], name: str = "delegations.csv") -> None:
        full = [
            {"operator": OPERATOR, "delegate_role": "secretary", "rights": "read|send", **r}
            for r in records
        ]
        self._ingest(self._write(name, DELEGATION_COLUMNS, full), len(records))

    def ingest_audit(self, records: Sequence[dict], name: str = "audit.csv") -> None:
        full = [
            {
                "operator": OPERATOR,
                "action": "read",
                "outcome": "success",
                "auth_method": "cps",
                "client_ip": IP,
                "user_agent": AGENT,
                **r,
            }
            for r in records
        ]
        self._ingest(self._write(name, AUDIT_COLUMNS, full), len(records))

    # ---- building and reading ---------------------------------------------------------------

    def refresh(self, *months: Month | str, config: AnalysisConfig | None = None) -> None:
        """Build the given months (default: March 2026) with ``config`` (default: built-in)."""
        self.cover_operators()
        todo = [Month.parse(m) if isinstance(m, str) else m for m in months] or [MARCH]
        models.refresh(self.con, todo, config or load_config())

    def findings(
        self, rule_id: str | None = None, month: Month = MARCH, *, practice_id: str | None = None
    ) -> list[dict]:
        """The month's finding rows, in time order."""
        return rows(
            self.con,
            "SELECT * FROM finding WHERE month = ? AND (? IS NULL OR rule_id = ?) "
            "AND (? IS NULL OR practice_id = ?) "
            "ORDER BY first_at NULLS LAST, practice_id, mailbox, actor, finding_id",
            [month.first_day, rule_id, rule_id, practice_id, practice_id],
        )

    def access(self, event_id: str) -> dict:
        """The attributed access of one audit event."""
        found = rows(self.con, "SELECT * FROM attributed_access WHERE event_id = ?", [event_id])
        assert len(found) == 1, (event_id, found)
        return found[0]

    def attribution(self, event_id: str) -> str:
        return self.access(event_id)["attribution"]


@contextmanager
def new_case(folder: Path) -> Iterator[Case]:
    """A ``Case`` on a fresh warehouse file under ``folder``, closed afterwards."""
    con = connect(folder / "w.duckdb")
    try:
        yield Case(con, folder)
    finally:
        con.close()


def write_config(folder: Path, text: str, name: str = "rules.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_from(folder: Path, text: str) -> AnalysisConfig:
    return load_config(write_config(folder, text))


# ---- a warehouse where every rule fires ------------------------------------------------------

HOLDER_3 = "agnes.perrot@medecin.mssante.fr"
STAFF_3 = "nathalie.giraud@pro.mssante.fr"
HOLDER_4 = "marc.lemoine@medecin.mssante.fr"
ORPHAN = "boite.inconnue@medecin.mssante.fr"
LATE_RECORDED = "lucas.morel@pro.mssante.fr"
LOCUM = "romain.leroy@medecin.mssante.fr"
CONNECT = "Cabinet Connect"
MONTHS = (Month(2026, 2), Month(2026, 3), Month(2026, 4))


def build_varied(case: Case) -> None:
    """Two practices and a mailbox on no roster; delegations by events and by snapshots;
    activity that raises most rules, and events on both sides of each month's bounds."""
    case.practice("P1", holders=[HOLDER, HOLDER_2], staff=[SECRETARY, ASSISTANT, REPLACEMENT])
    case.practice("P2", holders=[HOLDER_3, HOLDER_4], staff=[STAFF_3])
    # Delegations by events.
    case.grant(HOLDER, SECRETARY, "2025-11-03 09:00", rights=["read", "send", "documents"])
    case.modify(HOLDER, SECRETARY, "2026-03-10 12:00", rights=["read"])
    # Revoked twice: each later access is counted once all the same.
    case.grant(HOLDER, ASSISTANT, "2025-12-01 09:00", role="medical_assistant")
    case.revoke(HOLDER, ASSISTANT, "2026-01-02 09:00")
    case.grant(HOLDER, ASSISTANT, "2026-01-05 09:00", role="medical_assistant")
    case.revoke(HOLDER, ASSISTANT, "2026-03-05 09:00")
    case.grant(
        HOLDER_2,
        REPLACEMENT,
        "2026-02-26 09:00",
        role="replacement",
        valid_from="2026-03-02",
        valid_to="2026-03-13",
        performed_by=SECRETARY,
    )
    # A modification after the replacement's end (an administrator tidying up).
    case.modify(HOLDER_2, REPLACEMENT, "2026-03-20 09:00", role="replacement", rights=["read"])
    case.grant(HOLDER_2, STRANGER, "2026-03-02 09:00", role="other", name='=HYPERLINK("x")')
    case.revoke(HOLDER_2, SECRETARY, "2026-03-03 09:00")  # never granted
    case.grant(HOLDER_2, ASSISTANT, "2025-10-01 09:00")  # never used: dormant
    case.coverage("2025-10-01 00:00", "2026-04-30 23:00")  # traces long enough to know it
    case.grant(HOLDER_4, STAFF_3, "2025-10-01 09:00")  # used while the holder is away
    # A back-dated grant: recorded on the 18th, valid from the 16th, used on the 17th.
    case.grant(HOLDER_4, LATE_RECORDED, "2026-03-18 09:00", valid_from="2026-03-16")
    case.event(HOLDER_4, LATE_RECORDED, "2026-03-17 10:00")
    # A replacement working beside the holder it replaces, four weekdays.
    case.grant(HOLDER_3, LOCUM, "2026-02-23 09:00", role="replacement", valid_to="2026-03-31")
    for day in ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"):
        case.event(HOLDER_3, LOCUM, f"{day} 09:00", operator=CONNECT)
        case.event(HOLDER_3, HOLDER_3, f"{day} 11:00", operator=CONNECT)
    # HOLDER_4 leaves the directory on 15 March; STAFF_3 acts in the mailbox on the 16th.
    case.directory("2026-03-01", [HOLDER_3, HOLDER_4])
    case.directory("2026-03-15", [HOLDER_3])
    # The délégataire widens their own rights.
    case.modify(
        HOLDER_4,
        STAFF_3,
        "2026-03-12 09:00",
        rights=["read", "send", "manage"],
        performed_by=STAFF_3,
    )
    # Delegations by snapshots.
    for as_of in ("2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"):
        case.snapshot(
            as_of,
            HOLDER_3,
            STAFF_3,
            operator=CONNECT,
            rights=["read", "send"] if as_of < "2026-03-09" else ["read"],
        )
        if as_of < "2026-03-16":
            case.snapshot(as_of, HOLDER_3, REPLACEMENT, role="replacement", operator=CONNECT)
    # Activity: the holders every working day, at the bounds of each month too.
    day = local("2026-02-02 08:30")
    while day < local("2026-04-30 08:30"):
        if day.weekday() < 5 and day.date() != local("2026-04-06 08:30").date():
            case.event(HOLDER, HOLDER, day)
            case.event(HOLDER_2, HOLDER_2, day)
            if day.date() != local("2026-03-18 08:30").date():  # no traces from Connect
                case.event(HOLDER_3, HOLDER_3, day, operator=CONNECT)
        day += timedelta(days=1)
    for text in (
        "2026-02-28 23:59:59",
        "2026-03-01 00:00:00",
        "2026-03-31 23:59:59",
        "2026-04-01 00:00:00",
    ):
        case.event(HOLDER, SECRETARY, text)
        case.event(HOLDER_3, STAFF_3, text, operator=CONNECT)
    case.event(HOLDER, "system:archiver", "2026-03-08 03:00")
    # Délégataires at work, in and out of their rights and periods.
    case.events(HOLDER, SECRETARY, case.series("2026-03-03 14:00", 260, timedelta(seconds=4)))
    case.event(HOLDER, SECRETARY, "2026-03-11 10:00", "send")
    case.event(HOLDER, SECRETARY, "2026-03-11 10:05", "download")
    case.events(HOLDER, ASSISTANT, ["2026-03-12 10:00", "2026-03-12 10:01"])
    case.event(HOLDER_2, REPLACEMENT, "2026-03-12 21:00")
    case.event(HOLDER_2, REPLACEMENT, "2026-03-17 10:00")
    case.event(HOLDER_2, STRANGER, "2026-03-18 10:00")
    case.event(HOLDER, STRANGER, "2026-03-19 10:00")
    case.event(HOLDER_3, STAFF_3, "2026-03-12 10:00", "send", operator=CONNECT)
    case.event(HOLDER_3, REPLACEMENT, "2026-03-20 10:00", operator=CONNECT)
    case.events(
        HOLDER_3,
        HOLDER_3,
        case.series("2026-03-24 12:00", 6, timedelta(minutes=1)),
        "login_failed",
        "failure",
        operator=CONNECT,
    )
    case.event(HOLDER_3, HOLDER_3, "2026-03-24 12:20", operator=CONNECT)  # in, after failing
    case.event(HOLDER, ASSISTANT, "2026-03-13 10:00", "login_failed", "failure")  # revoked
    case.events(ORPHAN, STRANGER, ["2026-03-25 22:00", "2026-03-25 22:05"])
    case.event(HOLDER, SECRETARY, "2026-03-20 11:00", ip="198.51.100.7")
    case.event(HOLDER_4, STAFF_3, "2026-03-16 10:00")
    case.refresh(*MONTHS)
