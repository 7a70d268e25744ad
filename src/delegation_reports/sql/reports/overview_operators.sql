-- Grain: one row per operator with audit traces: coverage, the month's events and mailboxes,
-- and its days without traces reported this month.
SELECT
    a.operator,
    min(a.occurred_at) AS traced_from_at,
    max(a.occurred_at) AS traced_to_at,
    count(*) FILTER (a.occurred_at >= $from_at AND a.occurred_at < $until_at) AS n_events_month,
    count(DISTINCT a.mailbox) FILTER (a.occurred_at >= $from_at AND a.occurred_at < $until_at) AS n_mailboxes_month,
    (SELECT count(DISTINCT f.explanation_fr) FROM finding AS f
     WHERE f.month = $month AND f.rule_id = 'audit_gap' AND f.mailbox IS NULL
       AND contains(f.explanation_fr, 'opérateur ' || a.operator || ' ')) AS n_gap_runs,
    (SELECT count(DISTINCT f.mailbox) FROM finding AS f
     WHERE f.month = $month AND f.rule_id = 'audit_gap' AND f.mailbox IN (
        SELECT DISTINCT mailbox FROM audit_event AS e WHERE e.operator = a.operator)) AS n_silent_mailboxes
FROM audit_event AS a
GROUP BY a.operator
ORDER BY a.operator
