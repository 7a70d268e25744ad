"""Instants are stored in UTC: canonical timestamps by their offset, profile wall-clock times by
Europe/Paris rules, with the two daylight-saving traps quarantined unless the profile resolves
them. Every expectation is cross-checked with Python's zoneinfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import (
    AUDIT_COLUMNS,
    FR_JOURNAL_HEADERS,
    PARIS,
    audit_fields,
    csv_line,
    delegation_record,
    ingest,
    paris,
    profile_variant,
    quarantined,
    utc,
    write_delegations,
    write_lines,
)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T09:15:00+01:00",
        "2026-03-02T08:15:00Z",
        "2026-03-02T10:15:00+02:00",
        "2026-03-02T03:15:00-05:00",
        "2026-03-02T09:15:00.250+01:00",
        "2026-03-02 09:15:00+01:00",
        "2026-07-14T23:30:00+02:00",
    ],
)
def test_canonical_timestamp_is_stored_as_the_utc_instant(con, tmp_path, text):
    path = write_lines(
        tmp_path / "t.csv",
        [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1", occurred_at=text))],
    )
    result = ingest(con, path)

    assert result.rows_loaded == 1
    assert con.execute("SELECT occurred_at FROM audit_event").fetchone()[0] == utc(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-03-02T09:15:00", "missing_offset"),
        ("2026-03-02 09:15", "missing_offset"),
        ("2026-03-02", "missing_offset"),
        ("2026-02-30T09:15:00+01:00", "bad_timestamp"),
        ("02/03/2026 09:15:00", "bad_timestamp"),
        ("tomorrow", "bad_timestamp"),
    ],
)
def test_canonical_timestamp_without_offset_or_unreadable_is_quarantined(
    con, tmp_path, text, reason
):
    path = write_lines(
        tmp_path / "t.csv",
        [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1", occurred_at=text))],
    )
    ingest(con, path)

    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [(2, reason)]


def test_canonical_date_bounds_across_both_changes_of_time(con, tmp_path):
    path = write_delegations(
        tmp_path / "d.csv",
        [
            delegation_record("D-1", valid_from="2026-03-29", valid_to="2026-03-29"),
            delegation_record("D-2", valid_from="2026-10-25", valid_to="2026-10-25"),
        ],
    )
    ingest(con, path)

    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT event_id, valid_from_at, valid_until_at FROM delegation_event"
        ).fetchall()
    }
    # 29 March lasts 23 hours, 25 October 25 hours.
    assert rows["D-1"] == (
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
    )
    assert rows["D-2"] == (
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
    )
    assert rows["D-1"][1] - rows["D-1"][0] == timedelta(hours=23)
    assert rows["D-2"][1] - rows["D-2"][0] == timedelta(hours=25)
    assert rows["D-1"][0] == paris(2026, 3, 29) and rows["D-2"][1] == paris(2026, 10, 26)


def _journal(tmp_path, times: list[str], name: str = "journal.csv"):
    lines = [";".join(FR_JOURNAL_HEADERS)] + [
        f"S-{i};{t};a.b@medecin.mssante.fr;a.b@medecin.mssante.fr;Consultation;Succès;CPS;;;;;Santé Sud"
        for i, t in enumerate(times)
    ]
    return write_lines(tmp_path / name, lines, encoding="cp1252")


def _loaded_times(con) -> dict[str, datetime]:
    return dict(con.execute("SELECT event_id, occurred_at FROM audit_event").fetchall())


SPRING = [
    "29/03/2026 01:59:59",
    "29/03/2026 02:00:00",
    "29/03/2026 02:30:00",
    "29/03/2026 02:59:59",
    "29/03/2026 03:00:00",
]
AUTUMN = [
    "25/10/2026 01:59:59",
    "25/10/2026 02:00:00",
    "25/10/2026 02:30:00",
    "25/10/2026 02:59:59",
    "25/10/2026 03:00:00",
]


def test_profile_quarantines_both_daylight_saving_traps_by_default(con, tmp_path):
    result = ingest(con, _journal(tmp_path, SPRING + AUTUMN))

    assert result.format == "profile:fr-journal-acces"
    reasons = {r["line_number"]: r["reason"] for r in quarantined(con)}
    assert reasons == {
        3: "nonexistent_local_time",
        4: "nonexistent_local_time",
        5: "nonexistent_local_time",
        8: "ambiguous_local_time",
        9: "ambiguous_local_time",
        10: "ambiguous_local_time",
    }
    assert _loaded_times(con) == {
        "S-0": datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),
        "S-4": datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),
        "S-5": datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC),
        "S-9": datetime(2026, 10, 25, 2, 0, 0, tzinfo=UTC),
    }
    assert _loaded_times(con)["S-0"] == paris(2026, 3, 29, 1, 59, 59)
    assert _loaded_times(con)["S-4"] == paris(2026, 3, 29, 3, 0, 0)


@pytest.mark.parametrize(
    ("ambiguous", "fold", "autumn_0230"),
    [
        ("earliest", 0, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("latest", 1, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_profile_rules_resolve_the_daylight_saving_traps(
    con, tmp_path, ambiguous, fold, autumn_0230
):
    profile = profile_variant(
        tmp_path,
        "fr-journal-acces",
        f"journal-{ambiguous}",
        ambiguous=ambiguous,
        nonexistent="shift_forward",
    )
    path = _journal(tmp_path, ["29/03/2026 02:30:00", "25/10/2026 02:30:00"])

    result = ingest(con, path, profile=str(profile))

    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    times = _loaded_times(con)
    # shift_forward reads 02:30 with the offset before the change (+01:00): 03:30 summer time.
    assert times["S-0"] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert times["S-0"] == datetime(2026, 3, 29, 2, 30, tzinfo=PARIS, fold=0).astimezone(UTC)
    assert times["S-0"].astimezone(PARIS).strftime("%H:%M %Z") == "03:30 CEST"
    assert times["S-1"] == autumn_0230
    assert times["S-1"] == paris(2026, 10, 25, 2, 30, fold=fold)


def _every_quarter_hour(day: int, month: int) -> list[datetime]:
    start = datetime(2026, month, day, 0, 0)
    return [start + timedelta(minutes=15 * i) for i in range(4 * 5)]


@pytest.mark.parametrize(("ambiguous", "fold"), [("earliest", 0), ("latest", 1)])
def test_wall_clock_conversion_agrees_with_zoneinfo_around_both_changes(
    con, tmp_path, ambiguous, fold
):
    profile = profile_variant(
        tmp_path,
        "fr-journal-acces",
        "journal-rules",
        ambiguous=ambiguous,
        nonexistent="shift_forward",
    )
    local = _every_quarter_hour(29, 3) + _every_quarter_hour(25, 10) + _every_quarter_hour(14, 7)
    path = _journal(tmp_path, [t.strftime("%d/%m/%Y %H:%M:%S") for t in local])

    result = ingest(con, path, profile=str(profile))

    assert result.rows_loaded == len(local)
    times = _loaded_times(con)
    for i, wall in enumerate(local):
        gap = datetime(2026, 3, 29, 2) <= wall < datetime(2026, 3, 29, 3)
        expected = wall.replace(tzinfo=PARIS, fold=0 if gap else fold).astimezone(UTC)
        assert times[f"S-{i}"] == expected, wall


def test_profile_time_in_the_wrong_format_is_a_bad_timestamp(con, tmp_path):
    ingest(
        con,
        _journal(tmp_path, ["02/01/2026 08:21:03", "2026-01-02 08:21:03", "31/02/2026 10:00:00"]),
    )

    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (3, "bad_timestamp"),
        (4, "bad_timestamp"),
    ]
    assert _loaded_times(con) == {"S-0": paris(2026, 1, 2, 8, 21, 3)}


# DuckDB reads these; nothing downstream can place them in a Paris month nor show them, or
# they would stretch every calendar over centuries.
OUT_OF_RANGE = [
    "10000-01-01T10:05:00+01:00",
    "0000-06-01T10:05:00+01:00",
    "1850-06-01T10:05:00+01:00",
    "1969-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
]


def test_instants_the_tool_cannot_place_are_quarantined_and_the_warehouse_stays_usable(tmp_path):
    from click.testing import CliRunner

    from delegation_reports.cli import main

    fields = [audit_fields(f"E-{i}", occurred_at=t) for i, t in enumerate(OUT_OF_RANGE)]
    kept = ["2026-03-02T09:15:00+01:00"]
    fields += [audit_fields(f"K-{i}", occurred_at=t) for i, t in enumerate(kept)]
    path = write_lines(tmp_path / "a.csv", [csv_line(AUDIT_COLUMNS), *map(csv_line, fields)])
    db = tmp_path / "w.duckdb"

    loaded = CliRunner().invoke(main, ["ingest", str(path), "--db", str(db)])
    assert loaded.exit_code == 0, loaded.output
    status = CliRunner().invoke(main, ["status", "--db", str(db)])
    assert status.exit_code == 0, status.output
    assert "oldest trace: 2026-03-02 08:15 UTC" in status.output

    from delegation_reports.warehouse import opened

    with opened(db, read_only=True) as con:
        rows = quarantined(con)
        assert [(r["line_number"], r["reason"]) for r in rows] == [
            (line, "bad_timestamp") for line in range(2, 2 + len(OUT_OF_RANGE))
        ]
        assert [r["detail"] for r in rows] == [
            f"bad_timestamp: occurred_at={t}" for t in OUT_OF_RANGE
        ]
        assert sorted(con.execute("SELECT event_id FROM audit_event").fetchall()) == [
            (f"K-{i}",) for i in range(len(kept))
        ]


def test_validity_bounds_within_years_1_to_9999_load_and_others_are_quarantined(con, tmp_path):
    path = write_delegations(
        tmp_path / "d.csv",
        [
            # 31 December 9999, a common way to say "no end": the next midnight in Paris.
            delegation_record("D-1", valid_to="9999-12-31"),
            delegation_record("D-2", valid_to="10000-01-01T00:00:00Z"),
            delegation_record("D-3", valid_from="0000-12-31T00:00:00Z"),
            delegation_record("D-4", event_at="1969-01-05T09:00:00+01:00"),
        ],
    )
    ingest(con, path)

    assert con.execute("SELECT event_id, valid_until_at FROM delegation_event").fetchall() == [
        ("D-1", datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
    ]
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (3, "bad_timestamp"),
        (4, "bad_timestamp"),
        (5, "bad_timestamp"),
    ]


@pytest.mark.parametrize("text", ["1970-01-01T00:00:00Z", "2199-12-31T23:59:59Z"])
def test_the_first_and_last_instants_of_the_range_load(con, tmp_path, text):
    path = write_lines(
        tmp_path / "t.csv",
        [csv_line(AUDIT_COLUMNS), csv_line(audit_fields("E-1", occurred_at=text))],
    )
    assert ingest(con, path).rows_loaded == 1
    assert con.execute("SELECT occurred_at FROM audit_event").fetchone()[0] == utc(text)
