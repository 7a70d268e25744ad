-- Grain: one finding per (mailbox, actor, Paris day) with successful actions after the
-- actor's delegation on the mailbox was revoked.
WITH accesses AS (
    -- One row per event, with the latest revocation before it (several periods may have been
    -- revoked: a join would count the event once per period).
    SELECT a.*,
        (SELECT max(p.revoked_at) FROM delegation_period AS p
         WHERE p.mailbox = a.mailbox AND p.delegate = a.actor AND p.revoked_at <= a.occurred_at) AS revoked_at
    FROM month_access AS a
    WHERE a.attribution = 'delegate_after_revocation' AND a.outcome = 'success' AND a.action <> 'login_failed'
)
SELECT
    'access_after_revocation' AS rule_id,
    a.practice_id, a.mailbox, a.actor,
    min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at, count(*) AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    'Accès après la fin de la délégation' AS title_fr,
    'Le compte ' || a.actor || ' a agi dans la boîte de ' || coalesce(any_value(a.holder_name), a.mailbox)
        || ' le ' || fr_date(min(a.occurred_at)) || ' (' || fr_actions(count(*)) || '), alors que sa délégation'
        || coalesce(' avait été retirée le ' || fr_date(max(a.revoked_at)), ' avait été retirée') || '.' AS explanation_fr
FROM accesses AS a
GROUP BY a.practice_id, a.mailbox, a.actor, CAST(a.occurred_local AS DATE)
