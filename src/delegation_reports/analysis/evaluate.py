"""Findings against a ground truth: per rule, true and false positives, misses, precision and
recall.

A ground-truth row (``rule_id, practice_id, mailbox, actor, first_at, last_at, n_events,
event_ids, note``) is found when a finding of the same rule on the same mailbox and actor
shares an event with it, or, for rows without events, overlaps it in time (or has no time,
for delegation-level rules). A finding that matches no ground-truth row is a false positive.
Delegation-level findings repeat every month the delegation is in force: several findings
may match one row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from ..errors import UserError
from .config import RULE_IDS

GROUND_TRUTH_COLUMNS = (
    "rule_id",
    "practice_id",
    "mailbox",
    "actor",
    "first_at",
    "last_at",
    "event_ids",
)


@dataclass
class Truth:
    rule_id: str
    practice_id: str
    mailbox: str
    actor: str
    first_at: datetime | None
    last_at: datetime | None
    event_ids: frozenset[str]
    note: str = ""


@dataclass
class RuleScore:
    rule_id: str
    in_truth: bool
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    missed: list[Truth] = field(default_factory=list)
    unexpected: list[dict] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else None

    @property
    def recall(self) -> float | None:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else None


def _time(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def read_ground_truth(path: Path) -> list[Truth]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in GROUND_TRUTH_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{path}: not a ground-truth file: missing columns {missing}")
            rows = []
            for line, row in enumerate(reader, start=2):
                if row["rule_id"] not in RULE_IDS:
                    raise UserError(f"{path}, line {line}: unknown rule {row['rule_id']!r}")
                try:
                    first, last = _time(row["first_at"]), _time(row["last_at"])
                except ValueError:
                    raise UserError(
                        f"{path}, line {line}: first_at/last_at are not ISO 8601 times"
                    ) from None
                rows.append(
                    Truth(
                        row["rule_id"],
                        row["practice_id"],
                        row["mailbox"].lower(),
                        row["actor"].lower(),
                        first,
                        last,
                        frozenset(e for e in row["event_ids"].split("|") if e),
                        row.get("note", ""),
                    )
                )
            return rows
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None


def _matches(finding: dict, truth: Truth) -> bool:
    if finding["rule_id"] != truth.rule_id:
        return False
    if truth.mailbox and finding["mailbox"] != truth.mailbox:
        return False
    if truth.actor and finding["actor"] != truth.actor:
        return False
    if truth.event_ids and finding["evidence"]:
        return bool(truth.event_ids & set(finding["evidence"]))
    if truth.first_at and finding["first_at"]:
        last = finding["last_at"] or finding["first_at"]
        return finding["first_at"] <= (truth.last_at or truth.first_at) and last >= truth.first_at
    return True


def evaluate(con: duckdb.DuckDBPyConnection, truths: list[Truth]) -> list[RuleScore]:
    cursor = con.execute(
        "SELECT rule_id, practice_id, mailbox, actor, first_at, last_at, evidence, month, explanation_fr "
        "FROM finding ORDER BY rule_id, first_at"
    )
    names = [d[0] for d in cursor.description]
    findings = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    scores = {}
    for rule_id in RULE_IDS:
        rule_truths = [t for t in truths if t.rule_id == rule_id]
        rule_findings = [f for f in findings if f["rule_id"] == rule_id]
        score = RuleScore(rule_id, in_truth=bool(rule_truths))
        for truth in rule_truths:
            if any(_matches(f, truth) for f in rule_findings):
                score.true_positives += 1
            else:
                score.false_negatives += 1
                score.missed.append(truth)
        if rule_truths:
            for finding in rule_findings:
                if not any(_matches(finding, t) for t in rule_truths):
                    score.false_positives += 1
                    score.unexpected.append(finding)
        else:
            score.unexpected = rule_findings
        scores[rule_id] = score
    return list(scores.values())
