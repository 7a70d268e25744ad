"""The fictitious world of the samples: operators, practices, people and delegations.

Everything here is made up: names, addresses and identifiers (Luhn-valid but random). The
scenario is written out by hand so that each practice tells a readable story; only the
identifiers, days off and similar details come from the seeded random generator.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from ..identifiers import LA_POSTE_SIREN, luhn_complete

PARIS = ZoneInfo("Europe/Paris")
PERIOD_START = date(2026, 1, 1)
PERIOD_END = date(2026, 3, 31)
FRENCH_HOLIDAYS = holidays.France(years=(2025, 2026))

RIGHTS_ORDER = ("read", "send", "documents", "manage")
SECRETARY_RIGHTS = ("read", "send", "documents")

# Client software as operators record it; one per person, people keep their habits.
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36"
)
UA_EDGE = UA_CHROME + " Edg/133.0.0.0"
UA_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:135.0) Gecko/20100101 Firefox/135.0"
UA_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.3 Safari/605.1.15"
)
UA_THUNDERBIRD = "Thunderbird 128.7.1"
UA_THUNDERBIRD_ESR = "Thunderbird 115.18.0"
UA_OUTLOOK = "Microsoft Outlook 16.0.18429"
UA_MOBILE = "MSSante-Mobile/3.4.2 (iPhone; iOS 18.3)"
# A fictitious practice-management package with a built-in MSSanté client.
UA_PRACTICE_SOFTWARE = "Médi’Cab 8.2 (module MSSanté)"

HOLDER_AUTH = (("cps", 5), ("e-cps", 3), ("psc", 2))
STAFF_AUTH = (("otp", 7), ("password", 3))


def paris_time(day: date, seconds: int) -> datetime:
    """Local Paris time ``seconds`` after midnight of ``day``.

    Raises
    ------
    ValueError
        For a wall-clock time that does not exist (spring-forward gap): samples never hold one.
    """
    naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
    local = naive.replace(tzinfo=PARIS)
    # zoneinfo silently accepts gap times; a round trip through UTC reveals them.
    if local.astimezone(UTC).astimezone(PARIS).replace(tzinfo=None) != naive:
        raise ValueError(f"non-existent Paris local time: {naive}")
    return local


def hm(hours: int, minutes: int = 0, seconds: int = 0) -> int:
    """Seconds after midnight."""
    return hours * 3600 + minutes * 60 + seconds


def period_days() -> list[date]:
    """Every day of the sample period, in order."""
    days = []
    day = PERIOD_START
    while day <= PERIOD_END:
        days.append(day)
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Operator:
    """An MSSanté operator and how its exports name things."""

    name: str
    audit_prefix: str
    delegation_prefix: str


ALPHA = Operator("Messagerie Alpha", "A", "AD")
SUD = Operator("Santé Sud", "S", "SD")
CONNECT = Operator("Cabinet Connect", "C", "")


@dataclass(frozen=True)
class Profession:
    """A profession as the RPPS codes it, with its MSSanté domain."""

    code: str
    label: str
    domain: str
    civility: str
    skill_code: str = ""
    skill_label: str = ""


DOCTOR = Profession("10", "Médecin", "medecin.mssante.fr", "DR", "SM54", "Médecine Générale (SM)")
PHARMACIST = Profession("21", "Pharmacien", "pharmacien.mssante.fr", "DR")
DENTIST = Profession("40", "Chirurgien-Dentiste", "chirurgien-dentiste.mssante.fr", "DR")
PHYSIOTHERAPIST = Profession(
    "70", "Masseur-Kinésithérapeute", "masseur-kinesitherapeute.mssante.fr", ""
)


@dataclass
class Person:
    """A practitioner or a staff member, with the habits that shape their activity."""

    first_name: str
    last_name: str
    gender: str  # F | M: French labels agree with it
    address: str
    profession: Profession | None = None
    rpps: str = ""
    user_agent: str = UA_CHROME
    auth_methods: tuple[tuple[str, int], ...] = STAFF_AUTH
    # Weekdays worked (0 = Monday); Saturday only counts where the practice opens then.
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    afternoons_only: bool = False
    absences: list[tuple[date, date]] = field(default_factory=list)
    days_off: set[date] = field(default_factory=set)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def works_on(self, day: date) -> bool:
        """Whether this person works on ``day`` (practice opening aside)."""
        if day.weekday() not in self.workdays or day in self.days_off:
            return False
        return not any(start <= day <= end for start, end in self.absences)


@dataclass
class Practice:
    """A practice: its members, its operator, its opening hours."""

    practice_id: str
    name: str
    sector: str  # SA07 cabinet individuel | SA08 cabinet de groupe | SA05 centre de santé
    siret: str
    operator: Operator
    street_number: str
    street_type: str
    street_name: str
    postal_code: str
    city: str
    client_ips: tuple[str, ...]
    opens: int
    closes: int
    saturday_closes: int | None  # None: closed on Saturdays
    holders: list[Person] = field(default_factory=list)
    staff: list[Person] = field(default_factory=list)
    in_directory_structure: bool = False
    org_mailbox: str = ""

    def opening(self, day: date) -> tuple[int, int] | None:
        """Opening window of ``day`` in seconds after midnight, or None when closed."""
        if day in FRENCH_HOLIDAYS or day.weekday() == 6:
            return None
        if day.weekday() == 5:
            return None if self.saturday_closes is None else (self.opens, self.saturday_closes)
        return (self.opens, self.closes)


@dataclass
class DelegationChange:
    """One event in a delegation's history, as an administration console records it."""

    event_type: str  # grant | modify | revoke
    at: datetime
    rights: tuple[str, ...]
    performed_by: str
    event_id: str = ""


@dataclass
class Delegation:
    """A délégant's BAL PER opened to a délégataire, with its history."""

    practice: Practice
    holder: Person
    delegate: Person
    role: str  # secretary | medical_assistant | replacement | other
    changes: list[DelegationChange]
    valid_from: date | None = None
    valid_to: date | None = None
    # Rule ids this delegation is meant to trigger, with a note for the ground truth.
    anomalies: tuple[str, ...] = ()
    note: str = ""

    def rights_at(self, moment: datetime) -> tuple[str, ...] | None:
        """Rights in force at ``moment``, or None when the delegation is not in force."""
        rights = None
        for change in self.changes:
            if change.at > moment:
                break
            rights = None if change.event_type == "revoke" else change.rights
        if rights is None:
            return None
        local_day = moment.astimezone(PARIS).date()
        if self.valid_from and local_day < self.valid_from:
            return None
        if self.valid_to and local_day > self.valid_to:
            return None
        return rights

    def rights_throughout(self, day: date, window: tuple[int, int]) -> tuple[str, ...] | None:
        """Rights in force unchanged over a whole opening window, else None.

        Delegates stay away on the day a delegation changes, so that no background access
        straddles a grant, a modification or a revocation.
        """
        start = self.rights_at(paris_time(day, window[0]))
        end = self.rights_at(paris_time(day, window[1]))
        if start is None or start != end:
            return None
        if any(paris_time(day, 0) <= c.at <= paris_time(day, hm(23, 59)) for c in self.changes):
            return None
        return start


@dataclass
class World:
    """Everything the generator writes about."""

    practices: list[Practice]
    delegations: list[Delegation]
    outsiders: list[Person]  # people acting on sample mailboxes without belonging to a practice
    directory_only: list[Person]  # practitioners listed in the directory, in no practice
    directory_structures: dict[str, tuple[str, str, str, str]]  # address -> SIRET, name, cp, city
    org_rows: list[tuple[Practice, str, str]]  # practice, ORG mailbox, service
    # Holders whose BAL PER leaves the directory: from the extraction of that instant on.
    departures: list[tuple[Person, datetime]] = field(default_factory=list)


class IdentifierFactory:
    """Random but Luhn-valid and unique identifiers."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def rpps(self) -> str:
        return self._unique(lambda: luhn_complete("10" + self._digits(8)))

    def siret(self) -> str:
        def make() -> str:
            siren = luhn_complete(str(self._rng.randint(1, 9)) + self._digits(7))
            if siren == LA_POSTE_SIREN:
                siren = luhn_complete("4" + siren[1:8])
            return luhn_complete(siren + f"{self._rng.randint(1, 40):04d}")

        return self._unique(make)

    def _digits(self, n: int) -> str:
        return "".join(str(self._rng.randint(0, 9)) for _ in range(n))


def local_part(first_name: str, last_name: str) -> str:
    """``prenom.nom`` as French operators build it: no accents, apostrophes or spaces."""

    def fold(text: str) -> str:
        text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae")
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        ascii_text = ascii_text.replace("'", "").replace(" ", "-")
        return ascii_text.lower()

    # The typographic apostrophe is dropped, not folded.
    return f"{fold(first_name.replace('’', ''))}.{fold(last_name.replace('’', ''))}"


def at(day: date, hours: int, minutes: int, seconds: int = 0) -> datetime:
    """Shorthand for a Paris local time."""
    return paris_time(day, hm(hours, minutes, seconds))


class _Cast:
    """Builds people with identifiers from one factory."""

    def __init__(self, rng: random.Random, ids: IdentifierFactory) -> None:
        self.rng = rng
        self.ids = ids

    def practitioner(
        self, first: str, last: str, gender: str, profession: Profession, **habits
    ) -> Person:
        habits.setdefault("auth_methods", HOLDER_AUTH)
        return Person(
            first,
            last,
            gender,
            address=f"{local_part(first, last)}@{profession.domain}",
            profession=profession,
            rpps=self.ids.rpps(),
            **habits,
        )

    def staff(
        self, first: str, last: str, gender: str, domain: str = "pro.mssante.fr", **habits
    ) -> Person:
        return Person(first, last, gender, address=f"{local_part(first, last)}@{domain}", **habits)

    def random_days_off(self, person: Person, rate: float) -> None:
        """A few scattered days off (training, illness), drawn once per person."""
        for day in period_days():
            if self.rng.random() < rate:
                person.days_off.add(day)


def _grant(when: datetime, rights: tuple[str, ...], by: Person) -> DelegationChange:
    return DelegationChange("grant", when, rights, by.address)


def build_world(rng: random.Random) -> World:
    """The six practices, their delegations and the people around them."""
    ids = IdentifierFactory(rng)
    cast = _Cast(rng, ids)
    practices: list[Practice] = []
    delegations: list[Delegation] = []
    outsiders: list[Person] = []

    # --- Alpha: a group practice in Lyon and an individual one in Villeurbanne ------------
    siret = ids.siret()
    tilleuls = Practice(
        f"C{siret}",
        "Cabinet médical des Tilleuls",
        "SA08",
        siret,
        ALPHA,
        "12",
        "R",
        "DES TILLEULS",
        "69006",
        "LYON",
        ("192.0.2.17", "192.0.2.18"),
        hm(8),
        hm(19),
        hm(12, 30),
        in_directory_structure=True,
        org_mailbox="secretariat@cm-tilleuls.mssante.fr",
    )
    garnier = cast.practitioner(
        "Hélène", "Garnier", "F", DOCTOR, user_agent=UA_THUNDERBIRD, workdays=(0, 1, 2, 3, 4, 5)
    )
    lefevre = cast.practitioner(
        "Thomas",
        "Lefèvre",
        "M",
        DOCTOR,
        user_agent=UA_FIREFOX,
        workdays=(0, 1, 3, 4, 5),
        absences=[(date(2026, 2, 7), date(2026, 2, 15))],
    )
    charpentier = cast.practitioner(
        "Benoît", "Charpentier", "M", DOCTOR, user_agent=UA_OUTLOOK, workdays=(0, 1, 2, 3, 4, 5)
    )
    moulin = cast.staff(
        "Sandrine", "Moulin", "F", user_agent=UA_THUNDERBIRD_ESR, workdays=(0, 1, 2, 3, 4, 5)
    )
    barbier = cast.staff("Julie", "Barbier", "F", user_agent=UA_EDGE, workdays=(0, 1, 3, 4))
    royer = cast.practitioner(
        "Camille",
        "Royer",
        "F",
        DOCTOR,
        user_agent=UA_SAFARI,
        auth_methods=(("e-cps", 6), ("psc", 4)),
    )
    tilleuls.holders = [garnier, lefevre, charpentier]
    tilleuls.staff = [moulin, barbier, royer]
    practices.append(tilleuls)
    for holder in tilleuls.holders:
        delegations.append(
            Delegation(
                tilleuls,
                holder,
                moulin,
                "secretary",
                [_grant(at(date(2025, 3, 3), 9, 12), SECRETARY_RIGHTS, holder)],
            )
        )
    delegations.append(
        Delegation(
            tilleuls,
            garnier,
            barbier,
            "medical_assistant",
            [
                _grant(at(date(2025, 11, 17), 8, 41), ("read", "documents"), garnier),
                DelegationChange("revoke", at(date(2026, 2, 13), 17, 45), (), garnier.address),
            ],
        )
    )
    delegations.append(
        Delegation(
            tilleuls,
            lefevre,
            royer,
            "replacement",
            [_grant(at(date(2026, 1, 26), 12, 10), SECRETARY_RIGHTS, moulin)],
            valid_from=date(2026, 2, 9),
            valid_to=date(2026, 2, 13),
            anomalies=("delegation_not_by_holder",),
            note="replacement on Dr Lefèvre's mailbox granted by the secretary, not by the holder",
        )
    )
    # Recorded on 12 March, valid from the 9th: the assistant's work before it was recorded is
    # injected (activity.py).
    delegations.append(
        Delegation(
            tilleuls,
            lefevre,
            barbier,
            "medical_assistant",
            [_grant(at(date(2026, 3, 12), 14, 5), ("read", "documents"), lefevre)],
            valid_from=date(2026, 3, 9),
        )
    )
    delegations.append(
        Delegation(
            tilleuls,
            garnier,
            royer,
            "replacement",
            [_grant(at(date(2026, 2, 23), 12, 30), SECRETARY_RIGHTS, garnier)],
            valid_from=date(2026, 3, 2),
            valid_to=date(2026, 3, 13),
            anomalies=("replacement_while_holder_active",),
            note="a replacement on Dr Garnier's mailbox while she keeps working every day",
        )
    )

    siret = ids.siret()
    perrot_practice = Practice(
        f"C{siret}",
        "Cabinet du Dr Agnès Perrot",
        "SA07",
        siret,
        ALPHA,
        "48",
        "AV",
        "ROGER SALENGRO",
        "69100",
        "VILLEURBANNE",
        ("198.51.100.23",),
        hm(8, 30),
        hm(18, 30),
        None,
    )
    perrot = cast.practitioner(
        "Agnès",
        "Perrot",
        "F",
        DOCTOR,
        user_agent=UA_THUNDERBIRD,
        absences=[(date(2026, 2, 14), date(2026, 2, 22))],
    )
    giraud = cast.staff("Nathalie", "Giraud", "F", user_agent=UA_FIREFOX, workdays=(0, 1, 3))
    colin = cast.practitioner(
        "Maxime",
        "Colin",
        "M",
        DOCTOR,
        user_agent=UA_CHROME,
        auth_methods=(("e-cps", 7), ("psc", 3)),
    )
    perrot_practice.holders = [perrot]
    perrot_practice.staff = [giraud, colin]
    practices.append(perrot_practice)
    delegations.append(
        Delegation(
            perrot_practice,
            perrot,
            giraud,
            "secretary",
            [
                _grant(at(date(2025, 6, 2), 8, 55), SECRETARY_RIGHTS, perrot),
                DelegationChange(
                    "modify", at(date(2026, 2, 2), 8, 40), ("read", "documents"), perrot.address
                ),
            ],
        )
    )
    delegations.append(
        Delegation(
            perrot_practice,
            perrot,
            colin,
            "replacement",
            [_grant(at(date(2026, 2, 4), 19, 5), SECRETARY_RIGHTS, perrot)],
            valid_from=date(2026, 2, 16),
            valid_to=date(2026, 2, 20),
        )
    )

    # --- Santé Sud: a maison médicale in Sète and a dental practice in Montpellier -------
    siret = ids.siret()
    etang = Practice(
        f"C{siret}",
        "Maison médicale de l’Étang",
        "SA08",
        siret,
        SUD,
        "3",
        "QU",
        "DE L’ÉTANG",
        "34200",
        "SETE",
        ("203.0.113.40", "2001:db8:4a1c::17"),
        hm(8),
        hm(19),
        None,
        in_directory_structure=True,
        org_mailbox="accueil@mm-etang.mssante.fr",
    )
    fabre = cast.practitioner(
        "Jérôme",
        "Fabre",
        "M",
        DOCTOR,
        user_agent=UA_PRACTICE_SOFTWARE,
        absences=[(date(2026, 2, 21), date(2026, 3, 1))],
    )
    bonnet = cast.practitioner("Cécile", "Bonnet", "F", DOCTOR, user_agent=UA_PRACTICE_SOFTWARE)
    marty = cast.practitioner(
        "Loïc", "Marty", "M", PHYSIOTHERAPIST, user_agent=UA_MOBILE, workdays=(0, 1, 3, 4)
    )
    dhondt = cast.staff("Noémie", "D’Hondt", "F", user_agent=UA_PRACTICE_SOFTWARE)
    rouquette = cast.practitioner(
        "Élodie",
        "Rouquette",
        "F",
        DOCTOR,
        user_agent=UA_FIREFOX,
        auth_methods=(("e-cps", 8), ("psc", 2)),
    )
    vidal = cast.practitioner(
        "Manon",
        "Vidal",
        "F",
        PHYSIOTHERAPIST,
        user_agent=UA_MOBILE,
        auth_methods=(("e-cps", 10),),
        workdays=(2,),
    )
    etang.holders = [fabre, bonnet, marty]
    etang.staff = [dhondt, rouquette, vidal]
    practices.append(etang)
    delegations.append(
        Delegation(
            etang,
            fabre,
            dhondt,
            "secretary",
            [
                _grant(at(date(2025, 9, 1), 8, 20), SECRETARY_RIGHTS, fabre),
                DelegationChange(
                    "modify",
                    at(date(2026, 3, 9), 18, 40),
                    SECRETARY_RIGHTS + ("manage",),
                    dhondt.address,
                ),
            ],
            anomalies=("delegation_self_granted",),
            note="the secretary adds the manage right to her own delegation on Dr Fabre's mailbox",
        )
    )
    delegations.append(
        Delegation(
            etang,
            bonnet,
            dhondt,
            "secretary",
            [_grant(at(date(2025, 9, 1), 8, 24), ("read", "send"), fabre)],
            anomalies=("delegation_not_by_holder",),
            note="secretary's delegation on Dr Bonnet's mailbox set up by Dr Fabre",
        )
    )
    delegations.append(
        Delegation(
            etang,
            fabre,
            rouquette,
            "replacement",
            [_grant(at(date(2026, 2, 9), 18, 32), SECRETARY_RIGHTS, fabre)],
            valid_from=date(2026, 2, 23),
            valid_to=date(2026, 3, 1),
        )
    )
    delegations.append(
        Delegation(
            etang,
            marty,
            vidal,
            "replacement",
            [_grant(at(date(2026, 1, 16), 12, 48), ("read", "send", "documents"), marty)],
            valid_from=date(2026, 1, 19),
            anomalies=("open_ended_replacement",),
            note="weekly replacement on Wednesdays granted with no end date",
        )
    )

    siret = ids.siret()
    coeur = Practice(
        f"C{siret}",
        "Cabinet dentaire Cœur de Ville",
        "SA07",
        siret,
        SUD,
        "7",
        "R",
        "DE L’AIGUILLERIE",
        "34000",
        "MONTPELLIER",
        ("203.0.113.88",),
        hm(8, 30),
        hm(19),
        hm(12),
    )
    pages = cast.practitioner(
        "Françoise",
        "Pagès",
        "F",
        DENTIST,
        user_agent=UA_PRACTICE_SOFTWARE,
        workdays=(0, 1, 2, 3, 4, 5),
    )
    boeuf = cast.staff(
        "Mélissa", "Bœuf", "F", user_agent=UA_PRACTICE_SOFTWARE, workdays=(0, 1, 2, 3, 4, 5)
    )
    ollier = cast.staff(
        "Sabrina",
        "Ollier",
        "F",
        user_agent=UA_CHROME,
        workdays=(0, 1, 2, 3, 4),
        afternoons_only=True,
    )
    coeur.holders = [pages]
    coeur.staff = [boeuf]
    practices.append(coeur)
    outsiders.append(ollier)
    delegations.append(
        Delegation(
            coeur,
            pages,
            boeuf,
            "medical_assistant",
            [_grant(at(date(2025, 10, 6), 13, 15), ("read", "send"), pages)],
        )
    )
    delegations.append(
        Delegation(
            coeur,
            pages,
            ollier,
            "secretary",
            [
                _grant(at(date(2026, 1, 12), 12, 20), ("read",), pages),
                DelegationChange("revoke", at(date(2026, 3, 20), 17, 50), (), pages.address),
            ],
            anomalies=("delegate_outside_practice",),
            note="remote answering-service secretary who is not on the practice roster",
        )
    )

    # --- Cabinet Connect: a health centre in Angers and a GP in Quimper ------------------
    siret = ids.siret()
    coteaux = Practice(
        f"C{siret}",
        "Centre de santé des Coteaux",
        "SA05",
        siret,
        CONNECT,
        "25",
        "BD",
        "DES COTEAUX",
        "49100",
        "ANGERS",
        ("198.51.100.140", "198.51.100.141", "2001:db8:77::1:20"),
        hm(8),
        hm(19),
        hm(12, 30),
        in_directory_structure=True,
        org_mailbox="secretariat@cds-coteaux.mssante.fr",
    )
    lemoine = cast.practitioner(
        "Marc", "Lemoine", "M", DOCTOR, user_agent=UA_THUNDERBIRD, workdays=(0, 1, 2, 3, 4, 5)
    )
    benali = cast.practitioner(
        "Karim", "Benali", "M", DOCTOR, user_agent=UA_MOBILE, workdays=(0, 1, 2, 3, 4, 5)
    )
    caron = cast.practitioner(
        "Isabelle",
        "Caron",
        "F",
        DENTIST,
        user_agent=UA_THUNDERBIRD,
        absences=[(date(2026, 3, 2), date(2026, 3, 31))],
    )
    roche = cast.staff(
        "Patricia",
        "Roche",
        "F",
        domain="cds-coteaux.mssante.fr",
        user_agent=UA_OUTLOOK,
        workdays=(0, 1, 2, 3, 4, 5),
    )
    # Leaves after Friday 6 February; her delegation is revoked on the Monday, after that
    # day's snapshot, so snapshots list her until 2026-02-09 whichever way they are read.
    masson = cast.staff(
        "Aurélie",
        "Masson",
        "F",
        domain="cds-coteaux.mssante.fr",
        user_agent=UA_OUTLOOK,
        absences=[(date(2026, 2, 7), PERIOD_END)],
    )
    ferrand = cast.staff(
        "Yanis",
        "Ferrand",
        "M",
        domain="cds-coteaux.mssante.fr",
        user_agent=UA_EDGE,
        workdays=(0, 1, 2, 3),
    )
    besson = cast.practitioner("Antoine", "Besson", "M", DENTIST, user_agent=UA_SAFARI)
    coteaux.holders = [lemoine, benali, caron]
    coteaux.staff = [roche, masson, ferrand, besson]
    practices.append(coteaux)
    for holder in (lemoine, benali):
        delegations.append(
            Delegation(
                coteaux,
                holder,
                roche,
                "secretary",
                [_grant(at(date(2024, 9, 2), 9, 30), SECRETARY_RIGHTS + ("manage",), holder)],
            )
        )
    delegations.append(
        Delegation(
            coteaux,
            lemoine,
            masson,
            "secretary",
            [
                _grant(at(date(2025, 5, 12), 10, 5), ("read", "send"), lemoine),
                DelegationChange("revoke", at(date(2026, 2, 9), 8, 15), (), lemoine.address),
            ],
        )
    )
    delegations.append(
        Delegation(
            coteaux,
            benali,
            ferrand,
            "medical_assistant",
            [_grant(at(date(2026, 1, 16), 17, 20), ("read", "documents"), benali)],
        )
    )
    delegations.append(
        Delegation(
            coteaux,
            caron,
            besson,
            "replacement",
            [_grant(at(date(2026, 2, 26), 18, 10), SECRETARY_RIGHTS, caron)],
            valid_from=date(2026, 3, 2),
            anomalies=("open_ended_replacement",),
            note="replacement during a long leave listed with no end date (snapshots from 2026-03-02)",
        )
    )

    siret = ids.siret()
    legall_practice = Practice(
        f"C{siret}",
        "Cabinet du Dr Yves Le Gall",
        "SA07",
        siret,
        CONNECT,
        "5",
        "PL",
        "SAINT-CORENTIN",
        "29000",
        "QUIMPER",
        ("192.0.2.201",),
        hm(8),
        hm(19),
        None,
    )
    legall = cast.practitioner(
        "Yves",
        "Le Gall",
        "M",
        DOCTOR,
        user_agent=UA_OUTLOOK,
        absences=[(date(2026, 2, 14), date(2026, 2, 22))],
    )
    quere = cast.staff("Gaëlle", "Quéré", "F", user_agent=UA_CHROME, workdays=(0, 1, 3, 4))
    guillou = cast.practitioner(
        "Pauline",
        "Guillou",
        "F",
        DOCTOR,
        user_agent=UA_FIREFOX,
        auth_methods=(("e-cps", 6), ("psc", 4)),
    )
    legall_practice.holders = [legall]
    legall_practice.staff = [quere, guillou]
    practices.append(legall_practice)
    delegations.append(
        Delegation(
            legall_practice,
            legall,
            quere,
            "medical_assistant",
            [_grant(at(date(2025, 4, 7), 12, 35), ("read", "documents"), legall)],
        )
    )
    delegations.append(
        Delegation(
            legall_practice,
            legall,
            guillou,
            "replacement",
            [_grant(at(date(2026, 2, 2), 19, 40), SECRETARY_RIGHTS, legall)],
            valid_from=date(2026, 2, 16),
            valid_to=date(2026, 2, 20),
        )
    )

    outsiders.append(cast.staff("Kévin", "Arnaud", "M", user_agent=UA_MOBILE))

    for practice in practices:
        for person in practice.holders + practice.staff:
            cast.random_days_off(person, 0.04)

    directory_only = _directory_only_practitioners(cast)
    structures = {}
    for practice in practices:
        if practice.in_directory_structure:
            for holder in practice.holders:
                structures[holder.address] = (
                    practice.siret,
                    practice.name,
                    practice.postal_code,
                    practice.city,
                )
    for person in directory_only:
        if rng.random() < 0.5:
            structures[person.address] = (
                ids.siret(),
                f"CABINET {person.last_name.upper()}",
                "75011",
                "PARIS",
            )
    org_rows = [(p, p.org_mailbox, "Secrétariat") for p in practices if p.org_mailbox]
    # Dr Caron, on leave all March, stops practising: her BAL PER is gone from the directory
    # extraction of 15 March, yet her replacement keeps working in it.
    departures = [(caron, at(date(2026, 3, 15), 23, 0))]
    return World(
        practices, delegations, outsiders, directory_only, structures, org_rows, departures
    )


_OTHER_PRACTITIONERS = (
    ("Arnaud", "Poirier", "M", DOCTOR),
    ("Mathilde", "Leclerc", "F", DOCTOR),
    ("Sébastien", "Morin", "M", DOCTOR),
    ("Émilie", "Gauthier", "F", DOCTOR),
    ("Olivier", "Mercier", "M", DOCTOR),
    ("Laure", "Dumas", "F", DOCTOR),
    ("Rémi", "Chevalier", "M", PHARMACIST),
    ("Inès", "Lacroix", "F", PHARMACIST),
    ("Gaël", "Tessier", "M", DENTIST),
    ("Solène", "Marchand", "F", DENTIST),
    ("Hugo", "Brunet", "M", PHYSIOTHERAPIST),
    ("Anaïs", "Carré", "F", PHYSIOTHERAPIST),
    ("Damien", "Picard", "M", DOCTOR),
    ("Charlotte", "Hamon", "F", DOCTOR),
    ("Bruno", "Lœillet", "M", PHARMACIST),
    ("Estelle", "Vérité", "F", DOCTOR),
)


def _directory_only_practitioners(cast: _Cast) -> list[Person]:
    """Practitioners the directory lists who belong to no sample practice."""
    return [
        cast.practitioner(first, last, gender, profession)
        for first, last, gender, profession in _OTHER_PRACTITIONERS
    ]
