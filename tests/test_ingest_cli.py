"""The ingest, status and quarantine commands, through click's test runner."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

import duckdb
import pytest
from click.testing import CliRunner, Result

from conftest import (
    AUDIT_COLUMNS,
    INVALID,
    OPERATOR,
    VALID,
    audit_fields,
    audit_record,
    csv_line,
    paris,
    utc,
    write_csv,
    write_lines,
)
from delegation_reports.cli import main
from delegation_reports.ingest import pipeline
from delegation_reports.warehouse import opened

RESULT_KEYS = {
    "file",
    "sha256",
    "format",
    "rows_read",
    "rows_loaded",
    "rows_duplicate",
    "rows_quarantined",
    "status",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(result: Result) -> str:
    """The error the command printed: exactly one line, no traceback."""
    text = result.stderr + result.stdout
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ingest_json_prints_one_object_per_file(db_path):
    files = [VALID / "audit.csv", INVALID / "audit_unknown_action.csv"]
    result = run("ingest", *files, "--db", db_path, "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert isinstance(printed, list) and len(printed) == 2
    for obj, path in zip(printed, files, strict=True):
        assert set(obj) >= RESULT_KEYS
        assert obj["file"] == str(path)
        assert obj["sha256"] == _sha(path)
        assert obj["format"] == "audit"
        assert obj["status"] == "loaded"
        assert (
            obj["rows_read"] == obj["rows_loaded"] + obj["rows_duplicate"] + obj["rows_quarantined"]
        )
    assert (printed[0]["rows_read"], printed[0]["rows_quarantined"]) == (4, 0)
    assert (printed[1]["rows_read"], printed[1]["rows_loaded"], printed[1]["rows_quarantined"]) == (
        3,
        2,
        1,
    )


def test_ingest_table_output_points_to_the_quarantine(db_path):
    path = INVALID / "audit_unknown_action.csv"
    result = run("ingest", path, "--db", db_path)

    assert result.exit_code == 0
    assert "audit_unknown_action.csv" in result.stdout
    assert f"quarantine --file {_sha(path)[:12]}" in result.stdout


def test_ingest_of_a_missing_file_fails_in_one_line_and_goes_on(db_path, tmp_path):
    missing = tmp_path / "nowhere.csv"
    result = run("ingest", missing, VALID / "roster.csv", "--db", db_path)

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert f"nowhere.csv: {missing}: no such file" in result.stdout.splitlines()
    assert "roster.csv" in result.stdout
    status = json.loads(run("status", "--db", db_path, "--json").stdout)
    assert [f["file_name"] for f in status["files"]] == ["roster.csv"]


def test_ingest_of_an_unknown_format_fails_with_the_known_formats(db_path, tmp_path):
    path = write_lines(tmp_path / "mystery.csv", ["when,who,what", "today,me,this"])
    result = run("ingest", path, "--db", db_path, "--json")

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    [obj] = json.loads(result.stdout)
    assert obj["status"] == "failed"
    assert "\n" not in obj["message"]
    assert "unknown format" in obj["message"]
    for known in (
        "delegations",
        "snapshot",
        "audit",
        "roster",
        "directory",
        "fr-journal-acces",
        "fr-delegations",
    ):
        assert known in obj["message"]


def test_ingest_with_an_unknown_profile_fails_in_one_line(db_path):
    result = run("ingest", VALID / "audit.csv", "--db", db_path, "--profile", "no-such-profile")

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    line = next(line for line in result.stdout.splitlines() if "no-such-profile" in line)
    assert "fr-journal-acces" in line and "fr-delegations" in line


def test_ingest_forced_format(db_path):
    ok = run("ingest", VALID / "audit.csv", "--db", db_path, "--format", "audit", "--json")
    wrong = run("ingest", VALID / "roster.csv", "--db", db_path, "--format", "audit", "--json")

    assert ok.exit_code == 0 and json.loads(ok.stdout)[0]["format"] == "audit"
    assert wrong.exit_code != 0
    assert "does not match format audit" in json.loads(wrong.stdout)[0]["message"]


def test_ingest_operator_option_fills_a_file_without_operator_column(db_path, tmp_path):
    columns = [c for c in AUDIT_COLUMNS if c != "operator"]
    path = write_csv(tmp_path / "no_op.csv", columns, [[audit_record("E-1")[c] for c in columns]])

    without = run("ingest", path, "--db", db_path)
    assert without.exit_code != 0
    assert "Traceback" not in without.output
    assert any(
        "no 'operator' column: pass --operator NAME" in line for line in without.stdout.splitlines()
    )

    with_operator = run("ingest", path, "--db", db_path, "--operator", "Cabinet Option", "--json")
    assert with_operator.exit_code == 0
    status = json.loads(run("status", "--db", db_path, "--json").stdout)
    assert [(h["kind"], h["operator"], h["n_rows"]) for h in status["holdings"]] == [
        ("audit", "Cabinet Option", 1)
    ]


def test_status_json_reports_holdings_quarantine_and_files(db_path):
    files = [
        VALID / "audit.csv",
        VALID / "delegations.csv",
        VALID / "roster.csv",
        INVALID / "audit_unknown_action.csv",
        INVALID / "audit_missing_offset.csv",
        VALID / "Extraction_Correspondance_MSSante_202604010830.txt",
    ]
    assert run("ingest", *files, "--db", db_path).exit_code == 0

    result = run("status", "--db", db_path, "--json")

    assert result.exit_code == 0
    status = json.loads(result.stdout)
    holdings = {(h["kind"], h["operator"]): h for h in status["holdings"]}
    assert set(holdings) == {
        ("audit", "Cabinet Connect"),
        ("audit", OPERATOR),
        ("delegations", OPERATOR),
        ("roster", None),
        ("directory", None),
    }
    assert holdings[("audit", "Cabinet Connect")]["n_rows"] == 4
    # Both invalid audit fixtures hold the same two valid events E-1 and E-2.
    assert holdings[("audit", OPERATOR)]["n_rows"] == 2
    assert holdings[("delegations", OPERATOR)]["n_rows"] == 5
    assert holdings[("roster", None)]["n_rows"] == 4
    assert holdings[("directory", None)]["n_rows"] == 4
    connect_audit = holdings[("audit", "Cabinet Connect")]
    assert datetime.fromisoformat(connect_audit["covered_from_at"]) == utc(
        "2026-01-02T07:21:03+00:00"
    )
    assert datetime.fromisoformat(connect_audit["covered_to_at"]) == utc(
        "2026-07-15T14:00:00+02:00"
    )
    delegations = holdings[("delegations", OPERATOR)]
    assert datetime.fromisoformat(delegations["covered_from_at"]) == utc(
        "2026-01-05T09:00:00+01:00"
    )
    assert datetime.fromisoformat(holdings[("directory", None)]["covered_to_at"]) == paris(
        2026, 4, 1, 8, 30
    )
    assert sorted(
        (q["operator"], q["kind"], q["reason"], q["n_rows"]) for q in status["quarantine"]
    ) == [
        (OPERATOR, "audit", "missing_offset", 1),
        (OPERATOR, "audit", "unknown_action", 1),
    ]
    assert sorted(f["sha256"] for f in status["files"]) == sorted(_sha(p) for p in files)
    by_name = {f["file_name"]: f for f in status["files"]}
    assert (
        by_name["audit_unknown_action.csv"]["rows_read"],
        by_name["audit_unknown_action.csv"]["rows_quarantined"],
    ) == (3, 1)
    assert by_name["audit_missing_offset.csv"]["rows_duplicate"] == 2


def test_status_table_output(db_path):
    run("ingest", INVALID / "audit_unknown_action.csv", "--db", db_path)
    result = run("status", "--db", db_path)

    assert result.exit_code == 0
    assert "unknown_action" in result.stdout
    assert OPERATOR in result.stdout


def test_status_without_a_warehouse_fails_in_one_line(tmp_path):
    result = run("status", "--db", tmp_path / "none.duckdb")

    assert result.exit_code != 0
    assert "no warehouse" in _one_line_error(result)


@pytest.fixture
def two_quarantined_files(db_path):
    files = [
        INVALID / "audit_unknown_action.csv",
        INVALID / "audit_missing_offset.csv",
        INVALID / "roster_invalid_check_digit.csv",
    ]
    assert run("ingest", *files, "--db", db_path).exit_code == 0
    return files


def _quarantine(db_path, *options) -> list[dict]:
    result = run("quarantine", "--db", db_path, "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_quarantine_lists_every_row_without_filters(db_path, two_quarantined_files):
    rows = _quarantine(db_path)
    assert sorted(r["reason"] for r in rows) == [
        "invalid_check_digit",
        "missing_offset",
        "unknown_action",
    ]


def test_quarantine_reason_filter(db_path, two_quarantined_files):
    rows = _quarantine(db_path, "--reason", "missing_offset")

    assert [(r["file_name"], r["line_number"], r["reason"]) for r in rows] == [
        ("audit_missing_offset.csv", 2, "missing_offset"),
    ]
    assert rows[0]["raw_text"].startswith("QX-1,2026-03-02T09:15:00,")
    assert _quarantine(db_path, "--reason", "invalid_range") == []


def test_quarantine_file_filter_by_sha_prefix_or_path(db_path, two_quarantined_files):
    path = two_quarantined_files[2]
    by_prefix = _quarantine(db_path, "--file", _sha(path)[:10])
    by_path = _quarantine(db_path, "--file", path)

    assert by_prefix == by_path
    assert [(r["file_name"], r["reason"], r["file_sha256"]) for r in by_prefix] == [
        ("roster_invalid_check_digit.csv", "invalid_check_digit", _sha(path)),
    ]
    assert _quarantine(db_path, "--file", _sha(path)[:10], "--reason", "unknown_action") == []


def test_quarantine_unknown_reason_is_refused(db_path, two_quarantined_files):
    result = run("quarantine", "--db", db_path, "--reason", "no_such_reason")

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "no_such_reason" in result.output


def test_quarantine_table_output(db_path, two_quarantined_files):
    result = run("quarantine", "--db", db_path, "--reason", "unknown_action")

    assert result.exit_code == 0
    assert "Quarantined rows (1)" in result.stdout
    assert "unknown_action" in result.stdout
    assert "missing_offset" not in result.stdout


@pytest.mark.parametrize(
    "command",
    [[], *([name] for name in sorted(main.commands))],
    ids=lambda c: c[0] if c else "main",
)
def test_every_command_has_help(command):
    result = run(*command, "-h")

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage:")
    long_form = run(*command, "--help")
    assert long_form.stdout == result.stdout


def test_control_characters_are_refused_in_keys_and_never_printed(db_path, tmp_path):
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1", user_agent="Agent\x1b[2Jforged\x00")),
        csv_line(audit_fields("E-\x002", actor="eve\x01@pro.mssante.fr")),
        csv_line(audit_fields("E-3", operator="Op\x1b[31mRed")),
    ]
    path = write_lines(tmp_path / "controls\x1b[1m.csv", lines)

    outputs = [
        run("ingest", "--db", db_path, "--no-refresh", path),
        run("status", "--db", db_path),
        run("quarantine", "--db", db_path),
    ]

    for result in outputs:
        assert result.exit_code == 0, result.output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.output), result.output
    details = [r["detail"] for r in json.loads(run("quarantine", "--db", db_path, "--json").output)]
    assert details == [
        "invalid_value: control character in event_id, actor",
        "invalid_value: control character in operator",
    ]
    with opened(db_path, read_only=True) as con:
        assert con.execute("SELECT event_id, user_agent FROM audit_event").fetchall() == [
            ("E-1", "Agent\x1b[2Jforged\x00")
        ]


def test_a_file_failing_as_a_whole_is_recorded_listed_and_loads_once_fixed(db_path, monkeypatch):
    utf16 = INVALID / "audit_utf16.csv"
    good = VALID / "audit.csv"

    def _broken(*args, **kwargs):
        raise duckdb.InvalidInputException("broken reader")

    monkeypatch.setattr(pipeline, "settle_repeats", _broken)
    failed = run("ingest", "--db", db_path, "--no-refresh", "--json", utf16, good)
    monkeypatch.undo()
    status = json.loads(run("status", "--db", db_path, "--json").output)
    shown = run("status", "--db", db_path)
    retry = json.loads(run("ingest", "--db", db_path, "--no-refresh", "--json", good).output)
    after = json.loads(run("status", "--db", db_path, "--json").output)

    assert [r["status"] for r in json.loads(failed.output)] == ["failed", "failed"]
    failures = {f["file_name"]: f for f in status["failures"]}
    assert set(failures) == {"audit_utf16.csv", "audit.csv"}
    assert "UTF-16" in failures["audit_utf16.csv"]["reason"]
    assert failures["audit.csv"]["n_lines"] == len(good.read_bytes().splitlines())
    assert failures["audit.csv"]["sha256"] == _sha(good)
    assert status["files"] == []
    assert "Files that failed (2)" in shown.output
    assert retry[0]["status"] == "loaded"
    loaded_since = {f["file_name"]: f["loaded_since"] for f in after["failures"]}
    assert loaded_since == {"audit_utf16.csv": False, "audit.csv": True}


def test_an_unknown_header_with_control_characters_is_not_echoed_raw(tmp_path):
    hostile = tmp_path / "hostile.csv"
    hostile.write_bytes(b"col\x1b[2J\x07,other\x00\r\nx,y\n")
    result = CliRunner().invoke(main, ["ingest", str(hostile), "--db", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 1
    assert "unknown format" in result.output
    assert not any(c in result.output for c in ("\x1b", "\x07", "\x00", "\r"))
