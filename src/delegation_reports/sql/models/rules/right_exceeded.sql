-- Grain: one finding per (mailbox, actor, Paris day, right) with successful actions that need
-- a right the délégataire's delegation did not give at that moment.
SELECT
    'right_exceeded' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Action au-delà des droits délégués' AS title_fr,
    'Le compte ' || actor || ' a effectué ' || count(*) || ' action(s) de type '
        || array_to_string(list_sort(list_distinct(list(fr_action(action)))), ', ')
        || ' dans la boîte de ' || coalesce(any_value(holder_name), mailbox) || ' le ' || fr_date(min(occurred_at))
        || ', alors que sa délégation ne donnait que les droits : '
        || coalesce(fr_rights(any_value(rights_in_force)), 'aucun') || '.' AS explanation_fr
FROM month_access
WHERE attribution = 'delegate_beyond_rights' AND outcome = 'success'
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE), right_needed
