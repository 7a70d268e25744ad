-- Grain: one finding per (mailbox, actor, Paris day, right) with successful actions that need
-- a right the délégataire's delegation did not give at that moment.
SELECT
    'right_exceeded' AS rule_id,
    a.practice_id, a.mailbox, a.actor,
    min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at, count(*) AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    'Action au-delà des droits délégués' AS title_fr,
    'Le compte ' || a.actor || ' a effectué ' || count(*) || ' action(s) de type '
        || array_to_string(list_sort(list_distinct(list(fr_action(a.action)))), ', ')
        || ' dans la boîte de ' || coalesce(any_value(a.holder_name), a.mailbox) || ' le ' || fr_date(min(a.occurred_at))
        || ', alors que sa délégation ne donnait que les droits : '
        || coalesce(fr_rights(any_value(s.rights_in_force)), 'aucun') || '.' AS explanation_fr
FROM month_access AS a
-- The rights in force at that moment: the segment of the pair's delegations holding the event.
LEFT JOIN delegation_segment AS s
    ON s.mailbox = a.mailbox AND s.delegate = a.actor
   AND a.occurred_at >= s.seg_from_at AND a.occurred_at < s.seg_until_at
WHERE a.attribution = 'delegate_beyond_rights' AND a.outcome = 'success'
GROUP BY a.practice_id, a.mailbox, a.actor, CAST(a.occurred_local AS DATE), a.right_needed
