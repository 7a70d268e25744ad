-- Grain: one finding per delegation still in force at the end of the window, given at least
-- $days days before, and not used by its délégataire during those last $days days, when the
-- operator's traces cover those days (every month of them) to know it.
WITH last_used AS (
    -- Each délégataire's last successful action up to the end of the window, from
    -- `actor_month` (one row per account, mailbox and month) rather than from the events.
    SELECT mailbox, actor, max(last_success_at) AS last_at
    FROM actor_month
    WHERE month <= $month
      AND (mailbox, actor) IN (SELECT (mailbox, delegate) FROM delegation_period)
    GROUP BY ALL
)
SELECT
    'dormant_delegation' AS rule_id,
    practice_of(m.practice_id, mp.practice_id) AS practice_id, p.mailbox, p.delegate AS actor,
    p.started_latest_at AS first_at, l.last_at AS last_at, 0 AS n_events,
    list_filter([p.source_event_id], lambda x: x IS NOT NULL) AS evidence,
    p.delegation_key,
    'Délégation inutilisée' AS title_fr,
    'La délégation de la boîte ' || fr_of(coalesce(m.holder_name, p.mailbox)) || ' à ' || coalesce(p.delegate_name, p.delegate)
        || ' est toujours active mais n''a pas servi depuis '
        || coalesce('le ' || fr_long_date(l.last_at), 'au moins ' || CAST($days AS BIGINT) || ' jours')
        || '.' AS explanation_fr
FROM delegation_period AS p
LEFT JOIN mailbox_practice AS m ON m.mailbox = p.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
LEFT JOIN last_used AS l ON l.mailbox = p.mailbox AND l.actor = p.delegate
WHERE p.in_force_from_at <= $until_at - to_days(CAST($days AS BIGINT))
  AND p.in_force_until_at >= $until_at
  AND (l.last_at IS NULL OR l.last_at < $until_at - to_days(CAST($days AS BIGINT)))
  -- The operator's traces cover every month of those last $days days: a month without
  -- traces (before, between or after its files) says nothing about use.
  AND (SELECT count(*) FROM trace_month AS t
       WHERE t.operator = p.operator AND t.month <= $month
         AND t.month >= CAST(date_trunc('month', paris($until_at - to_days(CAST($days AS BIGINT)))) AS DATE))
      = datediff('month', CAST(date_trunc('month', paris($until_at - to_days(CAST($days AS BIGINT)))) AS DATE), $month) + 1
