-- Grain: one finding per (mailbox, délégataire) active in the window while the holder had not
-- logged in for $days days, when the traces cover those days (every month of them) to know it.
WITH delegate_days AS (
    SELECT practice_id, operator, mailbox, actor, CAST(occurred_local AS DATE) AS day,
        min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
        any_value(holder_name) AS holder_name
    FROM month_access
    WHERE attribution LIKE 'delegate_%' AND outcome = 'success'
      AND mailbox IN (SELECT mailbox FROM month_idle_holder)
    GROUP BY ALL
),
owner_logins AS (
    -- The holder's successful events of the window, and the last one before it.
    SELECT mailbox, occurred_at
    FROM month_access
    WHERE attribution = 'owner' AND outcome = 'success' AND mailbox IN (SELECT mailbox FROM month_idle_holder)
    UNION ALL
    SELECT mailbox, holder_last_at FROM month_idle_holder WHERE holder_last_at IS NOT NULL
),
owner_before AS (
    -- The holder's last activity before each instant a délégataire's day starts: the days'
    -- starts and the holder's events in one timeline per mailbox, each start taking the
    -- latest event before it (an event at the same instant sorts after it: strictly before).
    SELECT mailbox, at_instant, owner_last_at
    FROM (
        SELECT mailbox, at_instant, kind,
            max(owner_at) OVER (PARTITION BY mailbox ORDER BY at_instant, kind
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS owner_last_at
        FROM (SELECT DISTINCT mailbox, first_at AS at_instant, 0 AS kind, NULL::TIMESTAMPTZ AS owner_at FROM delegate_days
              UNION ALL
              SELECT mailbox, occurred_at, 1, occurred_at FROM owner_logins)
    )
    WHERE kind = 0
),
checked AS (
    SELECT d.*, o.owner_last_at
    FROM delegate_days AS d
    JOIN owner_before AS o ON o.mailbox = d.mailbox AND o.at_instant = d.first_at
    -- The operator's traces cover every month of the $days days before the délégataire's
    -- day (from the manifest): the holder may have logged in during a month without traces.
    WHERE (SELECT count(*) FROM trace_month AS t
           WHERE t.operator = d.operator AND t.month <= $month
             AND t.month >= CAST(date_trunc('month', paris(d.first_at - to_days(CAST($days AS BIGINT)))) AS DATE))
          = datediff('month', CAST(date_trunc('month', paris(d.first_at - to_days(CAST($days AS BIGINT)))) AS DATE), $month) + 1
),
flagged AS (
    -- Evidence is gathered for the flagged days only: most days are not.
    SELECT k.*,
        (SELECT list(a.event_id ORDER BY a.occurred_at, a.event_id) FROM month_access AS a
         WHERE a.mailbox = k.mailbox AND a.actor = k.actor AND a.outcome = 'success'
           AND a.attribution LIKE 'delegate_%' AND CAST(a.occurred_local AS DATE) = k.day) AS evidence
    FROM checked AS k
    WHERE k.owner_last_at IS NULL OR k.owner_last_at < k.first_at - to_days(CAST($days AS BIGINT))
)
SELECT
    'owner_inactive_delegate_active' AS rule_id,
    f.practice_id, f.mailbox, f.actor,
    min(f.first_at) AS first_at, max(f.last_at) AS last_at, sum(f.n_events)::BIGINT AS n_events,
    flatten(list(f.evidence ORDER BY f.day)) AS evidence,
    arg_max(s.judged_against.delegation_key, f.day) AS delegation_key,
    'Délégataire actif en l''absence du titulaire' AS title_fr,
    'Le compte ' || fr_person(arg_max(s.judged_against.delegate_name, f.day), f.actor, arg_max(s.judged_against.delegate_role, f.day))
        || ' a utilisé la boîte ' || fr_of(coalesce(any_value(f.holder_name), f.mailbox))
        || ' ' || fr_during(min(f.first_at), max(f.last_at)) || ' (' || fr_actions(sum(f.n_events)::BIGINT)
        || ') alors que le titulaire ne s''y était pas connecté depuis plus de ' || CAST($days AS BIGINT) || ' jours'
        || coalesce(' (dernière connexion connue : le ' || fr_when(min(f.owner_last_at)) || ')', '')
        || '. Délégation en cause : '
        || coalesce(arg_max(s.judged_against_fr, f.day), 'aucune délégation') || '.' AS explanation_fr
FROM flagged AS f
-- The delegation the délégataire's last flagged day was judged against.
LEFT JOIN delegation_segment AS s
    ON s.mailbox = f.mailbox AND s.delegate = f.actor
   AND f.last_at >= s.seg_from_at AND f.last_at < s.seg_until_at
GROUP BY f.practice_id, f.mailbox, f.actor
