"""The tamper-evident warehouse: digests of each file's rows, the hash chain of manifest
entries, review decisions and purges, the quick check of its head, and ``verify``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from conftest import INVALID, VALID, ingest
from delegation_reports.analysis import lifecycle
from delegation_reports.analysis.models import refresh
from delegation_reports.cli import main
from delegation_reports.errors import ChainBroken
from delegation_reports.integrity import chain, digest
from delegation_reports.integrity.verify import verify
from delegation_reports.warehouse import connect

SRC = Path(__file__).resolve().parents[1] / "src" / "delegation_reports"
# Files that, together, put rows in every table a file loads.
PLAIN = (
    VALID / "audit.csv",
    VALID / "delegations.csv",
    VALID / "snapshot.csv",
    VALID / "roster.csv",
    VALID / "Extraction_Correspondance_MSSante_202604010830.txt",
    INVALID / "audit_bad_timestamp.csv",
)
ADAPTED = (VALID / "m365_api.jsonl", VALID / "dovecot_master_user.log")


def build(path: Path) -> None:
    con = connect(path)
    try:
        for source in PLAIN:
            assert ingest(con, source).status == "loaded", source
        for source in ADAPTED:
            assert ingest(con, source, operator="op365", year=2026).status == "loaded", source
    finally:
        con.close()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sealed") / "sealed.duckdb"
    build(path)
    return path


@pytest.fixture
def copy(sealed, tmp_path) -> Path:
    target = tmp_path / "w.duckdb"
    shutil.copy(sealed, target)
    return target


def verified(path: Path):
    con = connect(path, read_only=True)
    try:
        return verify(con)
    finally:
        con.close()


def tamper(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _one_byte_change(con, table: str, column: str) -> tuple[str, int]:
    """A statement changing ``column`` of one row of ``table`` by the smallest step its type
    allows (one character, one microsecond, one unit), and the row's file."""
    file_column = digest.TABLES[table].file_column
    kind = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column],
    ).fetchone()[0]
    rowid, file_id, is_null = con.execute(
        f"SELECT rowid, {file_column}, {column} IS NULL FROM {table} "
        f"ORDER BY {column} IS NULL, rowid LIMIT 1"
    ).fetchone()
    if kind == "VARCHAR":
        value = f"CASE WHEN left({column}, 1) = 'x' THEN 'y' ELSE 'x' END || substr({column}, 2)"
        null_value = "'x'"
    elif kind == "VARCHAR[]":
        value = f"list_concat(['x' || {column}[1]], {column}[2:])"
        null_value = "['x']"
    elif kind.startswith("TIMESTAMP"):
        value = f"{column} + INTERVAL 1 MICROSECOND"
        null_value = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
    elif kind == "BOOLEAN":
        value, null_value = f"NOT {column}", "true"
    else:
        value, null_value = f"{column} + 1", "1"
    new = null_value if is_null else value
    return f"UPDATE {table} SET {column} = {new} WHERE rowid = {rowid}", file_id


FIELDS = [(t.name, c) for t in digest.TRACE_TABLES for c in (t.file_column, *t.columns)]


def test_every_table_a_file_loads_has_rows_here(sealed):
    con = connect(sealed, read_only=True)
    try:
        for table in digest.TRACE_TABLES:
            assert con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0], table.name
    finally:
        con.close()


def test_a_sealed_warehouse_verifies(sealed):
    result = verified(sealed)
    assert result.ok, result.problems
    assert result.files == len(PLAIN) + len(ADAPTED)
    assert result.links == result.files
    assert result.verdict.startswith("verified: 8 file(s)")


@pytest.mark.parametrize(("table", "column"), FIELDS, ids=[f"{t}.{c}" for t, c in FIELDS])
def test_one_changed_field_of_any_table_is_named(copy, table, column):
    con = duckdb.connect(str(copy))
    try:
        statement, file_id = _one_byte_change(con, table, column)
        con.execute(statement)
    finally:
        con.close()
    result = verified(copy)
    assert not result.ok
    rows = [p for p in result.problems if p.scope == "rows"]
    if column == digest.TABLES[table].file_column:
        # The row moved to another file: one row missing from its own, one added elsewhere.
        assert {(p.file_id, p.table, p.what, p.rows) for p in rows} == {
            (file_id, table, "missing", 1),
            (file_id + 1, table, "added", 1),
        }
    elif column in digest.TABLES[table].key:
        # A row under another key: the row with its key is missing and a new one added,
        # unless both keys fall in the same bucket.
        assert {(p.file_id, p.table, p.what, p.rows) for p in rows} in (
            {(file_id, table, "missing", 1), (file_id, table, "added", 1)},
            {(file_id, table, "changed", 1)},
        )
    else:
        assert [(p.file_id, p.table, p.what, p.rows) for p in rows] == [
            (file_id, table, "changed", 1)
        ]
        assert rows[0].file_name
        assert rows[0].text == f"file {file_id} ({rows[0].file_name}), {table}: 1 row changed"


def test_a_deleted_row_is_named_missing(copy):
    tamper(copy, "DELETE FROM audit_event WHERE rowid = (SELECT min(rowid) FROM audit_event)")
    (problem,) = verified(copy).problems
    assert (problem.file_id, problem.table, problem.what, problem.rows) == (
        1,
        "audit_event",
        "missing",
        1,
    )
    assert problem.text == "file 1 (audit.csv), audit_event: 1 row missing"


def test_changed_rows_are_counted(copy):
    tamper(
        copy,
        "UPDATE audit_event SET user_agent = 'Outlook' WHERE rowid IN "
        "(SELECT rowid FROM audit_event WHERE source_file_id = 1 ORDER BY rowid LIMIT 3)",
    )
    (problem,) = verified(copy).problems
    assert (problem.file_id, problem.table, problem.what) == (1, "audit_event", "changed")
    # Counted by bucket of their key: two changed rows of one bucket count once.
    assert 1 <= problem.rows <= 3
    assert problem.text.endswith(
        "1 row changed" if problem.rows == 1 else f"at least {problem.rows} rows changed"
    )


def test_an_inserted_row_is_named_added(copy):
    tamper(
        copy,
        "INSERT INTO audit_event SELECT * REPLACE (event_id || '-bis' AS event_id) "
        "FROM audit_event WHERE source_file_id = 1 LIMIT 1",
    )
    (problem,) = verified(copy).problems
    assert (problem.file_id, problem.table, problem.what, problem.rows) == (
        1,
        "audit_event",
        "added",
        1,
    )


def test_rows_under_a_file_the_manifest_does_not_know_are_named(copy):
    tamper(
        copy,
        "INSERT INTO audit_event SELECT * REPLACE (999 AS source_file_id) "
        "FROM audit_event WHERE source_file_id = 1 LIMIT 2",
    )
    (problem,) = verified(copy).problems
    assert (problem.file_id, problem.what, problem.rows) == (999, "added", 2)


def test_an_edited_manifest_entry_is_named_with_its_field(copy):
    tamper(copy, "UPDATE ingest_file SET rows_loaded = rows_loaded - 1 WHERE file_id = 2")
    (problem,) = verified(copy).problems
    assert (problem.scope, problem.file_id, problem.what) == ("manifest", 2, "changed")
    assert "rows_loaded" in problem.text and "delegations.csv" in problem.text


def test_an_edited_digest_in_the_manifest_is_named(copy):
    tamper(copy, "UPDATE ingest_file SET rows_digest = NULL WHERE file_id = 3")
    problems = verified(copy).problems
    assert [(p.scope, p.file_id, p.what) for p in problems] == [("manifest", 3, "changed")]
    assert "rows_digest" in problems[0].text


def test_a_changed_link_breaks_the_chain_there(copy):
    tamper(
        copy,
        """UPDATE chain_entry SET content = replace(content, '"kind":"', '"kind":"x') WHERE seq = 3""",
    )
    result = verified(copy)
    assert result.first_broken_link == 3
    assert [(p.scope, p.what) for p in result.problems] == [
        ("chain", "changed"),
        ("manifest", "changed"),
    ]
    assert "link 3 (file 3) was changed" in result.problems[0].text


def test_a_relinked_chain_still_breaks_at_the_first_changed_link(copy):
    """Rewriting a link's content and hash without rewriting every later link shows."""
    con = duckdb.connect(str(copy))
    try:
        seq, kind, ref_id, content, previous, _ = con.execute(
            "SELECT * FROM chain_entry WHERE seq = 2"
        ).fetchone()
        forged = content.replace('"rows_loaded":', '"rows_loaded":1')
        con.execute(
            "UPDATE chain_entry SET content = ?, entry_hash = ? WHERE seq = 2",
            [forged, chain.link_hash(seq, kind, ref_id, forged, previous)],
        )
    finally:
        con.close()
    result = verified(copy)
    assert result.first_broken_link == 3
    assert "link 3 does not follow link 2" in result.verdict or any(
        "link 3 does not follow link 2" in p.text for p in result.problems
    )


@pytest.mark.parametrize("fix_head", [False, True], ids=["head-kept", "head-rewritten"])
def test_a_truncated_chain_is_named(copy, fix_head):
    statements = ["DELETE FROM chain_entry WHERE seq >= 7"]
    if fix_head:
        statements += [
            "DELETE FROM chain_head",
            "INSERT INTO chain_head SELECT seq, entry_hash FROM chain_entry WHERE seq = 6",
        ]
    tamper(copy, *statements)
    result = verified(copy)
    assert not result.ok
    unsealed = sorted(p.file_id for p in result.problems if p.what == "unsealed")
    assert unsealed == [7, 8]
    if not fix_head:
        assert result.first_broken_link == 7
        assert any(p.what == "truncated" for p in result.problems)


def test_an_emptied_chain_is_not_sealed_again_on_the_next_open(copy):
    tamper(copy, "DELETE FROM chain_entry", "DELETE FROM chain_head")
    connect(copy).close()  # opening for writing seals only a warehouse made before the chain
    result = verified(copy)
    assert len([p for p in result.problems if p.what == "unsealed"]) == 8


# ---- the quick check of the head ----------------------------------------------------------


def test_an_empty_warehouse_has_no_head_and_passes(con):
    assert chain.chain_head(con) is None
    chain.check_head(con)


def test_the_head_is_the_last_links_hash(sealed):
    con = connect(sealed, read_only=True)
    try:
        head = chain.chain_head(con)
        assert re.fullmatch(r"[0-9a-f]{64}", head)
        last = chain.links(con)[-1]
        assert last.entry_hash == head == last.recomputed()
        chain.check_head(con)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            ["DELETE FROM chain_entry WHERE seq = 8"],
            "the head counts 8 link(s) but the chain holds 7",
        ),
        (
            ["UPDATE chain_entry SET content = content || ' ' WHERE seq = 8"],
            "the last link (8) does not match the stored head",
        ),
        (
            ["INSERT INTO ingest_file SELECT * REPLACE (99 AS file_id) FROM ingest_file LIMIT 1"],
            "9 manifest entries, review decisions and purges but 8 link(s)",
        ),
        (
            ["UPDATE ingest_file SET rows_loaded = 0 WHERE file_id = 8"],
            "the file 8 sealed by the last link was changed",
        ),
        (["DELETE FROM chain_head"], "its head is missing"),
    ],
    ids=["cut", "last-link-changed", "unsealed-entry", "last-entry-changed", "no-head"],
)
def test_the_quick_check_refuses_a_broken_head(copy, statements, message):
    tamper(copy, *statements)
    con = connect(copy, read_only=True)
    try:
        with pytest.raises(ChainBroken, match=re.escape(message)) as caught:
            chain.check_head(con)
        assert "delegation-reports verify" in str(caught.value)
    finally:
        con.close()


def test_a_warehouse_made_before_the_chain_is_sealed_when_first_opened(copy):
    tamper(
        copy,
        "DROP TABLE chain_entry",
        "DROP TABLE chain_head",
        "UPDATE ingest_file SET rows_digest = NULL",
    )
    con = connect(copy, read_only=True)
    try:
        with pytest.raises(ChainBroken, match="no chain of evidence yet"):
            chain.check_head(con)
    finally:
        con.close()
    connect(copy).close()
    result = verified(copy)
    assert result.ok, result.problems
    assert result.links == 8


# ---- a clean warehouse keeps verifying ----------------------------------------------------


def test_reingest_refresh_and_review_keep_it_verified(copy):
    con = connect(copy)
    try:
        assert ingest(con, VALID / "audit.csv").status == "unchanged"
        refresh(con, force=True)
        finding_id = con.execute("SELECT finding_id FROM finding LIMIT 1").fetchone()[0]
        lifecycle.record_decision(con, finding_id, lifecycle.ACCEPT, by="DPO", reason="contrat")
        lifecycle.record_decision(con, finding_id, lifecycle.REOPEN, by="DPO")
        kinds = [link.kind for link in chain.links(con)]
        assert kinds[-2:] == ["review", "review"]
        chain.check_head(con)
    finally:
        con.close()
    result = verified(copy)
    assert result.ok, result.problems
    assert result.links == 10
    tamper(copy, "UPDATE finding_review SET decided_by = 'someone else' WHERE review_id = 1")
    (problem,) = verified(copy).problems
    assert (
        problem.scope == "manifest" and "review 1" in problem.text and "decided_by" in problem.text
    )


# ---- the command --------------------------------------------------------------------------


def test_verify_command_exit_status_verdict_and_json(copy, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--db", str(copy)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip().splitlines()[-1].startswith("verified: 8 file(s)")
    tamper(copy, "DELETE FROM quarantine")
    bad = runner.invoke(main, ["verify", "--db", str(copy)])
    assert bad.exit_code == 1
    assert "audit_bad_timestamp.csv), quarantine: 1 row missing" in bad.output
    assert bad.output.strip().splitlines()[-1].startswith("NOT verified: 1 rows problem(s)")
    as_json = runner.invoke(main, ["verify", "--db", str(copy), "--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["ok"] is False
    assert body["problems"][0]["table"] == "quarantine"
    assert body["problems"][0]["rows"] == 1


def test_verify_sources_names_a_changed_source_file(copy, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for source in (*PLAIN, *ADAPTED):
        shutil.copy(source, folder / source.name)
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--db", str(copy), "--sources", str(folder)])
    assert ok.exit_code == 0, ok.output
    assert "8 source file(s) match" in ok.output
    changed = folder / "roster.csv"
    data = bytearray(changed.read_bytes())
    data[-2] ^= 1
    changed.write_bytes(bytes(data))
    (folder / "snapshot.csv").write_bytes((folder / "snapshot.csv").read_bytes() + b"\n")
    bad = runner.invoke(main, ["verify", "--db", str(copy), "--sources", str(folder), "--json"])
    assert bad.exit_code == 1
    problems = json.loads(bad.output)["problems"]
    assert sorted((p["file_name"], p["what"]) for p in problems) == [
        ("roster.csv", "differs"),
        ("snapshot.csv", "differs"),
    ]
    texts = " ".join(p["text"] for p in problems)
    assert "its sha256 differs" in texts and "its size differs" in texts


def test_digests_cover_every_column_of_every_table_a_file_loads(con):
    """A column left out of the row hash could be changed unseen."""
    loaded = {
        table
        for (table,) in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'source_file_id' AND table_schema = 'main'"
        ).fetchall()
    }
    assert loaded | {"quarantine"} == set(digest.TABLES)
    for table in digest.TRACE_TABLES:
        columns = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [table.name],
            ).fetchall()
        }
        assert columns == {table.file_column, *table.columns}, table.name


def test_a_published_head_must_be_a_link_of_the_chain(copy):
    con = connect(copy, read_only=True)
    try:
        published = chain.links(con)[3].entry_hash
    finally:
        con.close()
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--db", str(copy), "--head", published])
    assert ok.exit_code == 0, ok.output
    # A rewrite of the whole chain from link 2 on, consistent in itself.
    con = duckdb.connect(str(copy))
    try:
        con.execute("UPDATE ingest_file SET notes = 'rewritten' WHERE file_id = 2")
        rows = con.execute("SELECT * FROM chain_entry ORDER BY seq").fetchall()
        previous = chain.GENESIS
        con.execute("DELETE FROM chain_entry")
        for seq, kind, ref_id, content, _, _ in rows:
            if ref_id == 2:
                content = content.replace('"notes":null', '"notes":"rewritten"')
            new = chain.link_hash(seq, kind, ref_id, content, previous)
            con.execute(
                "INSERT INTO chain_entry VALUES (?, ?, ?, ?, ?, ?)",
                [seq, kind, ref_id, content, previous, new],
            )
            previous = new
        con.execute("UPDATE chain_head SET head_hash = ?", [previous])
    finally:
        con.close()
    assert verified(copy).ok  # consistent in itself: only a published head shows it
    bad = runner.invoke(main, ["verify", "--db", str(copy), "--head", published])
    assert bad.exit_code == 1
    assert f"the published head {published} is no link of this chain" in bad.output
    wrong = runner.invoke(main, ["verify", "--db", str(copy), "--head", "abc"])
    assert wrong.exit_code == 2 and "64 hex digits" in wrong.output
