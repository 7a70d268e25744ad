-- Grain: one row per (mailbox, account) whose successful reads in the month are numerous
-- enough for one burst of them to be flagged by `bulk_access` (at least the smaller of its
-- `ceiling` and `min_reads` for the practice), service accounts left out. Kept in memory:
-- its exact size lets the planner join the events to it the right way round.
WITH thresholds AS (
    -- Each practice's settings, looked up once per practice rather than once per account.
    SELECT practice_id,
        rule_num(practice_id, 'bulk_access', 'ceiling') AS ceiling,
        rule_num(practice_id, 'bulk_access', 'min_reads') AS min_reads,
        rule_num(practice_id, 'bulk_access', 'baseline_factor') AS baseline_factor
    FROM (SELECT DISTINCT practice_id FROM mailbox_practice UNION SELECT NULL)
)
SELECT am.mailbox, am.actor, m.practice_id, m.holder_name, t.ceiling, t.min_reads, t.baseline_factor
FROM actor_month AS am
LEFT JOIN mailbox_practice AS m USING (mailbox)
JOIN thresholds AS t ON t.practice_id IS NOT DISTINCT FROM m.practice_id
WHERE am.month = $month AND am.n_reads >= least(t.ceiling, t.min_reads)
  AND am.actor NOT IN (SELECT actor FROM system_account)
