"""The deterministic sample generator and the samples committed in ``data/samples``."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import tomllib
from collections import defaultdict
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from delegation_reports.identifiers import rpps_ok, siret_ok
from delegation_reports.samples.activity import simulate_background
from delegation_reports.samples.generator import (
    DEFAULT_SEED,
    DIRECTORY_FILE,
    DIRECTORY_HEADER,
    RULE_IDS,
    generate,
)
from delegation_reports.samples.world import build_world

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"
PARIS = ZoneInfo("Europe/Paris")
FRENCH_HOLIDAYS = holidays.France(years=2026)
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
PRACTICE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FR_FILES = ("sud_delegations.csv", "sud_journal_acces.csv")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("samples")
    generate(outdir, DEFAULT_SEED)
    return outdir


def _csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def _profile(name: str) -> dict:
    source = resources.files("delegation_reports.ingest.profiles").joinpath(f"{name}.toml")
    return tomllib.loads(source.read_text(encoding="utf-8"))


def _audit_local_times(folder: Path) -> dict[str, datetime]:
    """Every audit event id of the samples with its Paris wall-clock time."""
    times: dict[str, datetime] = {}
    for name in ("alpha_audit.csv", "alpha_audit_2026-03.csv"):
        for row in _csv(folder / name):
            times[row["event_id"]] = datetime.fromisoformat(row["occurred_at"]).astimezone(PARIS)
    for line in (folder / "connect_audit.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        times[row["event_id"]] = datetime.fromisoformat(row["occurred_at"]).astimezone(PARIS)
    for row in _csv(folder / "sud_journal_acces.csv", "cp1252", ";"):
        local = datetime.strptime(row["Date et heure"], "%d/%m/%Y %H:%M:%S")
        times[row["N° d'événement"]] = local.replace(tzinfo=PARIS)
    return times


def _ground_truth(folder: Path) -> list[dict[str, str]]:
    return _csv(folder / "ground_truth.csv")


def test_default_seed_reproduces_committed_samples(generated):
    committed = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.is_file())
    fresh = sorted(p.name for p in generated.iterdir())
    assert fresh == committed
    for name in fresh:
        assert (generated / name).read_bytes() == (SAMPLES_DIR / name).read_bytes(), name


def test_generate_returns_sorted_paths_and_manifest(tmp_path):
    paths = generate(tmp_path, DEFAULT_SEED)
    assert paths == sorted(paths)
    assert {p.name for p in paths} == {p.name for p in tmp_path.iterdir()}
    manifest = json.loads((tmp_path / "samples.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == DEFAULT_SEED
    assert manifest["generator_version"] == 1
    assert set(manifest["files"]) == {p.name for p in paths} - {"samples.json"}


def test_other_seed_changes_audit_content(generated, tmp_path):
    generate(tmp_path, DEFAULT_SEED + 1)
    for name in ("alpha_audit.csv", "sud_journal_acces.csv", "connect_audit.jsonl"):
        assert (tmp_path / name).read_bytes() != (generated / name).read_bytes(), name


def test_identifiers_pass_luhn_checks(generated):
    roster = _csv(generated / "roster.csv")
    assert roster
    for row in roster:
        assert PRACTICE_ID.match(row["practice_id"])
        assert siret_ok(row["practice_siret"]), row
        assert row["practice_id"] == "C" + row["practice_siret"]
        if row["member_kind"] == "holder":
            assert rpps_ok(row["member_rpps"]), row
        else:
            assert row["member_kind"] == "staff"

    lines = (generated / DIRECTORY_FILE).read_text(encoding="utf-8").splitlines()
    assert lines[0].split("|") == list(DIRECTORY_HEADER)
    rows = [line.split("|") for line in lines[1:]]
    assert all(len(fields) == 31 for fields in rows)
    checked_rpps = checked_siret = 0
    for fields in rows:
        if fields[2] == "8":
            assert rpps_ok(fields[3]), fields
            assert fields[4] == "8" + fields[3]
            checked_rpps += 1
        if fields[5] == "3":
            assert siret_ok(fields[6]), fields
            checked_siret += 1
    assert checked_rpps >= 20 and checked_siret >= 3
    assert {"PER", "ORG"} == {fields[0] for fields in rows}


def test_directory_lists_every_sample_practitioner(generated):
    # Every holder is in the first extraction; one of them has left by the last one.
    first, *_, last = sorted(generated.glob("Extraction_Correspondance_MSSante_*.txt"))
    assert last.name == DIRECTORY_FILE

    def read(path):
        return {
            line.split("|")[1]: line.split("|")
            for line in path.read_text(encoding="utf-8").splitlines()[1:]
        }

    directory, final = read(first), read(last)
    holders = {r["member"] for r in _csv(generated / "roster.csv") if r["member_kind"] == "holder"}
    assert len(holders - set(final)) == 1
    for row in _csv(generated / "roster.csv"):
        if row["member_kind"] == "holder":
            fields = directory[row["member"]]
            assert fields[0] == "PER" and fields[3] == row["member_rpps"]


def test_french_files_are_windows_1252(generated):
    for name in FR_FILES:
        raw = (generated / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        text = raw.decode("cp1252")
        assert "’" in text or "œ" in text, name


@pytest.mark.parametrize(
    ("name", "profile", "labelled"),
    [
        ("sud_delegations.csv", "fr-delegations", ("event_type", "delegate_role")),
        ("sud_journal_acces.csv", "fr-journal-acces", ("action", "outcome", "auth_method")),
    ],
)
def test_french_files_follow_their_profile(generated, name, profile, labelled):
    spec = _profile(profile)
    rows = _csv(generated / name, "cp1252", ";")
    assert list(rows[0]) == list(spec["columns"].values())
    for column in labelled:
        labels = set(spec["values"][column])
        assert {row[spec["columns"][column]] for row in rows} <= labels, column
    for row in rows:
        local = datetime.strptime(
            row[spec["columns"]["event_at" if "event_at" in spec["columns"] else "occurred_at"]],
            "%d/%m/%Y %H:%M:%S",
        )
        aware = local.replace(tzinfo=PARIS)
        # No wall-clock time of the spring-forward gap: those belong to unit tests.
        assert aware.astimezone(ZoneInfo("UTC")).astimezone(PARIS).replace(tzinfo=None) == local
    if "rights" in spec["columns"]:
        rights_labels = set(spec["values"]["rights"])
        for row in rows:
            cell = row[spec["columns"]["rights"]]
            assert not cell or {r.strip() for r in cell.split(",")} <= rights_labels


def test_canonical_timestamps_have_offsets(generated):
    stamps = [
        row["occurred_at"]
        for name in ("alpha_audit.csv", "alpha_audit_2026-03.csv")
        for row in _csv(generated / name)
    ]
    stamps += [
        json.loads(line)["occurred_at"]
        for line in (generated / "connect_audit.jsonl").read_text().splitlines()
    ]
    stamps += [row["event_at"] for row in _csv(generated / "alpha_delegations.csv")]
    assert len(stamps) > 5000
    for stamp in stamps:
        assert OFFSET.search(stamp), stamp
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_connect_audit_values_are_strings(generated):
    for line in (generated / "connect_audit.jsonl").read_text(encoding="utf-8").splitlines():
        assert all(isinstance(v, str) for v in json.loads(line).values())


def test_alpha_exports_overlap_with_identical_rows(generated):
    first = (generated / "alpha_audit.csv").read_text(encoding="utf-8").splitlines()[1:]
    second = (generated / "alpha_audit_2026-03.csv").read_text(encoding="utf-8").splitlines()[1:]
    overlap = set(first) & set(second)
    overlap_days = {line.split(",")[1][:10] for line in overlap}
    assert overlap_days == {"2026-02-27", "2026-02-28"}
    ids_first = {line.split(",")[0] for line in first}
    ids_second = {line.split(",")[0] for line in second}
    # Shared ids only on the overlap, and always with the same row.
    assert ids_first & ids_second == {line.split(",")[0] for line in overlap}
    assert all(line[:10] < "2026-03-01" for line in (r.split(",")[1] for r in first))


def test_ground_truth_covers_every_rule_and_cites_existing_events(generated):
    truth = _ground_truth(generated)
    assert set(RULE_IDS) <= {row["rule_id"] for row in truth}
    known = set(_audit_local_times(generated))
    known |= {row["event_id"] for row in _csv(generated / "alpha_delegations.csv")}
    known |= {
        row["N° d'opération"] for row in _csv(generated / "sud_delegations.csv", "cp1252", ";")
    }
    operators = set()
    for row in truth:
        ids = [i for i in row["event_ids"].split("|") if i]
        assert int(row["n_events"]) == len(ids)
        assert set(ids) <= known, row["rule_id"]
        if row["first_at"]:
            assert row["first_at"].endswith("Z") and row["last_at"] >= row["first_at"]
        operators |= {i.split("-")[0] for i in ids}
    assert {"A", "S", "C"} <= operators


def test_ground_truth_holds_a_slow_series_of_failed_logins(generated):
    """At least 20 failed logins within 24 hours, never 10 minutes apart or less: no burst."""
    times = _audit_local_times(generated)
    slow = []
    for row in _ground_truth(generated):
        if row["rule_id"] == "failed_login_burst":
            at = sorted(times[i] for i in row["event_ids"].split("|"))
            gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
            if min(gaps) > timedelta(minutes=10) and at[-1] - at[0] < timedelta(hours=24):
                slow.append(len(at))
    assert len(slow) == 1 and slow[0] >= 20


def test_background_is_clean(generated):
    cited = {i for row in _ground_truth(generated) for i in row["event_ids"].split("|") if i}
    for event_id, local in _audit_local_times(generated).items():
        if event_id in cited:
            continue
        day, clock = local.date(), local.time()
        assert day not in FRENCH_HOLIDAYS and day.weekday() != 6, event_id
        closing = "13:00" if day.weekday() == 5 else "19:00"
        assert "08:00" <= clock.strftime("%H:%M") < closing, (event_id, local)


def test_background_respects_delegations():
    rng = random.Random(DEFAULT_SEED)
    world = build_world(rng)
    events = simulate_background(world, rng)
    needs = {"send": "send", "download": "documents", "move": "manage", "delete": "manage"}
    failures = defaultdict(list)
    holder_days, replacement_days = set(), set()
    for event in events:
        day = (event.mailbox, event.at.date())
        if event.actor == event.mailbox:
            holder_days.add(day)
            continue
        matching = [
            d
            for d in world.delegations
            if d.holder.address == event.mailbox and d.delegate.address == event.actor
        ]
        assert len(matching) == 1, event
        if matching[0].role == "replacement":
            replacement_days.add(day)
        rights = matching[0].rights_at(event.at)
        assert rights is not None, event
        assert needs.get(event.action, "read") in rights or event.action in (
            "login",
            "login_failed",
            "logout",
        ), event
        if event.action == "login_failed":
            failures[event.actor].append(event.at)
    # A replaced holder stops working: never both in the mailbox on the same day, except
    # where the samples show the opposite on purpose.
    overlap = holder_days & replacement_days
    on_purpose = {
        d.holder.address
        for d in world.delegations
        if "replacement_while_holder_active" in d.anomalies
    }
    assert replacement_days and on_purpose
    assert {mailbox for mailbox, _ in overlap} == on_purpose
    for times in failures.values():
        times.sort()
        assert all(b - a > timedelta(minutes=10) for a, b in zip(times, times[1:], strict=False))


def test_samples_are_small():
    total = sum(p.stat().st_size for p in SAMPLES_DIR.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024
