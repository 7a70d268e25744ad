"""Text comes back exactly as written in UTF-8 (with or without BOM), Latin-1 and Windows-1252;
bytes the encoding cannot decode quarantine their row, never the file."""

from __future__ import annotations

import json

import pytest

from conftest import (
    AUDIT_COLUMNS,
    FR_DELEGATION_HEADERS,
    INVALID,
    NOT_EXPORTS,
    ROSTER_COLUMNS,
    SAMPLES,
    VALID,
    audit_fields,
    audit_record,
    csv_line,
    ingest,
    older_warehouse,
    quarantined,
    roster_record,
    text_columns,
    write_lines,
    write_roster,
)
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import opened

NAMES = ("Cabinet Cœur–Vallée", "Noémie D’Hondt", "Hélène Noël — « Ça »")


def _roster(names=NAMES) -> list[dict[str, str]]:
    return [
        roster_record(f"m{i}@pro.mssante.fr", practice_id=f"P-{i}", practice_name=name)
        for i, name in enumerate(names)
    ]


def _names(con) -> dict[str, str]:
    return dict(con.execute("SELECT practice_id, practice_name FROM roster_member").fetchall())


@pytest.mark.parametrize("bom", [False, True], ids=["utf-8", "utf-8-bom"])
def test_utf8_with_or_without_bom(con, tmp_path, bom):
    path = write_roster(tmp_path / "roster.csv", _roster(), bom=bom)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") is bom
    result = ingest(con, path)

    assert (result.format, result.rows_loaded, result.rows_quarantined) == ("roster", 3, 0)
    assert _names(con) == {f"P-{i}": name for i, name in enumerate(NAMES)}


def test_jsonl_with_bom(con, tmp_path):
    path = tmp_path / "bom.jsonl"
    lines = [json.dumps(audit_record("J-1", user_agent="Noémie D’Hondt"), ensure_ascii=False)]
    path.write_bytes(b"\xef\xbb\xbf" + (lines[0] + "\n").encode())
    result = ingest(con, path)

    assert (result.kind, result.rows_loaded) == ("audit", 1)
    assert con.execute("SELECT event_id, user_agent FROM audit_event").fetchall() == [
        ("J-1", "Noémie D’Hondt")
    ]


def test_latin1_through_a_profile(con, tmp_path):
    profile = tmp_path / "latin1-roster.toml"
    profile.write_text(
        """
name = "test-latin1-roster"
kind = "roster"
delimiter = ";"
encoding = "latin-1"

[columns]
practice_id = "Identifiant cabinet"
practice_name = "Nom du cabinet"
member = "Membre"
member_kind = "Rôle"

[values.member_kind]
"Titulaire" = "holder"
"Secrétaire" = "staff"
""",
        encoding="utf-8",
    )
    names = ["Cabinet Hélène Noël", "Maison de santé « Ça va »", "Médecins Æsculape ½ ÿ"]
    lines = ["Identifiant cabinet;Nom du cabinet;Membre;Rôle"] + [
        f"P-{i};{name};m{i}@pro.mssante.fr;{'Titulaire' if i == 0 else 'Secrétaire'}"
        for i, name in enumerate(names)
    ]
    path = write_lines(tmp_path / "roster_latin1.csv", lines, encoding="latin-1")
    assert b"H\xe9l\xe8ne" in path.read_bytes()

    result = ingest(con, path, profile=str(profile))

    assert (result.format, result.rows_loaded, result.rows_quarantined) == (
        "profile:test-latin1-roster",
        3,
        0,
    )
    assert _names(con) == {f"P-{i}": name for i, name in enumerate(names)}
    kinds = dict(con.execute("SELECT practice_id, member_kind FROM roster_member").fetchall())
    assert kinds == {"P-0": "holder", "P-1": "staff", "P-2": "staff"}


def test_windows_1252_through_the_bundled_profile(con, tmp_path):
    names = ["Noémie D’Hondt", "Rémi Cœur – remplaçant", "Œdipe “Le Grand” …"]
    lines = [";".join(FR_DELEGATION_HEADERS)] + [
        f"SD-{i};Création;01/09/2025 08:2{i}:00;jerome.fabre@medecin.mssante.fr;d{i}@pro.mssante.fr;"
        f"{name};Secrétaire médicale;Lecture;;;;Santé Sud"
        for i, name in enumerate(names)
    ]
    path = write_lines(tmp_path / "delegations_cp1252.csv", lines, encoding="cp1252")
    raw = path.read_bytes()
    for byte in (b"\x92", b"\x9c", b"\x96", b"\x8c", b"\x93", b"\x94", b"\x85"):
        assert byte in raw

    result = ingest(con, path)

    assert (result.format, result.rows_loaded, result.rows_quarantined) == (
        "profile:fr-delegations",
        3,
        0,
    )
    stored = dict(con.execute("SELECT event_id, delegate_name FROM delegation_event").fetchall())
    assert stored == {f"SD-{i}": name for i, name in enumerate(names)}


def test_cp1252_byte_in_a_utf8_file_quarantines_its_row_with_the_byte_escaped(con, tmp_path):
    lines = [
        csv_line(ROSTER_COLUMNS).encode(),
        csv_line(list(_roster()[0].values())).encode(),
        b"P-9,Cabinet d\x92Arc,m9@pro.mssante.fr,staff,,,",
        csv_line(list(_roster()[1].values())).encode(),
    ]
    path = tmp_path / "roster_bad_byte.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (3, "undecodable_bytes")
    assert row["raw_text"] == "P-9,Cabinet d\\x92Arc,m9@pro.mssante.fr,staff,,,"
    assert set(_names(con)) == {"P-0", "P-1"}


@pytest.mark.parametrize("blank_lines", [0, 1, 3])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_bad_byte_in_a_utf8_file_after_other_and_blank_lines(con, tmp_path, line_end, blank_lines):
    eol = line_end.encode()
    lines = [csv_line(ROSTER_COLUMNS).encode()]
    lines += [csv_line(list(r.values())).encode() for r in _roster()]
    lines += [b""] * blank_lines
    lines.append(b"P-9,\xe9t\xe9,m9@pro.mssante.fr,staff,,,")
    lines.append(
        csv_line(list(roster_record("last@pro.mssante.fr", practice_id="P-10").values())).encode()
    )
    path = tmp_path / "late_bad_byte.csv"
    path.write_bytes(eol.join(lines) + eol)

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (len(lines) - 1, "undecodable_bytes")
    assert row["raw_text"] == "P-9,\\xe9t\\xe9,m9@pro.mssante.fr,staff,,,"


def test_bad_byte_in_an_ignored_column_quarantines_the_row(con, tmp_path):
    header = [*ROSTER_COLUMNS, "remarks"]
    lines = [csv_line(header).encode()]
    lines += [csv_line([*r.values(), "ok"]).encode() for r in _roster()]
    lines.insert(2, b"P-9,Cabinet,m9@pro.mssante.fr,staff,,,,caf\x92")
    path = tmp_path / "ignored_bad_byte.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [(3, "undecodable_bytes")]
    assert con.execute("SELECT ignored_columns FROM ingest_file").fetchone()[0] == ["remarks"]


def test_bad_byte_in_a_dropped_content_column_does_not_break_the_counts(con, tmp_path):
    header = [*ROSTER_COLUMNS, "subject"]
    lines = [csv_line(header).encode()]
    lines += [csv_line([*r.values(), "hello"]).encode() for r in _roster()]
    lines.append(b"P-9,Cabinet,m9@pro.mssante.fr,staff,,,caf\x92")
    path = tmp_path / "content_bad_byte.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = ingest(con, path)

    assert result.status == "loaded"
    assert result.rows_read == 4
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined


def test_byte_undefined_in_cp1252_quarantines_its_row(con, tmp_path):
    header = ";".join(FR_DELEGATION_HEADERS).encode("cp1252")
    good = "SD-1;Création;01/09/2025 08:20:00;j.f@medecin.mssante.fr;n.d@pro.mssante.fr;Noémie D’Hondt;Secrétaire;Lecture;;;;Santé Sud"
    bad = b"SD-2;Cr\xe9ation;01/09/2025 08:21:00;j.f@medecin.mssante.fr;x.y@pro.mssante.fr;Jos\x81;Secr\xe9taire;Lecture;;;;Sant\xe9 Sud"
    path = tmp_path / "delegations_0x81.csv"
    path.write_bytes(b"\n".join([header, good.encode("cp1252"), bad]) + b"\n")
    with pytest.raises(UnicodeDecodeError):
        bad.decode("cp1252")

    result = ingest(con, path)

    assert result.format == "profile:fr-delegations"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (3, "undecodable_bytes")
    # The profile file is decoded before reading: the undecodable byte shows as U+FFFD.
    assert row["raw_text"] == bad.decode("cp1252", errors="replace")
    assert con.execute("SELECT delegate_name FROM delegation_event").fetchall() == [
        ("Noémie D’Hondt",)
    ]


def test_invalid_utf8_in_a_jsonl_line_quarantines_it_with_the_byte_escaped(con, tmp_path):
    good = json.dumps(audit_record("J-1")).encode()
    bad = (
        json.dumps(audit_record("J-2", user_agent="d@accueil"))
        .encode()
        .replace(b"d@accueil", b"d\x92accueil")
    )
    path = tmp_path / "bad.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (2, "undecodable_bytes")
    assert row["raw_text"] == bad.decode("utf-8", errors="backslashreplace")
    assert "\\x92" in row["raw_text"]


def test_audit_user_agent_keeps_every_character(con, tmp_path):
    agent = "Mozilla/5.0 (X11; Linux) ‘quoted’ <script>alert(1)</script> 日本 🙂"
    path = write_lines(
        tmp_path / "ua.csv",
        [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1", user_agent=agent))],
    )
    ingest(con, path)

    assert con.execute("SELECT user_agent FROM audit_event").fetchone()[0] == agent


def test_a_utf8_file_through_a_windows_1252_profile_is_read_as_utf8(con):
    path = VALID / "fr_delegations_utf8.csv"
    assert "Santé Sud".encode() in path.read_bytes()

    first = ingest(con, path, profile="fr-delegations")
    again = ingest(con, VALID / "fr_delegations.csv")

    assert (first.format, first.rows_loaded, first.rows_quarantined) == (
        "profile:fr-delegations",
        3,
        0,
    )
    # The same events in Windows-1252 are the same rows: nothing loaded twice.
    assert (again.rows_loaded, again.rows_duplicate) == (0, 3)
    assert con.execute("SELECT DISTINCT operator FROM delegation_event").fetchall() == [
        ("Santé Sud",)
    ]
    encodings = con.execute("SELECT file_name, encoding FROM ingest_file ORDER BY file_id")
    assert encodings.fetchall() == [
        ("fr_delegations_utf8.csv", "utf-8"),
        ("fr_delegations.csv", "cp1252"),
    ]


def test_a_mostly_utf8_file_with_one_windows_1252_byte_is_read_as_utf8(con, tmp_path):
    data = (
        (VALID / "fr_delegations_utf8.csv")
        .read_bytes()
        .replace(b"D\xe2\x80\x99Hondt", b"D\x92Hondt")
    )
    path = tmp_path / "fr_delegations_mixed.csv"
    path.write_bytes(data)

    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert [(q["line_number"], q["reason"]) for q in quarantined(con)] == [(2, "undecodable_bytes")]
    assert "\\x92" in quarantined(con)[0]["raw_text"]
    assert con.execute("SELECT DISTINCT operator FROM delegation_event").fetchall() == [
        ("Santé Sud",)
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_is_refused_with_a_clear_message(con, tmp_path, encoding):
    if encoding == "utf-16":
        path = INVALID / "audit_utf16.csv"
    else:
        path = tmp_path / f"audit_{encoding}.csv"
        path.write_bytes((VALID / "audit.csv").read_text(encoding="utf-8").encode(encoding))

    result = ingest_file(con, path)

    assert result.status == "failed"
    assert result.message == (
        f"{path}: the file is in UTF-16 (or UTF-32), which is not supported: re-export it as UTF-8"
    )
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 0


def _fixtures() -> list:
    folders = (VALID, INVALID, SAMPLES)
    return sorted(p for f in folders for p in f.iterdir() if p.name not in NOT_EXPORTS)


def test_no_mojibake_reaches_any_table_from_any_fixture(con):
    for path in _fixtures():
        ingest_file(con, path, operator="Opérateur test")

    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] > 30
    for table, column, data_type in text_columns(con):
        text = f"array_to_string({column}, '|')" if data_type.endswith("[]") else column
        found = con.execute(
            f'SELECT {column} FROM "{table}" WHERE contains({text}, chr(195) || chr(169)) '
            f"OR regexp_matches({text}, 'Ã[\\x80-\\xbf©¨«®´]|Â[°«»]|â€')"
        ).fetchall()
        assert found == [], (table, column, found[:3])


def test_a_warehouse_made_before_the_encoding_column_still_loads(tmp_path):
    path = older_warehouse(tmp_path / "old.duckdb", VALID / "roster.csv", "ingest_file.encoding")

    with opened(path) as con:
        ingest(con, VALID / "fr_delegations.csv")
        rows = con.execute("SELECT file_name, encoding FROM ingest_file ORDER BY file_id")
        assert rows.fetchall() == [("roster.csv", None), ("fr_delegations.csv", "cp1252")]
