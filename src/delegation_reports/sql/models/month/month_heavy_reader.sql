-- Grain: one row per (mailbox, account) whose successful reads from the month's start to a
-- day past its end are numerous enough for one burst of them, started in the month, to be
-- flagged by `bulk_access` (at least the smaller of its `ceiling` and `min_reads` for the
-- practice). Holders in their own mailbox and service accounts are left out. Kept in memory:
-- its exact size lets the planner join the events to it the right way round.
WITH reads AS (
    -- The month's reads from its mart, and those of the margin after it (a burst started on
    -- the last evening goes on past midnight) from the events.
    SELECT mailbox, actor, n_reads FROM actor_month WHERE month = $month
    UNION ALL
    SELECT mailbox, actor, count(*)
    FROM audit_event
    WHERE occurred_at >= $until_at AND occurred_at < $margin_until_at
      AND action = 'read' AND outcome = 'success'
    GROUP BY ALL
)
SELECT r.mailbox, r.actor, m.practice_id, m.holder_name, t.ceiling, t.min_reads, t.baseline_factor
FROM (SELECT mailbox, actor, sum(n_reads) AS n_reads FROM reads GROUP BY ALL) AS r
LEFT JOIN mailbox_practice AS m USING (mailbox)
JOIN month_setting AS t ON t.practice_id IS NOT DISTINCT FROM m.practice_id
WHERE r.n_reads >= least(t.ceiling, t.min_reads)
  AND r.actor <> r.mailbox
  AND r.actor NOT IN (SELECT actor FROM system_account)
