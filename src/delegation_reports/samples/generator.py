"""Deterministic sample data: three operators' exports, a roster, a directory extraction.

``generate(outdir, seed)`` writes the same bytes for the same seed: one ``random.Random``
drives every choice, and nothing depends on the clock or on set ordering. The files tell the
story of six fictitious practices from 2026-01-01 to 2026-03-31, with injected anomalies
listed in ``ground_truth.csv``.

Run ``python -m delegation_reports.samples.generator OUTDIR [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from ..ingest.detect import DIRECTORY_HEADERS
from ..ingest.kinds import AUDIT, DELEGATIONS, SNAPSHOT
from .activity import (
    AuditEvent,
    Injection,
    departure_injections,
    inject_anomalies,
    simulate_background,
)
from .attacks import inject_authentication_attacks
from .world import (
    ALPHA,
    CONNECT,
    PARIS,
    PERIOD_END,
    PERIOD_START,
    RIGHTS_ORDER,
    SUD,
    Delegation,
    DelegationChange,
    Operator,
    Person,
    World,
    build_world,
)

DEFAULT_SEED = 20260301
GENERATOR_VERSION = 1

RULE_IDS = (
    "access_without_delegation",
    "access_after_revocation",
    "access_outside_validity",
    "access_before_grant_recorded",
    "right_exceeded",
    "off_hours_access",
    "failed_login_burst",
    "login_after_failures",
    "attempt_without_delegation",
    "bulk_access",
    "open_ended_replacement",
    "delegation_not_by_holder",
    "delegate_outside_practice",
    "delegation_self_granted",
    "replacement_while_holder_active",
    "holder_left_delegate_active",
)

# The file shapes are the ingestion contract's own.
DIRECTORY_HEADER = DIRECTORY_HEADERS
AUDIT_COLUMNS = AUDIT.columns
DELEGATION_COLUMNS = DELEGATIONS.columns
SNAPSHOT_COLUMNS = SNAPSHOT.columns
DIRECTORY_FILE = "Extraction_Correspondance_MSSante_202603312300.txt"

ROSTER_COLUMNS = (
    "practice_id",
    "practice_name",
    "member",
    "member_kind",
    "member_rpps",
    "practice_siret",
)
GROUND_TRUTH_COLUMNS = (
    "rule_id",
    "practice_id",
    "mailbox",
    "actor",
    "first_at",
    "last_at",
    "n_events",
    "event_ids",
    "note",
)

# French labels, exactly as the bundled profiles fr-delegations and fr-journal-acces read them.
FR_DELEGATION_HEADERS = (
    "N° d'opération",
    "Opération",
    "Date de l'opération",
    "BAL du délégant",
    "Compte du délégataire",
    "Nom du délégataire",
    "Fonction",
    "Droits",
    "Début",
    "Fin",
    "Réalisée par",
    "Opérateur",
)
FR_JOURNAL_HEADERS = (
    "N° d'événement",
    "Date et heure",
    "Boîte aux lettres",
    "Utilisateur",
    "Action",
    "Résultat",
    "Authentification",
    "Adresse IP",
    "Logiciel client",
    "Session",
    "Identifiant du message",
    "Opérateur",
)
FR_EVENT_TYPE = {"grant": "Création", "modify": "Modification", "revoke": "Révocation"}
FR_ROLE = {
    ("secretary", "F"): "Secrétaire médicale",
    ("secretary", "M"): "Secrétaire",
    ("medical_assistant", "F"): "Assistante médicale",
    ("medical_assistant", "M"): "Assistant médical",
    ("replacement", "F"): "Remplaçante",
    ("replacement", "M"): "Remplaçant",
    ("other", "F"): "Autre",
    ("other", "M"): "Autre",
}
FR_RIGHTS = {"read": "Lecture", "send": "Envoi", "documents": "Documents", "manage": "Gestion"}
FR_ACTION = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "logout": "Déconnexion",
    "read": "Consultation",
    "send": "Envoi",
    "delete": "Suppression",
    "move": "Déplacement",
    "download": "Téléchargement pièce jointe",
    "other": "Autre",
}
FR_OUTCOME = {"success": "Succès", "failure": "Échec"}
FR_AUTH = {
    "cps": "Carte CPS",
    "e-cps": "e-CPS",
    "psc": "Pro Santé Connect",
    "otp": "Code à usage unique",
    "password": "Mot de passe",
    "certificate": "Certificat",
    "unknown": "Inconnu",
}
FR_TIMESTAMP = "%d/%m/%Y %H:%M:%S"
FR_DATE = "%d/%m/%Y"


# --- Formatting ----------------------------------------------------------------------------


def iso_local(moment: datetime) -> str:
    """ISO 8601 in Paris local time with its offset: ``2026-03-02T09:15:07+01:00``."""
    return moment.astimezone(PARIS).isoformat()


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fr_local(moment: datetime) -> str:
    """Paris wall-clock time as French exports write it."""
    return moment.astimezone(PARIS).strftime(FR_TIMESTAMP)


def _date_text(day: date | None, fmt: str = "%Y-%m-%d") -> str:
    return day.strftime(fmt) if day else ""


def _rights(rights: Iterable[str], separator: str = "|", labels: dict | None = None) -> str:
    ordered = [r for r in RIGHTS_ORDER if r in set(rights)]
    return separator.join(labels[r] if labels else r for r in ordered)


def _csv_text(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    delimiter: str = ",",
    lineterminator: str = "\n",
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    # Strict encoding: a character cp1252 cannot carry must fail here, not in a demo.
    path.write_bytes(text.encode(encoding))
    return path


# --- Event ids -----------------------------------------------------------------------------


def _operator_changes(
    world: World, operator: Operator
) -> list[tuple[Delegation, DelegationChange]]:
    pairs = [
        (d, c) for d in world.delegations if d.practice.operator is operator for c in d.changes
    ]
    return sorted(pairs, key=lambda pair: pair[1].at)


def assign_event_ids(world: World, events: list[AuditEvent]) -> None:
    """Number delegation and audit events per operator, in time order."""
    for operator in (ALPHA, SUD):
        for number, (_, change) in enumerate(_operator_changes(world, operator), start=1):
            change.event_id = f"{operator.delegation_prefix}-{number:04d}"
    for operator in (ALPHA, SUD, CONNECT):
        # sorted() is stable: events at the same second keep their generation order.
        own = sorted((e for e in events if e.operator is operator), key=lambda e: e.at)
        for number, event in enumerate(own, start=1):
            event.event_id = f"{operator.audit_prefix}-{number:06d}"


def _operator_events(events: list[AuditEvent], operator: Operator) -> list[AuditEvent]:
    return sorted((e for e in events if e.operator is operator), key=lambda e: e.event_id)


# --- One function per file -----------------------------------------------------------------


def write_alpha_delegations(outdir: Path, world: World) -> Path:
    """Messagerie Alpha's delegation history, canonical CSV."""
    rows = []
    for delegation, change in _operator_changes(world, ALPHA):
        revoke = change.event_type == "revoke"
        rows.append(
            (
                change.event_id,
                change.event_type,
                iso_local(change.at),
                delegation.holder.address,
                delegation.delegate.address,
                delegation.delegate.display_name,
                delegation.role,
                "" if revoke else _rights(change.rights),
                _date_text(delegation.valid_from),
                _date_text(delegation.valid_to),
                change.performed_by,
                ALPHA.name,
            )
        )
    return _write(outdir / "alpha_delegations.csv", _csv_text(DELEGATION_COLUMNS, rows))


def _canonical_audit_rows(events: Iterable[AuditEvent], stamp) -> list[tuple[str, ...]]:
    return [
        (
            e.event_id,
            stamp(e.at),
            e.mailbox,
            e.actor,
            e.action,
            e.outcome,
            e.auth_method,
            e.client_ip,
            e.user_agent,
            e.session_id,
            e.message_id,
            e.operator.name,
        )
        for e in events
    ]


def write_alpha_audit(
    outdir: Path, events: list[AuditEvent], name: str, first_day: date, last_day: date
) -> Path:
    """One Messagerie Alpha audit export covering ``first_day``..``last_day`` (Paris days)."""
    covered = [
        e
        for e in _operator_events(events, ALPHA)
        if first_day <= e.at.astimezone(PARIS).date() <= last_day
    ]
    rows = _canonical_audit_rows(covered, iso_local)
    return _write(outdir / name, _csv_text(AUDIT_COLUMNS, rows))


def write_sud_delegations(outdir: Path, world: World) -> Path:
    """Santé Sud's « Historique des délégations »: French, ``;``, Windows-1252."""
    rows = []
    for delegation, change in _operator_changes(world, SUD):
        revoke = change.event_type == "revoke"
        delegate = delegation.delegate
        rows.append(
            (
                change.event_id,
                FR_EVENT_TYPE[change.event_type],
                fr_local(change.at),
                delegation.holder.address,
                delegate.address,
                delegate.display_name,
                FR_ROLE[(delegation.role, delegate.gender)],
                "" if revoke else _rights(change.rights, ", ", FR_RIGHTS),
                _date_text(delegation.valid_from, FR_DATE),
                _date_text(delegation.valid_to, FR_DATE),
                change.performed_by,
                SUD.name,
            )
        )
    text = _csv_text(FR_DELEGATION_HEADERS, rows, delimiter=";", lineterminator="\r\n")
    return _write(outdir / "sud_delegations.csv", text, "cp1252")


def write_sud_journal(outdir: Path, events: list[AuditEvent]) -> Path:
    """Santé Sud's « Journal des accès »: French labels, Paris wall-clock times."""
    rows = [
        (
            e.event_id,
            fr_local(e.at),
            e.mailbox,
            e.actor,
            FR_ACTION[e.action],
            FR_OUTCOME[e.outcome],
            FR_AUTH[e.auth_method],
            e.client_ip,
            e.user_agent,
            e.session_id,
            e.message_id,
            SUD.name,
        )
        for e in _operator_events(events, SUD)
    ]
    text = _csv_text(FR_JOURNAL_HEADERS, rows, delimiter=";", lineterminator="\r\n")
    return _write(outdir / "sud_journal_acces.csv", text, "cp1252")


def snapshot_days() -> list[date]:
    """Cabinet Connect's weekly exports: every Monday, from the one before the period."""
    day = PERIOD_START - timedelta(days=PERIOD_START.weekday())
    days = []
    while day <= PERIOD_END:
        days.append(day)
        day += timedelta(days=7)
    return days


def write_connect_snapshots(outdir: Path, world: World) -> Path:
    """Cabinet Connect's weekly lists of the delegations in force at 00:00 each Monday."""
    rows = []
    for as_of in snapshot_days():
        midnight = datetime.combine(as_of, time(0), tzinfo=PARIS)
        listed = []
        for delegation in world.delegations:
            if delegation.practice.operator is not CONNECT:
                continue
            rights = delegation.rights_at(midnight)
            if rights is None:
                continue
            granted = delegation.changes[0].at.astimezone(PARIS).date()
            listed.append(
                (
                    as_of.isoformat(),
                    delegation.holder.address,
                    delegation.delegate.address,
                    delegation.delegate.display_name,
                    delegation.role,
                    _rights(rights),
                    _date_text(delegation.valid_from or granted),
                    _date_text(delegation.valid_to),
                    CONNECT.name,
                )
            )
        rows += sorted(listed)
    return _write(outdir / "connect_snapshots.csv", _csv_text(SNAPSHOT_COLUMNS, rows))


def write_connect_audit(outdir: Path, events: list[AuditEvent]) -> Path:
    """Cabinet Connect's audit as JSON Lines: canonical keys, string values, UTC times."""
    lines = [
        json.dumps(
            dict(zip(AUDIT_COLUMNS, row, strict=True)), ensure_ascii=False, separators=(",", ":")
        )
        for row in _canonical_audit_rows(_operator_events(events, CONNECT), iso_utc)
    ]
    return _write(outdir / "connect_audit.jsonl", "".join(line + "\n" for line in lines))


def write_roster(outdir: Path, world: World) -> Path:
    """Who belongs to which practice: holders with their RPPS, then staff."""
    rows = []
    for practice in world.practices:
        for holder in practice.holders:
            rows.append(
                (
                    practice.practice_id,
                    practice.name,
                    holder.address,
                    "holder",
                    holder.rpps,
                    practice.siret,
                )
            )
        for member in practice.staff:
            rows.append(
                (practice.practice_id, practice.name, member.address, "staff", "", practice.siret)
            )
    return _write(outdir / "roster.csv", _csv_text(ROSTER_COLUMNS, rows))


def _directory_person_row(person: Person, world: World, dematerialised: str) -> list[str]:
    profession = person.profession
    row = [
        "PER",
        person.address,
        "8",
        person.rpps,
        "8" + person.rpps,
        "",
        "",
        "",
        profession.civility,
        person.last_name.upper(),
        person.first_name,
        "C",
        "Civil",
        profession.code,
        profession.label,
        profession.skill_code,
        profession.skill_label,
        dematerialised,
    ] + [""] * 13
    structure = world.directory_structures.get(person.address)
    if structure:
        siret, name, postal_code, city = structure
        practice = next((p for p in world.practices if p.siret == siret), None)
        row[5], row[6] = "3", siret
        row[18:31] = _structure_address(name, postal_code, city, practice)
    return row


def _structure_address(name: str, postal_code: str, city: str, practice) -> list[str]:
    number, street_type, street = (
        (practice.street_number, practice.street_type, practice.street_name)
        if practice
        else ("1", "R", "DE LA ROQUETTE")
    )
    return [
        name,
        "",
        "",
        "",
        number,
        "",
        street_type,
        street,
        "",
        f"{postal_code} {city}",
        postal_code,
        postal_code[:2],
        "France",
    ]


def write_directory(outdir: Path, world: World, rng: random.Random) -> list[Path]:
    """The public MSSanté directory extractions: 31 columns, ``|``, UTF-8. The last one
    (end of March) and one at each holder's departure, plus one before the first departure:
    a departure is seen between two extractions."""
    rows = []
    for practice in world.practices:
        for person in practice.holders + practice.staff:
            if person.rpps:
                rows.append(_directory_person_row(person, world, "O"))
    for practice, mailbox, service in world.org_rows:
        row = ["ORG", mailbox, "", "", "", "3", practice.siret, service] + [""] * 9 + ["O"]
        row += _structure_address(practice.name, practice.postal_code, practice.city, practice)
        rows.append(row)
    for person in world.directory_only:
        rows.append(_directory_person_row(person, world, "O" if rng.random() < 0.85 else "N"))
    # The real extraction is not grouped by practice: order by address like a plain dump.
    rows.sort(key=lambda row: row[1])
    stamps = {DIRECTORY_FILE: None}
    if world.departures:
        first = min(left_at for _, left_at in world.departures)
        stamps[_directory_name(first - timedelta(days=14))] = first - timedelta(days=14)
        stamps.update({_directory_name(left_at): left_at for _, left_at in world.departures})
    # The last practitioner listed only in the directory registered late in March: the
    # extractions differ by more than the departures.
    newcomer = world.directory_only[-1].address if world.directory_only else None
    files = []
    for name, stamp in sorted(stamps.items()):
        gone = {
            holder.address
            for holder, left_at in world.departures
            if stamp is None or stamp >= left_at
        }
        if stamp is not None:
            gone.add(newcomer)
        kept = [row for row in rows if row[1] not in gone]
        text = "".join("|".join(fields) + "\n" for fields in [list(DIRECTORY_HEADER)] + kept)
        files.append(_write(outdir / name, text))
    return files


def _directory_name(stamp: datetime) -> str:
    """The official file name of an extraction made at ``stamp`` (Paris time)."""
    return f"Extraction_Correspondance_MSSante_{stamp.astimezone(PARIS):%Y%m%d%H%M}.txt"


def ground_truth_rows(world: World, injections: list[Injection]) -> list[tuple[str, ...]]:
    """One row per (anomaly, rule it should trigger)."""
    rows = []
    for injection in injections:
        events = sorted(injection.events, key=lambda e: e.event_id)
        first = min(e.at for e in events)
        last = max(e.at for e in events)
        for rule_id in injection.rule_ids:
            rows.append(
                (
                    rule_id,
                    injection.practice.practice_id,
                    injection.mailbox,
                    injection.actor,
                    iso_utc(first),
                    iso_utc(last),
                    str(len(events)),
                    "|".join(e.event_id for e in events),
                    injection.note,
                )
            )
    for delegation in world.delegations:
        for rule_id in delegation.anomalies:
            if rule_id == "delegation_not_by_holder":
                cited = [
                    c for c in delegation.changes if c.performed_by != delegation.holder.address
                ]
                actor = cited[0].performed_by
            elif rule_id == "delegation_self_granted":
                cited = [
                    c for c in delegation.changes if c.performed_by == delegation.delegate.address
                ]
                actor = delegation.delegate.address
            elif rule_id == "replacement_while_holder_active":
                # Judged on the month's activity of both, not on a delegation event.
                cited = []
                actor = delegation.delegate.address
            else:
                cited = [delegation.changes[0]]
                actor = delegation.delegate.address
            # Snapshot exports carry no event ids: the row then cites none.
            ids = [c.event_id for c in cited if c.event_id]
            rows.append(
                (
                    rule_id,
                    delegation.practice.practice_id,
                    delegation.holder.address,
                    actor,
                    "",
                    "",
                    str(len(ids)),
                    "|".join(ids),
                    delegation.note,
                )
            )
    return sorted(rows, key=lambda row: (RULE_IDS.index(row[0]), row[4], row[1], row[7]))


def write_ground_truth(outdir: Path, world: World, injections: list[Injection]) -> Path:
    """The anomalies injected into the samples, for evaluating the rules."""
    text = _csv_text(GROUND_TRUTH_COLUMNS, ground_truth_rows(world, injections))
    return _write(outdir / "ground_truth.csv", text)


def write_manifest(outdir: Path, seed: int, files: list[Path]) -> Path:
    """``samples.json``: how the files were made, without any generation time."""
    manifest = {
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "period": {"start": PERIOD_START.isoformat(), "end": PERIOD_END.isoformat()},
        "files": sorted(path.name for path in files),
    }
    return _write(outdir / "samples.json", json.dumps(manifest, indent=2) + "\n")


def generate(outdir: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every sample file into ``outdir``.

    Parameters
    ----------
    outdir
        Target folder, created if missing. Existing files of the same names are replaced.
    seed
        Seed of the one random generator behind every choice.

    Returns
    -------
    list of Path
        The files written, sorted.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    world = build_world(rng)
    events = simulate_background(world, rng)
    injected_events, injections = inject_anomalies(world, rng)
    events += injected_events
    # A generator of their own: the other choices stay what they were without them.
    attack_events, attacks = inject_authentication_attacks(
        world, random.Random(f"{seed}:authentication")
    )
    events += attack_events
    injections += attacks
    assign_event_ids(world, events)
    injections += departure_injections(world, events)

    files = [
        write_alpha_delegations(outdir, world),
        write_alpha_audit(outdir, events, "alpha_audit.csv", PERIOD_START, date(2026, 2, 28)),
        # The March export starts two days early, as operators' monthly exports often
        # overlap: the repeated rows are identical, ids included.
        write_alpha_audit(outdir, events, "alpha_audit_2026-03.csv", date(2026, 2, 27), PERIOD_END),
        write_sud_delegations(outdir, world),
        write_sud_journal(outdir, events),
        write_connect_snapshots(outdir, world),
        write_connect_audit(outdir, events),
        write_roster(outdir, world),
        *write_directory(outdir, world, rng),
        write_ground_truth(outdir, world, injections),
    ]
    files.append(write_manifest(outdir, seed, files))
    return sorted(files)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m delegation_reports.samples.generator OUTDIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m delegation_reports.samples.generator",
        description="Write the deterministic sample exports into OUTDIR.",
    )
    parser.add_argument("outdir", type=Path, help="folder to write into")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    args = parser.parse_args(argv)
    for path in generate(args.outdir, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
