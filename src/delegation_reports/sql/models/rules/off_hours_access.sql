-- Grain: one finding per (mailbox, actor, Paris day) with successful actions outside the
-- practice's opening hours or on a public holiday. The holder's own activity counts only when
-- the rule's `include_owner` is true.
WITH flagged AS (
    SELECT a.*,
        h.name AS holiday_name,
        coalesce(c.is_closed, true) AND h.day IS NOT NULL AS is_holiday,
        EXISTS (
            SELECT 1 FROM cfg_opening_hours AS o
            WHERE o.practice_id IS NOT DISTINCT FROM a.practice_id
              AND o.isodow = isodow(a.occurred_local)
              AND CAST(a.occurred_local AS TIME) >= o.opens
              AND CAST(a.occurred_local AS TIME) < o.closes
        ) AS is_in_hours
    FROM month_access AS a
    LEFT JOIN public_holiday AS h ON h.day = CAST(a.occurred_local AS DATE)
    LEFT JOIN cfg_holidays_closed AS c ON c.practice_id IS NOT DISTINCT FROM a.practice_id
    WHERE a.outcome = 'success' AND a.action <> 'login_failed' AND a.attribution <> 'system'
      AND (a.attribution <> 'owner' OR rule_text(a.practice_id, 'off_hours_access', 'include_owner') = 'true')
)
SELECT
    'off_hours_access' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Activité en dehors des heures d''ouverture' AS title_fr,
    'Le compte ' || actor || ' a agi dans la boîte de ' || coalesce(any_value(holder_name), mailbox)
        || ' le ' || fr_date(min(occurred_at)) || ' entre ' || strftime(paris(min(occurred_at)), '%H:%M')
        || ' et ' || strftime(paris(max(occurred_at)), '%H:%M') || ' (' || count(*) || ' actions), '
        || CASE WHEN bool_or(is_holiday) THEN 'un jour férié (' || any_value(holiday_name) || ')'
                ELSE 'en dehors des heures d''ouverture du cabinet' END || '.' AS explanation_fr
FROM flagged
WHERE is_holiday OR NOT is_in_hours
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE)
