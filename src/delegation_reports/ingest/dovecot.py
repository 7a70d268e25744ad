"""Dovecot IMAP logs (``--format dovecot``): mail_log plugin events and login lines.

Reads Dovecot's own log files (``log_path``) and syslog files holding Dovecot lines, from
Dovecot 2.3 and 2.4 (whose mail_log lines may start with ``Mailbox <name>: ``). Each event line
becomes one canonical audit event; other programs' lines and Dovecot messages that are not
events are skipped and counted. The mapping is documented in docs/formats.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..errors import InputFileError
from .adapters import RowSink, Staging, has_surrogates, shown

MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

_ISO_TS = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>[.,]\d+)?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})? +"
)
_SYSLOG_TS = re.compile(
    r"(?P<mon>[A-Za-z]{3}) +(?P<day>\d{1,2}) (?P<time>\d{1,2}:\d{2}:\d{2})(?P<frac>\.\d+)? +"
)
# daemontools / multilog: "@" and a TAI64N label, 16 hex digits of seconds, 8 of nanoseconds.
_TAI64N_TS = re.compile(r"@(?P<seconds>[0-9a-fA-F]{16})(?P<nanos>[0-9a-fA-F]{8}) +")
# libtai's tai_now() labels 2^62 + 10 + the Unix time and tai64nlocal subtracts the same: the
# 10 s are TAI-UTC in 1972, a constant, so the label's seconds are UTC seconds shifted by it.
TAI64_EPOCH = 2**62 + 10
_LAST_SECOND = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
# Dovecot's own prefix: %{service}(%{user})<%{pid}><%{session}>: ; login processes have no user.
_PREFIX = re.compile(
    r"(?P<service>[a-z][a-z0-9_-]*)(?:\((?P<user>[^()]*)\))?(?:<(?P<pid>\d+)>)?(?:<(?P<session>[^<>]*)>)?: (?P<message>.*)$"
)
_LOOKS_LIKE_PREFIX = re.compile(r"[a-z][a-z0-9_-]*[(<:]")
# A log prefix set to "%s[%p]: " (log_prefix / mail_log_prefix), as syslog tags look.
_SERVICE_PID = re.compile(r"[a-z][a-z0-9_-]*\[\d+\]: ")
_SYSLOG_TAG = re.compile(r"(?P<host>\S+) (?P<program>[^\s\[\]:]+)(?:\[\d+\])?: (?P<message>.*)$")
_LEVEL = re.compile(r"(?:Info|Warning|Error|Fatal|Panic|Debug): ")
_PROBLEM = re.compile(r"(?:Warning|Error|Fatal|Panic): ")
_EVENTS = (
    r"save|copy|expunged?|deleted?|undeleted?|flag_change|mailbox_create|mailbox_delete|"
    r"mailbox_rename"
)
_EVENT = re.compile(
    r"(?:Mailbox (?P<box>.+?): )?"
    r"(?P<event>" + _EVENTS + r")"
    r"(?P<tail>(?::| from | -> ).*)?$"
)
# An event further in the message, after a prefix set by mail_log_prefix
# ("imap[4121]: user=<dr.martin> ip=192.0.2.5 session=kJd8 copy from INBOX: uid=908, ...").
_EVENT_INSIDE = re.compile(
    r"(?:(?<=\s)|(?<=:))(?:Mailbox (?P<box>[^:]+?): )?(?P<event>" + _EVENTS + r")"
    r"(?P<tail>(?::| from | -> ).*)$"
)
_EVENT_FIELDS = re.compile(r"\b(?:uid|box|msgid|size|vsize|flags)=")
_CUSTOM_SERVICE = re.compile(r"(?P<service>[a-z][a-z0-9_-]*)(?:\[(?P<pid>\d+)\])?:? ")
_FIELD = re.compile(r"\b(?P<name>[a-z_]+)=(?:<(?P<bracketed>[^<>]*)>|(?P<plain>[^,\s]*))")
_MSGID = re.compile(r"\bmsgid=(?P<msgid><[^<>]*>|[^,\s]+)")
_SCRUB = (
    (re.compile(r"\bsubject=.*?(?=, (?:from|size|vsize|flags|uid|msgid|box)=|$)"), "subject="),
    (re.compile(r"\bbox=[^,]*"), "box="),
    (
        re.compile(
            r"\bMailbox .+?: (?=(?:save|copy|expunge|delete|undelete|flag_change|mailbox_))"
        ),
        "Mailbox : ",
    ),
    (re.compile(r"\bcopy from .*?: "), "copy from : "),
    (re.compile(r"\b(mailbox_(?:create|delete|rename)): .*$"), r"\1: "),
)

ACTIONS = {
    # Dovecot 1.x names: "deleted", "expunged", "undeleted", "copy -> Box".
    "deleted": "other",
    "expunged": "delete",
    "undeleted": "other",
    "save": "other",
    "copy": "move",
    "expunge": "delete",
    "delete": "other",  # the \Deleted flag; the deletion is counted once, at expunge
    "undelete": "other",
    "flag_change": "other",
    "mailbox_create": "other",
    "mailbox_delete": "other",
    "mailbox_rename": "other",
}
# Services whose mail_log events are deliveries, the system's doing.
DELIVERY_SERVICES = frozenset({"lmtp", "lda", "deliver"})
AUTH_METHODS = {
    "plain": "password",
    "login": "password",
    "cram-md5": "password",
    "digest-md5": "password",
    "scram-sha-1": "password",
    "scram-sha-256": "password",
    "external": "certificate",
}
_MASTER_FIELDS = ("master", "master_user", "auth_user")


def sniff(path: Path, text: str) -> bool:
    """True when one of the first lines is a Dovecot line."""
    for line in text.splitlines():
        parsed = _split(line)
        if parsed and parsed["dovecot"] and parsed["prefix"]:
            return True
    return False


def scrub(line: str) -> str:
    """A log line without message subjects or folder names, for the quarantine."""
    for pattern, replacement in _SCRUB:
        line = pattern.sub(replacement, line)
    return line


def _split(line: str) -> dict | None:
    """A log line's parts: timestamp, program, Dovecot prefix; None when it has no timestamp."""
    out: dict = {"iso": None, "syslog": None}
    out["tai64n"] = None
    match = _ISO_TS.match(line)
    if match:
        out["iso"] = match
    elif match := _SYSLOG_TS.match(line):
        out["syslog"] = match
    elif match := _TAI64N_TS.match(line):
        out["tai64n"] = match
    else:
        return None
    rest = line[match.end() :]
    prefix = _PREFIX.match(rest)
    if prefix or _LOOKS_LIKE_PREFIX.match(rest) or _SERVICE_PID.match(rest):
        # Dovecot's own log file: the prefix follows the timestamp.
        out.update(program="dovecot", dovecot=True, prefix=prefix, rest=rest)
        return out
    tag = _SYSLOG_TAG.match(rest)
    if not tag:
        out.update(program=None, dovecot=False, prefix=None, rest=rest)
        return out
    program = tag.group("program")
    is_dovecot = program.casefold().startswith("dovecot")
    message = tag.group("message")
    out.update(
        program=program,
        dovecot=is_dovecot,
        rest=message,
        prefix=_PREFIX.match(message) if is_dovecot else None,
    )
    return out


def _fields(text: str) -> dict[str, str]:
    return {
        m.group("name"): m.group("bracketed")
        if m.group("bracketed") is not None
        else m.group("plain")
        for m in _FIELD.finditer(text)
    }


class _BadTime(ValueError):
    """Raised for a timestamp that has the right shape but names no representable time."""


@dataclass(frozen=True)
class _Origin:
    """Who logged a mailbox event: Dovecot's prefix, or the fields of a custom one."""

    service: str
    user: str
    pid: str
    session: str | None


def tai64n_utc(seconds_hex: str, nanos_hex: str) -> str:
    """A TAI64N label (multilog's ``@4000000…``) as ISO UTC text with microseconds."""
    seconds = int(seconds_hex, 16) - TAI64_EPOCH
    nanos = int(nanos_hex, 16)
    if not 0 <= seconds <= _LAST_SECOND or nanos >= 1_000_000_000:
        raise _BadTime(
            f"TAI64N label @{seconds_hex}{nanos_hex} names no time between 1970 and 9999"
        )
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos // 1000:06d}Z"


def _owner_and_master(user: str) -> tuple[str, str | None]:
    """``owner*master`` (Dovecot's master user login) split into its two accounts."""
    owner, star, master = user.partition("*")
    return owner.strip().lower(), (master.strip().lower() or None) if star else None


class DovecotReader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        operator: str,
        sink: RowSink,
        year: int | None,
        timezone: str,
    ):
        self.con, self.path, self.operator, self.sink = con, path, operator, sink
        self.year, self.timezone = year, timezone
        self.staging = Staging()
        self.counts = {"login": 0, "login_failed": 0, "mailbox": 0}
        self.local_times = False
        self.year_used = False
        self.format_names_master = False
        self.unattributed_sessions = 0

    # -- pass 1: sessions whose login line names the master user, or shows there was none --

    def _master_sessions(self) -> dict[str, tuple[str, str | None]]:
        sessions: dict[str, tuple[str, str | None]] = {}
        with self.path.open(encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                if "-login: " not in line or "user=<" not in line:
                    continue
                parsed = _split(line.rstrip("\r\n"))
                if not parsed or not parsed["prefix"] or not parsed["dovecot"]:
                    continue
                message = _LEVEL.sub("", parsed["prefix"].group("message"), count=1)
                if not (message.startswith("Login: ") or message.startswith("Logged in: ")):
                    continue
                fields = _fields(message)
                owner, master = self._login_accounts(fields)
                session = fields.get("session")
                if session and (master or any(name in fields for name in _MASTER_FIELDS)):
                    sessions[session] = (owner, master)
        return sessions

    def _login_accounts(self, fields: dict[str, str]) -> tuple[str, str | None]:
        owner, master = _owner_and_master(fields.get("user", ""))
        if master or any(name in fields for name in _MASTER_FIELDS):
            self.format_names_master = True
        if not master:
            for name in _MASTER_FIELDS:
                value = (fields.get(name) or "").strip().lower()
                if value and value != owner:
                    master = _owner_and_master(value)[1] or value
                    break
        return owner, master

    # -- pass 2 --

    def read(self) -> Staging:
        staging = self.staging
        sessions = self._master_sessions()
        known = dict(
            (s, (o, m))
            for s, o, m in self.con.execute(
                "SELECT session_id, owner, master_user FROM dovecot_session WHERE operator = ?",
                [self.operator],
            ).fetchall()
        )
        self.new_sessions = {s: v for s, v in sessions.items() if s not in known}
        self.sessions = {**known, **sessions}
        self.year_now = self.year
        self.last_month = None
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            for number, data in enumerate(handle, start=1):
                line = data.rstrip("\r\n")
                if not line.strip():
                    continue
                staging.n_source += 1
                self._line(number, line)
        self.sink.close()
        self._notes()

        new_sessions = self.new_sessions

        def persist(con: duckdb.DuckDBPyConnection, file_id: int) -> None:
            if new_sessions:
                con.executemany(
                    "INSERT INTO dovecot_session VALUES (?, ?, ?, ?, ?)",
                    [
                        (self.operator, s, o, m, file_id)
                        for s, (o, m) in sorted(new_sessions.items())
                    ],
                )

        staging.persist = persist
        return staging

    def _line(self, number: int, line: str) -> None:
        staging = self.staging
        if has_surrogates(line):
            staging.reject(
                number, "undecodable_bytes", "bytes that are not UTF-8", scrub(shown(line))
            )
            return
        parsed = _split(line)
        if parsed is None:
            staging.reject(
                number, "malformed_row", "no timestamp at the start of the line", scrub(line)
            )
            return
        if parsed["program"] is None:
            staging.reject(
                number, "malformed_row", "neither a syslog nor a Dovecot log line", scrub(line)
            )
            return
        if not parsed["dovecot"]:
            staging.skip(f"other program {parsed['program']}")
            return
        try:
            self._dovecot_line(number, line, parsed)
        except _BadTime as exc:
            staging.reject(number, "bad_timestamp", str(exc), scrub(line))

    def _dovecot_line(self, number: int, line: str, parsed: dict) -> None:
        staging = self.staging
        prefix = parsed["prefix"]
        if prefix is None:
            if self._custom_event(number, line, parsed, parsed["rest"]):
                return
            if _LOOKS_LIKE_PREFIX.match(parsed["rest"]):
                staging.reject(
                    number, "malformed_row", "a Dovecot prefix that cannot be read", scrub(line)
                )
            else:
                staging.skip("other Dovecot messages")
            return
        service = prefix.group("service")
        message = _LEVEL.sub("", prefix.group("message"), count=1)
        if service.endswith("-login"):
            self._login(number, line, parsed, prefix, message)
            return
        # mail_log writes its events at Info level; an error may read "copy from X failed".
        event = None if _PROBLEM.match(prefix.group("message")) else _EVENT.match(message)
        if not event:
            if _PROBLEM.match(prefix.group("message")):
                staging.skip("other Dovecot messages")
                return
            if not self._custom_event(number, line, parsed, message, prefix):
                staging.skip("other Dovecot messages")
            return
        self._mailbox_event(
            number,
            line,
            parsed,
            _Origin(
                service,
                (prefix.group("user") or "").strip(),
                prefix.group("pid") or "",
                prefix.group("session") or None,
            ),
            message,
            event,
        )

    def _custom_event(
        self, number: int, line: str, parsed: dict, message: str, prefix=None
    ) -> bool:
        """A mail_log event after a prefix set by ``mail_log_prefix``: parsed when the prefix
        names the user (``user=<u>``), else quarantined; False when the message holds no
        mail_log event."""
        if _PROBLEM.search(message):
            return False
        message = _LEVEL.sub("", message, count=1)
        event = _EVENT_INSIDE.search(message)
        # An error message may say "copy from ... failed": an event carries its fields.
        if not event or not (
            event.group("event").startswith("mailbox_") or _EVENT_FIELDS.search(event.group("tail"))
        ):
            return False
        lead = message[: event.start()]
        fields = _fields(lead)
        service = _CUSTOM_SERVICE.match(lead)
        origin = _Origin(
            prefix.group("service") if prefix else service.group("service") if service else "",
            (prefix.group("user") if prefix else None) or fields.get("user") or "",
            (prefix.group("pid") if prefix else None)
            or (service.group("pid") if service else None)
            or fields.get("pid")
            or "",
            (prefix.group("session") if prefix else None) or fields.get("session") or None,
        )
        if not origin.user.strip():
            self.staging.reject(
                number,
                "malformed_row",
                "a mail_log event whose user cannot be read (mail_log_prefix without user=<%u>?)",
                scrub(line),
            )
            return True
        self._mailbox_event(number, line, parsed, origin, message[event.start() :], event)
        return True

    def _mailbox_event(
        self, number: int, line: str, parsed: dict, origin: _Origin, message: str, event
    ) -> None:
        staging = self.staging
        user = origin.user.strip()
        if not user:
            staging.reject(number, "malformed_row", "a mailbox event without a user", scrub(line))
            return
        occurred_at = self._timestamp(number, parsed)
        owner, master = _owner_and_master(user)
        session = origin.session
        if master is None and session in self.sessions:
            master = self.sessions[session][1]
        elif master is None and self.format_names_master:
            self.unattributed_sessions += 1
        # A delivery (LMTP, LDA) is the system's doing, not the mailbox user's.
        service = origin.service
        actor = f"system:dovecot-{service}" if service in DELIVERY_SERVICES else master or owner
        msgid = _MSGID.search(event.group("tail") or "")
        values = {
            "event_id": self._event_id(occurred_at, origin, message),
            "occurred_at": occurred_at,
            "mailbox": owner,
            "actor": actor,
            "action": ACTIONS[event.group("event")],
            "outcome": "success",
            "auth_method": None,
            "client_ip": None,
            "user_agent": None,
            "session_id": session,
            "message_id": msgid.group("msgid") if msgid else None,
            "operator": None,
        }
        self.sink.add("audit", number, values, scrub(line))
        self.counts["mailbox"] += 1
        staging.n_mapped += 1

    def _login(self, number: int, line: str, parsed: dict, prefix, message: str) -> None:
        staging = self.staging
        if message.startswith("Login: ") or message.startswith("Logged in: "):
            action, outcome = "login", "success"
        elif "auth failed" in message.casefold():
            action, outcome = "login_failed", "failure"
        else:
            staging.skip("other Dovecot messages")
            return
        fields = _fields(message)
        if not (fields.get("user") or "").strip():
            staging.skip(
                "failed logins without a user name"
                if action == "login_failed"
                else "other Dovecot messages"
            )
            return
        owner, master = self._login_accounts(fields)
        occurred_at = self._timestamp(number, parsed)
        method = (fields.get("method") or "").casefold()
        values = {
            "event_id": self._event_id(
                occurred_at,
                _Origin(
                    prefix.group("service"),
                    prefix.group("user") or "",
                    prefix.group("pid") or "",
                    prefix.group("session") or "",
                ),
                message,
            ),
            "occurred_at": occurred_at,
            "mailbox": owner,
            "actor": master or owner,
            "action": action,
            "outcome": outcome,
            "auth_method": AUTH_METHODS.get(method, "unknown") if method else None,
            "client_ip": fields.get("rip") or None,
            "user_agent": None,
            "session_id": fields.get("session") or None,
            "message_id": None,
            "operator": None,
        }
        self.sink.add("audit", number, values, scrub(line))
        self.counts[action] += 1
        staging.n_mapped += 1

    def _timestamp(self, number: int, parsed: dict) -> str:
        """The line's time as text for the staging model: ISO with its offset, or a local
        wall-clock time (read in the declared zone by the staging model)."""
        tai64n = parsed["tai64n"]
        if tai64n:
            return tai64n_utc(tai64n.group("seconds"), tai64n.group("nanos"))
        iso = parsed["iso"]
        if iso:
            fraction = (iso.group("frac") or "").replace(",", ".")[:7]
            zone = iso.group("zone") or ""
            if not zone:
                self.local_times = True
            return f"{iso.group('date')}T{iso.group('time')}{fraction}{zone}"
        syslog = parsed["syslog"]
        if self.year is None:
            raise InputFileError(
                f"{self.path}: line {number} has a syslog timestamp without a year "
                f"({syslog.group(0).strip()!r}): pass --year YYYY, the year of the file's first line"
            )
        self.local_times = self.year_used = True
        month = MONTHS.get(syslog.group("mon").casefold())
        if month is None:
            return syslog.group(0).strip()
        if self.last_month == 12 and month == 1:
            self.year_now += 1
        self.last_month = month
        clock = syslog.group("time").zfill(8)
        fraction = (syslog.group("frac") or "")[:7]
        return f"{self.year_now:04d}-{month:02d}-{int(syslog.group('day')):02d}T{clock}{fraction}"

    @staticmethod
    def _event_id(occurred_at: str, origin: _Origin, message: str) -> str:
        """The same line in two overlapping files gets the same id, whatever the file."""
        parts = (
            occurred_at,
            origin.service,
            origin.user,
            origin.pid,
            origin.session or "",
            message,
        )
        return "dovecot:" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()

    def _notes(self) -> None:
        staging, counts = self.staging, self.counts
        staging.notes.append(
            f"{staging.n_source:,} log lines read: {counts['login']:,} logins, "
            f"{counts['login_failed']:,} failed logins, {counts['mailbox']:,} mailbox events, "
            f"{len(staging.rejects):,} unreadable lines"
        )
        skipped = staging.skipped_note("lines")
        if skipped:
            staging.notes.append(skipped)
        if not self.format_names_master:
            staging.notes.append(
                "WARNING: this Dovecot log never names a master user (the default login format): "
                "a delegate working through a master user appears as the mailbox holder, so "
                "delegate actions cannot be told apart from the holder's in this file"
            )
        elif self.unattributed_sessions:
            staging.notes.append(
                f"{self.unattributed_sessions:,} mailbox events belong to sessions whose login "
                "is not in this file nor in earlier loads: attributed to the mailbox's login"
            )
        staging.notes.append("Dovecot logs no reads: messages read are not traced in this file")
        if self.local_times:
            staging.notes.append(f"local times read in {self.timezone}")
        if self.year_used:
            staging.notes.append(f"syslog dates without a year read in {self.year} (--year)")


def time_macro_sql(timezone: str) -> list[str]:
    from ..warehouse import sql_statements

    literal = "'" + timezone.replace("'", "''") + "'"
    return [s.format(timezone=literal) for s in sql_statements("ingest/time_dovecot.sql")]
