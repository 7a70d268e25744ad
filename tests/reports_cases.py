"""Helpers of the report tests: a hand-written warehouse of two practices, and HTML reading.

Practice A is hostile: every attacker-controlled text that reaches the report (practice name,
délégataire names, user agents, event ids, operator, holder name from the directory, the
"performed by" of a delegation, an actor address, a file name) carries an HTML payload.
Practice B carries canaries: distinctive values that must never show in A's report.

Every row is written to canonical CSV files and loaded through ``ingest_file``; the expected
figures are counted here from the rows written, independently of the SQL.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from conftest import (  # the extraction's header, written once for the tests
    AUDIT_COLUMNS,
    DELEGATION_COLUMNS,
    DIRECTORY_HEADERS,
)
from delegation_reports.analysis import models
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import Month
from delegation_reports.cli import main
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.reports.runner import BatchResult, run_monthly
from delegation_reports.warehouse import connect

PARIS = ZoneInfo("Europe/Paris")
MARCH = Month(2026, 3)

# ---- hostile values (practice A) ------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = '<a href="javascript:alert(1)">x</a>'
SPAN = '<span style="color:red">rouge</span>'
SVG = "<svg onload=alert(1)>"
PAYLOADS = (SCRIPT, IMG, LINK, SPAN, SVG)

A = "CAB-A"
A_NAME = "Cabinet <b>gras</b>"
A_OPERATOR = "Messagerie <i>A</i>"
A_HOLDER = "alice.alpha@medecin.mssante.fr"
A_HOLDER_FIRST = "Alice"
A_HOLDER_LAST = SVG
A_SECRETARY = "secretaire.alpha@pro.mssante.fr"
A_ASSISTANT = "assistante.alpha@pro.mssante.fr"
A_STYLED = "stylee.alpha@pro.mssante.fr"
A_REPLACEMENT = "remplacant.alpha@medecin.mssante.fr"
# Valid per address_ok (no blank, <, >, " and one @): a payload-like local part.
A_INTRUDER = "x'onmouseover=alert(1)@evil.example"
A_IP = "198.51.100.7"
A_AGENT = "Thunderbird 128.7.1"
A_INTRUDER_EVENT = SVG  # an event id is free text too
A_AUDIT_FILE = "audit-<i onmouseover=alert(1)>alpha.csv"  # no "/" in a file name

# ---- canaries (practice B) ------------------------------------------------------------------

B = "CAB-B"
B_NAME = "CANARY-CABINET-B"
B_OPERATOR = "CanaryOp"
B_HOLDER = "canari.unique@medecin.mssante.fr"
B_HOLDER_LAST = "CANARI-TITULAIRE"
B_DELEGATE = "canari.deleg@pro.mssante.fr"
B_DELEGATE_NAME = "Canari Zébulon"
B_IP = "203.0.113.254"
B_AGENT = "CanaryAgent/9.9"
B_AUDIT_FILE = "canary-audit-b.csv"
B_DELEGATION_FILE = "canary-delegations-b.csv"

B_CANARIES = (
    B_NAME,
    B_HOLDER,
    B_HOLDER_LAST,
    B_DELEGATE,
    B_DELEGATE_NAME,
    B_IP,
    B_AGENT,
    "CANARY-",
    B_OPERATOR,
    B_AUDIT_FILE,
    B_DELEGATION_FILE,
)
A_DISTINCTIVE = (
    A_NAME,
    A_HOLDER,
    A_SECRETARY,
    A_ASSISTANT,
    A_STYLED,
    A_REPLACEMENT,
    A_INTRUDER,
    A_IP,
    "ALPHA-",
    A_OPERATOR,
    A_AUDIT_FILE,
    "delegations-alpha.csv",
    *PAYLOADS,
)

# ---- canonical columns ----------------------------------------------------------------------

ROSTER_COLUMNS = ("practice_id", "practice_name", "member", "member_kind")
DIRECTORY_FILE = "Extraction_Correspondance_MSSante_202603010800.txt"


def paris(text: str) -> str:
    """A Paris wall-clock time ``YYYY-MM-DD HH:MM`` as ISO 8601 text with its offset."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).isoformat()


def utc(text: str) -> datetime:
    """ISO 8601 text with an offset or Z as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def weekdays(month: Month) -> list[date]:
    """Monday to Friday of the month (March 2026 has no public holiday)."""
    day, days = month.first_day, []
    while day.month == month.month:
        if day.isoweekday() <= 5:
            days.append(day)
        day += timedelta(days=1)
    return days


# ---- the rows -------------------------------------------------------------------------------


def _audit(event_id, at, mailbox, actor, *, action="read", ip, agent, operator) -> dict:
    return {
        "event_id": event_id,
        "occurred_at": at,
        "mailbox": mailbox,
        "actor": actor,
        "action": action,
        "outcome": "success",
        "auth_method": "cps",
        "client_ip": ip,
        "user_agent": agent,
        "session_id": "s-1",
        "message_id": "",
        "operator": operator,
    }


def _grant(
    event_id,
    at,
    mailbox,
    delegate,
    name,
    role,
    rights,
    *,
    performed_by=None,
    valid_from="",
    valid_to="",
    operator,
    event_type="grant",
) -> dict:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_at": at,
        "mailbox": mailbox,
        "delegate": delegate,
        "delegate_name": name,
        "delegate_role": role,
        "rights": rights,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "performed_by": performed_by or mailbox,
        "operator": operator,
    }


def practice_a_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """Roster, delegations and audit events of the hostile practice."""
    roster = [
        {"practice_id": A, "practice_name": A_NAME, "member": m, "member_kind": k}
        for m, k in (
            (A_HOLDER, "holder"),
            (A_SECRETARY, "staff"),
            (A_ASSISTANT, "staff"),
            (A_STYLED, "staff"),
        )
    ]
    op = {"operator": A_OPERATOR}
    delegations = [
        _grant(
            "ALPHA-D-1",
            paris("2026-01-05 09:00"),
            A_HOLDER,
            A_SECRETARY,
            SCRIPT,
            "secretary",
            "read|send",
            **op,
        ),
        # Read only: the send below exceeds it.
        _grant(
            "ALPHA-D-2",
            paris("2026-01-06 09:00"),
            A_HOLDER,
            A_ASSISTANT,
            IMG,
            "medical_assistant",
            "read",
            **op,
        ),
        # A replacement, not on the roster, granted by someone else than the holder.
        _grant(
            "ALPHA-D-3",
            paris("2026-03-02 10:00"),
            A_HOLDER,
            A_REPLACEMENT,
            LINK,
            "replacement",
            "read|send|documents",
            performed_by=IMG,
            valid_from="2026-03-16",
            valid_to="2026-03-27",
            **op,
        ),
        _grant(
            "ALPHA-D-4",
            paris("2026-03-03 10:00"),
            A_HOLDER,
            A_STYLED,
            SPAN,
            "secretary",
            "read",
            **op,
        ),
        _grant(
            "ALPHA-D-5",
            paris("2026-03-20 18:00"),
            A_HOLDER,
            A_ASSISTANT,
            "",
            "",
            "",
            event_type="revoke",
            **op,
        ),
    ]
    ev = {"ip": A_IP, "operator": A_OPERATOR}
    audit = [
        _audit(f"ALPHA-O-{d.day:02d}", paris(f"{d} 10:00"), A_HOLDER, A_HOLDER, agent=A_AGENT, **ev)
        for d in weekdays(MARCH)
    ]
    audit += [
        _audit(
            f"ALPHA-S-{n}",
            paris(f"2026-03-0{n + 1} 09:00"),
            A_HOLDER,
            A_SECRETARY,
            agent=A_AGENT,
            **ev,
        )
        for n in range(1, 6)
    ]
    audit += [
        _audit("ALPHA-S-6", "2026-03-30T08:00:00Z", A_HOLDER, A_SECRETARY, agent=A_AGENT, **ev),
        _audit(
            "ALPHA-S-7",
            paris("2026-03-04 09:10"),
            A_HOLDER,
            A_SECRETARY,
            action="send",
            agent=A_AGENT,
            **ev,
        ),
        # Thursday 23:30 in Paris: off hours.
        _audit("ALPHA-S-8", "2026-03-12T22:30:00Z", A_HOLDER, A_SECRETARY, agent=LINK, **ev),
        _audit("ALPHA-M-1", "2026-03-11T09:55:00Z", A_HOLDER, A_ASSISTANT, agent=A_AGENT, **ev),
        # A send with a read-only delegation: right exceeded.
        _audit(
            "ALPHA-M-2",
            "2026-03-11T10:00:00Z",
            A_HOLDER,
            A_ASSISTANT,
            action="send",
            agent=IMG,
            **ev,
        ),
        # Saturday 15:00 in Paris: off hours.
        _audit("ALPHA-Y-1", "2026-03-14T14:00:00Z", A_HOLDER, A_STYLED, agent=SPAN, **ev),
        # No delegation ever: 09:30 in Paris.
        _audit(A_INTRUDER_EVENT, "2026-03-10T08:30:00Z", A_HOLDER, A_INTRUDER, agent=SCRIPT, **ev),
        _audit(
            "ALPHA-R-1", paris("2026-03-17 10:00"), A_HOLDER, A_REPLACEMENT, agent=A_AGENT, **ev
        ),
        # After the replacement's validity (ends 27 March, inclusive).
        _audit(
            "ALPHA-R-2", paris("2026-03-28 09:00"), A_HOLDER, A_REPLACEMENT, agent=A_AGENT, **ev
        ),
    ]
    return roster, delegations, audit


def practice_b_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """Roster, delegations and audit events of the canary practice."""
    roster = [
        {"practice_id": B, "practice_name": B_NAME, "member": m, "member_kind": k}
        for m, k in ((B_HOLDER, "holder"), (B_DELEGATE, "staff"))
    ]
    delegations = [
        _grant(
            "CANARY-D-1",
            paris("2026-02-02 09:00"),
            B_HOLDER,
            B_DELEGATE,
            B_DELEGATE_NAME,
            "secretary",
            "read|send",
            operator=B_OPERATOR,
        ),
    ]
    ev = {"ip": B_IP, "agent": B_AGENT, "operator": B_OPERATOR}
    audit = [
        _audit(f"CANARY-O-{d.day:02d}", paris(f"{d} 10:30"), B_HOLDER, B_HOLDER, **ev)
        for d in weekdays(MARCH)
    ]
    audit += [
        _audit("CANARY-S-1", paris("2026-03-03 11:00"), B_HOLDER, B_DELEGATE, **ev),
        _audit("CANARY-S-2", paris("2026-03-04 11:00"), B_HOLDER, B_DELEGATE, **ev),
        # Sunday: off hours.
        _audit("CANARY-S-3", paris("2026-03-08 11:00"), B_HOLDER, B_DELEGATE, **ev),
    ]
    return roster, delegations, audit


def directory_lines() -> list[str]:
    def line(address: str, first: str, last: str) -> str:
        values = dict.fromkeys(DIRECTORY_HEADERS, "")
        values.update(
            {
                "Type de BAL": "PER",
                "Adresse BAL": address,
                "Nom d'exercice": last,
                "Prénom d'exercice": first,
                "Libellé Profession": "Médecin",
                "Dématérialisation": "O",
            }
        )
        return "|".join(values[h] for h in DIRECTORY_HEADERS)

    return [
        "|".join(DIRECTORY_HEADERS),
        line(A_HOLDER, A_HOLDER_FIRST, A_HOLDER_LAST),
        line(B_HOLDER, "Hortense", B_HOLDER_LAST),
    ]


# ---- expected figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a practice's report must show, counted from the rows written."""

    n_mailboxes: int
    n_delegations: int
    n_owner_actions: int
    n_delegate_actions: int
    n_unknown_actions: int
    # (actor, action) -> count, for délégataires and other non-holders
    actions: dict = field(default_factory=dict)


def expected_figures(roster, delegations, audit, month: Month = MARCH) -> Expected:
    holders = {r["member"] for r in roster if r["member_kind"] == "holder"}
    start = datetime(month.year, month.month, 1, tzinfo=PARIS).astimezone(UTC)
    nxt = month.next()
    end = datetime(nxt.year, nxt.month, 1, tzinfo=PARIS).astimezone(UTC)
    delegated = {(d["mailbox"], d["delegate"]) for d in delegations}
    in_force = set()
    for d in delegations:
        if d["event_type"] != "grant":
            continue
        key = (d["mailbox"], d["delegate"])
        granted = utc(d["event_at"])
        if d["valid_from"]:
            granted = max(granted, datetime.fromisoformat(d["valid_from"]).replace(tzinfo=PARIS))
        revoked = [
            utc(r["event_at"])
            for r in delegations
            if r["event_type"] == "revoke" and (r["mailbox"], r["delegate"]) == key
        ]
        until = min(revoked) if revoked else end + timedelta(days=1)
        if d["valid_to"]:
            last = datetime.fromisoformat(d["valid_to"]).replace(tzinfo=PARIS) + timedelta(days=1)
            until = min(until, last)
        if granted < end and until > start:
            in_force.add(key)
    owner = delegate = unknown = 0
    actions: dict[tuple[str, str], int] = {}
    for e in audit:
        at = utc(e["occurred_at"])
        assert start <= at < end, e
        if e["actor"] == e["mailbox"]:
            owner += 1
            continue
        if (e["mailbox"], e["actor"]) in delegated:
            delegate += 1
        else:
            unknown += 1
        actions[(e["actor"], e["action"])] = actions.get((e["actor"], e["action"]), 0) + 1
    return Expected(len(holders), len(in_force), owner, delegate, unknown, actions)


# ---- the warehouse --------------------------------------------------------------------------


@dataclass
class World:
    """The two practices' warehouse, built and refreshed, closed."""

    db: Path
    folder: Path
    files: dict[str, Path]
    expected: dict[str, Expected]

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.files[name].read_bytes()).hexdigest()


def write_csv(path: Path, columns: Sequence[str], records: Sequence[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            assert set(record) <= set(columns), set(record) - set(columns)
            writer.writerow([record.get(c, "") for c in columns])
    return path


def build_world(folder: Path) -> World:
    """Write both practices' exports under ``folder``, ingest them into a new warehouse and
    build March 2026."""
    folder.mkdir(parents=True, exist_ok=True)
    roster_a, delegations_a, audit_a = practice_a_rows()
    roster_b, delegations_b, audit_b = practice_b_rows()
    files = {
        "roster-1.csv": write_csv(folder / "roster-1.csv", ROSTER_COLUMNS, roster_a),
        "roster-2.csv": write_csv(folder / "roster-2.csv", ROSTER_COLUMNS, roster_b),
        "delegations-alpha.csv": write_csv(
            folder / "delegations-alpha.csv", DELEGATION_COLUMNS, delegations_a
        ),
        A_AUDIT_FILE: write_csv(folder / A_AUDIT_FILE, AUDIT_COLUMNS, audit_a),
        B_DELEGATION_FILE: write_csv(folder / B_DELEGATION_FILE, DELEGATION_COLUMNS, delegations_b),
        B_AUDIT_FILE: write_csv(folder / B_AUDIT_FILE, AUDIT_COLUMNS, audit_b),
    }
    directory = folder / DIRECTORY_FILE
    directory.write_text("\n".join(directory_lines()) + "\n", encoding="utf-8")
    files[DIRECTORY_FILE] = directory
    expected_rows = {
        "roster-1.csv": len(roster_a),
        "roster-2.csv": len(roster_b),
        "delegations-alpha.csv": len(delegations_a),
        A_AUDIT_FILE: len(audit_a),
        B_DELEGATION_FILE: len(delegations_b),
        B_AUDIT_FILE: len(audit_b),
        DIRECTORY_FILE: 2,
    }
    db = folder / "warehouse.duckdb"
    con = connect(db)
    try:
        for name, path in files.items():
            result = ingest_file(con, path)
            assert result.status == "loaded", (name, result.status, result.message)
            assert result.rows_quarantined == 0, (name, result)
            assert result.rows_loaded == expected_rows[name], (name, result)
        models.refresh(con, [MARCH], load_config())
        # What a batch writes before its workers: reports opened read-only (a notebook run
        # alone) read the month's stored accesses, whichever test uses the world first.
        models.ensure_practice_access(con, [MARCH])
    finally:
        con.close()
    return World(
        db,
        folder,
        files,
        {
            A: expected_figures(roster_a, delegations_a, audit_a),
            B: expected_figures(roster_b, delegations_b, audit_b),
        },
    )


def findings_by_severity(db: Path, practice_id: str, month: Month = MARCH) -> dict[str, int]:
    """The finding rows of the warehouse, by severity (opened read-only, then closed)."""
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT severity, count(*) FROM finding WHERE month = ? AND practice_id = ? GROUP BY ALL",
            [month.first_day, practice_id],
        ).fetchall()
    finally:
        con.close()
    return {"critical": 0, "warning": 0, "info": 0} | dict(rows)


def finding_rules(db: Path, practice_id: str, month: Month = MARCH) -> dict[str, list]:
    """rule_id -> evidence lists of the practice's findings."""
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT rule_id, evidence FROM finding WHERE month = ? AND practice_id = ? "
            "ORDER BY rule_id, first_at",
            [month.first_day, practice_id],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list] = {}
    for rule_id, evidence in rows:
        out.setdefault(rule_id, []).append(list(evidence or []))
    return out


# ---- reading HTML ---------------------------------------------------------------------------

VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)


@dataclass
class Node:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)
    parent: Node | None = None

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(
        self, tag: str | None = None, *, cls: str | None = None, id: str | None = None
    ) -> list[Node]:  # noqa: A002 - mirrors HTML
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in (n.attrs.get("class") or "").split())
            and (id is None or n.attrs.get("id") == id)
        ]

    def find(self, tag: str | None = None, **options) -> Node:
        found = self.find_all(tag, **options)
        assert found, (tag, options)
        return found[0]

    @property
    def text(self) -> str:
        """The text content, without the content of script and style children."""
        parts = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == "br":
                    parts.append("\n")
                elif child.tag not in ("script", "style"):
                    parts.append(child.text)
            else:
                parts.append(child)
        return "".join(parts)

    @property
    def clean_text(self) -> str:
        return " ".join(self.text.split())


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_html(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def table_rows(table: Node) -> list[list[str]]:
    """The cell texts of a table's body rows."""
    return [
        [cell.clean_text for cell in row.find_all("td")]
        for row in table.find_all("tr")
        if row.find_all("td")
    ]


def without_scripts(text: str) -> str:
    """The document with the content of every script element removed."""
    out, pos = [], 0
    lower = text.lower()
    while True:
        start = lower.find("<script", pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        body = lower.find(">", start) + 1
        end = lower.find("</script>", body)
        assert end > 0, "unterminated script"
        out.append(text[pos:body])
        pos = end


def unescaped(text: str) -> str:
    return html.unescape(text)


def without_plotly_library(text: str) -> str:
    """The document without the content of the inline plotly.js script (if any)."""
    out, pos = [], 0
    for match in re.finditer(r"<script>(.*?)</script>", text, flags=re.S):
        if "plotly.js v" in match.group(1)[:400]:
            out.append(text[pos : match.start(1)])
            pos = match.end(1)
    out.append(text[pos:])
    return "".join(out)


def decoded(text: str) -> str:
    """The document with JSON \\uXXXX escapes and HTML character references decoded, and the
    line-break opportunities (``<wbr>``) placed in addresses removed, so that a value is found
    however the page encodes it (tables, figure data)."""
    text = re.sub(r"<wbr\s*/?>", "", text)
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return html.unescape(text)


GENERATED = re.compile(r"<dt>Généré le</dt><dd>[^<]*</dd>")


def without_generation_time(text: str) -> str:
    assert len(GENERATED.findall(text)) == 1, "the generation time line is missing"
    return GENERATED.sub("", text)


# The note naming the report a new version replaces: it depends on the runs made before.
VERSION = re.compile(r'\s*<div class="version" id="version">.*?</div>', re.S)


def without_version(text: str) -> str:
    return VERSION.sub("", text)


# ---- shared fixtures ------------------------------------------------------------------------
# Test modules register this module as a plugin (``pytest_plugins = ["reports_cases"]``), so
# these session fixtures are defined once and each expensive value is made once per session.


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    """The two practices' warehouse, March 2026 built."""
    return build_world(tmp_path_factory.mktemp("reports-world"))


@pytest.fixture(scope="session")
def batch(world, tmp_path_factory) -> BatchResult:
    """Both practices' reports, plotly.js inline, by the runner with two workers."""
    return run_monthly(
        world.db, MARCH, practices=[A, B], out=tmp_path_factory.mktemp("reports-inline"), workers=2
    )


@pytest.fixture(scope="session")
def cli_batch(world, tmp_path_factory) -> SimpleNamespace:
    """Every practice's report through the CLI, plotly.js shared, notebooks kept."""
    out = tmp_path_factory.mktemp("reports-cli")
    result = CliRunner().invoke(
        main,
        [
            "report",
            "monthly",
            "--db",
            str(world.db),
            "--month",
            "2026-03",
            "--all",
            "--out",
            str(out),
            "--workers",
            "2",
            "--assets",
            "shared",
            "--keep-notebooks",
        ],
    )
    return SimpleNamespace(result=result, out=out, folder=out / "2026-03")


@pytest.fixture(scope="session")
def documents(world, tmp_path_factory) -> SimpleNamespace:
    """Every kind of page on the hostile world, printed too: both monthly reports with their
    PDFs, the month's overview (which writes the batch's index again, linking to it), A's
    holder's history."""
    from delegation_reports.reports.documents import run_history, run_overview

    out = tmp_path_factory.mktemp("documents")
    batch = run_monthly(world.db, MARCH, practices=[A, B], out=out, workers=2, pdf=True)
    overview = run_overview(world.db, MARCH, out=out, pdf=True)
    history = run_history(
        world.db, A_HOLDER, start="2026-03-01", end="2026-03-31", out=out, pdf=True
    )
    return SimpleNamespace(
        out=out,
        folder=batch.folder,
        batch=batch,
        monthly=batch.folder / f"{A}.html",
        overview=overview,
        history=history,
        index=batch.index,
    )
