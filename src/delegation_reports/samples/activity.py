"""Mailbox activity: a clean background of working sessions, plus the injected anomalies.

The background only ever does what a rule would accept: people work during their practice's
opening hours, holders in their own mailbox, delegates in mailboxes delegated to them, within
validity and with the rights in force. Every departure from that is built by
``inject_anomalies`` and recorded as ground truth.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime

from .world import (
    ALPHA,
    RIGHTS_ORDER,
    SUD,
    Delegation,
    Operator,
    Person,
    Practice,
    World,
    hm,
    paris_time,
    period_days,
)

_INCOMING_DOMAINS = (
    "medecin.mssante.fr",
    "medecin.mssante.fr",
    "labo-biolam.mssante.fr",
    "imagerie-du-parc.mssante.fr",
    "ch-exemple.mssante.fr",
    "pharmacien.mssante.fr",
    "clinique-des-lilas.mssante.fr",
)
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class AuditEvent:
    """One action in a mailbox, before the operator's export gives it an id."""

    at: datetime
    practice: Practice
    mailbox: str
    actor: str
    action: str
    outcome: str
    auth_method: str
    client_ip: str
    user_agent: str
    session_id: str
    message_id: str
    event_id: str = ""

    @property
    def operator(self) -> Operator:
        return self.practice.operator


@dataclass
class Injection:
    """An injected anomaly: the events behind it and every rule it is meant to trigger."""

    rule_ids: tuple[str, ...]
    practice: Practice
    mailbox: str
    actor: str
    note: str
    events: list[AuditEvent] = field(default_factory=list)


class SessionWriter:
    """Turns a plan of actions into timed audit events of one session."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def session_id(self, operator: Operator) -> str:
        bits = self.rng.getrandbits(128)
        if operator is ALPHA:
            return f"s-{bits >> 64:016x}"
        if operator is SUD:
            return f"{bits >> 64:016X}"
        return f"{bits >> 64:016x}"

    def message_id(self, domain: str) -> str:
        local = "".join(self.rng.choice(_ID_ALPHABET) for _ in range(12))
        return f"<{local}@{domain}>"

    def auth_method(self, person: Person) -> str:
        methods = [m for m, _ in person.auth_methods]
        weights = [w for _, w in person.auth_methods]
        return self.rng.choices(methods, weights)[0]

    def write(
        self,
        practice: Practice,
        actor: Person,
        mailbox: str,
        day: date,
        start: int,
        actions: list[str],
        gap: tuple[int, int] = (20, 150),
        client_ip: str | None = None,
        with_logout: bool = True,
    ) -> list[AuditEvent]:
        """A session opening with a login at ``start`` seconds after midnight of ``day``.

        ``actions`` are the steps after the login; download, move and delete act on a
        message read earlier in the session, as people do.
        """
        rng = self.rng
        ip = client_ip or rng.choice(practice.client_ips)
        session = self.session_id(practice.operator)
        auth = self.auth_method(actor)
        mailbox_domain = mailbox.split("@", 1)[1]
        read_ids: list[str] = []
        events: list[AuditEvent] = []
        moment = start

        def emit(action: str, message_id: str = "", outcome: str = "success") -> None:
            events.append(
                AuditEvent(
                    paris_time(day, moment),
                    practice,
                    mailbox,
                    actor.address,
                    action,
                    outcome,
                    auth,
                    ip,
                    actor.user_agent,
                    session,
                    message_id,
                )
            )

        emit("login")
        for action in actions:
            moment += rng.randint(*gap)
            if action == "read":
                read_ids.append(self.message_id(rng.choice(_INCOMING_DOMAINS)))
                emit("read", read_ids[-1])
            elif action == "send":
                emit("send", self.message_id(mailbox_domain))
            else:
                emit(
                    action,
                    rng.choice(read_ids)
                    if read_ids
                    else self.message_id(rng.choice(_INCOMING_DOMAINS)),
                )
        if with_logout:
            moment += rng.randint(5, 60)
            emit("logout")
        return events


def _plan(rng: random.Random, rights: tuple[str, ...] | None, steps: tuple[int, int]) -> list[str]:
    """Actions of an ordinary session, limited to what ``rights`` allow (None: the holder)."""
    allowed = RIGHTS_ORDER if rights is None else rights
    choices = [("read", 10)]
    if "send" in allowed:
        choices.append(("send", 3))
    if "documents" in allowed:
        choices.append(("download", 2))
    # Filing and deleting are mailbox management: holders do it, delegates only with manage.
    if "manage" in allowed:
        choices += [("move", 2), ("delete", 1)]
    names = [c for c, _ in choices]
    weights = [w for _, w in choices]
    return ["read"] + rng.choices(names, weights, k=rng.randint(*steps) - 1)


# Longest ordinary session: 12 steps of at most 150 s plus a logout, well under 35 minutes.
_MAX_SESSION = 12 * 150 + 60


def _starts(
    rng: random.Random, window: tuple[int, int], count: int, afternoons_only: bool = False
) -> list[int]:
    """Session start times spread over the opening window, each leaving room to finish."""
    opens, closes = window
    if afternoons_only:
        opens = max(opens, hm(13, 30))
    latest = closes - _MAX_SESSION - 300
    if latest <= opens:
        return []
    slots = sorted(rng.randint(opens + 300, latest) for _ in range(count))
    return slots


def simulate_background(world: World, rng: random.Random) -> list[AuditEvent]:
    """Ordinary working sessions of every holder and delegate over the period."""
    writer = SessionWriter(rng)
    events: list[AuditEvent] = []
    by_practice: dict[str, list[Delegation]] = {}
    for delegation in world.delegations:
        by_practice.setdefault(delegation.practice.practice_id, []).append(delegation)
    for practice in world.practices:
        for day in period_days():
            window = practice.opening(day)
            if window is None:
                continue
            saturday = day.weekday() == 5
            for index, holder in enumerate(practice.holders):
                # Saturday mornings are shared: each holder works one in two.
                if saturday and (day.isocalendar().week + index) % 2:
                    continue
                if not holder.works_on(day):
                    continue
                count = 1 if saturday else rng.choices((0, 1, 2), (2, 6, 2))[0]
                for start in _starts(rng, window, count):
                    events += _ordinary_session(
                        writer,
                        rng,
                        practice,
                        holder,
                        holder.address,
                        day,
                        start,
                        None,
                        practitioner=True,
                    )
            for delegation in by_practice.get(practice.practice_id, []):
                delegate = delegation.delegate
                rights = delegation.rights_throughout(day, window)
                if rights is None or not delegate.works_on(day):
                    continue
                if delegation.role == "replacement":
                    count = 1 if saturday else rng.choices((1, 2), (5, 5))[0]
                else:
                    count = rng.choices((0, 1, 2), (4, 5, 1))[0]
                for start in _starts(rng, window, count, delegate.afternoons_only):
                    events += _ordinary_session(
                        writer,
                        rng,
                        practice,
                        delegate,
                        delegation.holder.address,
                        day,
                        start,
                        rights,
                        practitioner=delegation.role == "replacement",
                    )
    return events


def _ordinary_session(
    writer: SessionWriter,
    rng: random.Random,
    practice: Practice,
    actor: Person,
    mailbox: str,
    day: date,
    start: int,
    rights: tuple[str, ...] | None,
    practitioner: bool,
) -> list[AuditEvent]:
    """A working session; ``rights`` None means the holder in their own mailbox."""
    steps = (2, 7) if practitioner else (3, 10)
    actions = _plan(rng, rights, steps)
    events = writer.write(practice, actor, mailbox, day, start, actions)
    # Now and then a mistyped password just before the successful login.
    if rng.random() < 0.02:
        failed = writer.write(
            practice,
            actor,
            mailbox,
            day,
            start - rng.randint(15, 50),
            [],
            with_logout=False,
            client_ip=events[0].client_ip,
        )[0]
        failed.action, failed.outcome, failed.session_id = "login_failed", "failure", ""
        events.insert(0, failed)
    return events


# --- Injected anomalies --------------------------------------------------------------------


def _outsider(world: World, address: str) -> Person:
    return next(p for p in world.outsiders if p.address == address)


def _practice(world: World, name: str) -> Practice:
    return next(p for p in world.practices if p.name == name)


def _delegation(world: World, mailbox: str, delegate: str) -> Delegation:
    return next(
        d
        for d in world.delegations
        if d.holder.address == mailbox and d.delegate.address == delegate
    )


def inject_anomalies(world: World, rng: random.Random) -> tuple[list[AuditEvent], list[Injection]]:
    """Every audit-level anomaly of the samples, in a fixed order.

    Returns
    -------
    events, injections
        All events the anomalies add to the exports, and the injections citing them.
    """
    writer = SessionWriter(rng)
    injections: list[Injection] = []
    uncited: list[AuditEvent] = []
    tilleuls = _practice(world, "Cabinet médical des Tilleuls")
    perrot_practice = _practice(world, "Cabinet du Dr Agnès Perrot")
    etang = _practice(world, "Maison médicale de l’Étang")
    coeur = _practice(world, "Cabinet dentaire Cœur de Ville")
    coteaux = _practice(world, "Centre de santé des Coteaux")
    legall_practice = _practice(world, "Cabinet du Dr Yves Le Gall")

    # Sessions made while no delegation is in force only read, so that no send or download
    # there could be argued to be a right_exceeded as well.
    def whole_session(rule_ids, practice, actor, mailbox, day, start, actions, note, **kw):
        events = writer.write(practice, actor, mailbox, day, start, actions, **kw)
        reads = [e for e in events if e.action == "read"]
        minutes = round((reads[-1].at - reads[0].at).total_seconds() / 60)
        note = note.format(reads=len(reads), minutes=minutes)
        injections.append(Injection(rule_ids, practice, mailbox, actor.address, note, events))

    def one_step(rule_id, practice, actor, mailbox, day, start, actions, index, note):
        events = writer.write(practice, actor, mailbox, day, start, actions)
        # The login sits first, so step ``index`` of the plan is event ``index + 1``.
        injections.append(
            Injection((rule_id,), practice, mailbox, actor.address, note, [events[index + 1]])
        )
        # The rest of the session is ordinary work and goes to the export uncited.
        uncited.extend(e for i, e in enumerate(events) if i != index + 1)

    garnier, lefevre, charpentier = tilleuls.holders
    moulin, barbier = tilleuls.staff[0], tilleuls.staff[1]

    # Alpha / Tilleuls
    whole_session(
        ("off_hours_access",),
        tilleuls,
        moulin,
        garnier.address,
        date(2026, 1, 1),
        hm(10, 5),
        ["read", "read", "read"],
        "secretary working in a holder's mailbox on New Year's Day (public holiday)",
    )
    whole_session(
        ("access_after_revocation",),
        tilleuls,
        barbier,
        garnier.address,
        date(2026, 2, 19),
        hm(9, 50),
        ["read", "read", "read"],
        "medical assistant reads six days after her delegation was revoked",
    )
    whole_session(
        ("access_after_revocation",),
        tilleuls,
        barbier,
        garnier.address,
        date(2026, 3, 3),
        hm(14, 15),
        ["read", "read"],
        "revoked medical assistant back in the mailbox three weeks later",
    )
    whole_session(
        ("access_without_delegation",),
        tilleuls,
        charpentier,
        lefevre.address,
        date(2026, 3, 17),
        hm(12, 41),
        ["read"] * 5,
        "a colleague reads Dr Lefèvre's mailbox with no delegation",
    )
    whole_session(
        ("bulk_access",),
        tilleuls,
        moulin,
        garnier.address,
        date(2026, 3, 24),
        hm(15, 2),
        ["read"] * 380,
        "{reads} messages read in {minutes} minutes",
        gap=(2, 4),
    )

    whole_session(
        ("access_before_grant_recorded",),
        tilleuls,
        barbier,
        lefevre.address,
        date(2026, 3, 10),
        hm(10, 30),
        ["read"] * 3,
        "medical assistant works in Dr Lefèvre's mailbox two days before her delegation "
        "(valid from 9 March) was recorded",
    )

    # Alpha / Perrot
    perrot = perrot_practice.holders[0]
    giraud = perrot_practice.staff[0]
    one_step(
        "right_exceeded",
        perrot_practice,
        giraud,
        perrot.address,
        date(2026, 3, 10),
        hm(10, 20),
        ["read", "read", "send", "read"],
        2,
        "secretary sends although send was removed on 2026-02-02",
    )
    whole_session(
        ("off_hours_access",),
        perrot_practice,
        giraud,
        perrot.address,
        date(2026, 3, 15),
        hm(10, 12),
        ["read"] * 4,
        "secretary reads on a Sunday morning",
    )

    # Sud / Étang
    fabre, bonnet = etang.holders[0], etang.holders[1]
    dhondt, rouquette = etang.staff[0], etang.staff[1]
    whole_session(
        ("access_outside_validity",),
        etang,
        rouquette,
        fabre.address,
        date(2026, 3, 4),
        hm(11, 20),
        ["read", "read", "read"],
        "replacement reads three days after the end of her replacement (2026-03-01)",
    )
    whole_session(
        ("bulk_access",),
        etang,
        dhondt,
        bonnet.address,
        date(2026, 3, 11),
        hm(10, 5),
        ["read"] * 420,
        "{reads} messages read in {minutes} minutes",
        gap=(2, 4),
    )
    injections.append(
        _failed_login_burst(
            writer,
            etang,
            bonnet,
            date(2026, 1, 27),
            hm(14, 20),
            14,
            240,
            "2001:db8:bad:7::31",
            "{n} failed logins in {minutes} minutes on Dr Bonnet's own account from an unknown "
            "address",
        )
    )

    # Sud / Cœur de Ville
    pages = coeur.holders[0]
    boeuf = coeur.staff[0]
    one_step(
        "right_exceeded",
        coeur,
        boeuf,
        pages.address,
        date(2026, 2, 17),
        hm(9, 35),
        ["read", "read", "download", "read"],
        2,
        "assistant without the documents right downloads an attachment",
    )
    arnaud = _outsider(world, "kevin.arnaud@pro.mssante.fr")
    whole_session(
        ("access_without_delegation", "off_hours_access"),
        coeur,
        arnaud,
        pages.address,
        date(2026, 3, 12),
        hm(3, 12),
        ["read"] * 5,
        "unknown account reads the dentist's mailbox at 03:12 with no delegation",
        client_ip="198.51.100.250",
    )

    # Connect / Coteaux
    lemoine, benali = coteaux.holders[0], coteaux.holders[1]
    roche, masson = coteaux.staff[0], coteaux.staff[1]
    injections.append(
        _failed_login_burst(
            writer,
            coteaux,
            roche,
            date(2026, 2, 5),
            hm(10, 2),
            12,
            270,
            "203.0.113.77",
            "{n} failed logins in {minutes} minutes on the secretary's account for Dr Benali's "
            "mailbox",
            mailbox=benali.address,
        )
    )
    whole_session(
        ("access_after_revocation",),
        coteaux,
        masson,
        lemoine.address,
        date(2026, 2, 24),
        hm(16, 5),
        ["read", "read"],
        "secretary removed from the snapshots after 2026-02-09 still reads",
    )
    whole_session(
        ("off_hours_access",),
        coteaux,
        roche,
        benali.address,
        date(2026, 3, 19),
        hm(23, 40),
        ["read", "read", "move"],
        "secretary in a doctor's mailbox at 23:40 on a Thursday",
        client_ip="2001:db8:77::1:20",
    )

    # Connect / Le Gall
    legall = legall_practice.holders[0]
    quere, guillou = legall_practice.staff
    one_step(
        "right_exceeded",
        legall_practice,
        quere,
        legall.address,
        date(2026, 1, 22),
        hm(11, 10),
        ["read", "send", "read"],
        1,
        "medical assistant with read and documents rights sends a message",
    )
    whole_session(
        ("access_outside_validity",),
        legall_practice,
        guillou,
        legall.address,
        date(2026, 2, 25),
        hm(17, 30),
        ["read", "read"],
        "replacement (valid to 2026-02-20) back in the mailbox five days later",
    )

    _check_rights(world, injections)
    events = uncited + [e for injection in injections for e in injection.events]
    return events, injections


def _failed_login_burst(
    writer: SessionWriter,
    practice: Practice,
    actor: Person,
    day: date,
    start: int,
    attempts: int,
    span: int,
    client_ip: str,
    note: str,
    mailbox: str | None = None,
) -> Injection:
    rng = writer.rng
    mailbox = mailbox or actor.address
    offsets = sorted(rng.randint(0, span) for _ in range(attempts - 1))
    events = []
    for offset in [0] + offsets:
        events.append(
            AuditEvent(
                paris_time(day, start + offset),
                practice,
                mailbox,
                actor.address,
                "login_failed",
                "failure",
                "password",
                client_ip,
                "python-requests/2.32.3",
                "",
                "",
            )
        )
    minutes = round((events[-1].at - events[0].at).total_seconds() / 60)
    note = note.format(n=len(events), minutes=minutes)
    return Injection(("failed_login_burst",), practice, mailbox, actor.address, note, events)


def _check_rights(world: World, injections: list[Injection]) -> None:
    """Guard the scenario: a right_exceeded event really lacks the right it uses."""
    needed = {"send": "send", "download": "documents"}
    for injection in injections:
        if injection.rule_ids != ("right_exceeded",):
            continue
        event = injection.events[0]
        rights = _delegation(world, injection.mailbox, injection.actor).rights_at(event.at)
        if rights is None or needed[event.action] in rights:
            raise AssertionError(f"scenario error: {event.action} allowed for {event.actor}")


def departure_injections(world: World, events: list[AuditEvent]) -> list[Injection]:
    """The délégataires' successful actions in a mailbox after its holder left the directory
    (``World.departures``), one injection per délégataire: the background already holds them,
    they only need citing. Call after the events have their ids."""
    injections = []
    for holder, left_at in world.departures:
        practice = next(p for p in world.practices if holder in p.holders)
        delegates = {d.delegate.address for d in world.delegations if d.holder is holder}
        by_actor: dict[str, list[AuditEvent]] = {}
        for event in events:
            if (
                event.mailbox == holder.address
                and event.actor in delegates
                and event.at >= left_at
                and event.outcome == "success"
                and event.action != "login_failed"
            ):
                by_actor.setdefault(event.actor, []).append(event)
        for actor, acts in sorted(by_actor.items()):
            note = f"acts in Dr {holder.last_name}'s mailbox after it left the directory"
            injections.append(
                Injection(
                    ("holder_left_delegate_active",), practice, holder.address, actor, note, acts
                )
            )
    return injections
