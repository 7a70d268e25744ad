"""``directory_change``: BALs that appeared, disappeared or changed holder or structure between
two successive MSSanté directory extractions."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import directory_line, ingest, records, write_directory

RPPS = "10099990011"  # Luhn-valid (DOMAIN.md §3)
SIRET = "99999999800019"
SIREN = "999999998"


def per(address: str, national_id: str = "8" + RPPS, **values: str) -> str:
    fields = {"bal_type": "PER", "address": address, "pp_national_id": national_id}
    if national_id.startswith("8"):
        fields.update(pp_id_type="8", pp_id=national_id[1:])
    else:
        fields.update(pp_id_type="0", pp_id=national_id[1:])
    fields.update(values)
    return directory_line(**fields)


def extraction(tmp_path, stamp: str, lines: list[str]):
    return write_directory(tmp_path / f"Extraction_Correspondance_MSSante_{stamp}.txt", lines)


def paris_0830(day: int) -> datetime:
    return datetime(2026, 3, day, 7, 30, tzinfo=UTC)  # 08:30 Paris (UTC+1 in March)


def changes(con) -> list[dict]:
    return records(
        con,
        "SELECT previous_extracted_at, extracted_at, address, change, holder_changed, "
        "structure_changed, bal_type_changed, previous_holders, holders, previous_structures, "
        "structures FROM directory_change ORDER BY extracted_at, address",
    )


def test_changes_between_successive_extractions(con, tmp_path):
    first = extraction(
        tmp_path,
        "202603010830",
        [
            per("a.martin@medecin.mssante.fr", structure_id_type="3", structure_id=SIRET),
            per("b.durand@medecin.mssante.fr"),
            directory_line(
                bal_type="ORG",
                address="secretariat@chu.mssante.fr",
                structure_id_type="3",
                structure_id=SIRET,
            ),
            per("d.petit@medecin.mssante.fr", structure_id_type="3", structure_id=SIRET),
            per("d.petit@medecin.mssante.fr", structure_id_type="2", structure_id=SIREN),
        ],
    )
    second = extraction(
        tmp_path,
        "202603020830",
        [
            per(
                "a.martin@medecin.mssante.fr",
                national_id="0751234567",
                structure_id_type="3",
                structure_id=SIRET,
            ),
            directory_line(
                bal_type="ORG",
                address="secretariat@chu.mssante.fr",
                structure_id_type="3",
                structure_id=SIRET,
            ),
            per("d.petit@medecin.mssante.fr", structure_id_type="3", structure_id=SIRET),
            per("e.roux@medecin.mssante.fr"),
        ],
    )
    third = extraction(
        tmp_path,
        "202603030830",
        [
            per(
                "a.martin@medecin.mssante.fr",
                national_id="0751234567",
                structure_id_type="3",
                structure_id=SIRET,
            ),
            directory_line(
                bal_type="ORG",
                address="secretariat@chu.mssante.fr",
                structure_id_type="3",
                structure_id=SIRET,
            ),
            per("d.petit@medecin.mssante.fr", structure_id_type="3", structure_id=SIRET),
            per("e.roux@medecin.mssante.fr", last_name="ROUX"),  # a name is not a holder change
        ],
    )
    for path in (first, second, third):
        result = ingest(con, path)
        assert (result.status, result.rows_quarantined) == ("loaded", 0), result
    assert (
        con.execute("SELECT count(DISTINCT extracted_at) FROM directory_entry").fetchone()[0] == 3
    )

    rows = changes(con)
    assert [
        (r["address"], r["change"], r["holder_changed"], r["structure_changed"]) for r in rows
    ] == [
        ("a.martin@medecin.mssante.fr", "changed", True, False),
        ("b.durand@medecin.mssante.fr", "disappeared", False, False),
        ("d.petit@medecin.mssante.fr", "changed", False, True),
        ("e.roux@medecin.mssante.fr", "appeared", False, False),
    ]
    # Only the first and second extractions differ: the third repeats the second.
    assert {(r["previous_extracted_at"], r["extracted_at"]) for r in rows} == {
        (paris_0830(1), paris_0830(2))
    }
    a = rows[0]
    assert (a["previous_holders"], a["holders"]) == (["8" + RPPS], ["0751234567"])
    d = rows[2]
    assert (d["previous_structures"], d["structures"]) == (
        [f"2:{SIREN}", f"3:{SIRET}"],
        [f"3:{SIRET}"],
    )


def test_one_extraction_has_no_change(con, tmp_path):
    ingest(con, extraction(tmp_path, "202603010830", [per("a.martin@medecin.mssante.fr")]))
    assert changes(con) == []
