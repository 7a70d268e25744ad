"""French that reads right: plurals, elision, "1er", one date style per use, no "(s)", and the
rule catalogue's texts (label, who acts, advice) for every rule."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from analysis_cases import HOLDER, MARCH, STRANGER, config_from, new_case
from delegation_reports.analysis import prose
from delegation_reports.analysis.config import RULE_IDS, TEXTS, rule_catalogue
from delegation_reports.errors import UserError
from delegation_reports.reports import labels
from delegation_reports.reports.monthly import MonthlyReport

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "delegation_reports"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# Rules whose findings are accesses by someone not entitled: a possible personal data breach.
BREACH_RULES = (
    "access_without_delegation",
    "access_after_revocation",
    "access_outside_validity",
    "access_before_grant_recorded",
    "login_after_failures",
    "holder_left_delegate_active",
    "delegation_self_granted",
)
# Rules whose findings are delegations to review with the operator.
REVIEW_RULES = (
    "dormant_delegation",
    "open_ended_replacement",
    "delegation_not_by_holder",
    "delegate_outside_practice",
    "replacement_while_holder_active",
    "owner_inactive_delegate_active",
    "delegation_inconsistency",
)


@pytest.fixture
def case(tmp_path):
    with new_case(tmp_path) as c:
        yield c


# ---- plurals, elision, dates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 alerte critique"),
        (1, "1 alerte critique"),
        (2, "2 alertes critiques"),
        (1234, "1\u202f234 alertes critiques"),
    ],
)
def test_counts_agree_with_their_number(n, text):
    assert labels.count(n, "alerte critique") == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "0"),
        (7, "7"),
        (-1234, "-1\u202f234"),
        (1234567, "1\u202f234\u202f567"),
        (2.5, "2,5"),
        (Decimal("1234.75"), "1\u202f234,75"),
    ],
)
def test_numbers_in_french_form_the_same_on_every_call(value, text):
    # Whole numbers are kept once formatted: the second call gives what the first gave.
    assert labels.number(value) == text
    assert labels.number(value) == text


def test_plural_with_an_irregular_form_and_severity_lists():
    assert labels.count(1, "point à vérifier", "points à vérifier") == "1 point à vérifier"
    assert labels.count(3, "point à vérifier", "points à vérifier") == "3 points à vérifier"
    assert labels.severities(2, 1, 3) == (
        "2 alertes critiques, 1 point à vérifier et 3 informations"
    )
    assert labels.severities(1, 0, 0) == "1 alerte critique"
    assert labels.severities(0, 0, 0) == "aucune alerte"
    assert labels.findings_changed(1, 0) == "1 constat apparu"
    assert labels.findings_changed(2, 1) == "2 constats apparus et 1 disparu"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Hélène", "d'Hélène"),
        ("Alice", "d'Alice"),
        ("Henri", "d'Henri"),
        ("Élodie Rouquette", "d'Élodie Rouquette"),
        ("Yves", "d'Yves"),
        ("Yann", "de Yann"),
        ("Paul", "de Paul"),
        ("Thomas LEFÈVRE", "de Thomas LEFÈVRE"),
        ("ursula@pro.mssante.fr", "d'ursula@pro.mssante.fr"),
    ],
)
def test_de_elides_before_a_vowel_or_a_mute_h(name, text):
    assert labels.of(name) == text == prose.of(name)


def test_first_of_the_month_and_the_two_date_styles():
    instant = datetime(2026, 3, 1, 8, 5, tzinfo=UTC)  # 9:05 in Paris
    assert labels.prose_day(instant) == "1er mars 2026"
    assert labels.prose_day(date(2026, 4, 1)) == "1er avril 2026"
    assert labels.prose_when(instant) == "1er mars 2026 à 9 h 05"
    assert labels.when(instant) == "01/03/2026 09:05"
    assert labels.when(instant, seconds=True) == "01/03/2026 09:05:00"
    assert labels.day(instant) == "01/03/2026"
    assert labels.day(date(2026, 6, 30)) == "30/06/2026"
    # Summer time: 2026-07-14 10:00 UTC is noon in Paris.
    assert labels.when(datetime(2026, 7, 14, 10, tzinfo=UTC)) == "14/07/2026 12:00"
    # The hour that happens twice the night clocks go back carries its offset.
    assert labels.when(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == "25/10/2026 02:30 (UTC+2)"
    assert labels.when(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == "25/10/2026 02:30 (UTC+1)"
    assert labels.when(None) == "—"


# ---- no "(s)" constructions -----------------------------------------------------------------

_BRACKETED = re.compile(r"\w\((s|e|es)\)", re.I)


def _prose_files():
    yield from (PACKAGE / "reports" / "templates").glob("*.j2")
    yield from NOTEBOOKS.glob("*.ipynb")


def test_no_bracketed_plural_or_gender_in_templates_notebooks_or_labels():
    found = []
    for path in _prose_files():
        text = path.read_text("utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        found += [f"{path.name}: {m.group(0)}" for m in _BRACKETED.finditer(text)]
    # SQL prose: only inside string literals (luhn_ok(s) is code).
    for path in (PACKAGE / "sql").rglob("*.sql"):
        code = re.sub(r"--[^\n]*", "", path.read_text("utf-8"))
        for literal in re.findall(r"'((?:[^']|'')*)'", code):
            found += [f"{path.name}: {m.group(0)}" for m in _BRACKETED.finditer(literal)]
    for table in (labels.ROLES, labels.RIGHTS, labels.ACTIONS, labels.REASONS, labels.KINDS):
        found += [v for v in table.values() if _BRACKETED.search(v)]
    for rule_id, rule in rule_catalogue().items():
        found += [f"{rule_id}.{k}" for k in TEXTS if _BRACKETED.search(rule[k])]
    assert found == []


# ---- the rule catalogue -----------------------------------------------------------------------


def test_every_rule_has_a_label_who_acts_and_advice():
    catalogue = rule_catalogue()
    assert set(catalogue) == set(RULE_IDS)
    for rule_id in RULE_IDS:
        for key in TEXTS:
            assert isinstance(catalogue[rule_id][key], str), (rule_id, key)
            assert catalogue[rule_id][key].strip(), (rule_id, key)
        assert rule_id not in catalogue[rule_id]["advice"]
    labels_ = [catalogue[r]["label"] for r in RULE_IDS]
    assert len(set(labels_)) == len(labels_)


@pytest.mark.parametrize("rule_id", BREACH_RULES)
def test_breach_advice_names_the_cnil_deadline_and_the_patients(rule_id):
    advice = rule_catalogue()[rule_id]["advice"]
    for needle in ("opérateur", "lu ou envoyé", "DPO", "CNIL", "72 heures", "art. 33", "art. 34"):
        assert needle in advice, (rule_id, needle)


@pytest.mark.parametrize("rule_id", REVIEW_RULES)
def test_review_advice_says_what_to_ask_the_operator(rule_id):
    assert "Demandez à l'opérateur" in rule_catalogue()[rule_id]["advice"] or (
        "demandez à l'opérateur" in rule_catalogue()[rule_id]["advice"]
    )


def test_explanations_leave_the_advice_to_the_catalogue():
    """What to do is said once, by the catalogue: no rule's SQL tells the reader to act."""
    imperative = re.compile(r"\b(Vérifiez|vérifiez|Demandez|demandez|Assurez-vous|faites)\b")
    found = []
    for path in (PACKAGE / "sql" / "models" / "rules").glob("*.sql"):
        code = re.sub(r"--[^\n]*", "", path.read_text("utf-8"))
        for literal in re.findall(r"'((?:[^']|'')*)'", code):
            found += [path.name for _ in imperative.finditer(literal)]
    assert found == []


def test_empty_advice_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"rules.bulk_access.advice must be a non-empty text"):
        config_from(tmp_path, '[rules.bulk_access]\nadvice = "  "\n')
    with pytest.raises(UserError, match=r"practices.P1.rules.bulk_access.who must be"):
        config_from(tmp_path, "[practices.P1.rules.bulk_access]\nwho = 3\n")


def test_a_practice_can_word_its_own_advice(case):
    """The advice shown is the practice's own when its configuration sets one."""
    config = config_from(
        case.folder,
        "[practices.P1.rules.access_without_delegation]\n"
        'advice = "Appelez le Dr Garnier, puis le DPO du groupement."\n'
        'who = "le médecin coordinateur"\n',
    )
    case.practice()
    case.practice("P2", holders=["other.holder@medecin.mssante.fr"])
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")
    case.event("other.holder@medecin.mssante.fr", STRANGER, "2026-03-03 11:00")
    case.refresh(config=config)
    own = MonthlyReport.from_connection(case.con, "P1", MARCH)
    other = MonthlyReport.from_connection(case.con, "P2", MARCH)
    assert [g.advice for g in own.groups] == ["Appelez le Dr Garnier, puis le DPO du groupement."]
    assert "Appelez le Dr Garnier" in own.section("critical")
    assert "Le médecin coordinateur : " in own.section("summary")
    default = rule_catalogue()["access_without_delegation"]["advice"]
    assert [g.advice for g in other.groups] == [default]


# ---- the summary opens every report --------------------------------------------------------


def test_overview_and_history_open_with_a_summary_then_the_critical_findings(case):
    from delegation_reports.reports.history import HistoryReport
    from delegation_reports.reports.overview import OverviewReport
    from reports_cases import parse_html

    other = "hugo.martin@medecin.mssante.fr"
    case.practice(name="Cabinet Garnier")
    case.practice("P2", holders=[other], name="Cabinet Martin")
    case.event(HOLDER, STRANGER, "2026-03-03 10:00")  # critical, in P1
    case.event(other, STRANGER, "2026-03-07 22:00", "login_failed", "failure")  # to check, P2
    case.refresh()
    catalogue = rule_catalogue()

    overview = OverviewReport.from_connection(case.con, MARCH)
    body = parse_html(overview.body_html())
    ids = [s.attrs["id"] for s in body.find_all("section")]
    assert ids[:3] == ["essentiel", "alertes-critiques", "cabinets"]
    summary = body.find("section", id="essentiel").clean_text
    assert "1 cabinet a des alertes critiques : Cabinet Garnier (1)." in summary
    # Traces on two days only: the missing days are to check too.
    assert "1 alerte critique et 3 points à vérifier dans les cabinets." in summary
    for rule_id in ("access_without_delegation", "attempt_without_delegation"):
        rule = catalogue[rule_id]
        assert f"{rule['who'][0].upper()}{rule['who'][1:]} : " in summary
        assert rule["label"] in summary
    critical = body.find("section", id="alertes-critiques")
    assert "Cabinet Garnier — boîte" in critical.clean_text
    assert "Cabinet Martin" not in critical.clean_text
    advice = critical.find("p", cls="advice").clean_text
    assert advice == f"Que faire : {catalogue['access_without_delegation']['advice']}"
    rules = body.find("section", id="regles").clean_text
    assert catalogue["attempt_without_delegation"]["label"] in rules
    assert "attempt_without_delegation" not in rules

    history = HistoryReport.from_connection(case.con, HOLDER, date(2026, 3, 1), date(2026, 3, 31))
    body = parse_html(history.body_html())
    ids = [s.attrs["id"] for s in body.find_all("section")]
    assert ids[:3] == ["essentiel", "alertes-critiques", "delegations"]
    summary = body.find("section", id="essentiel").clean_text
    assert (
        "Du 1er mars 2026 au 31 mars 2026, 1 autre personne que vous a agi dans votre boîte"
        in summary
    )
    assert "1 alerte critique sur la période." in summary
    assert "Cabinet Martin" not in history.body_html()
