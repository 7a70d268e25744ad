"""Microsoft 365 records as real tenants write them (tests/data/valid/README.md): group
mailboxes set up by the system, identities that are not addresses, permission state that only
follows loaded delegation events."""

from __future__ import annotations

from conftest import VALID, ingest, quarantined, records, write_lines
from delegation_reports.ingest.m365 import GROUP_SETUP
from delegation_reports.ingest.m365_identities import lookup_keys
from test_m365 import (
    ADMIN,
    HOLDER,
    A,
    B,
    admin_record,
    assert_invariant,
    mailbox_record,
    write_api,
)

PUBLIC = VALID / "m365_public_records.jsonl"
OPAQUE = "MGZlYTRlMDMtODE0Ni00NTNiLWI4ODktNTRiNGJkMTE1NjViXGJkYmI4MjM2LTBmNDgtNGZjNi05Zjc3LTkxNGNkY2MwMmIzYw2"
ROSTER_HEADER = (
    "practice_id,practice_name,member,member_kind,member_rpps,practice_siret,practice_finess"
)


def _roster(tmp_path, *members: str):
    return write_lines(
        tmp_path / "roster.csv",
        [ROSTER_HEADER]
        + [
            f"cab-1,Cabinet,{m},{'holder' if i == 0 else 'staff'},,," for i, m in enumerate(members)
        ],
    )


def _state(con) -> list[tuple]:
    return con.execute(
        "SELECT mailbox, delegate, source_event_id, permissions FROM m365_permission_state "
        "ORDER BY changed_at, source_event_id"
    ).fetchall()


def _notes(con) -> str:
    return "; ".join(r[0] for r in con.execute("SELECT notes FROM ingest_file").fetchall())


def test_lookup_keys_of_exchange_identities():
    path = "EURPR01A002.prod.outlook.com/Microsoft Exchange Hosted Organizations/t.fr/Dr.Martin"
    assert lookup_keys(path)[0] == "dr.martin"
    assert lookup_keys("CHU\\smoulin")[0] == "smoulin"
    assert lookup_keys(" Hélène Garnier ") == ["hélène garnier"]
    assert lookup_keys("b47e06bf-895d-48c4-8ae4-a0fdc60ec249") == []


def test_public_records_group_setup_is_skipped_and_an_unresolved_identity_quarantined(con):
    result = ingest(con, PUBLIC)
    assert_invariant(result)
    # Lines 1-3: the group mailbox set up by the system; lines 4-5: admin cmdlets that change
    # no delegation; line 6: a mailbox named only by an opaque id and a directory path whose
    # alias nothing in the warehouse knows.
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1, 0, 1)
    assert result.rows_skipped == 5
    notes = _notes(con)
    assert f"{GROUP_SETUP}: 3" in notes
    assert "RecordType 1 (ExchangeAdmin) not a delegation change: 2" in notes
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (6, "invalid_address")
    assert row["detail"].startswith(f"invalid_address: mailbox={OPAQUE.lower()[:40]}")
    assert _state(con) == []
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 0


def test_a_directory_path_resolves_through_the_roster(con, tmp_path):
    ingest(con, _roster(tmp_path, "tomas.turina@wazuh.testytest.com", "fake@email.not"))
    result = ingest(con, PUBLIC)
    assert_invariant(result)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)
    [event] = records(
        con, "SELECT event_id, event_type, mailbox, delegate, rights FROM delegation_event"
    )
    assert event == {
        "event_id": "30ef2f70-a12d-4b31-1e70-08d91bb6eb01",
        "event_type": "grant",
        "mailbox": "tomas.turina@wazuh.testytest.com",
        "delegate": "fake@email.not",
        "rights": ["documents", "manage", "read"],
    }
    # The group set-up left nothing in the permission state.
    assert [r[:3] for r in _state(con)] == [
        ("tomas.turina@wazuh.testytest.com", "fake@email.not", event["event_id"])
    ]


def test_aliases_and_display_names_resolve_when_one_address_matches(con, tmp_path):
    ingest(con, _roster(tmp_path, HOLDER, A, B, "claire.petit@autre-cabinet.fr"))
    path = write_api(
        tmp_path / "aliases.jsonl",
        [
            # The mailbox by its alias, the delegate by a DOMAIN\alias.
            admin_record(
                "i-1",
                "Add-MailboxPermission",
                Identity="helene.garnier",
                User="CHU\\Marc.Durand",
                AccessRights="FullAccess",
            ),
            # The delegate by an alias two addresses share: nothing is guessed.
            admin_record(
                "i-2",
                "Add-RecipientPermission",
                Identity=HOLDER,
                Trustee="claire.petit",
                AccessRights="SendAs",
            ),
            # A GUID names nothing the warehouse knows, but the record's ObjectId does.
            admin_record(
                "i-3",
                "Add-RecipientPermission",
                Identity="6f1c2b7e-9a3d-4c8e-b2f6-7d1e0a9c5b31",
                Trustee=A,
                AccessRights="SendAs",
            )
            | {"ObjectId": HOLDER.upper()},
        ],
    )
    result = ingest(con, path)
    assert_invariant(result)
    rows = records(con, "SELECT event_id, mailbox, delegate FROM delegation_event ORDER BY 1")
    assert rows == [
        {"event_id": "i-1", "mailbox": HOLDER, "delegate": B},
        {"event_id": "i-3", "mailbox": HOLDER, "delegate": A},
    ]
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (2, "invalid_address")
    assert row["detail"] == "invalid_address: delegate=claire.petit"


def test_a_display_name_resolves_through_the_directory(con, tmp_path):
    ingest(con, VALID / "Extraction_Correspondance_MSSante_202604010830.txt")
    first, last, address = con.execute(
        "SELECT first_name, last_name, lower(address) FROM directory_entry "
        "WHERE first_name IS NOT NULL AND last_name IS NOT NULL ORDER BY address LIMIT 1"
    ).fetchone()
    record = admin_record(
        "d-1",
        "Add-MailboxPermission",
        Identity=f"{first} {last}".upper(),
        User=A,
        AccessRights="FullAccess",
    )
    result = ingest(con, write_api(tmp_path / "names.jsonl", [record]))
    assert_invariant(result)
    assert con.execute("SELECT mailbox FROM delegation_event").fetchall() == [(address,)]


def test_a_quarantined_change_leaves_no_permission_state(con, tmp_path):
    path = write_api(
        tmp_path / "grant.jsonl",
        [
            # FullAccess is modelled, ExternalAccount is not: the event is quarantined whole.
            admin_record(
                "q-1",
                "Add-MailboxPermission",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess,ExternalAccount",
            )
        ],
    )
    result = ingest(con, path)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    assert _state(con) == []
    # So a later removal revokes nothing that was never loaded.
    later = write_api(
        tmp_path / "remove.jsonl",
        [
            admin_record(
                "q-2",
                "Remove-MailboxPermission",
                "2026-03-09T09:00:00",
                Identity=HOLDER,
                User=A,
                AccessRights="FullAccess",
            )
        ],
    )
    result = ingest(con, later)
    assert_invariant(result)
    assert (result.rows_read, result.rows_skipped) == (0, 1)
    assert "permission change without effect on rights: 1" in _notes(con)
    assert con.execute("SELECT count(*) FROM delegation_event").fetchone()[0] == 0


def test_group_roles_set_by_a_person_are_not_taken_for_the_system(con, tmp_path):
    record = mailbox_record(
        "g-1",
        "ModifyFolderPermissions",
        ADMIN,
        LogonType=1,
        Item={"ParentFolder": {"MemberUpn": "Member@local", "MemberRights": "ReadAny"}},
    )
    result = ingest(con, write_api(tmp_path / "role.jsonl", [record]))
    assert_invariant(result)
    assert GROUP_SETUP not in _notes(con)
    [row] = quarantined(con)
    assert row["reason"] == "invalid_address"
    assert row["detail"] == "invalid_address: delegate=member@local"
    assert _state(con) == []
