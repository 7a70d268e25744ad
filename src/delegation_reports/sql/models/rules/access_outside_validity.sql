-- Grain: one finding per (mailbox, actor, Paris day) with successful actions by a délégataire
-- outside the validity period of their delegation (before it starts or after it ends).
SELECT
    'access_outside_validity' AS rule_id,
    a.practice_id, a.mailbox, a.actor,
    min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at, count(*) AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    'Accès en dehors de la période de délégation' AS title_fr,
    'Le compte ' || a.actor || ' a agi dans la boîte de ' || coalesce(any_value(a.holder_name), a.mailbox)
        || ' le ' || fr_date(min(a.occurred_at)) || ' (' || fr_actions(count(*)) || '), en dehors de la période '
        || 'pendant laquelle la délégation était valable'
        || coalesce(' (' || any_value(p.validity) || ')', '') || '.' AS explanation_fr
FROM month_access AS a
LEFT JOIN (
    SELECT mailbox, delegate,
        string_agg(
            coalesce('du ' || fr_date(valid_from_at), 'sans date de début')
            || coalesce(' au ' || fr_date(valid_until_at - INTERVAL 1 SECOND), ' sans date de fin'),
            ' ; ' ORDER BY started_latest_at) AS validity
    FROM delegation_period
    WHERE valid_from_at IS NOT NULL OR valid_until_at IS NOT NULL
    GROUP BY ALL
) AS p ON p.mailbox = a.mailbox AND p.delegate = a.actor
WHERE a.attribution = 'delegate_outside_period' AND a.outcome = 'success' AND a.action <> 'login_failed'
GROUP BY a.practice_id, a.mailbox, a.actor, CAST(a.occurred_local AS DATE)
