-- Grain: one row per failed login of the events a day either side of the window
-- ($margin_from_at, $margin_until_at), with its practice, the mailbox's holder and the
-- practice's `failed_login_burst` thresholds: what `month_failure_episode` groups into
-- episodes. Whoever fails counts, whatever their delegation: the holder's own account is the
-- one attacked. Kept in memory: the episodes read it several times, and it is small.
WITH settings AS (
    -- The rule's settings, one row per practice overriding it and one of defaults (NULL): a
    -- practice overriding a rule has every setting of it (config.write_config_tables).
    SELECT practice_id,
        max(CASE WHEN name = 'threshold' THEN value END) AS threshold,
        max(CASE WHEN name = 'slow_failures' THEN value END) AS slow_failures
    FROM cfg_rule_param
    WHERE rule_id = 'failed_login_burst'
    GROUP BY practice_id
),
thresholds AS (
    -- Each practice's settings: its own, else the defaults.
    SELECT p.practice_id,
        CAST(coalesce(own.threshold, standard.threshold) AS DOUBLE) AS threshold,
        CAST(coalesce(own.slow_failures, standard.slow_failures) AS DOUBLE) AS slow_failures
    FROM (SELECT DISTINCT practice_id FROM mailbox_practice UNION SELECT NULL) AS p
    LEFT JOIN settings AS own ON own.practice_id = p.practice_id
    JOIN settings AS standard ON standard.practice_id IS NULL
)
SELECT a.mailbox, a.actor, a.occurred_at, a.event_id, a.client_ip, a.auth_method,
    practice_of(m.practice_id, mp.practice_id) AS practice_id, m.holder_name, t.threshold, t.slow_failures
FROM audit_event AS a
LEFT JOIN mailbox_practice AS m ON m.mailbox = a.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = a.mailbox AND mp.actor = a.actor
JOIN thresholds AS t ON t.practice_id IS NOT DISTINCT FROM practice_of(m.practice_id, mp.practice_id)
WHERE a.occurred_at >= $margin_from_at AND a.occurred_at < $margin_until_at
  AND (a.action = 'login_failed' OR (a.action = 'login' AND a.outcome = 'failure'))
