-- Grain: one finding per (mailbox, actor, Paris day) with refused attempts (failed logins or
-- failed actions) by an account holding no delegation in force on the mailbox: never granted,
-- withdrawn, or outside its dates. Successful accesses are for the access rules.
WITH days AS (
    SELECT practice_id, mailbox, actor,
        min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
        list(event_id ORDER BY occurred_at, event_id) AS evidence,
        any_value(holder_name) AS holder_name,
        any_value(delegate_role) AS delegate_role,
        fr_action_list(list(action)) AS actions,
        list(auth_method) AS auth_methods,
        arg_max(attribution, occurred_at) AS attribution
    FROM month_access
    WHERE (outcome = 'failure' OR action = 'login_failed')
      AND attribution IN ('no_delegation', 'delegate_after_revocation', 'delegate_outside_period')
    GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
)
SELECT
    'attempt_without_delegation' AS rule_id,
    d.practice_id, d.mailbox, d.actor, d.first_at, d.last_at, d.n_events, d.evidence,
    'Tentatives d''accès sans délégation' AS title_fr,
    'Le compte ' || fr_account(d.actor, d.mailbox, d.delegate_role) || ' a tenté d''accéder à la boîte '
        || fr_of(coalesce(d.holder_name, d.mailbox)) || ' ' || fr_during(d.first_at, d.last_at)
        || ' (' || d.n_events || CASE WHEN d.n_events = 1 THEN ' tentative refusée : ' ELSE ' tentatives refusées : ' END
        || d.actions || fr_auths(d.auth_methods)
        || '), ' || CASE d.attribution
            WHEN 'no_delegation' THEN 'sans avoir jamais reçu de délégation sur cette boîte'
            -- The latest revocation before the day's last attempt: looked up per finding.
            WHEN 'delegate_after_revocation' THEN 'alors que sa délégation avait été retirée' || coalesce(' le ' || fr_long_date((
                SELECT max(p.revoked_at) FROM delegation_period AS p
                WHERE p.mailbox = d.mailbox AND p.delegate = d.actor AND p.revoked_at <= d.last_at)), '')
            ELSE 'en dehors des dates de sa délégation' END
        || '. L''accès a été refusé, mais quelqu''un cherche encore à entrer.' AS explanation_fr
FROM days AS d
