-- Grain: one finding per (mailbox, actor, Paris day) with successful actions by a délégataire
-- outside the validity period of their delegation (before it starts or after it ends), except
-- inside the validity of a back-dated grant (`access_before_grant_recorded`).
WITH accesses AS (
    SELECT a.*, a.judged_against AS d
    FROM month_access AS a
    WHERE a.attribution = 'delegate_outside_period' AND a.outcome = 'success' AND a.action <> 'login_failed'
      AND NOT a.is_before_recording
)
SELECT
    'access_outside_validity' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    any_value(d.delegation_key) AS delegation_key,
    'Accès en dehors de la période de délégation' AS title_fr,
    'Le compte ' || fr_person(any_value(d.delegate_name), actor, any_value(d.delegate_role))
        || ' a agi dans la boîte ' || fr_of(coalesce(any_value(holder_name), mailbox))
        || ' ' || fr_during(min(occurred_at), max(occurred_at))
        || ' (' || fr_actions(count(*)) || ' : '
        || fr_action_list(list(action))
        || fr_auths(list(auth_method)) || ')'
        || ', en dehors de la période pendant laquelle sa délégation était valable : '
        || any_value(judged_against_fr) || '.' AS explanation_fr
FROM accesses
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
