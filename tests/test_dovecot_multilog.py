"""Dovecot logs written by multilog (TAI64N labels) and mail_log events behind other prefixes
than Dovecot's default (tests/data/valid/README.md)."""

from __future__ import annotations

import pytest

from conftest import VALID, ingest, quarantined, records, write_lines
from delegation_reports.ingest.detect import detect
from delegation_reports.ingest.dovecot import _BadTime, tai64n_utc

MULTILOG = VALID / "dovecot_multilog.log"
USER = "martin@waschbuesch.de"


def test_tai64n_labels_follow_libtai():
    # fail2ban's test line: label 0x4c91b044 (+ 2^62).
    assert tai64n_utc("400000004c91b044", "077a9e94") == "2010-09-16T05:50:50.125476Z"
    # A multilog line whose program also printed its local time, "22.08.23_15:46:58_CEST": the
    # label is 2^62 + 10 + Unix time, like libtai's tai_now() and tai64nlocal.
    assert tai64n_utc("4000000064e4bc5c", "20b19354") == "2023-08-22T13:46:58.548508Z"


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        ("3fffffffffffffff", "00000000"),
        ("7fffffffffffffff", "00000000"),
        ("4000000064e4bc5c", "3b9aca00"),
    ],
)
def test_labels_naming_no_time_are_refused(seconds, nanos):
    with pytest.raises(_BadTime, match="names no time"):
        tai64n_utc(seconds, nanos)


def test_a_multilog_file_is_detected_as_dovecot():
    assert detect(MULTILOG).layout.container == "dovecot"


def test_multilog_lines_and_custom_prefixes(con):
    result = ingest(con, MULTILOG, operator="Plateforme Test")
    assert result.status == "loaded", result.message
    assert result.rows_read == result.rows_loaded + result.rows_duplicate + result.rows_quarantined
    assert (result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (5, 2, 1)
    rows = records(
        con,
        "SELECT strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') AS t, mailbox, "
        "actor, action, outcome, client_ip, session_id, message_id FROM audit_event ORDER BY t, action",
    )
    assert [(r["t"], r["action"], r["outcome"]) for r in rows] == [
        ("2010-09-16T05:50:50.125476", "login_failed", "failure"),
        # copy -> Trash, deleted (the flag), expunged: the same microsecond.
        ("2010-09-16T05:50:56.186395", "delete", "success"),
        ("2010-09-16T05:50:56.186395", "move", "success"),
        ("2010-09-16T05:50:56.186395", "other", "success"),
        ("2010-09-16T05:51:02.202374", "move", "success"),
    ]
    assert {r["mailbox"] for r in rows} == {USER}
    assert rows[0]["client_ip"] == "80.187.101.33"
    custom = rows[-1]
    assert (custom["actor"], custom["session_id"], custom["message_id"]) == (
        USER,
        "kJd8xQ0Ct",
        "<124.foo@bar>",
    )
    reasons = {r["line_number"]: (r["reason"], r["detail"]) for r in quarantined(con)}
    assert reasons[7][0] == "malformed_row"
    assert "mail_log event whose user cannot be read" in reasons[7][1]
    assert reasons[8] == (
        "bad_timestamp",
        "TAI64N label @3fffffffffffffff00000000 names no time between 1970 and 9999",
    )
    # No folder name is kept, not even in a quarantined line.
    kept = " ".join(r["raw_text"] for r in quarantined(con))
    assert "INBOX" not in kept and "Archives" not in kept
    notes = con.execute("SELECT notes FROM ingest_file").fetchone()[0]
    assert "other Dovecot messages: 1" in notes


def test_mail_log_events_are_never_counted_as_other_messages(con, tmp_path):
    lines = [
        # Dovecot's default prefix, then a custom one in a syslog line, then one without user.
        "2026-03-02T09:15:00+01:00 imap(helene.garnier@medecin.mssante.fr)<4121><kJd8>: expunged: uid=1, msgid=<a@b>",
        "2026-03-02T09:16:00+01:00 mx dovecot: imap[4121]: user=<helene.garnier@medecin.mssante.fr> ip=192.0.2.5 "
        "session=kJd8 Mailbox Brouillons: delete: uid=2, msgid=<b@b>",
        "2026-03-02T09:17:00+01:00 mx dovecot: imap[4121]: session=kJd8 mailbox_rename: Old -> New",
        "2026-03-02T09:18:00+01:00 mx dovecot: imap[4121]: Logged out in=10 out=20 deleted=0 expunged=0",
        "2026-03-02T09:19:00+01:00 imap(helene.garnier@medecin.mssante.fr)<4121><kJd8>: Error: "
        "copy from Archives failed: Quota exceeded",
    ]
    result = ingest(con, write_lines(tmp_path / "custom.log", lines), operator="Plateforme Test")
    assert (result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (2, 1, 2)
    actions = [
        r[0] for r in con.execute("SELECT action FROM audit_event ORDER BY occurred_at").fetchall()
    ]
    assert actions == ["delete", "other"]
    [row] = quarantined(con)
    assert row["line_number"] == 3 and "user cannot be read" in row["detail"]
    assert "Brouillons" not in " ".join(
        str(v) for r in records(con, "SELECT * FROM audit_event") for v in r.values()
    )
