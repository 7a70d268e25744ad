-- Grain: one finding per (mailbox, actor, Paris day) with successful actions outside the
-- practice's opening hours or on a public holiday, by délégataires and unknown accounts: the
-- holder working in their own mailbox at night is their business.
WITH opening AS (
    -- Each weekday's opening ranges in words, per practice with hours of its own (NULL: the
    -- defaults): "de 7 h 00 à 20 h 00", from minutes of the day (closing at midnight, 1440,
    -- reads 23 h 59).
    SELECT practice_id, isodow,
        string_agg('de ' || opens_minute // 60 || ' h ' || lpad(CAST(opens_minute % 60 AS VARCHAR), 2, '0') || ' à '
                   || least(closes_minute, 1439) // 60 || ' h '
                   || lpad(CAST(least(closes_minute, 1439) % 60 AS VARCHAR), 2, '0'), ' et ' ORDER BY opens_minute) AS hours_text
    FROM cfg_opening_hours
    GROUP BY ALL
),
days AS (
    -- The day's events outside opening hours (`is_off_hours`, see `month_access`).
    SELECT practice_id, mailbox, actor, day,
        min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
        list(event_id ORDER BY occurred_at, event_id) AS evidence,
        -- Each action and method once: the words name each once.
        list_distinct(list(action)) AS actions, list_distinct(list(auth_method)) AS auth_methods,
        any_value(holder_name) AS holder_name, any_value(delegate_role) AS delegate_role,
        bool_or(is_holiday) AS is_holiday, any_value(holiday_name) AS holiday_name,
        any_value(hours_of) AS hours_of,
        -- The délégataire's delegation at the day's first action, when there is one: the
        -- fields the finding names (carrying the whole record through the grouping costs more).
        arg_min(CASE WHEN judged_against IS NOT NULL THEN struct_pack(
                    delegation_key := judged_against.delegation_key,
                    delegate_name := judged_against.delegate_name) END,
                occurred_at) AS judged_against
    FROM month_access
    WHERE is_off_hours AND outcome = 'success' AND action <> 'login_failed' AND attribution NOT IN ('system', 'owner')
    GROUP BY practice_id, mailbox, actor, day
)
SELECT
    'off_hours_access' AS rule_id,
    d.practice_id, d.mailbox, d.actor,
    d.first_at, d.last_at, d.n_events, d.evidence,
    d.judged_against.delegation_key AS delegation_key,
    'Activité en dehors des heures d''ouverture' AS title_fr,
    'Le compte ' || fr_person(d.judged_against.delegate_name, d.actor, d.delegate_role)
        || ' a agi dans la boîte ' || fr_of(coalesce(d.holder_name, d.mailbox))
        || ' le ' || fr_day_span(d.first_at, d.last_at)
        || ' (' || fr_actions(d.n_events) || ' : '
        || fr_action_list(d.actions)
        || fr_auths(d.auth_methods) || '), '
        || CASE WHEN d.is_holiday THEN 'un jour férié (' || d.holiday_name || ')'
                WHEN o.hours_text IS NULL
                    THEN 'un ' || ['lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche'][isodow(d.day)]
                        || ', jour où le cabinet est fermé'
                ELSE 'en dehors des heures d''ouverture du cabinet ce jour-là (' || o.hours_text || ')' END
        || '.' AS explanation_fr
FROM days AS d
LEFT JOIN opening AS o ON o.practice_id IS NOT DISTINCT FROM d.hours_of AND o.isodow = isodow(d.day)
