"""Line ends, quoting and the line numbers reported for quarantined rows.

docs/quarantine.md: the header is line 1, blank lines count, and a quoted value spanning several
lines counts as one line for the rows after it (the CSV reader counts records there); in JSON
Lines every physical line counts.
"""

from __future__ import annotations

import json

import pytest

from conftest import (
    AUDIT_COLUMNS,
    INVALID,
    OPERATOR,
    audit_fields,
    audit_record,
    csv_line,
    ingest,
    quarantined,
    write_lines,
)
from delegation_reports.ingest.pipeline import ingest_paths

TRICKY_AGENT = 'Client "Pro", v2{eol}second line; third'


def _bad(event_id: str) -> str:
    return csv_line(audit_fields(event_id, action="fly"))


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_crlf_or_lf_rows_load_without_stray_carriage_returns(con, tmp_path, line_end):
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1")),
        _bad("B-1"),
        csv_line(audit_fields("E-2")),
        _bad("B-2"),
    ]
    path = write_lines(tmp_path / "rows.csv", lines, line_end=line_end)
    assert path.read_bytes().count(b"\r\n") == (len(lines) if line_end == "\r\n" else 0)

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    assert con.execute("SELECT DISTINCT operator FROM audit_event").fetchall() == [(OPERATOR,)]
    assert [(r["line_number"], r["raw_text"]) for r in quarantined(con)] == [
        (3, _bad("B-1")),
        (5, _bad("B-2")),
    ]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_quoted_delimiter_doubled_quotes_and_line_ends_inside_a_value(con, tmp_path, line_end):
    agent = TRICKY_AGENT.format(eol=line_end)
    record = csv_line(audit_fields("E-2", user_agent=agent))
    assert record.count('""') == 2 and line_end in record
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1")),
        record,
        _bad("B-1"),
        "",
        _bad("B-2"),
    ]
    path = write_lines(tmp_path / "quoted.csv", lines, line_end=line_end)

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    assert (
        con.execute("SELECT user_agent FROM audit_event WHERE event_id = 'E-2'").fetchone()[0]
        == agent
    )
    # The value spans 2 physical lines but counts as one: B-1 is on physical line 5, reported
    # as 4; the blank line is 5, B-2 (physical 7) is reported as 6.
    assert [r["line_number"] for r in quarantined(con)] == [4, 6]
    assert [r["raw_text"] for r in quarantined(con)] == [_bad("B-1"), _bad("B-2")]


def test_a_quarantined_row_with_a_value_spanning_lines_keeps_it_in_its_raw_text(con, tmp_path):
    agent = TRICKY_AGENT.format(eol="\n")
    record = csv_line(audit_fields("B-1", user_agent=agent, action="fly"))
    path = write_lines(tmp_path / "bad_quoted.csv", [csv_line(AUDIT_COLUMNS), record, _bad("B-2")])

    ingest(con, path)

    rows = quarantined(con)
    assert [r["line_number"] for r in rows] == [2, 3]
    assert rows[0]["raw_text"] == record


def test_blank_lines_do_not_shift_the_lines_of_later_rows(con, tmp_path):
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1")),
        "",
        _bad("B-1"),
        "",
        "",
        csv_line(audit_fields("E-2")),
        _bad("B-2"),
        ",".join(audit_fields("B-3")[:4]),
        "",
        _bad("B-4"),
        csv_line(audit_fields("E-3")),
    ]
    path = write_lines(tmp_path / "blanks.csv", lines)
    expected = {n: line for n, line in enumerate(lines, start=1) if line.startswith("B-")}

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (7, 3, 4)
    assert {r["line_number"]: r["raw_text"] for r in quarantined(con)} == expected


@pytest.mark.parametrize("surplus", ["surplus", ""], ids=["extra-value", "extra-empty-field"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_blank_lines_and_rejected_lines_before_quarantined_rows(con, tmp_path, line_end, surplus):
    lines = [csv_line(AUDIT_COLUMNS)]
    expected = {}
    for block in range(6):
        lines += [""] * (block % 3)
        lines.append(csv_line(audit_fields(f"E-{block}")))
        if block % 2:
            lines.append(csv_line([*audit_fields(f"W-{block}"), surplus]))
            expected[len(lines)] = "wrong_column_count"
        lines.append(_bad(f"B-{block}"))
        expected[len(lines)] = "unknown_action"
    path = write_lines(tmp_path / "mixed_blanks.csv", lines, line_end=line_end)

    result = ingest(con, path)

    assert result.rows_quarantined == len(expected)
    assert result.rows_loaded == 6
    assert {r["line_number"]: r["reason"] for r in quarantined(con)} == expected


def test_jsonl_line_numbers_count_every_physical_line(con, tmp_path):
    lines = [
        json.dumps(audit_record("J-1")),
        "",
        json.dumps(audit_record("J-2", action="fly")),
        "   ",
        "",
        json.dumps(audit_record("J-3", action="fly")),
    ]
    path = write_lines(tmp_path / "a.jsonl", lines, line_end="\r\n")

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 1, 2)
    assert [r["line_number"] for r in quarantined(con)] == [3, 6]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "audit_stray_carriage_returns.csv",
            {3: "malformed_row", 5: "malformed_row", 7: "unknown_action"},
        ),
        ("audit_stray_lf_in_crlf_file.csv", {3: "malformed_row", 5: "unknown_action"}),
    ],
)
def test_a_stray_line_end_quarantines_its_line_not_the_file(con, name, expected):
    path = INVALID / name
    lines = path.read_bytes().split(b"\n")

    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_quarantined) == (2, len(expected))
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    rows = quarantined(con)
    assert {r["line_number"]: r["reason"] for r in rows} == expected
    for r in rows:
        assert r["raw_text"] == lines[r["line_number"] - 1].rstrip(b"\r").decode()
    assert sorted(e for (e,) in con.execute("SELECT event_id FROM audit_event").fetchall()) == [
        "E-1",
        "E-2",
    ]


@pytest.mark.parametrize("fmt", ["auto", "audit"])
def test_a_broken_first_jsonl_line_is_quarantined_not_the_file(con, fmt):
    result = ingest(con, INVALID / "audit_first_line_malformed.jsonl", fmt=fmt)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (1, "malformed_row")


def test_a_broken_first_m365_record_is_quarantined_not_the_file(con):
    result = ingest(con, INVALID / "m365_first_line_malformed.jsonl", fmt="m365")

    assert result.rows_loaded >= 3
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [(1, "malformed_row")]


def test_deeply_nested_json_quarantines_its_record_and_later_files_still_load(con, tmp_path):
    paths = [INVALID / "audit_deeply_nested.jsonl", INVALID / "audit_wrong_column_count.csv"]

    results = ingest_paths(con, paths)

    assert [r.status for r in results] == ["loaded", "loaded"]
    assert (results[0].rows_loaded, results[0].rows_quarantined) == (2, 1)
    row = quarantined(con, results[0].sha256)[0]
    assert (row["line_number"], row["reason"], row["detail"]) == (
        2,
        "malformed_row",
        "JSON nested too deep",
    )


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_rows_behind_a_header_ending_in_a_bare_carriage_return_are_line_1(con, tmp_path, line_end):
    behind = [csv_line(audit_fields("E-1")), csv_line(audit_fields("E-2"))]
    lines = [
        "\r".join([csv_line(AUDIT_COLUMNS), *behind]),
        csv_line(audit_fields("E-3")),
        "",
        _bad("B-1"),
        csv_line(audit_fields("E-4")),
    ]
    path = write_lines(tmp_path / "header_cr.csv", lines, line_end=line_end)

    result = ingest(con, path)

    assert result.status == "loaded"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    assert [(r["line_number"], r["reason"], r["raw_text"]) for r in quarantined(con)] == [
        (1, "malformed_row", "\r".join(behind)),
        (4, "unknown_action", _bad("B-1")),
    ]
    assert _event_ids(con) == ["E-3", "E-4"]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("position", [1, 20, -1])
def test_a_carriage_return_inside_the_header_is_left_out(con, tmp_path, line_end, position):
    header = csv_line(AUDIT_COLUMNS)
    lines = [
        header[:position] + "\r" + header[position:],
        csv_line(audit_fields("E-1")),
        _bad("B-1"),
        "",
        csv_line(audit_fields("E-2")),
        _bad("B-2"),
    ]
    path = write_lines(tmp_path / "header_inner_cr.csv", lines, line_end=line_end)

    result = ingest(con, path)

    assert result.status == "loaded", result.message
    assert [(r["line_number"], r["raw_text"]) for r in quarantined(con)] == [
        (3, _bad("B-1")),
        (6, _bad("B-2")),
    ]
    assert _event_ids(con) == ["E-1", "E-2"]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_bare_carriage_return_in_a_crlf_or_lf_file_quarantines_its_line(con, tmp_path, line_end):
    row = csv_line(audit_fields("E-2"))
    lines = [
        csv_line(AUDIT_COLUMNS),
        csv_line(audit_fields("E-1")),
        row[:12] + "\r" + row[12:],
        "",
        _bad("B-1"),
        csv_line(audit_fields("E-3")),
    ]
    path = write_lines(tmp_path / "inner_cr.csv", lines, line_end=line_end)

    ingest(con, path)

    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (3, "malformed_row"),
        (5, "unknown_action"),
    ]
    assert _event_ids(con) == ["E-1", "E-3"]


def test_a_last_line_ending_in_a_bare_carriage_return_in_an_lf_file(con, tmp_path):
    last = _bad("B-2")
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1")), _bad("B-1"), "", last]
    path = tmp_path / "last_cr.csv"
    path.write_bytes(("\n".join(lines) + "\r").encode())

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 1, 2)
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (3, "unknown_action"),
        (5, "malformed_row"),
    ]


@pytest.mark.parametrize("tail", ["\r", "\n\r"], ids=["cr-only-file", "lf-file-ending-in-cr"])
def test_carriage_returns_that_end_lines_harmlessly_load(con, tmp_path, tail):
    lines = [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1")), csv_line(audit_fields("E-2"))]
    path = tmp_path / "harmless_cr.csv"
    separator = "\r" if tail == "\r" else "\n"
    path.write_bytes((separator.join(lines) + tail).encode())

    result = ingest(con, path)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)


def _event_ids(con) -> list[str]:
    return sorted(e for (e,) in con.execute("SELECT event_id FROM audit_event").fetchall())
