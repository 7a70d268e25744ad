"""Dovecot IMAP logs (``--format dovecot``): mail_log events and login lines of Dovecot 2.3 and
2.4 become canonical audit events (DOMAIN.md §5, docs/formats.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import VALID, ingest, paris, quarantined, records, utc, write_lines
from delegation_reports.cli import main
from delegation_reports.errors import UnknownFormat
from delegation_reports.ingest.detect import FORMAT_CHOICES, detect
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect

OPERATOR = "Plateforme Test"
HOLDER = "helene.garnier@medecin.mssante.fr"
SECRETARY = "sandrine.moulin@pro.mssante.fr"
REPLACEMENT = "paul.remy@medecin.mssante.fr"
SYSLOG_23 = VALID / "dovecot_23_syslog.log"
LOG_PATH_24 = VALID / "dovecot_24_log_path.log"
MASTER = VALID / "dovecot_master_user.log"
NO_MASTER_WARNING = "delegate actions cannot be told apart"


def load(con, path: Path, **options):
    options.setdefault("operator", OPERATOR)
    result = ingest(con, path, **options)
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    return result


def events(con) -> list[dict]:
    return records(
        con,
        "SELECT occurred_at, mailbox, actor, action, outcome, auth_method, client_ip, session_id, "
        "message_id FROM audit_event ORDER BY occurred_at, action",
    )


def syslog(time: str, message: str, day: str = "Mar  2") -> str:
    return f"{day} {time} mx1 dovecot: {message}"


def imap(user: str, session: str, event: str, pid: int = 4121) -> str:
    return f"imap({user})<{pid}><{session}>: {event}"


def login(user: str, session: str, extra: str = "", rip: str = "192.0.2.17") -> str:
    return (
        f"imap-login: Login: user=<{user}>, {extra}method=PLAIN, rip={rip}, lip=192.0.2.1, "
        f"mpid=4121, TLS, session=<{session}>"
    )


# ---- detection ----------------------------------------------------------------------------


def test_dovecot_is_a_format_choice_of_the_cli():
    assert "dovecot" in FORMAT_CHOICES


@pytest.mark.parametrize("path", [SYSLOG_23, LOG_PATH_24, MASTER])
def test_dovecot_logs_are_detected(path):
    assert detect(path).format_name == "dovecot"


def test_a_csv_is_not_a_dovecot_log():
    with pytest.raises(UnknownFormat, match="does not look like format dovecot"):
        detect(VALID / "audit.csv", "dovecot")
    assert detect(VALID / "audit.csv").format_name == "audit"


# ---- Dovecot 2.3 through syslog -----------------------------------------------------------


def test_dovecot_23_syslog_lines(con):
    result = load(con, SYSLOG_23, year=2026)
    assert (result.format, result.kind) == ("dovecot", "audit")
    # 17 lines: 10 events (one with a bad date), 2 unreadable lines, 5 skipped.
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        12,
        9,
        3,
        5,
    )
    rows = events(con)
    assert [(r["action"], r["actor"], r["mailbox"]) for r in rows] == [
        ("login", HOLDER, HOLDER),
        ("other", HOLDER, HOLDER),  # flag_change
        ("delete", HOLDER, HOLDER),  # expunge
        ("other", HOLDER, HOLDER),  # delete: the \Deleted flag, the deletion counts at expunge
        ("move", HOLDER, HOLDER),  # copy
        ("other", HOLDER, HOLDER),  # save
        ("other", HOLDER, HOLDER),  # mailbox_create
        ("login_failed", HOLDER, HOLDER),
        ("other", "system:dovecot-lmtp", HOLDER),  # a delivery
    ]
    first = rows[0]
    assert first["occurred_at"] == paris(2026, 3, 2, 9, 15, 1)  # local time, Europe/Paris
    assert (first["auth_method"], first["client_ip"], first["session_id"]) == (
        "password",
        "192.0.2.17",
        "kJd8AbCdEfGh",
    )
    assert rows[2]["message_id"] == "<CAFx8@mail.example.net>"
    assert rows[7]["outcome"] == "failure" and rows[7]["client_ip"] == "203.0.113.66"


def test_quarantined_and_skipped_lines_of_a_syslog_file(con):
    result = load(con, SYSLOG_23, year=2026)
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (15, "malformed_row"),
        (16, "bad_timestamp"),
        (17, "malformed_row"),
    ]
    notes = "; ".join(result.notes)
    for part in (
        "5 lines skipped",
        "other program postfix/smtpd: 1",
        "other program CRON: 1",
        "other Dovecot messages: 2",
        "failed logins without a user name: 1",
    ):
        assert part in notes
    assert con.execute("SELECT rows_skipped FROM ingest_file").fetchone()[0] == 5


def test_a_syslog_file_without_year_fails_clearly(con):
    result = ingest_file(con, SYSLOG_23, operator=OPERATOR)
    assert result.status == "failed"
    assert (
        "--year" in result.message
        and "without a year" in result.message
        and "line 2" in result.message
    )
    assert con.execute("SELECT count(*) FROM ingest_file").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 0


def test_a_log_needs_an_operator(con):
    result = ingest_file(con, LOG_PATH_24)
    assert result.status == "failed"
    assert "--operator" in result.message


def test_the_year_moves_on_at_new_year(con, tmp_path):
    path = write_lines(
        tmp_path / "newyear.log",
        [
            syslog(
                "23:59:58",
                imap(HOLDER, "s1", "expunge: box=INBOX, uid=1, msgid=<a@x>"),
                day="Dec 31",
            ),
            syslog(
                "00:00:02",
                imap(HOLDER, "s1", "expunge: box=INBOX, uid=2, msgid=<b@x>"),
                day="Jan  1",
            ),
        ],
    )
    load(con, path, year=2025)
    assert [r["occurred_at"] for r in events(con)] == [
        paris(2025, 12, 31, 23, 59, 58),
        paris(2026, 1, 1, 0, 0, 2),
    ]


# ---- Dovecot 2.4, its own log file --------------------------------------------------------


def test_dovecot_24_log_file_lines(con):
    result = load(con, LOG_PATH_24)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        8,
        6,
        2,
        2,
    )
    rows = events(con)
    assert [r["action"] for r in rows] == ["login", "other", "delete", "move", "other", "other"]
    assert rows[2]["message_id"] == "<CAFx8@mail.example.net>"
    # A time with its offset needs no zone; the others are Paris local times.
    assert rows[4]["occurred_at"] == utc("2026-03-02T09:15:12.250+01:00")
    assert rows[3]["occurred_at"] == paris(2026, 3, 2, 9, 15, 9)
    # Local times in the DST changes cannot be placed: quarantined, never guessed.
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (8, "nonexistent_local_time"),
        (9, "ambiguous_local_time"),
    ]


def test_the_declared_time_zone_is_used(con):
    load(con, LOG_PATH_24, timezone="UTC")
    [login_row] = [r for r in events(con) if r["action"] == "login"]
    assert login_row["occurred_at"] == utc("2026-03-02T09:15:01Z")
    assert quarantined(con) == []  # no DST in UTC


def test_an_unknown_time_zone_fails(con):
    result = ingest_file(con, LOG_PATH_24, operator=OPERATOR, timezone="Mars/Olympus")
    assert result.status == "failed" and "time zone" in result.message


# ---- master users -------------------------------------------------------------------------


def test_a_log_without_master_users_says_so(con):
    result = load(con, SYSLOG_23, year=2026)
    assert NO_MASTER_WARNING in "; ".join(result.notes)
    notes = con.execute("SELECT notes FROM ingest_file").fetchone()[0]
    assert NO_MASTER_WARNING in notes and "no reads" in notes


def test_master_user_sessions_are_attributed_to_the_delegate(con):
    result = load(con, MASTER, year=2026)
    assert NO_MASTER_WARNING not in "; ".join(result.notes)
    rows = events(con)
    assert [(r["action"], r["actor"], r["mailbox"], r["session_id"]) for r in rows] == [
        ("login", HOLDER, HOLDER, "OwNeRsEsS001"),
        ("delete", HOLDER, HOLDER, "OwNeRsEsS001"),
        ("login", SECRETARY, HOLDER, "SeCrEtArY001"),  # master=<...>
        ("delete", SECRETARY, HOLDER, "SeCrEtArY001"),
        ("move", SECRETARY, HOLDER, "SeCrEtArY001"),
        ("login", REPLACEMENT, HOLDER, "RePlAcE0001"),  # user=<owner*master>
        ("other", REPLACEMENT, HOLDER, "RePlAcE0001"),
        ("login_failed", SECRETARY, HOLDER, "FaIlEd000001"),
    ]


def test_a_master_session_continues_in_the_next_file(con, tmp_path):
    first = write_lines(
        tmp_path / "day1.log",
        [
            syslog("23:59:00", login(HOLDER, "LaTeSeSs01", extra=f"master=<{SECRETARY}>, ")),
            syslog(
                "23:59:30", imap(HOLDER, "LaTeSeSs01", "expunge: box=INBOX, uid=1, msgid=<a@x>")
            ),
        ],
    )
    second = write_lines(
        tmp_path / "day2.log",
        [
            syslog(
                "00:00:30",
                imap(HOLDER, "LaTeSeSs01", "expunge: box=INBOX, uid=2, msgid=<b@x>"),
                day="Mar  3",
            ),
            syslog(
                "00:01:00",
                imap(HOLDER, "Unknown001", "expunge: box=INBOX, uid=3, msgid=<c@x>"),
                day="Mar  3",
            ),
        ],
    )
    load(con, first, year=2026)
    result = load(con, second, year=2026)
    assert [r["actor"] for r in events(con)] == [SECRETARY, SECRETARY, SECRETARY, HOLDER]
    # The second file names no master user itself: it says attribution rests on the holder.
    assert NO_MASTER_WARNING in "; ".join(result.notes)


def test_events_of_a_session_without_login_in_a_configured_log(con, tmp_path):
    path = write_lines(
        tmp_path / "partial.log",
        [
            syslog("09:00:00", login(HOLDER, "KnOwN00001", extra="master=<>, ")),
            syslog(
                "09:00:05", imap(HOLDER, "NoLoGiN001", "expunge: box=INBOX, uid=3, msgid=<c@x>")
            ),
        ],
    )
    result = load(con, path, year=2026)
    notes = "; ".join(result.notes)
    assert NO_MASTER_WARNING not in notes
    assert "1 mailbox events belong to sessions whose login is not in this file" in notes


# ---- dedup, idempotence, counts -----------------------------------------------------------


def test_the_same_log_twice_is_unchanged(con):
    first = load(con, MASTER, year=2026)
    second = ingest_file(con, MASTER, operator=OPERATOR, year=2026)
    assert (first.status, second.status) == ("loaded", "unchanged")
    assert con.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 8
    # The three sessions opened (the failed login opens none), each stored once.
    assert con.execute("SELECT count(*) FROM dovecot_session").fetchone()[0] == 3


def test_overlapping_logs_load_each_event_once(con, tmp_path):
    lines = SYSLOG_23.read_text().splitlines()[:13]
    first = write_lines(tmp_path / "a.log", lines[:8])
    second = write_lines(tmp_path / "b.log", lines[4:])
    load(con, first, year=2026)
    result = load(con, second, year=2026)
    # Lines 5 to 8 of the first file are lines 1 to 4 of the second: 4 events already loaded.
    assert (result.rows_read, result.rows_duplicate, result.rows_quarantined) == (6, 4, 0)
    whole = connect(tmp_path / "whole.duckdb")
    try:
        load(whole, write_lines(tmp_path / "all.log", lines), year=2026)
        assert sorted(
            r[0] for r in whole.execute("SELECT event_id FROM audit_event").fetchall()
        ) == sorted(r[0] for r in con.execute("SELECT event_id FROM audit_event").fetchall())
    finally:
        whole.close()


def test_every_line_is_counted_once(con, tmp_path):
    lines = [
        syslog("09:00:00", login(HOLDER, "s1")),
        "",
        syslog("09:00:01", imap(HOLDER, "s1", "expunge: box=INBOX, uid=1, msgid=<a@x>")),
        "Mar  2 09:00:02 mx1 kernel: [12345.678] eth0: link up",
        syslog("09:00:03", "imap(" + HOLDER),
        "Mar  2 09:00:04 mx1 dovecot: imap(not-an-address)<1><s2>: expunge: box=INBOX, uid=1",
        "\x00\x01 binary",
    ]
    result = load(con, write_lines(tmp_path / "counts.log", lines), year=2026)
    # 6 non-blank lines: 3 events read (1 invalid address), 2 unreadable lines, 1 skipped.
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        5,
        2,
        3,
        1,
    )
    assert [(r["line_number"], r["reason"]) for r in quarantined(con)] == [
        (5, "malformed_row"),
        (6, "invalid_address"),
        (7, "malformed_row"),
    ]


def test_undecodable_bytes_are_quarantined(con, tmp_path):
    path = tmp_path / "bytes.log"
    path.write_bytes(
        (
            syslog("09:00:01", imap(HOLDER, "s1", "expunge: box=INBOX, uid=1, msgid=<a@x>")) + "\n"
        ).encode()
        + b"Mar  2 09:00:02 mx1 dovecot: imap(caf\x92@x.fr)<1><s1>: expunge: box=INBOX, uid=2\n"
    )
    load(con, path, year=2026)
    [row] = quarantined(con)
    assert (row["line_number"], row["reason"]) == (2, "undecodable_bytes")
    assert "\\x92" in row["raw_text"]


def test_subjects_and_folder_names_are_not_kept(con, tmp_path):
    path = write_lines(
        tmp_path / "subjects.log",
        [
            "Mar  2 09:00:01 mx1 dovecot: imap(nobody)<1><s1>: expunge: box=Patients/Dupont, uid=1, "
            "msgid=<a@x>, subject=Résultats de M. Dupont, size=10",
            "Mar  2 09:00:02 mx1 dovecot: imap(nobody)<1><s1>: Mailbox Patients/Dupont: copy from INBOX/Dupont: uid=1",
        ],
    )
    load(con, path, year=2026)
    raw = " ".join(r["raw_text"] for r in quarantined(con))
    assert "Dupont" not in raw and "subject=" in raw


def test_cli_passes_year_and_timezone(db_path):
    runner = CliRunner()
    failed = runner.invoke(
        main, ["ingest", str(SYSLOG_23), "--db", str(db_path), "--operator", OPERATOR, "--json"]
    )
    assert failed.exit_code == 1
    [obj] = json.loads(failed.stdout)
    assert obj["status"] == "failed" and "--year" in obj["message"]

    loaded = runner.invoke(
        main,
        [
            "ingest",
            str(SYSLOG_23),
            "--db",
            str(db_path),
            "--operator",
            OPERATOR,
            "--year",
            "2026",
            "--timezone",
            "Europe/Paris",
            "--format",
            "dovecot",
            "--json",
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    [obj] = json.loads(loaded.stdout)
    assert (obj["format"], obj["rows_loaded"], obj["rows_skipped"]) == ("dovecot", 9, 5)

    status = runner.invoke(main, ["status", "--db", str(db_path)])
    assert status.exit_code == 0
    assert NO_MASTER_WARNING in " ".join(status.stdout.split())


def test_syslog_with_iso_timestamps_needs_no_year(con, tmp_path):
    path = write_lines(
        tmp_path / "rsyslog.log",
        [
            "2026-03-02T09:15:01.123456+01:00 mx1 dovecot[812]: " + login(HOLDER, "IsO0000001"),
            "2026-03-02T09:15:04+0100 mx1 dovecot[812]: "
            + imap(HOLDER, "IsO0000001", "expunge: box=INBOX, uid=1, msgid=<a@x>"),
            "2026-03-02T09:15:05+01:00 mx1 postfix/qmgr[900]: 4F1C2: removed",
        ],
    )
    result = load(con, path)
    assert (result.rows_loaded, result.rows_skipped) == (2, 1)
    assert [r["occurred_at"] for r in events(con)] == [
        utc("2026-03-02T09:15:01.123456+01:00"),
        utc("2026-03-02T09:15:04+01:00"),
    ]
    assert not any("--year" in n or "local times" in n for n in result.notes)
