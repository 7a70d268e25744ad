"""Injected authentication attacks: a password found after a burst of failures, a slow series
kept under the burst threshold, and refused attempts by accounts without a delegation.

Drawn from a random generator of their own, so that adding them leaves the rest of the
samples' choices as they were.
"""

from __future__ import annotations

import random
from datetime import date

from .activity import AuditEvent, Injection, SessionWriter
from .world import Person, Practice, World, hm, paris_time

# What an attacker's tooling and browser look like in the traces.
_SCRIPT_AGENT = "python-requests/2.32.3"
_ATTACKER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _practice(world: World, name: str) -> Practice:
    return next(p for p in world.practices if p.name == name)


def _person(world: World, address: str) -> Person:
    people = [p for practice in world.practices for p in practice.holders + practice.staff]
    return next(p for p in people + world.outsiders if p.address == address)


def _failed_login(practice: Practice, mailbox: str, actor: str, moment, ip: str, agent: str):
    return AuditEvent(
        moment, practice, mailbox, actor, "login_failed", "failure", "password", ip, agent, "", ""
    )


def _failures(
    practice: Practice,
    mailbox: str,
    actor: Person,
    day: date,
    offsets: list[int],
    ip: str,
    agent: str = _SCRIPT_AGENT,
) -> list[AuditEvent]:
    """Failed logins at ``offsets`` seconds after midnight (Paris) of ``day``."""
    return [
        _failed_login(practice, mailbox, actor.address, paris_time(day, offset), ip, agent)
        for offset in offsets
    ]


def _on_own_account(
    rule_id: str, practice: Practice, holder: Person, note: str, events: list[AuditEvent]
) -> Injection:
    """An attack on the holder's own account, in their own mailbox."""
    return Injection((rule_id,), practice, holder.address, holder.address, note, events)


def _span_minutes(events: list[AuditEvent]) -> int:
    return round((events[-1].at - events[0].at).total_seconds() / 60)


def password_found(world: World, rng: random.Random) -> list[Injection]:
    """A burst of failed logins on a holder's own account at night, then the attacker in from
    the same address: failed_login_burst, and login_after_failures for the whole."""
    practice = _practice(world, "Cabinet du Dr Agnès Perrot")
    holder = practice.holders[0]
    day, start, ip = date(2026, 3, 5), hm(21, 40), "198.51.100.213"
    offsets = sorted(start + rng.randint(0, 200) for _ in range(6))
    failures = _failures(practice, holder.address, holder, day, [start, *offsets], ip)
    session = SessionWriter(rng).write(
        practice,
        holder,
        holder.address,
        day,
        offsets[-1] + rng.randint(600, 900),
        ["read"] * 8,
        gap=(5, 20),
        client_ip=ip,
    )
    for event in session:
        event.auth_method, event.user_agent = "password", _ATTACKER_AGENT
    minutes = _span_minutes(failures)
    return [
        _on_own_account(
            "failed_login_burst",
            practice,
            holder,
            f"{len(failures)} failed logins in {minutes} minutes on Dr Perrot's own account at "
            "night from an unknown address",
            failures,
        ),
        _on_own_account(
            "login_after_failures",
            practice,
            holder,
            "the same address gets into Dr Perrot's mailbox with her password "
            f"{round((session[0].at - failures[-1].at).total_seconds() / 60)} minutes after "
            "the failures, and reads",
            failures + session,
        ),
    ]


def slow_series(world: World, rng: random.Random) -> list[Injection]:
    """Failed logins on a holder's account all night, 12 to 18 minutes apart: never a burst,
    yet far more than anyone mistypes in a day."""
    practice = _practice(world, "Cabinet du Dr Yves Le Gall")
    holder = practice.holders[0]
    offsets, moment = [], hm(23, 5)
    while len(offsets) < 24:
        offsets.append(moment)
        moment += rng.randint(12 * 60, 18 * 60)
    # From Saturday 21 March at 23:05 into the Sunday morning.
    saturday = date(2026, 3, 21)
    failures = _failures(practice, holder.address, holder, saturday, offsets, "203.0.113.140")
    minutes = _span_minutes(failures)
    return [
        _on_own_account(
            "failed_login_burst",
            practice,
            holder,
            f"{len(failures)} failed logins in {minutes} minutes, 12 to 18 minutes apart, on "
            "Dr Le Gall's account: a slow series under the burst threshold",
            failures,
        )
    ]


def attempts_without_delegation(world: World, rng: random.Random) -> list[Injection]:
    """A revoked medical assistant who keeps trying, and an unknown account knocking at a
    doctor's mailbox at night: refused, yet to be known."""
    tilleuls = _practice(world, "Cabinet médical des Tilleuls")
    garnier, lefevre = tilleuls.holders[0], tilleuls.holders[1]
    barbier = _person(world, "julie.barbier@pro.mssante.fr")
    arnaud = _person(world, "kevin.arnaud@pro.mssante.fr")
    first = hm(8, 20) + rng.randint(0, 300)
    revoked = _failures(
        tilleuls,
        garnier.address,
        barbier,
        date(2026, 3, 9),
        [first, first + rng.randint(40, 90)],
        rng.choice(tilleuls.client_ips),
        barbier.user_agent,
    )
    first = hm(2, 5) + rng.randint(0, 300)
    unknown = _failures(
        tilleuls,
        lefevre.address,
        arnaud,
        date(2026, 3, 26),
        [first, first + rng.randint(60, 120), first + rng.randint(180, 300)],
        "198.51.100.250",
        arnaud.user_agent,
    )
    return [
        Injection(
            ("attempt_without_delegation",),
            tilleuls,
            garnier.address,
            barbier.address,
            "medical assistant, revoked on 2026-02-13, fails to log into Dr Garnier's mailbox",
            revoked,
        ),
        Injection(
            ("attempt_without_delegation",),
            tilleuls,
            lefevre.address,
            arnaud.address,
            "unknown account fails three logins on Dr Lefèvre's mailbox at night",
            unknown,
        ),
    ]


def inject_authentication_attacks(
    world: World, rng: random.Random
) -> tuple[list[AuditEvent], list[Injection]]:
    """Every authentication attack of the samples: their events (each once) and injections."""
    injections = password_found(world, rng) + slow_series(world, rng)
    injections += attempts_without_delegation(world, rng)
    events: dict[int, AuditEvent] = {}
    for injection in injections:
        for event in injection.events:
            events[id(event)] = event
    return list(events.values()), injections
