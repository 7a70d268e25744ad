"""A delegation with thousands of events (an export modifying one pair again and again, or
granting and revoking it in turn): its event ids are kept once, in ``delegation_record``, and
the core models cost what the rows are, not their square. A finding about it keeps every id;
an explanation says how many there are instead of listing them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import (
    audit_record,
    delegation_record,
    ingest,
    largest_intermediate_rows,
    records,
    write_audit,
    write_delegations,
)
from delegation_reports.analysis import prose
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import CORE_MODELS, Month, refresh, sql_text

HOLDER = "helene.garnier@medecin.mssante.fr"
SECRETARY = "sandrine.moulin@pro.mssante.fr"
THIRD_PARTY = "admin@operateur.example"
START = datetime(2026, 1, 5, 8, tzinfo=UTC)
RIGHTS = ["read", "read|send", "read|send|documents"]
N = 2_000  # hourly events: from 5 January to late March 2026


def _events(kinds, valid_from: str = "") -> list[dict]:
    return [
        delegation_record(
            f"D{i + 1}",
            event_type=kind,
            event_at=(START + timedelta(hours=i)).isoformat(),
            rights=RIGHTS[i % 3] if kind != "revoke" else "",
            performed_by=THIRD_PARTY,
            valid_from=valid_from if i == 0 else "",
        )
        for i, kind in enumerate(kinds)
    ]


def _load(con, tmp_path, kinds, valid_from: str = "") -> None:
    ingest(con, write_delegations(tmp_path / "delegations.csv", _events(kinds, valid_from)))
    # In February: a deletion (a right no period gives) and a read.
    ingest(
        con,
        write_audit(
            tmp_path / "audit.csv",
            [
                audit_record("A1", occurred_at="2026-02-10T10:30:00+01:00", action="delete"),
                audit_record("A2", occurred_at="2026-02-11T10:30:00+01:00", action="read"),
                audit_record("A3", occurred_at="2026-02-12T10:30:00+01:00", actor=HOLDER),
            ],
        ),
    )
    refresh(con, [Month(2026, 2)], load_config())


@pytest.fixture
def modified(con, tmp_path):
    """One pair: a grant, then N - 1 modifications, each by a third party."""
    _load(con, tmp_path, ["grant"] + ["modify"] * (N - 1))
    return con


def test_a_pair_modified_thousands_of_times_costs_what_its_rows_are(modified):
    con = modified
    for model in CORE_MODELS:
        assert largest_intermediate_rows(con, sql_text(f"models/core/{model}.sql")) <= 10 * N, model
    # The ids are stored once: one delegation, its N events in time order.
    (record,) = records(con, "SELECT * FROM delegation_record")
    assert (record["delegation_key"], record["n_events"]) == ("D1", N)
    assert record["delegation_ids"] == [f"D{i + 1}" for i in range(N)]
    assert record["events_fr"] == "D1, D2, …, D2000 (2\u202f000 événements)"
    # Periods, segments and accesses carry the key, not the list.
    assert con.execute("SELECT count(*) FROM delegation_period").fetchone()[0] == N
    for table in ("delegation_period", "delegation_segment", "attributed_access"):
        columns = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
            ).fetchall()
        }
        assert "delegation_ids" not in columns, table
    judged = con.execute(
        "SELECT judged_against FROM attributed_access WHERE event_id = 'A1'"
    ).fetchone()[0]
    assert judged["delegation_key"] == "D1" and "delegation_ids" not in judged
    segments, longest = con.execute(
        "SELECT count(*), max(length(judged_against_fr)) FROM delegation_segment"
    ).fetchone()
    assert segments >= N and longest < 400


def test_modifications_keeping_a_back_dated_validity_cost_what_their_rows_are(con, tmp_path):
    """A grant valid from before it was recorded, then modifications without dates: each
    keeps the validity, whose start lies before every bound since; the segments are not
    tested against every one of them."""
    _load(con, tmp_path, ["grant"] + ["modify"] * (N - 1), valid_from="2025-12-01")
    for model in CORE_MODELS:
        assert largest_intermediate_rows(con, sql_text(f"models/core/{model}.sql")) <= 10 * N, model
    # Before the grant was recorded, inside its validity: back-dated, judged against it.
    (first,) = records(
        con,
        "SELECT is_before_recording, judged_against.delegation_key AS k FROM delegation_segment "
        "WHERE seg_from_at = '2025-12-01 00:00:00+01'",
    )
    assert (first["is_before_recording"], first["k"]) == (True, "D1")


def test_the_findings_on_a_long_delegation_keep_every_id_and_say_how_many(modified):
    findings = records(
        modified,
        "SELECT rule_id, delegation_key, delegation_ids, explanation_fr FROM finding "
        "ORDER BY rule_id",
    )
    by_rule = {f["rule_id"]: f for f in findings}
    every_id = [f"D{i + 1}" for i in range(N)]
    # Given and modified by a third party: the finding names the délégataire's delegation.
    assert by_rule["delegation_not_by_holder"]["delegation_ids"] == every_id
    exceeded = by_rule["right_exceeded"]
    assert (exceeded["delegation_key"], exceeded["delegation_ids"]) == ("D1", every_id)
    assert "événements D1, D2, …, D2000 (2\u202f000 événements)" in exceeded["explanation_fr"]
    assert len(exceeded["explanation_fr"]) < 600


def test_alternate_grants_and_revocations_cost_what_their_rows_are(con, tmp_path):
    _load(con, tmp_path, ["grant", "revoke"] * (N // 2))
    for model in CORE_MODELS:
        assert largest_intermediate_rows(con, sql_text(f"models/core/{model}.sql")) <= 10 * N, model
    delegations = records(
        con, "SELECT delegation_key, delegation_ids FROM delegation_record ORDER BY n_events"
    )
    assert len(delegations) == N // 2
    assert {tuple(d["delegation_ids"]) for d in delegations} == {
        (f"D{i + 1}", f"D{i + 2}") for i in range(0, N, 2)
    }
    # February's deletion falls in a grant's hour or after a revocation: judged either way
    # against the delegation of its pair around it, with its two events.
    (access,) = records(
        con,
        "SELECT s.judged_against.delegation_key AS k, s.judged_against_fr "
        "FROM attributed_access AS a JOIN delegation_segment AS s ON s.mailbox = a.mailbox "
        "AND s.delegate = a.actor AND s.seg_from_at = a.seg_from_at WHERE a.event_id = 'A1'",
    )
    (ids,) = con.execute(
        "SELECT delegation_ids FROM delegation_record WHERE delegation_key = ?", [access["k"]]
    ).fetchone()
    assert access["judged_against_fr"].endswith(f"événements {ids[0]}, {ids[1]}")


def test_a_few_events_are_listed_in_full_and_more_are_counted():
    assert prose.event_ids(["G-1"]) == "G-1"
    ten = [f"E{i}" for i in range(1, 11)]
    assert prose.event_ids(ten) == ", ".join(ten)
    assert prose.event_ids([*ten, "E11"]) == "E1, E2, …, E11 (11 événements)"
    assert prose.event_ids(None) is None


def test_the_explanation_of_a_short_delegation_lists_its_events(con, tmp_path):
    _load(con, tmp_path, ["grant", "modify", "modify"])
    (finding,) = records(
        con, "SELECT explanation_fr, delegation_ids FROM finding WHERE rule_id = 'right_exceeded'"
    )
    assert finding["delegation_ids"] == ["D1", "D2", "D3"]
    assert finding["explanation_fr"].endswith("par admin@operateur.example, événements D1, D2, D3.")
