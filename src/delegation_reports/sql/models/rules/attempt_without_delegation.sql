-- Grain: one finding per (mailbox, actor, Paris day) with refused attempts (failed logins or
-- failed actions) by an account holding no delegation in force on the mailbox: never granted,
-- withdrawn, or outside its dates. Successful accesses are for the access rules.
WITH attempts AS (
    SELECT a.*,
        -- The latest revocation before the attempt, for those after one.
        CASE WHEN a.attribution = 'delegate_after_revocation' THEN (
            SELECT max(p.revoked_at) FROM delegation_period AS p
            WHERE p.mailbox = a.mailbox AND p.delegate = a.actor AND p.revoked_at <= a.occurred_at) END AS revoked_at
    FROM month_access AS a
    WHERE (a.outcome = 'failure' OR a.action = 'login_failed')
      AND a.attribution IN ('no_delegation', 'delegate_after_revocation', 'delegate_outside_period')
)
SELECT
    'attempt_without_delegation' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Tentatives d''accès sans délégation' AS title_fr,
    'Le compte ' || fr_account(actor, mailbox, any_value(delegate_role)) || ' a tenté d''accéder à la boîte de '
        || coalesce(any_value(holder_name), mailbox) || ' ' || fr_during(min(occurred_at), max(occurred_at))
        || ' (' || count(*) || CASE WHEN count(*) = 1 THEN ' tentative refusée : ' ELSE ' tentatives refusées : ' END
        || array_to_string(list_sort(list_distinct(list(fr_action(action)))), ', ')
        || fr_auths(list(auth_method))
        || '), ' || CASE arg_max(attribution, occurred_at)
            WHEN 'no_delegation' THEN 'sans avoir jamais reçu de délégation sur cette boîte'
            WHEN 'delegate_after_revocation' THEN 'alors que sa délégation avait été retirée'
                || coalesce(' le ' || fr_long_date(max(revoked_at)), '')
            ELSE 'en dehors des dates de sa délégation' END
        || '. L''accès a été refusé, mais quelqu''un cherche encore à entrer : vérifiez qui, et pourquoi.' AS explanation_fr
FROM attempts
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
