-- Grain: one row per practice of $practice_ids and finding its monthly report shows
-- (practice_id + finding_id): the practice's findings of the month, as they stand now, with
-- their status; a report run records them.
SELECT DISTINCT ON (practice_id, finding_id)
    practice_id, finding_id, rule_id, severity, status, mailbox, actor, title_fr
FROM finding_status
WHERE month = $month AND list_contains($practice_ids, practice_id)
ORDER BY practice_id, finding_id
