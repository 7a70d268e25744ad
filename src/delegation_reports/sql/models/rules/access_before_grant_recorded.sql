-- Grain: one finding per (mailbox, actor, Paris day) with successful actions by a délégataire
-- inside the declared validity of a delegation, but before that delegation was recorded (a
-- back-dated grant): the mailbox was reachable before the delegation existed.
WITH accesses AS (
    SELECT a.*, a.judged_against AS d
    FROM month_access AS a
    WHERE a.is_before_recording AND a.outcome = 'success' AND a.action <> 'login_failed'
      AND a.attribution IN ('delegate_outside_period', 'delegate_after_revocation')
)
SELECT
    'access_before_grant_recorded' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    any_value(d.delegation_key) AS delegation_key,
    'Accès avant l''enregistrement de la délégation' AS title_fr,
    'Le compte ' || fr_person(any_value(d.delegate_name), actor, any_value(d.delegate_role))
        || ' a agi dans la boîte ' || fr_of(coalesce(any_value(holder_name), mailbox))
        || ' ' || fr_during(min(occurred_at), max(occurred_at))
        || ' (' || fr_actions(count(*)) || ' : '
        || fr_action_list(list(action))
        || fr_auths(list(auth_method)) || ')'
        || ', alors que sa délégation n''a été enregistrée que le ' || fr_when(any_value(d.started_latest_at))
        || ', avec une date de début antérieure : ' || any_value(judged_against_fr)
        || '. La boîte lui était donc accessible avant que la délégation n''existe ; un mot de passe partagé '
        || 'en est la cause habituelle.' AS explanation_fr
FROM accesses
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
