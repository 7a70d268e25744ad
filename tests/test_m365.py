"""Microsoft 365 / Exchange audit records (``--format m365``): Purview CSV exports and
Management Activity API output become canonical audit and delegation events (DOMAIN.md §5,
docs/formats.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import VALID, ingest, quarantined, records, text_columns, utc, write_lines
from delegation_reports.cli import main
from delegation_reports.errors import UnknownFormat
from delegation_reports.ingest.detect import FORMAT_CHOICES, detect
from delegation_reports.ingest.m365 import DEFAULT_OPERATOR
from delegation_reports.ingest.pipeline import REASONS
from delegation_reports.warehouse import connect

SHAPES = (
    "m365_purview_old_header.csv",
    "m365_purview_new_header.csv",
    "m365_api.jsonl",
    "m365_api_array.json",
)
HOLDER = "helene.garnier@medecin.mssante.fr"
SECRETARY = "sandrine.moulin@pro.mssante.fr"
REPLACEMENT = "paul.remy@medecin.mssante.fr"
ADMIN = "admin.si@chu-exemple.fr"
A = "claire.petit@pro.mssante.fr"
B = "marc.durand@pro.mssante.fr"
# Content the fixtures carry in subjects, attachment names and folder paths.
CONTENT = (
    "Dupont",
    "Convocation",
    "Ordonnance",
    "Compte rendu",
    "rendez-vous",
    "Brouillon",
    "Publicité",
    "bilan-dupont",
    "Calendrier",
    "Boîte de réception",
    "Éléments envoyés",
)

AUDIT_STORED = (
    "operator",
    "event_id",
    "occurred_at",
    "mailbox",
    "actor",
    "action",
    "outcome",
    "auth_method",
    "client_ip",
    "user_agent",
    "session_id",
    "message_id",
)
DELEGATION_STORED = (
    "operator",
    "event_id",
    "event_type",
    "event_at",
    "mailbox",
    "delegate",
    "delegate_name",
    "delegate_role",
    "rights",
    "valid_from_at",
    "valid_until_at",
    "performed_by",
)


# ---- writing records ----------------------------------------------------------------------


def mailbox_record(record_id: str, operation: str, user: str, **fields) -> dict:
    """A mailbox audit record (RecordType 2) as Exchange Online writes it."""
    record = {
        "CreationTime": "2026-03-02T08:15:00",
        "Id": record_id,
        "Operation": operation,
        "OrganizationId": "4d1a7c2e-0b3f-4e8a-9c55-2f1e6b7d8a90",
        "RecordType": 2,
        "ResultStatus": "Succeeded",
        "UserType": 0,
        "Version": 1,
        "Workload": "Exchange",
        "UserId": user,
        "ClientIPAddress": "192.0.2.17",
        "ClientInfoString": "Client=OWA;Action=ViaProxy",
        "LogonType": 0 if user == HOLDER else 2,
        "MailboxOwnerUPN": HOLDER,
        "SessionId": "0e6c9f0a-1111-4aaa-9bbb-000000000001",
    }
    record.update(fields)
    return record


def admin_record(
    record_id: str, cmdlet: str, at: str = "2026-03-02T09:00:00", user: str = ADMIN, **parameters
) -> dict:
    """An Exchange admin audit record (RecordType 1) with its Parameters."""
    return {
        "CreationTime": at,
        "Id": record_id,
        "Operation": cmdlet,
        "RecordType": 1,
        "ResultStatus": "True",
        "UserType": 2,
        "Version": 1,
        "Workload": "Exchange",
        "ClientIP": "203.0.113.9:52110",
        "ObjectId": parameters.get("Identity", ""),
        "UserId": user,
        "Parameters": [{"Name": k, "Value": v} for k, v in parameters.items()],
    }


def write_api(path: Path, recs: list[dict]) -> Path:
    return write_lines(path, [json.dumps(r, ensure_ascii=False) for r in recs])


def write_purview(path: Path, recs: list[dict], header: str = "old") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header == "old":
        writer.writerow(["CreationDate", "UserIds", "Operations", "AuditData"])
        for r in recs:
            writer.writerow(
                [r["CreationTime"], r["UserId"], r["Operation"], json.dumps(r, ensure_ascii=False)]
            )
    else:
        writer.writerow(
            ["RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData"]
        )
        for r in recs:
            writer.writerow(
                [
                    r["Id"],
                    r["CreationTime"],
                    r["RecordType"],
                    r["Operation"],
                    r["UserId"],
                    json.dumps(r, ensure_ascii=False),
                ]
            )
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def audit_rows(con) -> dict[str, dict]:
    return {
        r["event_id"]: r for r in records(con, f"SELECT {', '.join(AUDIT_STORED)} FROM audit_event")
    }


def delegation_rows(con) -> list[dict]:
    return records(
        con,
        "SELECT event_id, event_type, mailbox, delegate, rights, delegate_role, performed_by "
        "FROM delegation_event ORDER BY event_at, event_id",
    )


def assert_invariant(result) -> None:
    assert result.status == "loaded", result.message
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined


# ---- shapes and detection -----------------------------------------------------------------


def test_m365_is_a_format_choice_of_the_cli():
    assert "m365" in FORMAT_CHOICES


@pytest.mark.parametrize("name", SHAPES)
def test_every_shape_is_detected_as_m365(name):
    detected = detect(VALID / name)
    assert detected.format_name == "m365"
    assert detect(VALID / name, "m365").format_name == "m365"


def test_a_canonical_file_is_not_taken_for_m365():
    assert detect(VALID / "audit.jsonl").format_name == "audit"
    assert detect(VALID / "audit.csv").format_name == "audit"
    with pytest.raises(UnknownFormat, match="does not look like format m365"):
        detect(VALID / "audit.csv", "m365")


def _stored(con) -> tuple:
    audit = con.execute(
        f"SELECT {', '.join(AUDIT_STORED)} FROM audit_event ORDER BY event_id"
    ).fetchall()
    delegations = con.execute(
        f"SELECT {', '.join(DELEGATION_STORED)} FROM delegation_event ORDER BY event_id"
    ).fetchall()
    state = con.execute(
        "SELECT operator, mailbox, delegate, changed_at, source_event_id, permissions "
        "FROM m365_permission_state ORDER BY ALL"
    ).fetchall()
    return audit, delegations, state


def test_both_purview_headers_and_the_api_shapes_give_identical_rows(tmp_path):
    loaded = {}
    for name in SHAPES:
        con = connect(tmp_path / f"{name}.duckdb")
        try:
            result = ingest(con, VALID / name)
            assert_invariant(result)
            counts = (
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.rows_skipped,
            )
            loaded[name] = (counts, _stored(con))
        finally:
            con.close()
    first = loaded[SHAPES[0]]
    assert first[0] == (19, 19, 0, 7)
    for name in SHAPES[1:]:
        assert loaded[name] == first, name


def test_the_four_shapes_in_one_warehouse_load_once(con):
    first = ingest(con, VALID / SHAPES[0])
    before = _stored(con)
    for name in SHAPES[1:]:
        again = ingest(con, VALID / name)
        assert_invariant(again)
        assert (again.rows_read, again.rows_loaded, again.rows_duplicate) == (
            first.rows_read,
            0,
            first.rows_read,
        )
    assert _stored(con) == before


def test_the_same_file_twice_is_unchanged(con):
    first = ingest(con, VALID / "m365_api.jsonl")
    before = _stored(con)
    second = ingest(con, VALID / "m365_api.jsonl")
    assert (first.status, second.status) == ("loaded", "unchanged")
    assert _stored(con) == before
    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 1


def test_manifest_of_a_mixed_file(con):
    result = ingest(con, VALID / "m365_purview_new_header.csv")
    row = records(
        con,
        "SELECT kind, format, operator, rows_read, rows_loaded, rows_skipped, "
        "covered_from_at, covered_to_at, notes, ignored_columns FROM ingest_file",
    )[0]
    # Mailbox accesses and permission changes load in the same transaction; the manifest's
    # kind is the audit one (its coverage is the audit events' span).
    assert (row["kind"], row["format"], row["operator"]) == ("audit", "m365", DEFAULT_OPERATOR)
    assert (row["rows_read"], row["rows_loaded"], row["rows_skipped"]) == (19, 19, 7)
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 13
    assert con.execute("SELECT count(*) FROM delegation_event").fetchone()[0] == 6
    assert row["covered_from_at"] == utc("2026-03-02T07:58:12Z")
    assert row["covered_to_at"] == utc("2026-03-02T09:10:00Z")
    assert "23 Microsoft 365 records read: 13 audit events, 6 delegation events" in row["notes"]
    assert "RecordType 25 (MicrosoftTeams): 1" in row["notes"]
    assert "RecordType" in row["ignored_columns"] and "AuditData" not in row["ignored_columns"]
    assert result.rows_skipped == 7


def test_an_admin_only_file_is_a_delegations_file(con, tmp_path):
    path = write_api(
        tmp_path / "admin.jsonl",
        [
            admin_record(
                "ad-1", "Add-MailboxPermission", Identity=HOLDER, User=A, AccessRights="FullAccess"
            ),
        ],
    )
    result = ingest(con, path)
    assert result.kind == "delegations"
    assert con.execute("SELECT kind FROM ingest_file").fetchone()[0] == "delegations"


# ---- mailbox records ----------------------------------------------------------------------


def test_mailbox_records_become_audit_events(con):
    ingest(con, VALID / "m365_api.jsonl")
    rows = audit_rows(con)
    login = rows["7a2b0c01-0000-4000-8000-000000000001"]
    assert (login["actor"], login["mailbox"], login["action"], login["outcome"]) == (
        HOLDER,
        HOLDER,
        "login",
        "success",
    )
    assert login["occurred_at"] == utc("2026-03-02T07:58:12Z")  # CreationTime is UTC without offset
    assert login["user_agent"] == "Client=OWA;Action=ViaProxy"
    assert login["session_id"] == "0e6c9f0a-1111-4aaa-9bbb-000000000001"
    assert login["auth_method"] == "unknown"

    # The owner sends from her own mailbox; the client port is dropped.
    send = rows["7a2b0c01-0000-4000-8000-000000000003"]
    assert (send["actor"], send["mailbox"], send["action"]) == (HOLDER, HOLDER, "send")
    assert send["client_ip"] == "198.51.100.4"
    assert send["message_id"] == "<CAFy1@mail.medecin.mssante.fr>"

    # SendAs / SendOnBehalf act for the mailbox named in SendAsUserSmtp / SendOnBehalfOfUserSmtp,
    # not for MailboxOwnerUPN (the delegate's own mailbox in those records).
    send_as = rows["7a2b0c01-0000-4000-8000-000000000004"]
    assert (send_as["actor"], send_as["mailbox"], send_as["action"]) == (SECRETARY, HOLDER, "send")
    on_behalf = rows["7a2b0c01-0000-4000-8000-000000000005"]
    assert (on_behalf["actor"], on_behalf["mailbox"], on_behalf["action"]) == (
        REPLACEMENT,
        HOLDER,
        "send",
    )

    assert rows["7a2b0c01-0000-4000-8000-00000000000a"]["action"] == "delete"  # MoveToDeletedItems
    update = rows["7a2b0c01-0000-4000-8000-000000000009"]  # RecordType "2" as text
    assert (update["action"], update["actor"]) == ("other", SECRETARY)

    # An administrator's access (LogonType 1) is kept as that person's; a failure is a failure.
    admin = rows["7a2b0c01-0000-4000-8000-000000000008"]  # RecordType "ExchangeItem" by name
    assert (admin["actor"], admin["outcome"], admin["client_ip"]) == (
        ADMIN,
        "failure",
        "203.0.113.9",
    )


def test_system_accounts_are_marked_system(con, tmp_path):
    path = write_api(
        tmp_path / "system.jsonl",
        [
            mailbox_record(
                "sy-1",
                "MailItemsAccessed",
                "NT AUTHORITY\\SYSTEM (Microsoft.Exchange.Search.Service)",
                LogonType="4",
            ),
            mailbox_record("sy-2", "MailItemsAccessed", "S-1-5-18", LogonType=0),
            mailbox_record("sy-3", "Update", "svc-transport@chu-exemple.fr", LogonType=3),
            mailbox_record("sy-4", "MailItemsAccessed", SECRETARY, LogonType="2"),
        ],
    )
    assert_invariant(ingest(con, path))
    actors = {k: v["actor"] for k, v in audit_rows(con).items()}
    assert actors == {
        "sy-1": "system:nt authority\\system (microsoft.exchange.search.service)",
        "sy-2": "system:s-1-5-18",
        "sy-3": "system:svc-transport@chu-exemple.fr",
        "sy-4": SECRETARY,
    }


def test_an_aggregated_record_counts_as_its_operation_count(con):
    result = ingest(con, VALID / "m365_api.jsonl")
    rows = audit_rows(con)
    expanded = sorted(k for k in rows if k.startswith("7a2b0c01-0000-4000-8000-000000000002"))
    assert expanded == [f"7a2b0c01-0000-4000-8000-000000000002#{i}" for i in (1, 2, 3)]
    first = rows[expanded[0]]
    assert (first["actor"], first["mailbox"], first["action"]) == (SECRETARY, HOLDER, "read")
    assert first["client_ip"] == "2001:db8::1"  # from [2001:db8::1]:443
    assert [rows[k]["message_id"] for k in expanded] == [
        "<CAFx1@mail.medecin.mssante.fr>",
        "<CAFx2@mail.medecin.mssante.fr>",
        "<CAFx3@mail.medecin.mssante.fr>",
    ]
    # A grouped deletion (ExchangeItemGroup) stands for each of its affected items.
    deleted = sorted(k for k in rows if k.startswith("7a2b0c01-0000-4000-8000-000000000006"))
    assert [rows[k]["action"] for k in deleted] == ["delete", "delete"]
    assert result.rows_read == 19
    assert "2 records standing for several accesses were expanded" in "; ".join(result.notes)


def test_stringly_typed_fields_read_like_numbers(con, tmp_path):
    typed = mailbox_record(
        "n-1", "MailItemsAccessed", SECRETARY, RecordType=50, LogonType=2, OperationCount=2
    )
    texts = mailbox_record(
        "n-2", "MailItemsAccessed", SECRETARY, RecordType="50", LogonType="2", OperationCount="2"
    )
    named = mailbox_record(
        "n-3",
        "MailItemsAccessed",
        SECRETARY,
        RecordType="ExchangeItemAggregated",
        LogonType=" 2 ",
        OperationCount=" 2 ",
    )
    system = mailbox_record("n-4", "MailItemsAccessed", "svc@chu-exemple.fr", LogonType="4")
    result = ingest(con, write_api(tmp_path / "typed.jsonl", [typed, texts, named, system]))
    assert_invariant(result)
    rows = audit_rows(con)
    assert sorted(rows) == ["n-1#1", "n-1#2", "n-2#1", "n-2#2", "n-3#1", "n-3#2", "n-4"]
    assert {rows[k]["actor"] for k in rows if not k.startswith("n-4")} == {SECRETARY}
    assert rows["n-4"]["actor"] == "system:svc@chu-exemple.fr"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("many", "many: not a whole number"),
        ("1.5", "1.5: not a whole number"),
        (2.5, "2.5: not a whole number"),
        (0, "0: zero accesses"),
        (-2, "-2: negative"),
        ("-2", "-2: negative"),
        (10**9, "1000000000: more than 100,000 accesses in one record"),
        ("1e999999999", "1e999999999: not a whole number"),
    ],
)
def test_an_unreadable_operation_count_is_quarantined(con, tmp_path, value, shown):
    path = write_api(
        tmp_path / "count.jsonl",
        [
            mailbox_record(
                "c-1", "MailItemsAccessed", SECRETARY, RecordType=50, OperationCount=value
            ),
            mailbox_record("c-2", "MailItemsAccessed", SECRETARY),
        ],
    )
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"], row["detail"]) == (
        1,
        "invalid_value",
        f"OperationCount={shown}",
    )


def test_outcomes_and_client_addresses(con, tmp_path):
    path = write_api(
        tmp_path / "outcomes.jsonl",
        [
            mailbox_record(
                "o-1",
                "MailboxLogin",
                HOLDER,
                ResultStatus="True",
                ClientIPAddress="198.51.100.4:50123",
            ),
            mailbox_record(
                "o-2",
                "MailboxLogin",
                HOLDER,
                ResultStatus="False",
                ClientIPAddress="[2001:db8::1]:443",
            ),
            mailbox_record("o-3", "MailboxLogin", HOLDER, ClientIPAddress="2001:db8::7"),
            mailbox_record(
                "o-4", "MailboxLogin", HOLDER, ResultStatus="Failed", ClientIPAddress=""
            ),
            mailbox_record("o-5", "MailboxLogin", HOLDER, ResultStatus="Maybe"),
        ],
    )
    del_status = mailbox_record("o-6", "MailboxLogin", HOLDER)
    del del_status["ResultStatus"]
    path = write_api(
        path, [json.loads(line) for line in path.read_text().splitlines()] + [del_status]
    )
    result = ingest(con, path)
    assert_invariant(result)
    rows = audit_rows(con)
    assert {k: (v["outcome"], v["client_ip"]) for k, v in rows.items()} == {
        "o-1": ("success", "198.51.100.4"),
        "o-2": ("failure", "2001:db8::1"),
        "o-3": ("success", "2001:db8::7"),
        "o-4": ("failure", None),
        "o-6": ("success", "192.0.2.17"),
    }
    [row] = quarantined(con)
    assert (row["reason"], row["detail"]) == ("invalid_value", "invalid_value: outcome=Maybe")


def test_attachment_operations_are_downloads(con, tmp_path):
    path = write_api(
        tmp_path / "attachments.jsonl",
        [
            mailbox_record(
                "d-1",
                "AttachmentAccess",
                SECRETARY,
                Item={"Id": "x", "Attachments": "irm.pdf (100b)"},
            ),
            mailbox_record("d-2", "PreviewAttachment", SECRETARY),
            mailbox_record("d-3", "FolderBind", SECRETARY),
            mailbox_record("d-4", "Create", SECRETARY),
        ],
    )
    assert_invariant(ingest(con, path))
    assert {k: v["action"] for k, v in audit_rows(con).items()} == {
        "d-1": "download",
        "d-2": "download",
        "d-3": "other",
        "d-4": "other",
    }
    assert "irm.pdf" not in json.dumps(records(con, "SELECT * FROM quarantine"), default=str)


def test_the_operator_defaults_and_can_be_given(con, tmp_path):
    path = write_api(tmp_path / "op.jsonl", [mailbox_record("p-1", "MailboxLogin", HOLDER)])
    ingest(con, path)
    other = write_api(tmp_path / "op2.jsonl", [mailbox_record("p-2", "MailboxLogin", HOLDER)])
    ingest(con, other, operator="CHU Exemple (Exchange Online)")
    assert dict(con.execute("SELECT event_id, operator FROM audit_event").fetchall()) == {
        "p-1": DEFAULT_OPERATOR,
        "p-2": "CHU Exemple (Exchange Online)",
    }


# ---- permission changes -------------------------------------------------------------------


def _send_on_behalf(record_id: str, at: str, value) -> dict:
    return admin_record(record_id, "Set-Mailbox", at, Identity=HOLDER, GrantSendOnBehalfTo=value)


SEND_ON_BEHALF_CHANGES = [
    _send_on_behalf("sob-1", "2026-03-02T09:00:00", A),
    _send_on_behalf("sob-2", "2026-03-03T09:00:00", f"{A},{B}"),
    _send_on_behalf("sob-3", "2026-03-04T09:00:00", B),
]
EXPECTED_SEND_ON_BEHALF = [
    {
        "event_id": f"sob-1#{A}",
        "event_type": "grant",
        "mailbox": HOLDER,
        "delegate": A,
        "rights": ["send"],
        "delegate_role": "other",
        "performed_by": ADMIN,
    },
    {
        "event_id": f"sob-2#{B}",
        "event_type": "grant",
        "mailbox": HOLDER,
        "delegate": B,
        "rights": ["send"],
        "delegate_role": "other",
        "performed_by": ADMIN,
    },
    {
        "event_id": f"sob-3#{A}",
        "event_type": "revoke",
        "mailbox": HOLDER,
        "delegate": A,
        "rights": [],
        "delegate_role": "other",
        "performed_by": ADMIN,
    },
]


@pytest.mark.parametrize("order", ["chronological", "newest_first"])
def test_grant_send_on_behalf_lists_are_diffed(con, tmp_path, order):
    changes = SEND_ON_BEHALF_CHANGES if order == "chronological" else SEND_ON_BEHALF_CHANGES[::-1]
    result = ingest(con, write_purview(tmp_path / "sob.csv", changes))
    assert_invariant(result)
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (3, 3, 0)
    assert delegation_rows(con) == EXPECTED_SEND_ON_BEHALF


def test_grant_send_on_behalf_lists_are_diffed_across_files(con, tmp_path):
    for i, change in enumerate(SEND_ON_BEHALF_CHANGES):
        assert_invariant(ingest(con, write_api(tmp_path / f"sob-{i}.jsonl", [change])))
    assert delegation_rows(con) == EXPECTED_SEND_ON_BEHALF
    # An export overlapping the earlier ones derives the same events: duplicates, no conflict.
    again = ingest(con, write_api(tmp_path / "all.jsonl", SEND_ON_BEHALF_CHANGES))
    assert (again.rows_read, again.rows_duplicate, again.rows_quarantined) == (3, 3, 0)
    assert delegation_rows(con) == EXPECTED_SEND_ON_BEHALF
    assert con.execute("SELECT count(*) FROM m365_permission_state").fetchone()[0] == 3


def test_incremental_send_on_behalf_changes(con, tmp_path):
    path = write_api(
        tmp_path / "incremental.jsonl",
        [
            _send_on_behalf("inc-1", "2026-03-02T09:00:00", f'@{{Add="{A}","{B}"}}'),
            _send_on_behalf("inc-2", "2026-03-03T09:00:00", f'@{{Remove="{A}"}}'),
            _send_on_behalf("inc-3", "2026-03-04T09:00:00", "$null"),
        ],
    )
    assert_invariant(ingest(con, path))
    assert [(r["event_id"], r["event_type"]) for r in delegation_rows(con)] == [
        (f"inc-1#{A}", "grant"),
        (f"inc-1#{B}", "grant"),
        (f"inc-2#{A}", "revoke"),
        (f"inc-3#{B}", "revoke"),
    ]


def test_permissions_of_one_delegate_combine_into_one_delegation(con, tmp_path):
    path = write_api(
        tmp_path / "combine.jsonl",
        [
            admin_record(
                "cb-1",
                "Add-MailboxPermission",
                "2026-03-02T09:00:00",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess",
                InheritanceType="All",
            ),
            admin_record(
                "cb-2",
                "Add-RecipientPermission",
                "2026-03-02T09:01:00",
                Identity=HOLDER,
                Trustee=A,
                AccessRights="SendAs",
            ),
            admin_record(
                "cb-3",
                "Remove-MailboxPermission",
                "2026-03-05T09:00:00",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess",
            ),
            admin_record(
                "cb-4",
                "Remove-RecipientPermission",
                "2026-03-05T09:01:00",
                Identity=HOLDER,
                Trustee=A,
                AccessRights="SendAs",
            ),
        ],
    )
    assert_invariant(ingest(con, path))
    # FullAccess opens the mailbox (read, documents, delete/move) but sending needs SendAs.
    assert [(r["event_id"], r["event_type"], r["rights"]) for r in delegation_rows(con)] == [
        ("cb-1", "grant", ["documents", "manage", "read"]),
        ("cb-2", "modify", ["documents", "manage", "read", "send"]),
        ("cb-3", "modify", ["send"]),
        ("cb-4", "revoke", []),
    ]
    assert {r["performed_by"] for r in delegation_rows(con)} == {ADMIN}


def test_folder_permission_changes(con, tmp_path):
    share = mailbox_record(
        "fo-1",
        "AddFolderPermissions",
        HOLDER,
        CreationTime="2026-03-02T09:00:00",
        Item={
            "Id": "LgA1",
            "ParentFolder": {
                "Id": "LgA1",
                "MemberRights": "ReadAny, Visible, FreeBusySimple",
                "MemberUpn": B,
                "Name": "Calendrier",
                "Path": "\\Calendrier",
            },
        },
    )
    path = write_api(
        tmp_path / "folders.jsonl",
        [
            share,
            admin_record(
                "fo-2",
                "Add-MailboxFolderPermission",
                "2026-03-02T10:00:00",
                Identity=f"{HOLDER}:\\Patients",
                User=A,
                AccessRights="Editor",
            ),
            admin_record(
                "fo-3",
                "Set-MailboxFolderPermission",
                "2026-03-03T10:00:00",
                Identity=f"{HOLDER}:\\Patients",
                User=A,
                AccessRights="Reviewer",
            ),
            admin_record(
                "fo-4",
                "Remove-MailboxFolderPermission",
                "2026-03-04T10:00:00",
                Identity=f"{HOLDER}:\\Patients",
                User=A,
            ),
            mailbox_record(
                "fo-5",
                "RemoveFolderPermissions",
                HOLDER,
                CreationTime="2026-03-05T09:00:00",
                Item={
                    "Id": "LgA1",
                    "ParentFolder": {"Id": "LgA1", "MemberUpn": B, "Path": "\\Calendrier"},
                },
            ),
        ],
    )
    assert_invariant(ingest(con, path))
    assert [
        (r["event_id"], r["event_type"], r["delegate"], r["rights"], r["performed_by"])
        for r in delegation_rows(con)
    ] == [
        ("fo-1", "grant", B, ["read"], HOLDER),
        ("fo-2", "grant", A, ["manage", "read"], ADMIN),
        ("fo-3", "modify", A, ["read"], ADMIN),
        ("fo-4", "revoke", A, [], ADMIN),
        ("fo-5", "revoke", B, [], HOLDER),
    ]
    states = [r[0] for r in con.execute("SELECT permissions FROM m365_permission_state").fetchall()]
    assert all(
        "patients" not in str(s).lower() and "calendrier" not in str(s).lower() for s in states
    )


def test_an_unmapped_access_right_is_quarantined(con, tmp_path):
    path = write_api(
        tmp_path / "rights.jsonl",
        [
            admin_record(
                "r-1",
                "Add-MailboxPermission",
                Identity=HOLDER,
                User=A,
                AccessRights="ReadPermission",
            ),
            admin_record(
                "r-2", "Add-MailboxPermission", Identity=HOLDER, User=B, AccessRights="FullAccess"
            ),
        ],
    )
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (1, "invalid_value")
    assert "rights=readpermission" in row["detail"]


def test_permission_changes_that_cannot_be_placed(con, tmp_path):
    path = write_api(
        tmp_path / "bad-admin.jsonl",
        [
            admin_record(
                "x-1",
                "Add-MailboxPermission",
                "2026-13-45T09:00:00",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess",
            ),
            admin_record(
                "x-2",
                "Add-MailboxPermission",
                Identity="Hélène Garnier",
                User=A,
                AccessRights="FullAccess",
            ),
            admin_record(
                "x-3", "Add-MailboxPermission", Identity=HOLDER, User=A, AccessRights="FullAccess"
            )
            | {"ResultStatus": "False"},
            admin_record(
                "x-4",
                "Add-MailboxPermission",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess",
                Deny="True",
            ),
        ],
    )
    result = ingest(con, path)
    assert_invariant(result)
    reasons = {r["line_number"]: r["reason"] for r in quarantined(con)}
    assert reasons == {1: "bad_timestamp", 2: "invalid_address"}
    assert result.rows_skipped == 2
    notes = "; ".join(result.notes)
    assert (
        "failed permission change: 1" in notes
        and "deny permission entries (not modelled): 1" in notes
    )


# ---- skipped records ----------------------------------------------------------------------


def test_other_workloads_are_skipped_and_counted(con, tmp_path):
    teams = {
        "CreationTime": "2026-03-02T09:20:00",
        "Id": "t-1",
        "Operation": "MessageSent",
        "RecordType": 25,
        "Workload": "MicrosoftTeams",
        "UserId": SECRETARY,
    }
    sharepoint = {
        "CreationTime": "2026-03-02T09:30:00",
        "Id": "s-1",
        "Operation": "FileAccessed",
        "RecordType": 6,
        "Workload": "OneDrive",
        "UserId": SECRETARY,
    }
    aad = {
        "CreationTime": "2026-03-02T09:31:00",
        "Id": "s-2",
        "Operation": "UserLoggedIn",
        "RecordType": "AzureActiveDirectoryStsLogon",
        "Workload": "AzureActiveDirectory",
        "UserId": HOLDER,
    }
    compliance = {
        "CreationTime": "2026-03-02T09:32:00",
        "Id": "s-3",
        "Operation": "New-ComplianceSearch",
        "RecordType": 18,
        "Workload": "SecurityComplianceCenter",
        "UserId": ADMIN,
    }
    rule = admin_record("s-4", "New-InboxRule", Mailbox=HOLDER, Name="Tri")
    login = mailbox_record("m-1", "MailboxLogin", HOLDER)
    path = write_api(
        tmp_path / "mixed.jsonl",
        [teams, sharepoint, teams | {"Id": "t-2"}, aad, compliance, rule, login],
    )
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        1,
        1,
        0,
        6,
    )
    assert quarantined(con) == []
    notes = con.execute("SELECT notes FROM ingest_file").fetchone()[0]
    for part in (
        "6 records skipped",
        "RecordType 25 (MicrosoftTeams): 2",
        "RecordType 6 (SharePointFileOperation): 1",
        "RecordType 15 (AzureActiveDirectoryStsLogon): 1",
        "RecordType 18 (SecurityComplianceCenterEOPCmdlet): 1",
        "RecordType 1 (ExchangeAdmin) not a delegation change: 1",
    ):
        assert part in notes
    assert con.execute("SELECT rows_skipped FROM ingest_file").fetchone()[0] == 6


def test_status_shows_the_skipped_counts(db_path):
    runner = CliRunner()
    ingested = runner.invoke(
        main, ["ingest", str(VALID / "m365_api.jsonl"), "--db", str(db_path), "--json"]
    )
    assert ingested.exit_code == 0, ingested.output
    [obj] = json.loads(ingested.stdout)
    assert (obj["format"], obj["rows_skipped"]) == ("m365", 7)
    status = json.loads(runner.invoke(main, ["status", "--db", str(db_path), "--json"]).stdout)
    assert any("RecordType 25 (MicrosoftTeams): 1" in w for w in status["warnings"])


# ---- content ------------------------------------------------------------------------------


def _all_text(con) -> str:
    parts = []
    for table, column, _ in text_columns(con):
        parts.extend(str(v[0]) for v in con.execute(f'SELECT "{column}" FROM "{table}"').fetchall())
    return "\n".join(parts)


def test_subjects_attachments_and_folders_are_stored_nowhere(con, tmp_path):
    ingest(con, VALID / "m365_purview_old_header.csv")
    # Quarantined records keep their raw text: blanked too, parsed or not.
    bad_mailbox = mailbox_record(
        "q-1",
        "Send",
        HOLDER,
        MailboxOwnerUPN="not an address",
        Item={
            "Id": "x",
            "Subject": "Résultats de M. Dupont",
            "Attachments": "bilan-dupont.pdf (1b)",
            "ParentFolder": {
                "Id": "y",
                "Name": "Boîte de réception",
                "Path": "\\Boîte de réception",
            },
        },
    )
    broken = json.dumps(mailbox_record("q-2", "Send", HOLDER, Item={"Subject": "Convocation IRM"}))[
        :-30
    ]
    path = write_lines(
        tmp_path / "content.csv",
        [
            "CreationDate,UserIds,Operations,AuditData",
            _csv_row(["2026-03-02", HOLDER, "Send", json.dumps(bad_mailbox, ensure_ascii=False)]),
            _csv_row(["2026-03-02", HOLDER, "Send", broken]),
            _csv_row(["2026-03-02", HOLDER, json.dumps({"Subject": "Ordonnance"})]),
        ],
    )
    result = ingest(con, path)
    assert_invariant(result)
    assert [r["reason"] for r in quarantined(con, result.sha256)] == [
        "invalid_address",
        "malformed_row",
        "wrong_column_count",
    ]
    text = _all_text(con)
    for content in CONTENT:
        assert content not in text, content
    dropped = con.execute(
        "SELECT dropped_content_columns FROM ingest_file ORDER BY file_id"
    ).fetchall()
    assert "Item.Subject" in dropped[0][0]


def _csv_row(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


# ---- unreadable records and the count invariant -------------------------------------------


def test_unreadable_records_are_quarantined_with_reasons(con, tmp_path):
    good = mailbox_record("u-1", "MailboxLogin", HOLDER)
    path = tmp_path / "broken.jsonl"
    path.write_bytes(
        (json.dumps(good) + "\n").encode()
        + b'{"CreationTime": "2026-03-02T08:15:00", "Id": "u-2", "Operation": "Send"\n'
        + b"\n"
        + b'"just a string"\n'
        + (
            json.dumps(mailbox_record("u-3", "MailboxLogin", HOLDER, ClientInfoString="caf\x00"))
            + "\n"
        ).encode()
        + b'{"Id": "u-4", "UserId": "caf\x92"}\n'
    )
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 2, 3)
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (2, "malformed_row"),
        (4, "malformed_row"),
        (6, "undecodable_bytes"),
    ]
    assert set(REASONS) >= {r["reason"] for r in quarantined(con)}


def test_a_json_array_keeps_line_numbers(con, tmp_path):
    recs = [mailbox_record(f"j-{i}", "MailboxLogin", HOLDER) for i in range(3)]
    recs[1]["MailboxOwnerUPN"] = "nobody"
    text = json.dumps(recs, indent=2)
    path = tmp_path / "array.json"
    path.write_text(text, encoding="utf-8")
    assert_invariant(ingest(con, path))
    [row] = quarantined(con)
    start = text.splitlines().index("  {", 2) + 1
    assert (row["line_number"], row["reason"]) == (start, "invalid_address")


def test_a_purview_csv_with_a_broken_record(con, tmp_path):
    recs = [
        mailbox_record("b-1", "MailboxLogin", HOLDER),
        mailbox_record("b-2", "MailboxLogin", HOLDER),
    ]
    path = write_purview(tmp_path / "broken.csv", recs, header="new")
    lines = path.read_text().splitlines()
    lines.insert(2, "b-x,2026-03-02,2,MailboxLogin,x,not json")
    lines.insert(3, "")
    path.write_text("\n".join(lines) + "\n")
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (3, "malformed_row")
    assert row["detail"].startswith("AuditData invalid JSON")


def test_a_conflicting_record_is_quarantined_once_per_access(con, tmp_path):
    first = mailbox_record("k-1", "MailItemsAccessed", SECRETARY, RecordType=50, OperationCount=2)
    ingest(con, write_api(tmp_path / "one.jsonl", [first]))
    changed = first | {"ClientIPAddress": "192.0.2.99"}
    result = ingest(con, write_api(tmp_path / "two.jsonl", [changed]))
    assert_invariant(result)
    assert (result.rows_read, result.rows_quarantined) == (2, 2)
    assert {r["reason"] for r in quarantined(con, result.sha256)} == {"conflicting_duplicate"}


def test_cli_accepts_format_m365(db_path, tmp_path):
    path = write_purview(
        tmp_path / "export.csv", [mailbox_record("cli-1", "MailboxLogin", HOLDER)], header="new"
    )
    result = CliRunner().invoke(
        main,
        [
            "ingest",
            str(path),
            "--db",
            str(db_path),
            "--format",
            "m365",
            "--operator",
            "CHU Exemple",
        ],
    )
    assert result.exit_code == 0, result.output
    con = connect(db_path, read_only=True)
    try:
        assert con.execute("SELECT operator, event_id FROM audit_event").fetchall() == [
            ("CHU Exemple", "cli-1")
        ]
    finally:
        con.close()


def test_the_analysis_attributes_microsoft_365_accesses(con):
    from delegation_reports.analysis.config import load_config
    from delegation_reports.analysis.models import refresh

    ingest(con, VALID / "m365_api.jsonl")
    refresh(con, config=load_config(None))
    attribution = dict(
        con.execute("SELECT event_id, attribution FROM attributed_access").fetchall()
    )
    assert attribution["7a2b0c01-0000-4000-8000-000000000001"] == "owner"
    # FullAccess covers reading and deleting; SendAs / SendOnBehalf cover sending.
    assert attribution["7a2b0c01-0000-4000-8000-000000000002#1"] == "delegate_authorised"
    assert attribution["7a2b0c01-0000-4000-8000-000000000006#1"] == "delegate_authorised"
    assert attribution["7a2b0c01-0000-4000-8000-000000000004"] == "delegate_authorised"
    assert attribution["7a2b0c01-0000-4000-8000-000000000005"] == "delegate_authorised"
    assert attribution["7a2b0c01-0000-4000-8000-000000000007"] == "system"
    assert attribution["7a2b0c01-0000-4000-8000-000000000008"] == "no_delegation"


def test_a_purview_export_resaved_with_semicolons(con, tmp_path):
    recs = [mailbox_record("sc-1", "MailboxLogin", HOLDER), mailbox_record("sc-2", "Send", HOLDER)]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["CreationDate", "UserIds", "Operations", "AuditData"])
    for r in recs:
        writer.writerow([r["CreationTime"], r["UserId"], r["Operation"], json.dumps(r)])
    writer.writerow(["2026-03-02", HOLDER, "Send"])
    path = tmp_path / "semicolons.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert detect(path).format_name == "m365"
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"], row["raw_text"]) == (
        4,
        "wrong_column_count",
        f"2026-03-02;{HOLDER};Send",
    )
