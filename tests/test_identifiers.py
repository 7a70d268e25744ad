"""RPPS, SIREN, SIRET and FINESS checks: Python and the SQL macros agree, invalid identifiers are
quarantined, and identifier columns stay text however many digit-only rows come first."""

from __future__ import annotations

import random

import pytest

from conftest import (
    AUDIT_COLUMNS,
    ROSTER_COLUMNS,
    directory_line,
    ingest,
    quarantined,
    roster_record,
    write_directory,
    write_roster,
)
from delegation_reports.identifiers import (
    finess_ok,
    luhn_complete,
    luhn_ok,
    rpps_ok,
    siren_ok,
    siret_ok,
)


def reference_luhn(digits: str) -> bool:
    """Luhn, written independently: double every second digit from the right."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


# DOMAIN.md §3: Luhn-valid synthetic values.
DOMAIN_VALID = {
    "rpps": "10099990011",
    "siren": "999999998",
    "siret": "99999999800019",
    "finess": "750999997",
}

VALUES = {
    "rpps": [
        ("10099990011", True),
        ("10099990012", False),
        ("10099990029", True),
        ("1009999001", False),
        ("100999900110", False),
        ("20099990011", False),
        ("1009999001A", False),
    ],
    "siren": [("999999998", True), ("999999999", False), ("522496710", True), ("52249671", False)],
    "siret": [
        ("99999999800019", True),
        ("99999999800018", False),
        ("52249671000024", True),
        # La Poste: digit sum divisible by 5, whatever Luhn says.
        ("35600000000001", True),
        ("35600000000002", False),
        ("35600000000048", False),
        ("9999999980001", False),
        ("9999999980001X", False),
    ],
    "finess": [
        ("750999997", True),
        ("750999998", False),
        ("130000011", True),
        ("751999997", False),
        ("2A0000001", True),
        ("2B0000009", True),
        ("2C0000001", False),
        ("75099999", False),
    ],
}
PYTHON = {"rpps": rpps_ok, "siren": siren_ok, "siret": siret_ok, "finess": finess_ok}


def test_domain_examples_are_valid():
    for kind, value in DOMAIN_VALID.items():
        assert PYTHON[kind](value), kind
        assert reference_luhn(value), kind


def test_la_poste_siret_is_checked_by_digit_sum_not_luhn():
    assert not luhn_ok("35600000000001") and siret_ok("35600000000001")
    assert luhn_ok("35600000000048") and not siret_ok("35600000000048")


def _sql_ok(con, kind: str, value: str) -> bool:
    return con.execute(f"SELECT {kind}_problem(?) IS NULL", [value]).fetchone()[0]


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_python_and_sql_checks_agree_on_known_values(con, kind):
    for value, valid in VALUES[kind]:
        assert PYTHON[kind](value) is valid, value
        assert _sql_ok(con, kind, value) is valid, value


def _generated(kind: str, rng: random.Random) -> list[str]:
    stems = {
        "rpps": lambda: "10" + "".join(rng.choices("0123456789", k=8)),
        "siren": lambda: "".join(rng.choices("0123456789", k=8)),
        "siret": lambda: "".join(rng.choices("0123456789", k=13)),
        "finess": lambda: (
            rng.choice(["75", "13", "69", "01"]) + "0" + "".join(rng.choices("0123456789", k=5))
        ),
    }
    values = []
    for _ in range(150):
        valid = luhn_complete(stems[kind]())
        wrong = valid[:-1] + str((int(valid[-1]) + rng.randint(1, 9)) % 10)
        values += [valid, wrong]
    return values


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_python_and_sql_checks_agree_on_generated_values(con, kind):
    rng = random.Random(20260301)
    values = _generated(kind, rng)
    sql = dict(
        con.execute(
            f"SELECT v, {kind}_problem(v) IS NULL FROM unnest(?::VARCHAR[]) AS t(v)", [values]
        ).fetchall()
    )
    python = {v: PYTHON[kind](v) for v in values}
    assert sql == python
    assert sum(python.values()) == len(values) // 2


def test_python_and_sql_luhn_agree_with_the_reference(con):
    rng = random.Random(7)
    numbers = ["".join(rng.choices("0123456789", k=rng.randint(1, 16))) for _ in range(500)]
    sql = dict(
        con.execute("SELECT v, luhn_ok(v) FROM unnest(?::VARCHAR[]) AS t(v)", [numbers]).fetchall()
    )
    assert {n: luhn_ok(n) for n in numbers} == {n: reference_luhn(n) for n in numbers} == sql


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"member_rpps": "10099990012"}, "invalid_check_digit"),
        ({"practice_siret": "99999999800018"}, "invalid_check_digit"),
        ({"practice_siret": "35600000000048"}, "invalid_check_digit"),
        ({"practice_finess": "750999998"}, "invalid_check_digit"),
        ({"member_rpps": "1009999001"}, "invalid_identifier"),
        ({"practice_siret": "999999998"}, "invalid_identifier"),
        ({"practice_id": "cabinet/../../etc"}, "invalid_identifier"),
    ],
    ids=["rpps", "siret", "siret-la-poste", "finess", "rpps-shape", "siret-shape", "practice-id"],
)
def test_roster_row_with_a_bad_identifier_is_quarantined(con, tmp_path, values, reason):
    good = roster_record(
        "a.holder@medecin.mssante.fr",
        member_kind="holder",
        member_rpps="10099990011",
        practice_siret="99999999800019",
        practice_finess="750999997",
    )
    bad = {**good, "member": "b.holder@medecin.mssante.fr", **values}
    path = write_roster(tmp_path / "roster.csv", [good, bad])

    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (3, reason)
    assert row["raw_text"] == ",".join(bad[c] for c in ROSTER_COLUMNS)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"pp_id_type": "8", "pp_id": "10099990019"}, "invalid_check_digit"),
        ({"pp_id_type": "8", "pp_id": "1009999001"}, "invalid_identifier"),
        ({"structure_id_type": "1", "structure_id": "750999998"}, "invalid_check_digit"),
        ({"structure_id_type": "2", "structure_id": "999999999"}, "invalid_check_digit"),
        ({"structure_id_type": "3", "structure_id": "99999999800018"}, "invalid_check_digit"),
    ],
    ids=["rpps", "rpps-shape", "finess", "siren", "siret"],
)
def test_directory_row_with_a_bad_identifier_is_quarantined(con, tmp_path, values, reason):
    good = directory_line(
        bal_type="PER", address="a.b@medecin.mssante.fr", pp_id_type="8", pp_id="10099990011"
    )
    bad = directory_line(bal_type="PER", address="c.d@medecin.mssante.fr", **values)
    path = write_directory(
        tmp_path / "Extraction_Correspondance_MSSante_202603312300.txt", [good, bad]
    )

    result = ingest(con, path)

    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"], row["raw_text"]) == (3, reason, bad)


def test_directory_identifier_of_another_type_is_not_luhn_checked(con, tmp_path):
    adeli = directory_line(
        bal_type="PER", address="a.b@medecin.mssante.fr", pp_id_type="0", pp_id="751234567"
    )
    path = write_directory(tmp_path / "Extraction_Correspondance_MSSante_202603312300.txt", [adeli])

    assert ingest(con, path).rows_loaded == 1
    assert con.execute("SELECT pp_id FROM directory_entry").fetchone()[0] == "751234567"


N_DIGIT_ROWS = 30_001


def _digit_ids_then_text(tmp_path, kind: str):
    """A file whose identifier columns hold zero-padded digits for 30,001 rows, then text."""
    path = tmp_path / f"{kind}_ids.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        if kind == "audit":
            out.write(",".join(AUDIT_COLUMNS) + "\n")
            line = "{id},2026-03-02T09:15:00+01:00,a.b@medecin.mssante.fr,c.d@pro.mssante.fr,read,success,cps,192.0.2.1,UA,{id},,Op\n"
        else:
            out.write(",".join(ROSTER_COLUMNS) + "\n")
            line = "{id},Cabinet {id},m{id}@pro.mssante.fr,staff,,,\n"
        out.writelines(line.format(id=f"{i:06d}") for i in range(1, N_DIGIT_ROWS + 1))
        out.write(line.format(id="A-1"))
    return path


@pytest.mark.parametrize(
    ("kind", "table", "columns"),
    [
        ("audit", "audit_event", ("event_id", "session_id")),
        ("roster", "roster_member", ("practice_id",)),
    ],
)
def test_identifier_columns_stay_text_after_thousands_of_digit_only_rows(
    con, tmp_path, kind, table, columns
):
    result = ingest(con, _digit_ids_then_text(tmp_path, kind))

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        N_DIGIT_ROWS + 1,
        N_DIGIT_ROWS + 1,
        0,
    )
    for column in columns:
        values = {r[0] for r in con.execute(f"SELECT {column} FROM {table}").fetchall()}
        assert {"000001", "000123", "030001", "A-1"} <= values
        assert len(values) == N_DIGIT_ROWS + 1
        data_type = con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column],
        ).fetchone()[0]
        assert data_type == "VARCHAR"
