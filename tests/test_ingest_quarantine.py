"""Every quarantine reason, with its line number and raw text; the count invariant on files that
mix every defect."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    AUDIT_COLUMNS,
    INVALID,
    TESTS,
    VALID,
    audit_fields,
    audit_record,
    csv_line,
    ingest,
    older_warehouse,
    physical_line_of,
    quarantined,
    write_lines,
)
from delegation_reports.ingest.files import WIDE_LINE_EXTRA_FIELDS
from delegation_reports.ingest.pipeline import REASONS
from delegation_reports.status import warehouse_status
from delegation_reports.warehouse import opened

MARKER = b"QX"


def _line_too_long(tmp_path: Path) -> Path:
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1"))]
    lines.append(csv_line(audit_fields("QX-1", user_agent="U" * 1_100_000)))
    lines.append(csv_line(audit_fields("E-2")))
    return write_lines(tmp_path / "audit_line_too_long.csv", lines)


def _hundred_thousand_commas(tmp_path: Path) -> Path:
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1"))]
    lines.append(csv_line(audit_fields("QX-1")) + "," * 100_000)
    lines.append(csv_line(audit_fields("E-2")))
    return write_lines(tmp_path / "audit_hundred_thousand_commas.csv", lines, line_end="\r\n")


def _hundred_thousand_fields(tmp_path: Path) -> Path:
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1"))]
    lines.append(",".join(["QX-1", *["v"] * 99_999]))
    lines.append(csv_line(audit_fields("E-2")))
    return write_lines(tmp_path / "audit_hundred_thousand_fields.csv", lines)


def _hundred_thousand_fields_french_profile(tmp_path: Path) -> Path:
    lines = (VALID / "fr_journal_acces.csv").read_bytes().split(b"\n")
    lines.insert(2, b";".join([b"QX-1", *[b"v\xe9"] * 99_999]))
    path = tmp_path / "fr_journal_acces_hundred_thousand_fields.csv"
    path.write_bytes(b"\n".join(lines))
    return path


@dataclass(frozen=True)
class Case:
    """A file holding one row quarantined for ``reason``, marked QX: a fixture of
    tests/data/invalid, or one written at run time by a function."""

    reason: str
    source: str | Callable[[Path], Path]
    encoding: str = "utf-8"

    def path(self, tmp_path: Path) -> Path:
        return INVALID / self.source if isinstance(self.source, str) else self.source(tmp_path)

    @property
    def id(self) -> str:
        return self.source if isinstance(self.source, str) else self.source.__name__.strip("_")


CASES = [
    Case("wrong_column_count", "audit_wrong_column_count.csv"),
    Case("wrong_column_count", "audit_trailing_empty_fields.csv"),
    Case("wrong_column_count", _hundred_thousand_commas),
    Case("wrong_column_count", _hundred_thousand_fields),
    Case("wrong_column_count", _hundred_thousand_fields_french_profile, "cp1252"),
    Case("malformed_row", "audit_malformed_row.csv"),
    Case("malformed_row", "audit_malformed_row.jsonl"),
    Case("undecodable_bytes", "audit_undecodable_bytes.csv"),
    Case("missing_required_field", "audit_missing_required_field.csv"),
    Case("bad_timestamp", "audit_bad_timestamp.csv"),
    Case("missing_offset", "audit_missing_offset.csv"),
    Case("ambiguous_local_time", "fr_journal_acces_ambiguous_local_time.csv", "cp1252"),
    Case("nonexistent_local_time", "fr_journal_acces_nonexistent_local_time.csv", "cp1252"),
    Case("unknown_action", "audit_unknown_action.csv"),
    Case("invalid_value", "audit_invalid_value.csv"),
    Case("invalid_value", "audit_control_characters.csv"),
    Case("invalid_address", "delegations_invalid_address.csv"),
    Case("invalid_identifier", "roster_invalid_identifier.csv"),
    Case("invalid_check_digit", "roster_invalid_check_digit.csv"),
    Case(
        "invalid_check_digit",
        "directory_invalid_check_digit_Extraction_Correspondance_MSSante_202604010830.txt",
    ),
    Case("invalid_range", "delegations_invalid_range.csv"),
    Case("conflicting_duplicate", "audit_conflicting_duplicate.csv"),
    Case("line_too_long", _line_too_long),
]


def _data_lines(path: Path) -> int:
    lines = path.read_bytes().split(b"\n")
    return sum(1 for line in (lines if path.suffix == ".jsonl" else lines[1:]) if line.strip())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_reason_is_quarantined_with_its_line_and_raw_text(con, tmp_path, case):
    path = case.path(tmp_path)
    line = physical_line_of(path, MARKER)
    raw_line = path.read_bytes().split(b"\n")[line - 1].rstrip(b"\r")
    result = ingest(con, path)

    assert result.status == "loaded"
    assert result.rows_read == _data_lines(path)
    assert result.rows_quarantined == 1
    assert result.rows_loaded + result.rows_duplicate == result.rows_read - 1
    [row] = quarantined(con)
    assert (row["reason"], row["line_number"]) == (case.reason, line)
    assert row["file_sha256"] == result.sha256
    if case.reason == "line_too_long":
        assert raw_line.decode().startswith(row["raw_text"])
        assert row["raw_text"].startswith("QX-1,")
    elif case.reason == "undecodable_bytes":
        assert row["raw_text"] == raw_line.decode("utf-8", errors="backslashreplace")
        assert "\\x92" in row["raw_text"]
    else:
        assert row["raw_text"] == raw_line.decode(case.encoding)


@pytest.mark.parametrize(
    "extra", [WIDE_LINE_EXTRA_FIELDS - 1, WIDE_LINE_EXTRA_FIELDS, 100_000 - len(AUDIT_COLUMNS)]
)
def test_a_line_with_thousands_of_fields_is_one_row_quarantined_at_its_line(con, tmp_path, extra):
    wide = ",".join(["QX-1", *["v"] * (len(AUDIT_COLUMNS) + extra - 1)])
    bad = csv_line(audit_fields("B-1", action="fly"))
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1")), "", wide, bad]
    path = write_lines(tmp_path / "wide.csv", [*lines, csv_line(audit_fields("E-2"))])

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    rows = quarantined(con)
    assert [(r["line_number"], r["reason"]) for r in rows] == [
        (4, "wrong_column_count"),
        (5, "unknown_action"),
    ]
    assert [r["raw_text"] for r in rows] == [wide, bad]
    if extra >= WIDE_LINE_EXTRA_FIELDS:
        n_fields = len(AUDIT_COLUMNS) + extra
        assert rows[0]["detail"] == f"{n_fields} fields, the header has {len(AUDIT_COLUMNS)}"


def test_every_reason_has_a_case():
    assert {c.reason for c in CASES} == set(REASONS)


def test_every_reason_is_documented():
    documented = set(
        re.findall(r"^\| `([a-z_]+)` \|", (TESTS.parent / "docs/quarantine.md").read_text(), re.M)
    )
    assert documented == set(REASONS)


@dataclass
class Row:
    """One record written to a mixed file and where it must end."""

    text: str
    outcome: str  # loaded | duplicate | a quarantine reason
    event_id: str | None = None


def _mixed_audit_rows() -> list[Row | None]:
    """Records of an audit CSV with one of every defect an audit file can hold; None is a
    blank line."""
    good = csv_line(audit_fields("E-01"))
    return [
        Row(good, "loaded", "E-01"),
        Row(csv_line(audit_fields("E-02")), "loaded", "E-02"),
        Row(good, "duplicate"),
        Row(
            csv_line(audit_fields("E-01", actor="someone.else@pro.mssante.fr")),
            "conflicting_duplicate",
        ),
        Row(",".join(audit_fields("E-03")[:6]), "wrong_column_count"),
        Row(csv_line([*audit_fields("E-04"), "surplus"]), "wrong_column_count"),
        Row(csv_line(audit_fields("E-05")).replace(",read,", ',"read"x,'), "malformed_row"),
        Row(csv_line(audit_fields("E-06", user_agent="Client d\x92accueil")), "undecodable_bytes"),
        None,
        Row(csv_line(audit_fields("E-07", actor="")), "missing_required_field"),
        Row(csv_line(audit_fields("E-08", occurred_at="yesterday")), "bad_timestamp"),
        Row(csv_line(audit_fields("E-09", occurred_at="2026-03-02T09:15:00")), "missing_offset"),
        Row(csv_line(audit_fields("E-10", action="forward")), "unknown_action"),
        Row(csv_line(audit_fields("E-11", outcome="partial")), "invalid_value"),
        Row(csv_line(audit_fields("E-12", client_ip="not-an-ip")), "invalid_value"),
        Row(csv_line(audit_fields("E-13", mailbox="helene.garnier")), "invalid_address"),
        None,
        None,
        Row(csv_line(audit_fields("E-14", user_agent="U" * 1_100_000)), "line_too_long"),
        Row(csv_line(audit_fields("")), "missing_required_field"),
        Row(csv_line(audit_fields("E-16")), "loaded", "E-16"),
        Row(csv_line(audit_fields("E-02")), "duplicate"),
        Row(
            csv_line(audit_fields("E-17", user_agent='Client "Pro", v2\nsecond line')),
            "loaded",
            "E-17",
        ),
        Row(csv_line(audit_fields("E-18")), "loaded", "E-18"),
    ]


def _encode(text: str) -> bytes:
    """UTF-8, except the marker character \x92 which stays a single (invalid) byte."""
    return text.encode("utf-8").replace("\x92".encode(), b"\x92")


def test_count_invariant_on_a_csv_mixing_every_defect(con, tmp_path):
    rows = _mixed_audit_rows()
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"".join(
            _encode(r.text if r else "") + b"\n" for r in [Row(csv_line(AUDIT_COLUMNS), "")] + rows
        )
    )
    records = [r for r in rows if r]
    expected_lines = {}
    for number, row in enumerate(rows, start=2):
        if row and row.outcome not in ("loaded", "duplicate"):
            expected_lines[number] = row.outcome

    result = ingest(con, path)

    assert result.rows_read == len(records) == 21
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    assert result.rows_loaded == sum(r.outcome == "loaded" for r in records)
    assert result.rows_duplicate == sum(r.outcome == "duplicate" for r in records)
    assert result.rows_quarantined == len(expected_lines)
    assert {r["line_number"]: r["reason"] for r in quarantined(con)} == expected_lines
    loaded_ids = {r.event_id for r in records if r.outcome == "loaded"}
    assert {r[0] for r in con.execute("SELECT event_id FROM audit_event").fetchall()} == loaded_ids
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == len(loaded_ids)
    manifest = con.execute(
        "SELECT rows_read, rows_loaded, rows_duplicate, rows_quarantined FROM ingest_file"
    ).fetchone()
    assert manifest == (
        result.rows_read,
        result.rows_loaded,
        result.rows_duplicate,
        result.rows_quarantined,
    )


def test_count_invariant_on_a_jsonl_mixing_every_defect(con, tmp_path):
    good = json.dumps(audit_record("J-01"))
    lines = [
        (good, "loaded"),
        (json.dumps(audit_record("J-02", session_id=42)), "loaded"),
        ("", None),
        (good, "duplicate"),
        (json.dumps(audit_record("J-01", action="send")), "conflicting_duplicate"),
        ('{"event_id": "J-03", "occurred_at": ', "malformed_row"),
        ('["J-04", "read"]', "malformed_row"),
        (json.dumps(audit_record("J-05", actor="")), "missing_required_field"),
        (json.dumps(audit_record("J-06", occurred_at="2026-03-02 09:15")), "missing_offset"),
        (json.dumps(audit_record("J-07", action="print")), "unknown_action"),
        ("", None),
        (json.dumps(audit_record("J-08", auth_method="retina")), "invalid_value"),
        (json.dumps(audit_record("J-09", mailbox="nobody")), "invalid_address"),
        (
            json.dumps(audit_record("J-10", user_agent="caf\x92"), ensure_ascii=False),
            "undecodable_bytes",
        ),
        (json.dumps(audit_record("J-11")), "loaded"),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(_encode(text) + b"\n" for text, _ in lines))
    written = [outcome for _, outcome in lines if outcome]
    expected_lines = {
        n: outcome
        for n, (_, outcome) in enumerate(lines, start=1)
        if outcome not in (None, "loaded", "duplicate")
    }

    result = ingest(con, path)

    assert result.rows_read == len(written) == 13
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    assert (result.rows_loaded, result.rows_duplicate) == (
        written.count("loaded"),
        written.count("duplicate"),
    )
    assert {r["line_number"]: r["reason"] for r in quarantined(con)} == expected_lines
    assert sorted(r[0] for r in con.execute("SELECT event_id FROM audit_event").fetchall()) == [
        "J-01",
        "J-02",
        "J-11",
    ]


def test_a_row_with_several_problems_reports_the_first_reason_and_all_details(con, tmp_path):
    path = write_lines(
        tmp_path / "several.csv",
        [
            csv_line(AUDIT_COLUMNS),
            csv_line(audit_fields("E-1", action="fly", mailbox="nowhere", outcome="")),
        ],
    )
    ingest(con, path)

    [row] = quarantined(con)
    assert row["reason"] == "missing_required_field"
    for reason in ("missing_required_field", "unknown_action", "invalid_address"):
        assert reason in row["detail"]


def test_raw_text_is_the_line_as_written_and_quarantined_at_is_recorded(con, tmp_path):
    path = INVALID / "audit_raw_text_as_written.csv"
    jsonl = tmp_path / "spaced.jsonl"
    spaced = '{ "event_id":"QX-2" ,"occurred_at":"2026-03-02T09:15:00+01:00", "mailbox":"a@b.fr",  "actor": "c@d.fr","action":"fly","outcome":"success","operator":"Op", "n": 1.50}'
    jsonl.write_text(spaced + "\n", encoding="utf-8")

    result = ingest(con, path)
    ingest(con, jsonl)

    rows = con.execute(
        "SELECT line_number, reason, raw_text, quarantined_at, "
        "quarantined_at BETWEEN f.started_at AND f.ended_at "
        "FROM quarantine JOIN ingest_file AS f USING (file_id) ORDER BY file_id"
    ).fetchall()
    written = path.read_bytes().decode("utf-8").split("\r\n")[2]
    assert written.startswith('"QX-1","2026-03-02T09:15:00+01:00"')
    assert [r[:3] for r in rows] == [(3, "unknown_action", written), (1, "unknown_action", spaced)]
    assert all(r[3] is not None and r[4] for r in rows)
    assert result.rows_quarantined == 1


def test_quarantine_rows_of_an_older_warehouse_keep_no_quarantined_at(tmp_path):
    path = older_warehouse(
        tmp_path / "old.duckdb", INVALID / "audit_unknown_action.csv", "quarantine.quarantined_at"
    )

    with opened(path) as con:
        ingest(con, INVALID / "audit_invalid_value.csv")
        stamps = con.execute("SELECT quarantined_at IS NULL FROM quarantine ORDER BY file_id")
        assert [r[0] for r in stamps.fetchall()] == [True, False]


def test_a_record_quarantined_once_is_not_quarantined_again_from_another_container(con):
    names = [
        "m365_requarantined.jsonl",
        "m365_requarantined_purview_old_header.csv",
        "m365_requarantined_purview_new_header.csv",
    ]

    results = [ingest(con, INVALID / name, operator="CHU Exemple") for name in names]

    assert [(r.rows_loaded, r.rows_duplicate, r.rows_quarantined) for r in results] == [
        (1, 0, 2),
        (0, 3, 0),
        (0, 3, 0),
    ]
    kinds = con.execute(
        "SELECT record_kind, reason FROM quarantine ORDER BY record_kind"
    ).fetchall()
    assert kinds == [("audit", "invalid_address"), ("delegations", "invalid_address")]
    by_reason = warehouse_status(con)["quarantine"]
    assert [(q["kind"], q["n_rows"]) for q in by_reason] == [("audit", 1), ("delegations", 1)]


def test_a_canonical_row_quarantined_again_in_a_later_export_counts_as_a_duplicate(con, tmp_path):
    first = ingest(con, INVALID / "audit_unknown_action.csv")
    copy = tmp_path / "audit_unknown_action_again.csv"
    copy.write_bytes((INVALID / "audit_unknown_action.csv").read_bytes() + b"\n")

    again = ingest(con, copy)

    assert first.rows_quarantined == 1
    assert (again.rows_quarantined, again.rows_duplicate) == (0, again.rows_read)
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
