-- Grain: one row per finding a practice's monthly report shows (finding_id): the practice's
-- findings of the month, as they stand now, with their status; a report run records them.
SELECT DISTINCT ON (finding_id)
    finding_id, rule_id, severity, status, mailbox, actor, title_fr
FROM finding_status
WHERE month = $month AND practice_id = $practice_id
ORDER BY finding_id
