-- Grain: one finding per (mailbox, actor, new address or client software) first seen in the
-- window, for actors with at least `min_history_days` of history on the mailbox before it.
-- Délégataires and unknown accounts only: the holder's own new phone or address is theirs.
-- "New" means not seen in the $lookback_months calendar months before the window's month,
-- read from `client_month` (one row per combination and month), not from the events.
WITH history AS (
    SELECT mailbox, actor, client_ip, user_agent, min(first_at) AS first_at
    FROM client_month
    WHERE month >= $history_month AND month <= $month AND actor <> mailbox
    GROUP BY ALL
),
actor_start AS (
    SELECT mailbox, actor, min(first_at) AS started_at FROM history GROUP BY ALL
),
novelty AS (
    SELECT mailbox, actor, 'ip' AS kind, client_ip AS value, min(first_at) AS first_at
    FROM history WHERE client_ip IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT mailbox, actor, 'client', user_agent, min(first_at)
    FROM history WHERE user_agent IS NOT NULL GROUP BY ALL
)
SELECT
    'new_client' AS rule_id,
    practice_of(m.practice_id, mp.practice_id) AS practice_id, n.mailbox, n.actor,
    n.first_at, n.first_at AS last_at, 1 AS n_events,
    [min(a.event_id)] AS evidence,
    CASE n.kind WHEN 'ip' THEN 'Nouvelle adresse de connexion' ELSE 'Nouveau logiciel de messagerie' END AS title_fr,
    'Le compte ' || n.actor || ' a utilisé la boîte ' || fr_of(coalesce(m.holder_name, n.mailbox)) || ' le '
        || fr_when(n.first_at) || CASE n.kind WHEN 'ip' THEN ' depuis une adresse jamais vue auparavant ('
        ELSE ' avec un logiciel jamais vu auparavant (' END || n.value || ').' AS explanation_fr
FROM novelty AS n
JOIN actor_start AS s USING (mailbox, actor)
LEFT JOIN mailbox_practice AS m ON m.mailbox = n.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = n.mailbox AND mp.actor = n.actor
LEFT JOIN audit_event AS a
    ON a.mailbox = n.mailbox AND a.actor = n.actor AND a.occurred_at = n.first_at
   -- The event that shows the new value (others may share its second), first by id: stable.
   AND CASE n.kind WHEN 'ip' THEN a.client_ip ELSE a.user_agent END = n.value
   AND a.outcome = 'success'
   AND a.occurred_at >= $from_at AND a.occurred_at < $until_at
-- The practice's `min_history_days`, else the default one.
LEFT JOIN cfg_rule_param AS own
    ON own.practice_id = practice_of(m.practice_id, mp.practice_id)
   AND own.rule_id = 'new_client' AND own.name = 'min_history_days'
LEFT JOIN cfg_rule_param AS standard
    ON standard.practice_id IS NULL AND standard.rule_id = 'new_client' AND standard.name = 'min_history_days'
WHERE n.first_at >= $from_at
  AND n.first_at >= s.started_at + to_days(CAST(CAST(coalesce(own.value, standard.value) AS DOUBLE) AS BIGINT))
  AND n.actor NOT IN (SELECT actor FROM system_account)
GROUP BY ALL
