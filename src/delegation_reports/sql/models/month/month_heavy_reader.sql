-- Grain: one row per (mailbox, account) whose successful reads from the month's start to a
-- day past its end are numerous enough for one burst of them, started in the month, to be
-- flagged by `bulk_access` (at least the smaller of its `ceiling` and `min_reads` for the
-- practice). Holders in their own mailbox and service accounts are left out. Kept in memory:
-- its exact size lets the planner join the events to it the right way round.
WITH settings AS (
    -- The rule's settings, one row per practice overriding it and one of defaults (NULL): a
    -- practice overriding a rule has every setting of it (config.write_config_tables).
    SELECT practice_id,
        max(CASE WHEN name = 'ceiling' THEN value END) AS ceiling,
        max(CASE WHEN name = 'min_reads' THEN value END) AS min_reads,
        max(CASE WHEN name = 'baseline_factor' THEN value END) AS baseline_factor
    FROM cfg_rule_param
    WHERE rule_id = 'bulk_access'
    GROUP BY practice_id
),
thresholds AS (
    -- Each practice's settings: its own, else the defaults.
    SELECT p.practice_id,
        CAST(coalesce(own.ceiling, standard.ceiling) AS DOUBLE) AS ceiling,
        CAST(coalesce(own.min_reads, standard.min_reads) AS DOUBLE) AS min_reads,
        CAST(coalesce(own.baseline_factor, standard.baseline_factor) AS DOUBLE) AS baseline_factor
    FROM (SELECT DISTINCT practice_id FROM mailbox_practice UNION SELECT NULL) AS p
    LEFT JOIN settings AS own ON own.practice_id = p.practice_id
    JOIN settings AS standard ON standard.practice_id IS NULL
),
reads AS (
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
JOIN thresholds AS t ON t.practice_id IS NOT DISTINCT FROM m.practice_id
WHERE r.n_reads >= least(t.ceiling, t.min_reads)
  AND r.actor <> r.mailbox
  AND r.actor NOT IN (SELECT actor FROM system_account)
