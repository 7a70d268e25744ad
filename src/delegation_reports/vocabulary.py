"""The French words for the codes the warehouse stores, shared by the rules' explanations
(``analysis.prose``) and the reports (``reports.labels``), which adapt them to their use
(capitals in table cells, a word for unknown codes), and the time zone every text speaks.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# A délégataire's role, as a sentence says it.
ROLES = {
    "secretary": "secrétaire",
    "medical_assistant": "assistant médical",
    "replacement": "remplaçant",
}
AUTH_METHODS = {
    "cps": "carte CPS",
    "e-cps": "e-CPS",
    "psc": "Pro Santé Connect",
    "otp": "mot de passe et code à usage unique",
    "password": "mot de passe seul",
    "certificate": "certificat",
}
ACTIONS = {
    "login": "connexion",
    "login_failed": "échec de connexion",
    "logout": "déconnexion",
    "read": "lecture",
    "send": "envoi",
    "delete": "suppression",
    "move": "déplacement",
    "download": "téléchargement",
}
# Rights in their usual order, whatever the order of a delegation's list.
RIGHTS = {"read": "lecture", "send": "envoi", "documents": "documents", "manage": "gestion"}
