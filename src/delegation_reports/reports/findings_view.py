"""Findings as the reports show them: grouped by rule with the rule's advice said once per
group, and the "what to do, by whom" lines of a report's summary.

The advice, the rule's French name and who acts come from the rule catalogue
(``analysis/default_rules.toml``, overridable per practice), read with the findings; a
warehouse built before a rule had them falls back to the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from ..analysis.config import rule_catalogue
from . import labels


def rule_texts(rule_id: str, label=None, who=None, advice=None) -> tuple[str, str, str]:
    """The label, who acts and advice of a rule: those read from the warehouse, else the
    defaults of the catalogue."""
    default = rule_catalogue().get(rule_id, {})
    return (
        label or default.get("label", rule_id),
        who or default.get("who", ""),
        advice or default.get("advice", ""),
    )


@dataclass
class RuleGroup:
    """The findings of one rule and severity, with what to do about them."""

    rule_id: str
    severity: str
    label: str
    who: str
    advice: str
    findings: list = field(default_factory=list)

    @property
    def severity_label(self) -> str:
        return labels.SEVERITIES[self.severity]

    @property
    def count_text(self) -> str:
        return labels.count(len(self.findings), "constat")

    @property
    def anchor(self) -> str:
        """The id of the group's place in the page."""
        return f"regle-{self.severity}-{self.rule_id}".replace("_", "-")


class Grouped:
    """A report whose findings are grouped (``groups``): the critical groups, shown first,
    and the others."""

    groups: list

    @property
    def critical_groups(self) -> list[RuleGroup]:
        return [g for g in self.groups if g.severity == "critical"]

    @property
    def other_groups(self) -> list[RuleGroup]:
        return [g for g in self.groups if g.severity != "critical"]


def group(findings: list) -> list[RuleGroup]:
    """Findings (with ``rule_id``, ``severity``, ``rule_label``, ``rule_who``, ``advice``)
    grouped by severity and rule: most severe first, then in the order the rules first
    appear."""
    groups: dict[tuple[str, str], RuleGroup] = {}
    for f in findings:
        key = (f.severity, f.rule_id)
        if key not in groups:
            label, who, advice = rule_texts(f.rule_id, f.rule_label, f.rule_who, f.advice)
            groups[key] = RuleGroup(f.rule_id, f.severity, label, who, advice)
        groups[key].findings.append(f)
    order = {s: i for i, s in enumerate(labels.SEVERITY_ORDER)}
    return sorted(groups.values(), key=lambda g: order.get(g.severity, len(order)))


def todo(groups: list[RuleGroup]) -> list[SimpleNamespace]:
    """What a summary says must be done: who acts (most urgent first), and on which rules'
    findings, each named once."""
    by_who: dict[str, list[RuleGroup]] = {}
    for g in groups:
        by_who.setdefault(g.who, []).append(g)
    return [
        SimpleNamespace(who=who[:1].upper() + who[1:], groups=items)
        for who, items in by_who.items()
    ]
