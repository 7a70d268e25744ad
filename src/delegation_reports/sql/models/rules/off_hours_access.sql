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
),
opening AS (
    -- Each weekday's opening ranges in words, per practice with hours of its own (NULL: the
    -- defaults): "de 7 h 00 à 20 h 00".
    SELECT practice_id, isodow,
        string_agg('de ' || hour(opens) || ' h ' || lpad(CAST(minute(opens) AS VARCHAR), 2, '0') || ' à '
                   || hour(closes) || ' h ' || lpad(CAST(minute(closes) AS VARCHAR), 2, '0'), ' et ' ORDER BY opens) AS hours_text
    FROM cfg_opening_hours
    GROUP BY ALL
),
days AS (
    SELECT f.practice_id, f.mailbox, f.actor, f.day,
        min(f.occurred_at) AS first_at, max(f.occurred_at) AS last_at, count(*) AS n_events,
        list(f.event_id ORDER BY f.occurred_at, f.event_id) AS evidence,
        list(f.action) AS actions, list(f.auth_method) AS auth_methods,
        any_value(f.holder_name) AS holder_name, any_value(f.delegate_role) AS delegate_role,
        bool_or(f.is_holiday) AS is_holiday, any_value(f.holiday_name) AS holiday_name,
        any_value(f.hours_of) AS hours_of
    FROM flagged AS f
    WHERE f.is_holiday OR NOT f.is_in_hours
    GROUP BY f.practice_id, f.mailbox, f.actor, f.day
)
SELECT
    'off_hours_access' AS rule_id,
    d.practice_id, d.mailbox, d.actor,
    d.first_at, d.last_at, d.n_events, d.evidence,
    s.judged_against.delegation_key AS delegation_key,
    s.judged_against.delegation_ids AS delegation_ids,
    'Activité en dehors des heures d''ouverture' AS title_fr,
    'Le compte ' || fr_person(s.judged_against.delegate_name, d.actor, d.delegate_role)
        || ' a agi dans la boîte ' || fr_of(coalesce(d.holder_name, d.mailbox))
        || ' le ' || fr_day(d.first_at)
        || CASE WHEN fr_clock(d.first_at) = fr_clock(d.last_at) THEN ' à ' || fr_clock(d.first_at)
                ELSE ' entre ' || fr_clock(d.first_at) || ' et ' || fr_clock(d.last_at) END
        || ' (' || fr_actions(d.n_events) || ' : '
        || array_to_string(list_sort(list_distinct(list_transform(d.actions, lambda x: fr_action(x)))), ', ')
        || fr_auths(d.auth_methods) || '), '
        || CASE WHEN d.is_holiday THEN 'un jour férié (' || d.holiday_name || ')'
                WHEN o.hours_text IS NULL
                    THEN 'un ' || ['lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche'][isodow(d.day)]
                        || ', jour où le cabinet est fermé'
                ELSE 'en dehors des heures d''ouverture du cabinet ce jour-là (' || o.hours_text || ')' END
        || '.' AS explanation_fr
FROM days AS d
LEFT JOIN opening AS o ON o.practice_id IS NOT DISTINCT FROM d.hours_of AND o.isodow = isodow(d.day)
-- The délégataire's delegation at the day's first action, when there is one.
LEFT JOIN delegation_segment AS s
    ON s.mailbox = d.mailbox AND s.delegate = d.actor
   AND d.first_at >= s.seg_from_at AND d.first_at < s.seg_until_at
