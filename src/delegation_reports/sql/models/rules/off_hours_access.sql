-- Grain: one finding per (mailbox, actor, Paris day) with successful actions outside the
-- practice's opening hours or on a public holiday, by délégataires and unknown accounts: the
-- holder working in their own mailbox at night is their business.
WITH own_hours AS (
    -- Practices with opening hours of their own; the others use the defaults (NULL rows).
    SELECT DISTINCT practice_id FROM cfg_opening_hours WHERE practice_id IS NOT NULL
),
events AS (
    SELECT a.*,
        CAST(a.occurred_local AS DATE) AS day,
        CASE WHEN a.practice_id IN (SELECT practice_id FROM own_hours) THEN a.practice_id END AS hours_of
    FROM month_access AS a
    WHERE a.outcome = 'success' AND a.action <> 'login_failed' AND a.attribution NOT IN ('system', 'owner')
),
flagged AS (
    -- Opening ranges of one day do not overlap (the configuration checks it): at most one
    -- range holds an event, and the join keeps one row per event.
    SELECT e.*,
        h.name AS holiday_name,
        coalesce(c.is_closed, true) AND h.day IS NOT NULL AS is_holiday,
        o.opens IS NOT NULL AS is_in_hours
    FROM events AS e
    LEFT JOIN cfg_opening_hours AS o
        ON o.practice_id IS NOT DISTINCT FROM e.hours_of
       AND o.isodow = isodow(e.occurred_local)
       AND CAST(e.occurred_local AS TIME) >= o.opens
       AND CAST(e.occurred_local AS TIME) < o.closes
    LEFT JOIN public_holiday AS h ON h.day = e.day AND h.practice_id IS NOT DISTINCT FROM e.hours_of
    LEFT JOIN cfg_holidays_closed AS c ON c.practice_id IS NOT DISTINCT FROM e.hours_of
)
SELECT
    'off_hours_access' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Activité en dehors des heures d''ouverture' AS title_fr,
    'Le compte ' || actor || ' a agi dans la boîte de ' || coalesce(any_value(holder_name), mailbox)
        || ' le ' || fr_date(min(occurred_at)) || ' ' || fr_span(min(occurred_at), max(occurred_at))
        || ' (' || fr_actions(count(*)) || '), '
        || CASE WHEN bool_or(is_holiday) THEN 'un jour férié (' || any_value(holiday_name) || ')'
                ELSE 'en dehors des heures d''ouverture du cabinet' END || '.' AS explanation_fr
FROM flagged
WHERE is_holiday OR NOT is_in_hours
GROUP BY practice_id, mailbox, actor, day
