-- Grain: one finding per replacement delegation in force during the window with no end date: a
-- replacement is temporary by nature. Its periods (a grant and the modifications after it)
-- make one finding, with their events as evidence.
SELECT
    'open_ended_replacement' AS rule_id,
    practice_of(m.practice_id, mp.practice_id) AS practice_id, p.mailbox, p.delegate AS actor,
    min(p.started_latest_at) AS first_at, NULL::TIMESTAMPTZ AS last_at, 0 AS n_events,
    list(p.source_event_id ORDER BY p.started_latest_at) FILTER (p.source_event_id IS NOT NULL) AS evidence,
    p.delegation_key,
    'Remplacement sans date de fin' AS title_fr,
    coalesce(any_value(p.delegate_name), p.delegate) || ' remplace ' || coalesce(any_value(m.holder_name), p.mailbox)
        || ' avec un accès à sa boîte'
        || coalesce(' depuis le ' || fr_long_date(min(coalesce(p.valid_from_at, p.started_latest_at))), '')
        || ', sans date de fin, alors qu''un remplacement est temporaire.' AS explanation_fr
FROM delegation_period AS p
LEFT JOIN mailbox_practice AS m ON m.mailbox = p.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
WHERE p.delegate_role = 'replacement'
  AND p.valid_until_at IS NULL
  AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
GROUP BY practice_of(m.practice_id, mp.practice_id), p.mailbox, p.delegate, p.delegation_key
