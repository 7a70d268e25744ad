"""Mutation tests: hostile variants of the canonical audit, delegations, French-profile and
Microsoft 365 inputs (tests/mutations.py) never end in a traceback or a hang. Each file is
loaded (every row loaded, a duplicate or quarantined with a known reason, adapters' skipped
records counted) or refused with a message naming it; through the CLI the exit status is 0 or 1.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import VALID
from delegation_reports.cli import main
from delegation_reports.ingest.pipeline import REASONS, ingest_file
from delegation_reports.warehouse import connect
from mutations import FAMILIES, mutate

pytestmark = pytest.mark.slow

INPUTS = {
    "audit": "audit.csv",
    "delegations": "delegations.csv",
    "fr-journal-acces": "fr_journal_acces.csv",
    "m365-api": "m365_api.jsonl",
    "m365-purview": "m365_purview_new_header.csv",
}
# Seeds per (family, input): 9 light families x 5 inputs x 7 seeds, plus the 10 MB and
# 100,000-column families once per input: 325 mutations.
HEAVY = {"huge_field", "wide_line"}
SEEDS = 7
# Every delimited input, for the line-end family: each seed must load, never refuse the file.
DELIMITED = {
    "audit": "audit.csv",
    "delegations": "delegations.csv",
    "fr-journal-acces": "fr_journal_acces.csv",
    "fr-delegations": "fr_delegations.csv",
    "roster": "roster.csv",
    "snapshot": "snapshot.csv",
    "directory": "Extraction_Correspondance_MSSante_202604010830.txt",
    "m365-purview": "m365_purview_new_header.csv",
}
LINE_END_SEEDS = 40


def _cases():
    for family in FAMILIES:
        for name in INPUTS:
            yield pytest.param(family, name, id=f"{family}-{name}")


def _check(result, path) -> None:
    assert result.status in ("loaded", "unchanged", "failed")
    if result.status == "failed":
        assert result.message.startswith(str(path)), result.message[:300]
        assert "Traceback" not in result.message
        return
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    assert result.rows_skipped >= 0


@pytest.mark.parametrize(("family", "name"), list(_cases()))
def test_mutated_inputs_load_or_fail_clearly(family, name, tmp_path):
    original = (VALID / INPUTS[name]).read_bytes()
    con = connect(tmp_path / "w.duckdb")
    try:
        for seed in range(1 if family in HEAVY else SEEDS):
            path = tmp_path / f"{family}-{seed}-{INPUTS[name]}"
            path.write_bytes(mutate(original, family, seed))
            result = ingest_file(con, path, operator="Fuzz")
            _check(result, path)
            reasons = {
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT reason FROM quarantine WHERE file_sha256 = "
                    "(SELECT sha256 FROM ingest_file WHERE path = ?)",
                    [str(path)],
                ).fetchall()
            }
            assert reasons <= set(REASONS), (seed, reasons)
            path.unlink()
    finally:
        con.close()


@pytest.mark.parametrize("name", sorted(DELIMITED))
def test_mixed_line_ends_quarantine_lines_never_the_file(name, tmp_path):
    """Stray carriage returns, CRLF and LF lines mixed, lines ending in a bare carriage return
    (the header's too), blank CRLF lines: the file loads, each damaged line is quarantined at
    its physical line (line 1 for rows behind a header's bare carriage return)."""
    original = (VALID / DELIMITED[name]).read_bytes()
    con = connect(tmp_path / "w.duckdb")
    try:
        for seed in range(LINE_END_SEEDS):
            data = mutate(original, "cr_lf_mix", seed)
            path = tmp_path / f"{seed}-{DELIMITED[name]}"
            path.write_bytes(data)
            result = ingest_file(con, path, operator="Fuzz")
            header = data.split(b"\n", 1)[0].rstrip(b"\r")
            if name == "m365-purview" and b"\r" in header and result.status == "failed":
                # KNOWN: the Microsoft 365 adapter reads a Purview header holding a bare
                # carriage return inside a name as two lines: an unknown format.
                assert result.message.startswith(f"{path}: unknown format"), result.message
                continue
            # A small file may come out of two seeds the same: loaded once.
            assert result.status in ("loaded", "unchanged"), (seed, result.message)
            _check(result, path)
            if name == "m365-purview":
                continue  # the adapter quarantines a record as its AuditData, not its line
            lines = data.split(b"\n")
            for line_number, raw_text in con.execute(
                "SELECT line_number, raw_text FROM quarantine WHERE file_sha256 = ?",
                [result.sha256],
            ).fetchall():
                shown = [text.replace("\r", "") for text in _shown(lines[line_number - 1])]
                assert any(raw_text.replace("\r", "") in text for text in shown), (
                    seed,
                    line_number,
                    raw_text,
                )
    finally:
        con.close()


def _shown(line: bytes) -> list[str]:
    """A line as the quarantine may show it: UTF-8 with bad bytes escaped, or Windows-1252."""
    return [
        line.decode("utf-8", errors="backslashreplace"),
        line.decode("cp1252", errors="replace"),
    ]


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - HEAVY))
@pytest.mark.parametrize("name", ["audit", "m365-api"])
def test_mutated_inputs_through_the_cli(family, name, tmp_path):
    path = tmp_path / f"{family}-{INPUTS[name]}"
    path.write_bytes(mutate((VALID / INPUTS[name]).read_bytes(), family, 0))
    result = CliRunner().invoke(
        main,
        ["ingest", str(path), "--db", str(tmp_path / "w.duckdb"), "--operator", "Fuzz"]
        + ["--no-refresh", "--json"],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    [outcome] = json.loads(result.output)
    assert outcome["file"] == str(path)
    if outcome["status"] == "failed":
        assert result.exit_code == 1
        assert outcome["message"].startswith(str(path))
    else:
        assert result.exit_code == 0
        assert outcome["rows_read"] == (
            outcome["rows_loaded"] + outcome["rows_duplicate"] + outcome["rows_quarantined"]
        )
