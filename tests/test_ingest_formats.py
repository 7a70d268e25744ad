"""Each canonical format and bundled profile loads the rows docs/formats.md describes, and the
format is recognised from the header (or forced)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import (
    AUDIT_COLUMNS,
    DELEGATION_COLUMNS,
    DIRECTORY_FIELDS,
    DIRECTORY_HEADERS,
    INVALID,
    OPERATOR,
    VALID,
    audit_record,
    bound,
    ingest,
    paris,
    profile_variant,
    quarantined,
    records,
    rows_by,
    text_or_none,
    utc,
    write_audit,
    write_csv,
    write_lines,
)
from delegation_reports.errors import UnknownFormat
from delegation_reports.ingest.detect import detect
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect

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
SNAPSHOT_STORED = (
    "operator",
    "as_of_at",
    "mailbox",
    "delegate",
    "delegate_name",
    "delegate_role",
    "rights",
    "valid_from_at",
    "valid_until_at",
)
ROSTER_STORED = (
    "practice_id",
    "practice_name",
    "member",
    "member_kind",
    "member_rpps",
    "practice_siret",
    "practice_finess",
)
DIRECTORY_STORED = ("extracted_at",) + tuple(
    "is_dematerialised" if f == "dematerialisation" else f for f in DIRECTORY_FIELDS
)


def _read_csv(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[dict[str, str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def _rights(text: str) -> list[str]:
    return sorted({r.strip().lower() for r in text.split("|") if r.strip()})


def _lower(text: str) -> str | None:
    return text.strip().lower() or None


# ---- canonical formats ------------------------------------------------------------------


def test_canonical_delegations(con):
    path = VALID / "delegations.csv"
    result = ingest(con, path)
    rows = _read_csv(path)

    assert (result.format, result.kind, result.status) == ("delegations", "delegations", "loaded")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        len(rows),
        len(rows),
        0,
    )
    expected = {
        r["event_id"]: {
            "operator": r["operator"],
            "event_id": r["event_id"],
            "event_type": r["event_type"].lower(),
            "event_at": utc(r["event_at"]),
            "mailbox": _lower(r["mailbox"]),
            "delegate": _lower(r["delegate"]),
            "delegate_name": text_or_none(r["delegate_name"]),
            "delegate_role": _lower(r["delegate_role"]),
            "rights": _rights(r["rights"]),
            "valid_from_at": bound(r["valid_from"], is_end=False),
            "valid_until_at": bound(r["valid_to"], is_end=True),
            "performed_by": _lower(r["performed_by"]),
        }
        for r in rows
    }
    assert rows_by(con, "delegation_event", "event_id", DELEGATION_STORED) == expected


def test_canonical_delegations_date_bounds_are_whole_paris_days(con):
    ingest(con, VALID / "delegations.csv")
    d2 = rows_by(con, "delegation_event", "event_id", DELEGATION_STORED)["D-002"]
    d5 = rows_by(con, "delegation_event", "event_id", DELEGATION_STORED)["D-005"]

    # 2026-02-09..2026-02-20 in winter (UTC+1): from the first day's midnight to the midnight
    # after the last day.
    assert d2["valid_from_at"] == datetime(2026, 2, 8, 23, 0, tzinfo=UTC)
    assert d2["valid_until_at"] == datetime(2026, 2, 20, 23, 0, tzinfo=UTC)
    # 2026-03-28..2026-03-30 spans the spring change: the end midnight is already UTC+2.
    assert d5["valid_from_at"] == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    assert d5["valid_until_at"] == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)


def test_canonical_snapshot(con):
    path = VALID / "snapshot.csv"
    result = ingest(con, path)
    rows = _read_csv(path)

    assert (result.format, result.rows_loaded, result.rows_quarantined) == (
        "snapshot",
        len(rows),
        0,
    )
    expected = sorted(
        (
            r["operator"],
            bound(r["as_of"], is_end=False),
            _lower(r["mailbox"]),
            _lower(r["delegate"]),
            text_or_none(r["delegate_name"]),
            _lower(r["delegate_role"]),
            _rights(r["rights"]),
            bound(r["valid_from"], is_end=False),
            bound(r["valid_to"], is_end=True),
        )
        for r in rows
    )
    stored = con.execute(
        f"SELECT {', '.join(SNAPSHOT_STORED)} FROM delegation_snapshot ORDER BY ALL"
    )
    assert sorted(stored.fetchall()) == expected
    as_of = {r[0] for r in con.execute("SELECT as_of_at FROM delegation_snapshot").fetchall()}
    assert as_of == {paris(2026, 3, 1), datetime(2026, 4, 1, 4, 0, tzinfo=UTC)}


def _expected_audit(rows: list[dict]) -> dict[str, dict]:
    return {
        r["event_id"]: {
            "operator": r["operator"],
            "event_id": r["event_id"],
            "occurred_at": utc(r["occurred_at"]),
            "mailbox": _lower(r["mailbox"]),
            "actor": _lower(r["actor"]),
            "action": r["action"].lower(),
            "outcome": r["outcome"].lower(),
            "auth_method": r["auth_method"].lower() or "unknown",
            "client_ip": text_or_none(r["client_ip"]),
            "user_agent": r["user_agent"] or None,
            "session_id": text_or_none(str(r["session_id"])),
            "message_id": text_or_none(r["message_id"]),
        }
        for r in rows
    }


def test_canonical_audit_csv(con):
    path = VALID / "audit.csv"
    result = ingest(con, path)
    rows = _read_csv(path)

    assert (result.format, result.rows_loaded, result.rows_quarantined) == ("audit", len(rows), 0)
    assert rows_by(con, "audit_event", "event_id", AUDIT_STORED) == _expected_audit(rows)


def test_audit_csv_and_jsonl_with_the_same_rows_load_identical_rows(tmp_path):
    loaded = {}
    for name in ("audit.csv", "audit.jsonl"):
        con = connect(tmp_path / f"{name}.duckdb")
        try:
            result = ingest(con, VALID / name)
            assert (result.kind, result.rows_quarantined) == ("audit", 0)
            loaded[name] = con.execute(
                f"SELECT {', '.join(AUDIT_STORED)} FROM audit_event ORDER BY event_id"
            ).fetchall()
        finally:
            con.close()

    assert len(loaded["audit.csv"]) == 4
    assert loaded["audit.csv"] == loaded["audit.jsonl"]
    # The JSON number 4711 is read as the text "4711".
    assert [r[AUDIT_STORED.index("session_id")] for r in loaded["audit.jsonl"]][1] == "4711"


def test_jsonl_rows_repeating_csv_rows_are_duplicates(con):
    ingest(con, VALID / "audit.csv")
    result = ingest(con, VALID / "audit.jsonl")

    assert (result.rows_read, result.rows_loaded, result.rows_duplicate) == (4, 0, 4)
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 4


def test_canonical_roster(con):
    path = VALID / "roster.csv"
    result = ingest(con, path)
    rows = _read_csv(path)

    assert (result.format, result.rows_loaded, result.rows_quarantined) == ("roster", len(rows), 0)
    expected = sorted(
        (
            r["practice_id"],
            r["practice_name"],
            _lower(r["member"]),
            r["member_kind"].lower(),
            text_or_none(r["member_rpps"]),
            text_or_none(r["practice_siret"]),
            text_or_none(r["practice_finess"]),
        )
        for r in rows
    )
    stored = con.execute(f"SELECT {', '.join(ROSTER_STORED)} FROM roster_member").fetchall()
    assert sorted(stored) == expected
    assert "0042" in {r[0] for r in stored}


def _directory_file() -> Path:
    return VALID / "Extraction_Correspondance_MSSante_202604010830.txt"


def _expected_directory(path: Path) -> list[tuple]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("|") == list(DIRECTORY_HEADERS)
    flags = {"o": True, "n": False, "true": True, "false": False, "1": True, "0": False, "": None}
    # 2026-04-01 08:30 in Paris (summer time), from the file name.
    extracted_at = datetime(2026, 4, 1, 6, 30, tzinfo=UTC)
    out = []
    for line in lines[1:]:
        values = dict(zip(DIRECTORY_FIELDS, line.split("|"), strict=True))
        row = [extracted_at]
        for field in DIRECTORY_FIELDS:
            value = values[field].strip()
            if field == "dematerialisation":
                row.append(flags[value.lower()])
            elif field == "bal_type":
                row.append(value.upper())
            elif field == "address":
                row.append(value.lower())
            else:
                row.append(value or None)
        out.append(tuple(row))
    return sorted(out, key=repr)


def _directory_rows(con) -> list[tuple]:
    rows = con.execute(f"SELECT {', '.join(DIRECTORY_STORED)} FROM directory_entry").fetchall()
    return sorted(rows, key=repr)


def test_directory_extraction_with_its_31_column_header(con):
    path = _directory_file()
    result = ingest(con, path)

    assert (result.format, result.kind) == ("directory", "directory")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 4, 0)
    assert _directory_rows(con) == _expected_directory(path)


def test_directory_without_structure_bal_suffix_loads_identically(tmp_path):
    original = _directory_file()
    lines = original.read_text(encoding="utf-8").splitlines()
    headers = lines[0].split("|")
    short = [h.removesuffix(" structure BAL") if i >= 20 else h for i, h in enumerate(headers)]
    assert short[20:] != headers[20:] and short[:20] == headers[:20]
    (tmp_path / "short").mkdir()
    variant = write_lines(tmp_path / "short" / original.name, ["|".join(short), *lines[1:]])

    loaded = []
    for path in (original, variant):
        con = connect(tmp_path / f"{path.parent.name}.duckdb")
        try:
            result = ingest(con, path)
            assert (result.format, result.rows_loaded) == ("directory", 4)
            loaded.append(_directory_rows(con))
        finally:
            con.close()
    assert loaded[0] == loaded[1] == _expected_directory(original)


def test_directory_time_comes_from_the_official_file_name(con, tmp_path):
    renamed = tmp_path / "Extraction_Correspondance_MSSante_202601151200.txt"
    shutil.copy(_directory_file(), renamed)
    ingest(con, renamed)

    extracted = {r[0] for r in con.execute("SELECT extracted_at FROM directory_entry").fetchall()}
    assert extracted == {paris(2026, 1, 15, 12, 0)}


# ---- French operator profiles -------------------------------------------------------------


def test_profile_fr_journal_acces(con):
    result = ingest(con, VALID / "fr_journal_acces.csv")

    assert (result.format, result.kind) == ("profile:fr-journal-acces", "audit")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 5, 0)
    rows = rows_by(con, "audit_event", "event_id", AUDIT_STORED)
    expected = {
        "S-1": (paris(2026, 1, 2, 8, 21, 3), "login", "success", "cps"),
        "S-2": (paris(2026, 1, 2, 8, 21, 50), "read", "success", "cps"),
        "S-3": (paris(2026, 7, 15, 14, 0), "send", "success", "otp"),
        "S-4": (paris(2026, 7, 15, 14, 5), "login_failed", "failure", "password"),
        "S-5": (paris(2026, 12, 31, 23, 59, 59), "download", "success", "unknown"),
    }
    assert {
        k: (r["occurred_at"], r["action"], r["outcome"], r["auth_method"]) for k, r in rows.items()
    } == expected
    # Winter is UTC+1, summer UTC+2.
    assert rows["S-1"]["occurred_at"] == datetime(2026, 1, 2, 7, 21, 3, tzinfo=UTC)
    assert rows["S-3"]["occurred_at"] == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert {r["operator"] for r in rows.values()} == {"Santé Sud"}
    assert rows["S-1"]["user_agent"] == "MédiCab 8.2 (module MSSanté)"
    assert rows["S-3"]["user_agent"] == "Outlook – poste d’accueil"
    assert rows["S-2"]["message_id"] == "<zrmp9hnbqtte@medecin.mssante.fr>"
    assert rows["S-4"]["message_id"] is None


def test_profile_fr_delegations(con):
    result = ingest(con, VALID / "fr_delegations.csv")

    assert (result.format, result.kind) == ("profile:fr-delegations", "delegations")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
    rows = rows_by(con, "delegation_event", "event_id", DELEGATION_STORED)
    assert {k: (r["event_type"], r["delegate_role"], r["rights"]) for k, r in rows.items()} == {
        "SD-1": ("grant", "secretary", ["documents", "read", "send"]),
        "SD-2": ("grant", "replacement", ["read", "send"]),
        "SD-3": ("revoke", None, []),
    }
    assert rows["SD-1"]["event_at"] == datetime(2025, 9, 1, 6, 20, tzinfo=UTC)
    assert rows["SD-2"]["event_at"] == paris(2026, 1, 5, 9, 0)
    assert rows["SD-3"]["event_at"] == paris(2026, 1, 17, 18, 0)
    # Dates are whole days in Paris: 05/01 from its midnight, 16/01 up to the next midnight.
    assert rows["SD-2"]["valid_from_at"] == datetime(2026, 1, 4, 23, 0, tzinfo=UTC)
    assert rows["SD-2"]["valid_until_at"] == datetime(2026, 1, 16, 23, 0, tzinfo=UTC)
    assert rows["SD-1"]["delegate_name"] == "Noémie D’Hondt"
    assert rows["SD-2"]["delegate_name"] == "Rémi Cœur – remplaçant"
    assert {r["operator"] for r in rows.values()} == {"Santé Sud"}


# ---- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "format_name"),
    [
        ("delegations.csv", "delegations"),
        ("snapshot.csv", "snapshot"),
        ("audit.csv", "audit"),
        ("audit.jsonl", "audit"),
        ("roster.csv", "roster"),
        ("Extraction_Correspondance_MSSante_202604010830.txt", "directory"),
        ("fr_journal_acces.csv", "profile:fr-journal-acces"),
        ("fr_delegations.csv", "profile:fr-delegations"),
    ],
)
def test_format_is_detected_from_the_header(con, name, format_name):
    assert detect(VALID / name).format_name == format_name
    assert ingest(con, VALID / name).format == format_name


def test_column_order_does_not_matter_and_extra_columns_are_recorded(con, tmp_path):
    header = ["tenant", *reversed(AUDIT_COLUMNS)]
    record = audit_record("E-1")
    path = write_csv(
        tmp_path / "shuffled.csv", header, [["t-9", *(record[c] for c in reversed(AUDIT_COLUMNS))]]
    )
    result = ingest(con, path)

    assert result.format == "audit"
    row = records(con, "SELECT event_id, actor, occurred_at FROM audit_event")
    assert row == [
        {"event_id": "E-1", "actor": record["actor"], "occurred_at": utc(record["occurred_at"])}
    ]
    ignored = con.execute("SELECT ignored_columns FROM ingest_file").fetchone()[0]
    assert ignored == ["tenant"]


def test_forced_format_reads_a_header_that_fits_several_kinds(con, tmp_path):
    header = [*DELEGATION_COLUMNS, "as_of"]
    row = {
        "event_id": "D-1",
        "event_type": "grant",
        "event_at": "2026-03-01T10:00:00+01:00",
        "mailbox": "helene.garnier@medecin.mssante.fr",
        "delegate": "paul.roux@pro.mssante.fr",
        "delegate_name": "Paul Roux",
        "delegate_role": "secretary",
        "rights": "read",
        "valid_from": "",
        "valid_to": "",
        "performed_by": "",
        "operator": "Op",
        "as_of": "2026-03-02",
    }
    path = write_csv(tmp_path / "both.csv", header, [[row[c] for c in header]])

    assert detect(path).format_name == "delegations"
    result = ingest(con, path, fmt="snapshot")
    assert (result.format, result.kind, result.rows_loaded) == ("snapshot", "snapshot", 1)
    assert con.execute("SELECT count(*) FROM delegation_event").fetchone()[0] == 0
    assert con.execute("SELECT as_of_at FROM delegation_snapshot").fetchone()[0] == paris(
        2026, 3, 2
    )


def test_forced_format_that_does_not_fit_fails_with_the_missing_columns(con):
    result = ingest_file(con, VALID / "audit.csv", fmt="roster")

    assert result.status == "failed"
    assert "does not match format roster" in result.message
    assert "practice_id" in result.message
    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 0


@pytest.mark.parametrize("profile", ["fr-journal-acces", "toml-file"])
def test_forced_profile_by_name_or_file(con, tmp_path, profile):
    expected = "profile:fr-journal-acces"
    if profile == "toml-file":
        profile = str(profile_variant(tmp_path, "fr-journal-acces", "my-journal"))
        expected = "profile:my-journal"
    result = ingest(con, VALID / "fr_journal_acces.csv", profile=profile)

    assert result.format == expected
    assert result.rows_loaded == 5


def test_forced_profile_that_does_not_fit_fails(con):
    result = ingest_file(con, VALID / "fr_journal_acces.csv", profile="fr-delegations")

    assert result.status == "failed"
    assert "does not match profile fr-delegations" in result.message
    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 0


def test_unknown_header_names_the_known_formats_and_profiles(con, tmp_path):
    path = write_lines(tmp_path / "mystery.csv", ["when,who,what", "2026-03-02,someone,something"])

    with pytest.raises(UnknownFormat) as raised:
        detect(path)
    message = str(raised.value)
    assert "unknown format" in message
    for known in (
        "delegations",
        "snapshot",
        "audit",
        "roster",
        "directory",
        "profile fr-journal-acces",
        "profile fr-delegations",
    ):
        assert known in message
    assert "when, who, what" in message

    result = ingest_file(con, path)
    assert (result.status, result.message) == ("failed", message)
    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 0


def test_file_without_operator_takes_the_given_operator(con, tmp_path):
    columns = [c for c in AUDIT_COLUMNS if c != "operator"]
    path = write_csv(
        tmp_path / "no_operator.csv", columns, [[audit_record("E-1")[c] for c in columns]]
    )

    failed = ingest_file(con, path)
    assert failed.status == "failed"
    assert "--operator" in failed.message

    result = ingest(con, path, operator="Cabinet Sans Colonne")
    assert result.operator == "Cabinet Sans Colonne"
    assert con.execute("SELECT operator FROM audit_event").fetchall() == [("Cabinet Sans Colonne",)]


def test_operator_column_wins_over_the_given_operator(con, tmp_path):
    path = write_audit(tmp_path / "a.csv", [audit_record("E-1"), audit_record("E-2")])
    ingest(con, path, operator="Fallback")

    assert con.execute("SELECT DISTINCT operator FROM audit_event").fetchall() == [(OPERATOR,)]


def test_jsonl_numbers_used_as_identifiers_keep_their_literal_text(con):
    result = ingest(con, VALID / "audit_numeric_ids.jsonl")

    # 1.10 and 1.1, 1e2 and 100 are four events, not two events and two duplicates.
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate) == (6, 6, 0)
    stored = con.execute("SELECT event_id FROM audit_event ORDER BY session_id").fetchall()
    assert [r[0] for r in stored] == ["1.10", "1.1", "1e2", "100", "12345678901234567890123", "-0"]


def test_a_powershell_type_line_is_skipped_and_line_numbers_stay_physical(con):
    path = INVALID / "audit_powershell_type_line.csv"
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0].startswith("#TYPE ")

    result = ingest(con, path)

    assert (result.format, result.rows_read, result.rows_loaded) == ("audit", 5, 4)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"], row["raw_text"]) == (4, "unknown_action", lines[3])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("audit.jsonl", "audit_array.json"),
        ("audit.jsonl", "audit_wrapper_object.json"),
        ("m365_purview_new_header.csv", "m365_purview_powershell_type_line.csv"),
    ],
)
def test_real_world_containers_load_the_same_rows(con, first, second):
    options = {"operator": "CHU Exemple"} if first.startswith("m365") else {}
    before = ingest(con, VALID / first, **options)
    after = ingest(con, VALID / second, **options)

    assert before.rows_loaded > 0 and before.rows_quarantined == 0
    assert (after.status, after.rows_loaded, after.rows_quarantined) == ("loaded", 0, 0)
    assert after.rows_duplicate == before.rows_loaded + before.rows_duplicate
