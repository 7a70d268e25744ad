-- Grain: one finding per (mailbox, actor, Paris day) with successful actions by an account that
-- never held a delegation on the mailbox.
SELECT
    'access_without_delegation' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Accès sans délégation' AS title_fr,
    'Le compte ' || actor || ' a agi dans la boîte ' || fr_of(coalesce(any_value(holder_name), mailbox))
        || ' ' || fr_during(min(occurred_at), max(occurred_at))
        || ' (' || fr_actions(count(*)) || ' : '
        || fr_action_list(list(action))
        || fr_auths(list(auth_method)) || ')'
        || ', sans avoir jamais reçu de délégation sur cette boîte.' AS explanation_fr
FROM month_access
WHERE attribution = 'no_delegation' AND outcome = 'success' AND action <> 'login_failed'
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
