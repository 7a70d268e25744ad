-- Grain: one new row of `report_run_finding` per finding the report run $run_id showed: the
-- practice's findings of the month, as they stand now, with their status.
INSERT INTO report_run_finding
SELECT DISTINCT ON (finding_id)
    $run_id AS run_id, finding_id, rule_id, severity, status, mailbox, actor, title_fr
FROM finding_status
WHERE month = $month AND practice_id = $practice_id
