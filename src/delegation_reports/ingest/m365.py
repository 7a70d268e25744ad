"""Microsoft 365 / Exchange Online audit records (``--format m365``).

Reads Purview audit search exports (CSV whose ``AuditData`` column holds each record as JSON,
older ``CreationDate,UserIds,Operations,AuditData`` or newer ``RecordId,CreationDate,
RecordType,Operation,UserId,AuditData,...`` headers) and Management Activity API output
(JSON Lines of records, or JSON arrays). Mailbox records become canonical audit events,
mailbox permission changes become canonical delegation events, other workloads are skipped
and counted. The mapping tables are documented in docs/formats.md.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from ..warehouse import sql_text
from . import files
from .adapters import RowSink, Staging, has_surrogates, shown
from .content import is_content_column, scrub_csv_line, scrub_json_text
from .m365_identities import Identities

DEFAULT_OPERATOR = "Microsoft 365"
# An aggregated record standing for more accesses than this is quarantined (invalid_value)
# rather than expanded.
MAX_OPERATION_COUNT = 100_000

RECORD_TYPES = {
    1: "ExchangeAdmin",
    2: "ExchangeItem",
    3: "ExchangeItemGroup",
    4: "SharePoint",
    6: "SharePointFileOperation",
    7: "OneDrive",
    8: "AzureActiveDirectory",
    9: "AzureActiveDirectoryAccountLogon",
    10: "DataCenterSecurityCmdlet",
    11: "ComplianceDLPSharePoint",
    13: "ComplianceDLPExchange",
    14: "SharePointSharingOperation",
    15: "AzureActiveDirectoryStsLogon",
    18: "SecurityComplianceCenterEOPCmdlet",
    20: "PowerBIAudit",
    22: "Yammer",
    25: "MicrosoftTeams",
    28: "ThreatIntelligence",
    40: "SecurityComplianceAlerts",
    47: "ThreatIntelligenceAtpContent",
    50: "ExchangeItemAggregated",
    64: "AirInvestigation",
    78: "MicrosoftForms",
}
_TYPE_NUMBERS = {name.casefold(): number for number, name in RECORD_TYPES.items()}
# Exchange sets up a Microsoft 365 group's mailbox itself: folder permissions for the group's
# pseudo-accounts and a welcome message, as the system account (S-1-5-18).
GROUP_SETUP = (
    "group mailbox set up by the system (ConfigureGroupMailbox, Member@local, Owner@local)"
)
GROUP_ROLES = frozenset({"member@local", "owner@local"})
MAILBOX_TYPES = frozenset({2, 3, 50})
ADMIN_TYPE = 1

ACTIONS = {
    "mailitemsaccessed": "read",
    "mailboxlogin": "login",
    "send": "send",
    "sendas": "send",
    "sendonbehalf": "send",
    "softdelete": "delete",
    "harddelete": "delete",
    "movetodeleteditems": "delete",
    "move": "move",
}

# Folder permission changes logged by mailbox auditing (a user sharing a folder).
FOLDER_OPERATIONS = {
    "addfolderpermissions": "set",
    "modifyfolderpermissions": "set",
    "updatefolderpermissions": "set",
    "removefolderpermissions": "remove",
}
CMDLETS = frozenset(
    {
        "add-mailboxpermission",
        "remove-mailboxpermission",
        "add-recipientpermission",
        "remove-recipientpermission",
        "set-mailbox",
        "add-mailboxfolderpermission",
        "set-mailboxfolderpermission",
        "remove-mailboxfolderpermission",
    }
)

# Mailbox permissions (Add-MailboxPermission -AccessRights) -> canonical rights. FullAccess
# opens the whole mailbox (read, open attachments, delete, move) but does not let the delegate
# send: sending needs SendAs or SendOnBehalf, which are separate permissions.
MAILBOX_RIGHTS = {
    "fullaccess": frozenset({"read", "documents", "manage"}),
    "deleteitem": frozenset({"manage"}),
    "changepermission": frozenset({"manage"}),
    "changeowner": frozenset({"manage"}),
}
RECIPIENT_RIGHTS = {"sendas": frozenset({"send"})}
# Folder roles and permission flags -> canonical rights (empty: gives no right we model).
FOLDER_RIGHTS = {
    "owner": frozenset({"read", "manage"}),
    "publishingeditor": frozenset({"read", "manage"}),
    "editor": frozenset({"read", "manage"}),
    "publishingauthor": frozenset({"read"}),
    "author": frozenset({"read"}),
    "noneditingauthor": frozenset({"read"}),
    "reviewer": frozenset({"read"}),
    "contributor": frozenset(),
    "none": frozenset(),
    "availabilityonly": frozenset(),
    "limiteddetails": frozenset(),
    "readitems": frozenset({"read"}),
    "readany": frozenset({"read"}),
    "editallitems": frozenset({"manage"}),
    "deleteallitems": frozenset({"manage"}),
    "editany": frozenset({"manage"}),
    "deleteany": frozenset({"manage"}),
    "createitems": frozenset(),
    "create": frozenset(),
    "createsubfolders": frozenset(),
    "foldervisible": frozenset(),
    "visible": frozenset(),
    "folderowner": frozenset(),
    "foldercontact": frozenset(),
    "editowneditems": frozenset(),
    "deleteowneditems": frozenset(),
    "editowned": frozenset(),
    "deleteowned": frozenset(),
    "freebusysimple": frozenset(),
    "freebusydetailed": frozenset(),
}

# Keys whose values are message content or folder paths: blanked in the raw text kept for a
# quarantined record. Inside folder objects, "Name" is a folder name and is blanked too.
CONTENT_KEYS = frozenset(
    {
        "subject",
        "attachments",
        "attachmentname",
        "attachment_name",
        "body",
        "preview",
        "snippet",
        "path",
        "folderpath",
        "destfolderpath",
        "sourcefolderpath",
    }
)
FOLDER_KEYS = frozenset(
    {
        "folder",
        "folders",
        "parentfolder",
        "destfolder",
        "sourcefolder",
        "sourcefolders",
        "destinationfolder",
    }
)
_CONTENT_TEXT = re.compile(
    r'("(?:' + "|".join(sorted(CONTENT_KEYS | {"name"})) + r')"\s*:\s*)"(?:[^"\\]|\\.)*("|$)',
    flags=re.I,
)


# ---- detection ----------------------------------------------------------------------------


def sniff(path: Path, text: str) -> bool:
    """True for a Purview CSV export (an AuditData column) or Management Activity API records."""
    first = files.first_line(text)
    if any(
        h.casefold() == "auditdata" for h in files.parse_header(first, files.sniff_delimiter(first))
    ):
        return True
    stripped = text.lstrip()
    if stripped.startswith("["):
        return '"CreationTime"' in text and '"Operation"' in text
    # A damaged first record must not hide the others: any of the first lines will do.
    return any(_looks_like_record(line) for line in stripped.splitlines()[:_SNIFF_LINES])


_SNIFF_LINES = 50


def _looks_like_record(line: str) -> bool:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    if not isinstance(record, dict):
        return False
    keys = {k.casefold() for k in record}
    return {"creationtime", "operation"} <= keys and bool({"recordtype", "workload"} & keys)


# ---- reading records ----------------------------------------------------------------------


@dataclass
class _Record:
    line: int
    data: dict


@dataclass
class _Reject:
    line: int
    reason: str
    detail: str
    raw: str


def scrub(value, found: set[str], path: str = "", in_folder: bool = False):
    """A copy of a JSON value with content fields blanked; their dotted names go to ``found``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            folded = key.casefold()
            if folded in CONTENT_KEYS or is_content_column(key) or (in_folder and folded == "name"):
                if item not in (None, "", [], {}):
                    found.add(f"{path}{key}")
                out[key] = ""
            else:
                out[key] = scrub(item, found, f"{path}{key}.", folded in FOLDER_KEYS)
        return out
    if isinstance(value, list):
        return [scrub(item, found, path, in_folder) for item in value]
    return value


def scrub_text(text: str) -> str:
    """Blank content values in JSON text that could not be parsed."""
    return scrub_json_text(_CONTENT_TEXT.sub(lambda m: m.group(1) + '""', text))


def _csv_records(path: Path, header: list[str], delimiter: str = ","):
    """Records of a Purview CSV export (``,``, or ``;`` once re-saved by a French Excel); the
    line is where the CSV record starts."""
    index = [h.casefold() for h in header].index("auditdata")
    csv.field_size_limit(64 * 1024 * 1024)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        first = next(reader, None)
        if first and first[0].startswith("#TYPE"):  # PowerShell 5.1's Export-Csv
            next(reader, None)
        previous = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _Reject(previous + 1, "malformed_row", f"CSV: {exc}", "")
                return
            line, previous = previous + 1, reader.line_num
            if not row:
                continue
            raw = _csv_raw(row, delimiter)
            if any(has_surrogates(f) for f in row):
                yield _Reject(
                    line,
                    "undecodable_bytes",
                    "bytes that are not UTF-8",
                    scrub_csv_line(shown(raw), header, delimiter),
                )
                continue
            if len(row) != len(header):
                yield _Reject(
                    line,
                    "wrong_column_count",
                    f"{len(row)} fields, the header has {len(header)}",
                    scrub_csv_line(raw, header, delimiter),
                )
                continue
            yield _json_record(line, row[index], "AuditData ")


def _csv_raw(row: list[str], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow([scrub_text(f) for f in row])
    return out.getvalue()


def _json_error(exc: Exception) -> str:
    return getattr(exc, "msg", "nested too deep")


# Python's JSON reader and the content scrubber recurse once per nesting level.
TOO_DEEP = "invalid JSON: nested too deep"


def _json_record(line: int, text: str, what: str = ""):
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return _Reject(
            line, "malformed_row", f"{what}invalid JSON: {_json_error(exc)}", scrub_text(text)
        )
    if not isinstance(data, dict):
        return _Reject(line, "malformed_row", f"{what}not a JSON object", scrub_text(text)[:2000])
    return _Record(line, data)


def _json_lines(path: Path):
    """Records of JSON Lines (each line an object, or an array of objects)."""
    for line, text in files.nonblank_lines(path):
        try:
            decoded = text.decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError:
            yield _Reject(
                line,
                "undecodable_bytes",
                "bytes that are not UTF-8",
                scrub_text(text.decode("utf-8", errors="backslashreplace")),
            )
            continue
        if decoded.lstrip().startswith("["):
            try:
                items = json.loads(decoded)
            except (json.JSONDecodeError, RecursionError) as exc:
                yield _Reject(
                    line,
                    "malformed_row",
                    f"invalid JSON: {_json_error(exc)}",
                    scrub_text(decoded),
                )
                continue
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, dict):
                    yield _Record(line, item)
                else:
                    yield _Reject(
                        line,
                        "malformed_row",
                        "not a JSON object",
                        scrub_text(json.dumps(item))[:2000],
                    )
            continue
        yield _json_record(line, decoded)


def _json_array(path: Path):
    """Records of a file holding JSON arrays of records (pretty-printed or not)."""
    text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    decoder = json.JSONDecoder()
    pos, line, depth = 0, 1, 0
    length = len(text)

    def advance(to: int) -> None:
        nonlocal pos, line
        line += text.count("\n", pos, to)
        pos = to

    while True:
        while pos < length and (text[pos].isspace() or (depth and text[pos] == ",")):
            advance(pos + 1)
        if pos >= length:
            return
        if text[pos] == "[" and not depth:
            depth = 1
            advance(pos + 1)
            continue
        if text[pos] == "]" and depth:
            depth = 0
            advance(pos + 1)
            continue
        start_line = line
        try:
            item, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            end_of_line = text.find("\n", pos)
            end_of_line = length if end_of_line < 0 else end_of_line
            fragment = text[pos:end_of_line]
            reason = "undecodable_bytes" if has_surrogates(fragment) else "malformed_row"
            yield _Reject(
                start_line, reason, f"invalid JSON: {_json_error(exc)}", scrub_text(shown(fragment))
            )
            advance(end_of_line)
            continue
        advance(end)
        if not isinstance(item, dict):
            yield _Reject(
                start_line,
                "malformed_row",
                "not a JSON object",
                scrub_text(json.dumps(item))[:2000],
            )
        elif _deep_surrogates(item):
            yield _Reject(
                start_line,
                "undecodable_bytes",
                "bytes that are not UTF-8",
                shown(json.dumps(scrub(item, set()), ensure_ascii=False)),
            )
        else:
            yield _Record(start_line, item)


def _deep_surrogates(item) -> bool:
    try:
        return any(has_surrogates(v) for v in _strings(item))
    except RecursionError:
        return False  # the record is quarantined as too deep when it is read


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def records(path: Path, header: list[str], delimiter: str = ","):
    # A first line that is neither a Purview header nor a record ("42") is not a header.
    if any(h.casefold() == "auditdata" for h in header):
        return _csv_records(path, header, delimiter)
    with path.open("rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return _json_array(path) if start.startswith(b"[") else _json_lines(path)


# ---- field helpers ------------------------------------------------------------------------


def _get(data: dict, *names: str):
    """A field by name, case-insensitively (SendAsUserSMTP / SendAsUserSmtp)."""
    if not isinstance(data, dict):
        return None
    for name in names:
        if name in data:
            return data[name]
    folded = {n.casefold() for n in names}
    for key, value in data.items():
        if key.casefold() in folded:
            return value
    return None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


def _number(value) -> int | None:
    """An integer given as a number or as text ("0", " 3 ", "6.0", "1e3"); None when the value
    is not an integral number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    # Bounded before int(): "1e999999999" would build a billion-digit integer.
    if not number.is_finite() or number.adjusted() > 18 or number != number.to_integral_value():
        return None
    return int(number)


def record_type(data: dict) -> tuple[int | None, str]:
    """The record type as a number when known, and a name for notes."""
    raw = _get(data, "RecordType")
    number = _number(raw)
    if number is None and isinstance(raw, str) and raw.strip():
        number = _TYPE_NUMBERS.get(raw.strip().casefold())
        if number is None:
            return None, raw.strip()
    if number is None:
        # No record type: infer Exchange records from the workload and operation.
        workload = _text(_get(data, "Workload")).casefold()
        operation = _text(_get(data, "Operation")).casefold()
        if workload == "exchange":
            return (ADMIN_TYPE, RECORD_TYPES[1]) if "-" in operation else (2, RECORD_TYPES[2])
        return None, workload or "unknown"
    return number, RECORD_TYPES.get(number, f"type {number}")


def _is_system(user: str) -> bool:
    upper = user.upper()
    return upper.startswith("NT AUTHORITY") or upper.startswith("S-1-5-18")


def group_mailbox_setup(data: dict, operation: str) -> bool:
    """True for the records of Exchange setting up a group mailbox by itself."""
    if not (
        _is_system(_text(_get(data, "UserId"))) or _is_system(_text(_get(data, "LogonUserSid")))
    ):
        return False
    if "action=configuregroupmailbox" in _text(_get(data, "ClientInfoString")).casefold():
        return True
    item = _get(data, "Item")
    folder = _get(item, "ParentFolder") if isinstance(item, dict) else None
    member = _text(_get(folder, "MemberUpn")).casefold() if isinstance(folder, dict) else ""
    return operation in FOLDER_OPERATIONS and member in GROUP_ROLES


def actor_of(data: dict) -> str | None:
    """The acting account, lower-cased; system accounts as ``system:<account>``."""
    user = _text(_get(data, "UserId"))
    logon_type = _number(_get(data, "LogonType"))
    if logon_type in (3, 4) or (user and _is_system(user)):
        return "system:" + (user or _text(_get(data, "LogonUserSid")) or "unknown").lower()
    return user.lower() or None


def client_ip(value) -> str | None:
    """An address without its port or IPv6 brackets (``[2001:db8::1]:443``, ``198.51.100.4:50123``)."""
    text = _text(value)
    if not text:
        return None
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::\d+)?", text)
    if bracketed:
        return bracketed.group(1)
    if text.count(":") == 1 and re.fullmatch(r"[0-9.]+:\d+", text):
        return text.split(":")[0]
    return text


def outcome_of(data: dict) -> str:
    status = _text(_get(data, "ResultStatus"))
    folded = status.casefold()
    if folded in ("", "succeeded", "success", "true", "partiallysucceeded"):
        return "success"
    if folded in ("failed", "failure", "false"):
        return "failure"
    return status


def event_time(data: dict) -> tuple[str | None, datetime | None]:
    """CreationTime as ISO text for the staging model (UTC: a missing offset means Z), and as
    a datetime when it can be read."""
    text = _text(_get(data, "CreationTime"))
    if not text:
        return None, None
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:?\d{2})?", text
    )
    if not match:
        return text, None
    fraction = (match.group(3) or "")[:7]
    zone = match.group(4) or "Z"
    iso = f"{match.group(1)}T{match.group(2)}{fraction}{zone}"
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return iso, None
    return iso, parsed.astimezone(UTC)


def message_ids(data: dict) -> list[str]:
    item = _get(data, "Item")
    found = _get(item, "InternetMessageId") if isinstance(item, dict) else None
    if found:
        return [_text(found)]
    ids = []
    for folder in _get(data, "Folders") or []:
        for entry in (_get(folder, "FolderItems") or []) if isinstance(folder, dict) else []:
            value = _get(entry, "InternetMessageId")
            if value:
                ids.append(_text(value))
    if ids:
        return ids
    for entry in _get(data, "AffectedItems") or []:
        value = _get(entry, "InternetMessageId")
        if value:
            ids.append(_text(value))
    return ids


def _parameters(data: dict) -> dict[str, object]:
    out = {}
    for entry in _get(data, "Parameters") or []:
        if isinstance(entry, dict):
            name = _text(_get(entry, "Name"))
            if name:
                out[name.casefold()] = _get(entry, "Value")
    return out


def _split_rights(value) -> list[str]:
    if isinstance(value, list):
        value = ",".join(_text(v) for v in value)
    return [r for r in re.split(r"[\s,;|]+", _text(value).casefold()) if r]


def _split_list(value) -> list[str]:
    """A multi-valued parameter: a JSON list, or text separated by commas or semicolons."""
    if isinstance(value, list):
        items = [_text(v) for v in value]
    else:
        text = _text(value)
        if text.casefold() in ("", "$null", "null", "{}"):
            return []
        items = re.split(r"[,;]", text.strip("{}"))
    return sorted(
        {i.strip().strip("'\"").strip().lower() for i in items if i.strip().strip("'\"").strip()}
    )


def _hashtable(value) -> dict[str, list[str]] | None:
    """``@{Add="a@x","b@x"; Remove="c@x"}``: the incremental form of a multi-valued parameter."""
    text = _text(value)
    if not text.startswith("@{"):
        return None
    out: dict[str, list[str]] = {"add": [], "remove": []}
    for part in text[2:].rstrip("}").split(";"):
        if "=" in part:
            name, items = part.split("=", 1)
            if name.strip().casefold() in out:
                out[name.strip().casefold()] = _split_list(items)
    return out


def _folder_key(path: str) -> str:
    """A folder's key in the permission state: a digest, so no folder name is stored."""
    normalised = re.sub(r"^[:\\/]+", "", path.strip()).casefold()
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()[:12]


# ---- permission state ---------------------------------------------------------------------


def _rights_of(tokens: dict[str, frozenset]) -> frozenset:
    out: set[str] = set()
    for rights in tokens.values():
        out |= rights
    return frozenset(out)


def _encode(tokens: dict[str, frozenset]) -> list[str]:
    return [f"{t}={'+'.join(sorted(r))}" for t, r in sorted(tokens.items())]


def _decode(items) -> dict[str, frozenset]:
    out = {}
    for item in items or []:
        token, _, rights = item.partition("=")
        out[token] = frozenset(r for r in rights.split("+") if r)
    return out


@dataclass
class _Change:
    """One permission-changing record, before the state it applies to is known."""

    line: int
    record_id: str
    at: datetime
    at_text: str
    mailbox: str
    performed_by: str | None
    raw: str
    # (delegate, action, token, rights, unmapped rights); action: set | remove | remove_prefix
    operations: list[tuple[str, str, str, frozenset, list[str]]] = field(default_factory=list)
    # GrantSendOnBehalfTo: the whole resulting list, when given whole.
    send_on_behalf: list[str] | None = None
    suffix_by_delegate: bool = False


class _PermissionState:
    """The permission tokens of each (mailbox, delegate), as a history ordered by time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, operator: str, mailboxes: set[str]):
        self.history: dict[tuple[str, str], list[tuple[datetime, str, dict]]] = defaultdict(list)
        self.delegates: dict[str, set[str]] = defaultdict(set)
        self.loaded_ids: set[tuple[str, str, str]] = set()
        self.new: list[tuple] = []
        if not mailboxes:
            return
        rows = con.execute(
            "SELECT mailbox, delegate, changed_at, source_event_id, permissions "
            "FROM m365_permission_state WHERE operator = ? AND list_contains(?, mailbox)",
            [operator, sorted(mailboxes)],
        ).fetchall()
        for mailbox, delegate, changed_at, event_id, permissions in rows:
            self.history[(mailbox, delegate)].append(
                (changed_at.astimezone(UTC), event_id, _decode(permissions))
            )
            self.delegates[mailbox].add(delegate)
            self.loaded_ids.add((event_id, mailbox, delegate))
        for entries in self.history.values():
            entries.sort(key=lambda e: (e[0], e[1]))

    def before(
        self, mailbox: str, delegate: str, at: datetime, event_id: str
    ) -> dict[str, frozenset]:
        entries = self.history.get((mailbox, delegate), [])
        index = bisect.bisect_left([(e[0], e[1]) for e in entries], (at, event_id))
        return dict(entries[index - 1][2]) if index else {}

    def later_known(self, mailbox: str, delegate: str, at: datetime, event_id: str) -> bool:
        return any((e[0], e[1]) > (at, event_id) for e in self.history.get((mailbox, delegate), []))

    def record(
        self, mailbox: str, delegate: str, at: datetime, event_id: str, tokens: dict
    ) -> None:
        entries = self.history[(mailbox, delegate)]
        keys = [(e[0], e[1]) for e in entries]
        if (at, event_id) in keys:
            return
        bisect.insort(entries, (at, event_id, tokens), key=lambda e: (e[0], e[1]))
        self.delegates[mailbox].add(delegate)
        if (event_id, mailbox, delegate) not in self.loaded_ids:
            self.new.append((mailbox, delegate, at, event_id, _encode(tokens)))


# ---- the reader ---------------------------------------------------------------------------


class M365Reader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        header: list[str],
        operator: str,
        sink: RowSink,
        delimiter: str = ",",
    ):
        self.con, self.path, self.header, self.operator, self.sink = (
            con,
            path,
            header,
            operator,
            sink,
        )
        self.delimiter = delimiter
        self.staging = Staging()
        self.changes: list[_Change] = []
        self.n_expanded = 0
        self.identities = Identities(con)

    def read(self) -> Staging:
        staging = self.staging
        for item in records(self.path, self.header, self.delimiter):
            staging.n_source += 1
            if isinstance(item, _Reject):
                staging.reject(item.line, item.reason, item.detail, item.raw)
                continue
            try:
                self._record(item.line, item.data)
            except RecursionError:
                staging.reject(item.line, "malformed_row", TOO_DEEP, "")
        self._apply_changes()
        self.sink.close()
        n_audit, n_delegations = self.sink.counts["audit"], self.sink.counts["delegations"]
        note = (
            f"{staging.n_source:,} Microsoft 365 records read: {n_audit:,} audit events, "
            f"{n_delegations:,} delegation events, {len(staging.rejects):,} unreadable records"
        )
        if self.n_expanded:
            note += f"; {self.n_expanded:,} records standing for several accesses were expanded"
        staging.notes.append(note)
        skipped = staging.skipped_note("records")
        if skipped:
            staging.notes.append(skipped)
        return staging

    # -- one record --

    def _raw(self, data: dict) -> str:
        """The record as JSON, content blanked: the raw text kept if it is quarantined."""
        found: set[str] = set()
        raw = json.dumps(scrub(data, found), ensure_ascii=False)
        self.staging.content_keys |= found
        return raw

    def _record(self, line: int, data: dict) -> None:
        staging = self.staging
        number, name = record_type(data)
        operation = _text(_get(data, "Operation"))
        folded = operation.casefold()
        if number in MAILBOX_TYPES and group_mailbox_setup(data, folded):
            staging.skip(GROUP_SETUP)
        elif number in MAILBOX_TYPES and folded in FOLDER_OPERATIONS:
            self._change(line, data, self._raw(data), folded)
        elif number in MAILBOX_TYPES:
            self._audit(line, data, self._raw(data))
        elif number == ADMIN_TYPE and folded in CMDLETS:
            self._change(line, data, self._raw(data), folded)
        elif number == ADMIN_TYPE:
            staging.skip("RecordType 1 (ExchangeAdmin) not a delegation change")
        elif number is None:
            staging.skip(f"RecordType {name}")
        else:
            staging.skip(f"RecordType {number} ({name})")

    def _audit(self, line: int, data: dict, raw: str) -> None:
        staging = self.staging
        operation = _text(_get(data, "Operation"))
        folded = operation.casefold()
        action = ACTIONS.get(folded) or ("download" if "attachment" in folded else "other")
        count_value = _get(data, "OperationCount")
        if count_value is None or _text(count_value) == "":
            affected = _get(data, "AffectedItems")
            count = len(affected) if isinstance(affected, list) and affected else 1
        else:
            count = _number(count_value)
            problem = (
                "not a whole number"
                if count is None
                else "negative"
                if count < 0
                else "zero accesses"
                if count == 0
                else f"more than {MAX_OPERATION_COUNT:,} accesses in one record"
                if count > MAX_OPERATION_COUNT
                else None
            )
            if problem:
                staging.reject(
                    line,
                    "invalid_value",
                    f"OperationCount={_text(count_value)[:40]}: {problem}",
                    raw,
                )
                return
        if folded == "sendas":
            mailbox = _text(_get(data, "SendAsUserSmtp", "SendAsUserSMTP"))
        elif folded == "sendonbehalf":
            mailbox = _text(_get(data, "SendOnBehalfOfUserSmtp", "SendOnBehalfOfUserSMTP"))
        else:
            mailbox = _text(_get(data, "MailboxOwnerUPN"))
        record_id = _text(_get(data, "Id"))
        occurred_at, _ = event_time(data)
        values = {
            "occurred_at": occurred_at,
            "mailbox": mailbox.lower() or None,
            "actor": actor_of(data),
            "action": action,
            "outcome": outcome_of(data),
            "auth_method": None,
            "client_ip": client_ip(_get(data, "ClientIPAddress", "ClientIP")),
            "user_agent": _text(_get(data, "ClientInfoString")) or None,
            "session_id": _text(_get(data, "SessionId")) or None,
            "operator": None,
        }
        ids = message_ids(data)
        if count > 1:
            self.n_expanded += 1
        for i in range(1, count + 1):
            values["event_id"] = (
                (record_id if count == 1 else f"{record_id}#{i}") if record_id else None
            )
            values["message_id"] = ids[i - 1] if i <= len(ids) else None
            text = (
                raw
                if i == 1
                else f"(access {i} of {count} of the record on line {line}; its text is kept with access 1)"
            )
            self.sink.add("audit", line, values, text)
        staging.n_mapped += 1

    # -- permission changes --

    def _change(self, line: int, data: dict, raw: str, operation: str) -> None:
        staging = self.staging
        if outcome_of(data) == "failure":
            staging.skip("failed permission change")
            return
        record_id = _text(_get(data, "Id"))
        at_text, at = event_time(data)
        if not record_id:
            staging.reject(line, "missing_required_field", "Id", raw)
            return
        if at_text is None:
            staging.reject(line, "missing_required_field", "CreationTime", raw)
            return
        if at is None:
            staging.reject(line, "bad_timestamp", f"CreationTime={at_text[:60]}", raw)
            return
        change = _Change(line, record_id, at, at_text, "", actor_of(data), raw)
        applies = self._operations(change, data, operation)
        if applies:
            self.changes.append(change)

    def _operations(self, change: _Change, data: dict, operation: str) -> bool:
        """Fill ``change`` with the record's permission operations; False when the record
        turns out not to change delegations (skipped)."""
        staging, identities = self.staging, self.identities
        record_fields = {
            "ObjectId": _text(_get(data, "ObjectId")),
            "MailboxOwnerUPN": _text(_get(data, "MailboxOwnerUPN")),
        }
        if operation in FOLDER_OPERATIONS:
            item = _get(data, "Item")
            folder = _get(item, "ParentFolder") if isinstance(item, dict) else None
            folder = folder if isinstance(folder, dict) else {}
            change.mailbox = identities.account(
                _text(_get(data, "MailboxOwnerUPN")), "MailboxOwnerUPN"
            )
            member = _text(_get(folder, "MemberUpn")) or _text(_get(folder, "MemberSid"))
            delegate = identities.account(member, "MemberUpn")
            key = "folder:" + _folder_key(_text(_get(folder, "Path")) or _text(_get(folder, "Id")))
            self._folder_operation(
                change, FOLDER_OPERATIONS[operation], delegate, key, _get(folder, "MemberRights")
            )
        else:
            params = _parameters(data)
            if operation in ("add-mailboxpermission", "remove-mailboxpermission"):
                if _text(params.get("deny")).casefold() == "true":
                    staging.skip("deny permission entries (not modelled)")
                    return False
                change.mailbox = identities.mailbox(_text(params.get("identity")), record_fields)
                delegate = identities.account(_text(params.get("user")), "User")
                rights = _split_rights(params.get("accessrights"))
                if operation.startswith("add"):
                    self._rights_operation(change, "set", delegate, rights, MAILBOX_RIGHTS, "mbx:")
                elif rights:
                    self._rights_operation(
                        change, "remove", delegate, rights, MAILBOX_RIGHTS, "mbx:"
                    )
                else:
                    change.operations.append((delegate, "remove_prefix", "mbx:", frozenset(), []))
            elif operation in ("add-recipientpermission", "remove-recipientpermission"):
                change.mailbox = identities.mailbox(_text(params.get("identity")), record_fields)
                delegate = identities.account(_text(params.get("trustee")), "Trustee")
                rights = _split_rights(params.get("accessrights")) or ["sendas"]
                action = "set" if operation.startswith("add") else "remove"
                self._rights_operation(change, action, delegate, rights, RECIPIENT_RIGHTS, "")
            elif operation == "set-mailbox":
                if "grantsendonbehalfto" not in params:
                    staging.skip("RecordType 1 (ExchangeAdmin) not a delegation change")
                    return False
                change.mailbox = identities.mailbox(_text(params.get("identity")), record_fields)
                change.suffix_by_delegate = True
                value = params.get("grantsendonbehalfto")
                incremental = _hashtable(value)

                def accounts(items: list[str]) -> list[str]:
                    return sorted({identities.account(i, "GrantSendOnBehalfTo") for i in items})

                if incremental is None:
                    change.send_on_behalf = accounts(_split_list(value))
                else:
                    for delegate in accounts(incremental["add"]):
                        change.operations.append(
                            (delegate, "set", "sendonbehalf", frozenset({"send"}), [])
                        )
                    for delegate in accounts(incremental["remove"]):
                        change.operations.append(
                            (delegate, "remove", "sendonbehalf", frozenset(), [])
                        )
            else:  # folder permission cmdlets
                identity = _text(params.get("identity"))
                mailbox, _, folder_path = identity.partition(":")
                change.mailbox = identities.mailbox(mailbox, {})
                delegate = identities.account(_text(params.get("user")), "User")
                key = "folder:" + _folder_key(folder_path)
                action = "remove" if operation.startswith("remove") else "set"
                self._folder_operation(change, action, delegate, key, params.get("accessrights"))
        return True

    @staticmethod
    def _rights_operation(
        change: _Change,
        action: str,
        delegate: str,
        rights: list[str],
        table: dict[str, frozenset],
        prefix: str,
    ) -> None:
        unmapped = [r for r in rights if r not in table]
        for right in rights:
            if right in table:
                change.operations.append((delegate, action, prefix + right, table[right], []))
        if unmapped:
            change.operations.append((delegate, "unmapped", "", frozenset(), unmapped))

    @staticmethod
    def _folder_operation(
        change: _Change, action: str, delegate: str, key: str, rights_value
    ) -> None:
        if action == "remove":
            change.operations.append((delegate, "remove", key, frozenset(), []))
            return
        rights = _split_rights(rights_value)
        unmapped = [r for r in rights if r not in FOLDER_RIGHTS]
        mapped: set[str] = set()
        for right in rights:
            mapped |= FOLDER_RIGHTS.get(right, frozenset())
        change.operations.append((delegate, "set", key, frozenset(mapped), []))
        if unmapped:
            change.operations.append((delegate, "unmapped", "", frozenset(), unmapped))

    def _apply_changes(self) -> None:
        """Turn permission changes into grant / modify / revoke of the delegate's whole set of
        rights on the mailbox, in time order, from the state before each change."""
        staging = self.staging
        mailboxes = {c.mailbox for c in self.changes}
        state = _PermissionState(self.con, self.operator, mailboxes)
        out_of_order = 0
        # (source event id, mailbox, delegate) of a state change -> the delegation event it
        # produced: the state is kept only when that event reaches the warehouse.
        event_of: dict[tuple[str, str, str], str] = {}
        for change in sorted(self.changes, key=lambda c: (c.at, c.record_id)):
            targets: dict[str, dict[str, frozenset]] = {}
            unmapped: dict[str, list[str]] = defaultdict(list)

            def current(delegate: str, change=change, targets=targets) -> dict[str, frozenset]:
                if delegate not in targets:
                    targets[delegate] = state.before(
                        change.mailbox, delegate, change.at, change.record_id
                    )
                return targets[delegate]

            if change.send_on_behalf is not None:
                wanted = set(change.send_on_behalf)
                holders = {
                    d
                    for d in state.delegates.get(change.mailbox, set())
                    if "sendonbehalf"
                    in state.before(change.mailbox, d, change.at, change.record_id)
                }
                for delegate in sorted(wanted - holders):
                    current(delegate)["sendonbehalf"] = frozenset({"send"})
                for delegate in sorted(holders - wanted):
                    current(delegate).pop("sendonbehalf", None)
            for delegate, action, token, rights, raw_rights in change.operations:
                tokens = current(delegate)
                if action == "set" and rights:
                    tokens[token] = rights
                elif action in ("set", "remove"):
                    tokens.pop(token, None)
                elif action == "remove_prefix":
                    for name in [t for t in tokens if t.startswith(token)]:
                        tokens.pop(name)
                elif action == "unmapped":
                    unmapped[delegate].extend(raw_rights)
            emitted = 0
            several = change.suffix_by_delegate or len(targets) > 1
            for delegate, tokens in sorted(targets.items()):
                before = state.before(change.mailbox, delegate, change.at, change.record_id)
                if tokens != before:
                    if (
                        state.later_known(change.mailbox, delegate, change.at, change.record_id)
                        and (change.record_id, change.mailbox, delegate) not in state.loaded_ids
                    ):
                        out_of_order += 1
                    state.record(change.mailbox, delegate, change.at, change.record_id, tokens)
                rights_before, rights_after = _rights_of(before), _rights_of(tokens)
                if not unmapped.get(delegate) and rights_before == rights_after:
                    continue
                if unmapped.get(delegate):
                    event_type = "modify" if rights_before else "grant"
                    rights = sorted(rights_after | set(unmapped[delegate]))
                elif not rights_after:
                    event_type, rights = "revoke", []
                else:
                    event_type = "modify" if rights_before else "grant"
                    rights = sorted(rights_after)
                event_id = f"{change.record_id}#{delegate}" if several else change.record_id
                event_of[(change.record_id, change.mailbox, delegate)] = event_id
                values = {
                    "event_id": event_id,
                    "event_type": event_type,
                    "event_at": change.at_text,
                    "mailbox": change.mailbox or None,
                    "delegate": delegate or None,
                    "delegate_name": None,
                    "delegate_role": "other",
                    "rights": "|".join(rights),
                    "valid_from": None,
                    "valid_to": None,
                    "performed_by": change.performed_by,
                    "operator": None,
                }
                self.sink.add("delegations", change.line, values, change.raw)
                emitted += 1
            if emitted:
                staging.n_mapped += 1
            else:
                staging.skip("permission change without effect on rights")
        if out_of_order:
            staging.notes.append(
                f"{out_of_order:,} permission changes are older than permission changes already "
                "loaded: load Microsoft 365 exports in time order, or the derived grants and "
                "revocations after them may be wrong"
            )
        new_rows = state.new
        operator = self.operator

        def persist(con: duckdb.DuckDBPyConnection, file_id: int) -> None:
            # A permission change whose delegation event was quarantined leaves no state.
            # Changes of tokens that left the rights as they were emit no event and are kept:
            # later changes are diffed against them.
            wanted = sorted(
                {event_of[(r[3], r[0], r[1])] for r in new_rows if (r[3], r[0], r[1]) in event_of}
            )
            loaded = {
                row[0]
                for row in con.execute(
                    sql_text("ingest/m365_loaded_delegations.sql"),
                    {"operator": operator, "event_ids": wanted},
                ).fetchall()
            }
            kept = [
                r
                for r in new_rows
                if (r[3], r[0], r[1]) not in event_of or event_of[(r[3], r[0], r[1])] in loaded
            ]
            if kept:
                con.executemany(
                    "INSERT INTO m365_permission_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (self.operator, m, d, at, event_id, tokens, file_id)
                        for m, d, at, event_id, tokens in kept
                    ],
                )

        staging.persist = persist
