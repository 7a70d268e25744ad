-- Grain: one row per practice of the rosters, and one (NULL) for mailboxes on none, with the
-- settings the month's working tables read per practice, resolved: the practice's own value,
-- else the default one (the NULL rows of `cfg_rule_param`). `month_heavy_reader` reads
-- `bulk_access`'s and `month_failed_login` `failed_login_burst`'s here: each setting is looked
-- up once per practice, not once per row nor by a subquery per use.
WITH settings AS (
    SELECT practice_id,
        max(CASE WHEN rule_id = 'bulk_access' AND name = 'ceiling' THEN value END) AS ceiling,
        max(CASE WHEN rule_id = 'bulk_access' AND name = 'min_reads' THEN value END) AS min_reads,
        max(CASE WHEN rule_id = 'bulk_access' AND name = 'baseline_factor' THEN value END) AS baseline_factor,
        max(CASE WHEN rule_id = 'failed_login_burst' AND name = 'threshold' THEN value END) AS failure_threshold,
        max(CASE WHEN rule_id = 'failed_login_burst' AND name = 'slow_failures' THEN value END) AS slow_failures
    FROM cfg_rule_param
    WHERE rule_id IN ('bulk_access', 'failed_login_burst')
    GROUP BY practice_id
)
SELECT p.practice_id,
    CAST(coalesce(own.ceiling, standard.ceiling) AS DOUBLE) AS ceiling,
    CAST(coalesce(own.min_reads, standard.min_reads) AS DOUBLE) AS min_reads,
    CAST(coalesce(own.baseline_factor, standard.baseline_factor) AS DOUBLE) AS baseline_factor,
    CAST(coalesce(own.failure_threshold, standard.failure_threshold) AS DOUBLE) AS failure_threshold,
    CAST(coalesce(own.slow_failures, standard.slow_failures) AS DOUBLE) AS slow_failures
-- Every practice an event can belong to (`practice_of`): a mailbox's, or the one an account
-- works in with a holder on several rosters (`member_practice`), which may hold no mailbox.
FROM (SELECT practice_id FROM mailbox_practice
      UNION SELECT practice_id FROM member_practice
      UNION SELECT NULL) AS p
LEFT JOIN settings AS own ON own.practice_id = p.practice_id
JOIN settings AS standard ON standard.practice_id IS NULL
