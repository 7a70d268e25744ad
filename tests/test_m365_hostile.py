"""Microsoft 365 files damaged the way the mutation tests damage them: records nested too deeply
for Python's JSON reader, a first line that is not a record."""

from __future__ import annotations

import json

import pytest

from conftest import VALID, ingest, quarantined, write_lines
from delegation_reports.ingest.detect import detect
from delegation_reports.ingest.m365 import TOO_DEEP
from test_m365 import SECRETARY, assert_invariant, mailbox_record

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_record_nested_too_deeply_is_quarantined(con, tmp_path):
    good = json.dumps(mailbox_record("d-1", "MailItemsAccessed", SECRETARY))
    deep_record = '{"CreationTime":"2026-03-02T08:15:00","Operation":"Send","RecordType":2,"Item":'
    path = write_lines(tmp_path / "deep.jsonl", [good, DEEP, deep_record + DEEP + "}"])
    result = ingest(con, path)
    assert_invariant(result)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    assert [(r["line_number"], r["reason"], r["detail"]) for r in quarantined(con)] == [
        (2, "malformed_row", TOO_DEEP),
        (3, "malformed_row", TOO_DEEP),
    ]


def test_a_deep_record_that_python_can_read_but_not_scrub(con, tmp_path):
    # Deep enough for the scrubber's recursion, shallow enough for the JSON reader.
    nested = "[" * 900 + "]" * 900
    record = json.dumps(mailbox_record("d-2", "MailItemsAccessed", SECRETARY))
    path = write_lines(tmp_path / "deep.jsonl", [record[:-1] + f', "Extra": {nested}}}'])
    result = ingest(con, path)
    assert_invariant(result)
    assert result.rows_read == 1
    assert result.rows_loaded + result.rows_quarantined == 1


@pytest.mark.parametrize("first", ["{not json", "[1, 2, 3]", "42", '{"Creat\x00ionTime": 1}'])
def test_a_damaged_first_line_does_not_hide_the_records(con, tmp_path, first):
    lines = (VALID / "m365_api.jsonl").read_text(encoding="utf-8").splitlines()
    path = write_lines(tmp_path / "damaged.jsonl", [first, *lines])
    assert detect(path).format_name == "m365"
    result = ingest(con, path)
    assert_invariant(result)
    clean = ingest(con, VALID / "m365_api.jsonl")
    assert clean.rows_duplicate == result.rows_loaded
    assert [r["line_number"] for r in quarantined(con)] == [1] * (result.rows_quarantined)
