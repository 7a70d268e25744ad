"""Message content (subjects, bodies...) is never stored: not in a table, not in the raw text of
a quarantined row. The manifest names the columns dropped."""

from __future__ import annotations

import json

import pytest

from conftest import (
    AUDIT_COLUMNS,
    FR_JOURNAL_HEADERS,
    INVALID,
    audit_fields,
    audit_record,
    csv_line,
    ingest,
    quarantined,
    text_columns,
    write_lines,
)
from delegation_reports.ingest.content import is_content_column
from delegation_reports.warehouse import connect

SECRET = "Résultats biopsie M. Durand"


def _occurrences(con, text: str) -> list[tuple[str, str]]:
    """(table, column) of every stored text value that contains ``text``."""
    found = []
    for table, column, data_type in text_columns(con):
        value = f'"{column}"' if data_type == "VARCHAR" else f'array_to_string("{column}", chr(31))'
        n = con.execute(
            f'SELECT count(*) FROM "{table}" WHERE contains({value}, ?)', [text]
        ).fetchone()[0]
        if n:
            found.append((table, column))
    return found


def _secret(n: int) -> str:
    return f"{SECRET} #{n}"


def test_subject_column_of_a_csv_is_stored_nowhere(con, tmp_path):
    header = [*AUDIT_COLUMNS[:5], "subject", *AUDIT_COLUMNS[5:]]

    def row(event_id: str, subject: str, **values: str) -> list[str]:
        fields = audit_fields(event_id, **values)
        return [*fields[:5], subject, *fields[5:]]

    lines = [
        csv_line(header),
        csv_line(row("E-1", _secret(1))),
        csv_line(row("E-2", _secret(2), action="forward")),
        csv_line(row("E-1", _secret(3), actor="other.actor@pro.mssante.fr")),
        csv_line([*row("E-3", _secret(4)), "surplus"]),
        csv_line(row("E-4", _secret(5))).replace(_secret(5), f'"{_secret(5)}"x'),
        csv_line(row("E-5", _secret(6), user_agent="Client d\x92accueil")),
        csv_line(row("E-6", _secret(7), occurred_at="2026-03-02T09:15:00")),
    ]
    path = tmp_path / "with_subject.csv"
    path.write_bytes(
        "".join(line + "\n" for line in lines).encode().replace("\x92".encode(), b"\x92")
    )

    result = ingest(con, path)

    reasons = {r["line_number"]: r["reason"] for r in quarantined(con)}
    assert reasons == {
        3: "unknown_action",
        4: "conflicting_duplicate",
        5: "wrong_column_count",
        6: "malformed_row",
        7: "undecodable_bytes",
        8: "missing_offset",
    }
    assert result.rows_loaded == 1
    assert _occurrences(con, SECRET) == []
    for row_ in quarantined(con):
        assert row_["raw_text"], row_
    assert con.execute("SELECT dropped_content_columns FROM ingest_file").fetchone()[0] == [
        "subject"
    ]
    assert "subject" in " ".join(result.notes)


def test_objet_key_of_a_jsonl_is_stored_nowhere(con, tmp_path):
    lines = [
        json.dumps({**audit_record("J-1"), "objet": _secret(1)}, ensure_ascii=False),
        json.dumps(
            {**audit_record("J-2", action="print"), "objet": _secret(2)}, ensure_ascii=False
        ),
        f'{{"event_id": "J-3", "objet": "{_secret(3)}", "contenu": "{_secret(4)}", "occurred_at": ',
        json.dumps(
            {**audit_record("J-4", user_agent="d\x92accueil"), "objet": _secret(5)},
            ensure_ascii=False,
        ),
        json.dumps(
            {**audit_record("J-1", actor="x@pro.mssante.fr"), "objet": _secret(6)},
            ensure_ascii=False,
        ),
    ]
    path = tmp_path / "with_objet.jsonl"
    path.write_bytes(
        "".join(line + "\n" for line in lines).encode().replace("\x92".encode(), b"\x92")
    )

    result = ingest(con, path)

    reasons = {r["line_number"]: r["reason"] for r in quarantined(con)}
    assert reasons == {
        2: "unknown_action",
        3: "malformed_row",
        4: "undecodable_bytes",
        5: "conflicting_duplicate",
    }
    assert result.rows_loaded == 1
    assert _occurrences(con, SECRET) == []
    assert con.execute("SELECT dropped_content_columns FROM ingest_file").fetchone()[0] == ["objet"]


@pytest.mark.parametrize(
    "key",
    [
        "subject",
        "Subject",
        "body",
        "objet",
        "sujet",
        "corps",
        "contenu",
        "message",
        "snippet",
        "preview",
        "attachment_name",
    ],
)
def test_content_key_of_an_unreadable_json_line_is_blanked(con, tmp_path, key):
    broken = f'{{"event_id": "J-9", "{key}": "{SECRET}", "occurred_at": '
    path = write_lines(tmp_path / "broken.jsonl", [json.dumps(audit_record("J-1")), broken])
    ingest(con, path)

    [row] = quarantined(con)
    assert row["reason"] == "malformed_row"
    assert SECRET not in row["raw_text"]
    assert '"J-9"' in row["raw_text"]


def test_objet_column_of_a_profile_export_is_stored_nowhere(con, tmp_path):
    header = ";".join([*FR_JOURNAL_HEADERS, "Objet"])
    rows = [
        f"S-1;02/01/2026 08:21:03;a.b@medecin.mssante.fr;a.b@medecin.mssante.fr;Connexion;Succès;CPS;;;;;Santé Sud;{_secret(1)}",
        f"S-2;02/01/2026 08:22:00;a.b@medecin.mssante.fr;a.b@medecin.mssante.fr;Impression;Succès;CPS;;;;;Santé Sud;{_secret(2)}",
        f"S-3;02/01/2026 08:23:00;a.b@medecin.mssante.fr;a.b@medecin.mssante.fr;Envoi;Succès;CPS;;;;;Santé Sud;{_secret(3)};surplus",
    ]
    path = write_lines(tmp_path / "journal_objet.csv", [header, *rows], encoding="cp1252")

    result = ingest(con, path)

    assert result.format == "profile:fr-journal-acces"
    assert {r["line_number"]: r["reason"] for r in quarantined(con)} == {
        3: "unknown_action",
        4: "wrong_column_count",
    }
    assert _occurrences(con, SECRET) == []
    assert con.execute("SELECT dropped_content_columns FROM ingest_file").fetchone()[0] == ["Objet"]


CANARY = "CANARY-Biopsie-7QX"
# Fixtures planting the canary in every format and shape: a good row, a quarantined row, a row
# with a wrong field count, a malformed row, nested keys. (file, options, rows quarantined)
CANARY_FILES = [
    ("audit_content_canary.csv", {}, 5),
    ("audit_content_canary.jsonl", {}, 3),
    ("fr_journal_acces_content_canary.csv", {}, 3),
    ("m365_content_canary.jsonl", {"operator": "CHU Exemple"}, 1),
    ("m365_purview_content_canary.csv", {"operator": "CHU Exemple"}, 1),
    ("dovecot_content_canary.log", {"operator": "Messagerie Dovecot"}, 1),
]


def test_a_canary_subject_planted_everywhere_is_stored_nowhere(tmp_path):
    db = tmp_path / "canary.duckdb"
    con = connect(db)
    try:
        for name, options, n_quarantined in CANARY_FILES:
            path = INVALID / name
            assert CANARY.encode() in path.read_bytes(), name
            result = ingest(con, path, **options)
            assert result.rows_quarantined >= n_quarantined, (name, result)
            assert result.rows_loaded + result.rows_duplicate >= 1, (name, result)
        assert _occurrences(con, CANARY) == []
        assert _occurrences(con, "CANARY") == []
        con.execute("CHECKPOINT")
    finally:
        con.close()
    for stored in tmp_path.iterdir():
        assert b"CANARY" not in stored.read_bytes(), stored.name


@pytest.mark.parametrize(
    "name",
    [
        "Objet du message",
        "mail_subject",
        "Item.Subject",
        "MessageBody",
        "Corps du message",
        "Contenu",
        "Texte du message",
        "Message text",
        "Pièces jointes",
        "AttachmentNames",
        "sujet",
        "body_html",
    ],
)
def test_content_names_are_recognised_in_french_and_english(name):
    assert is_content_column(name)


@pytest.mark.parametrize(
    "name",
    ["message_id", "Identifiant du message", "event_id", "mailbox", "Boîte aux lettres", "Session"],
)
def test_identifier_names_are_not_content(name):
    assert not is_content_column(name)
