-- Grain: one row per audit event of the window [$from_at, $until_at) that a rule reading this
-- table may flag, attributed (see `attributed_access`), with the columns those rules read.
-- Built in memory once per month rebuilt, in one pass over the month's events: most events
-- (the holder's own, a délégataire's within their rights and the opening hours) concern no
-- rule, and each rule reads this small table instead of attributing the month again. Each
-- rule applies its own conditions; an event is kept when
--   * it is not the holder's, a service account's or an authorised délégataire's (the access
--     rules, `right_exceeded`, `attempt_without_delegation`);
--   * it succeeded outside the opening hours of its practice or on a public holiday of its
--     calendar (`is_off_hours`), by another account than the holder or a service account
--     (`off_hours_access`);
--   * it is a délégataire's in a mailbox whose holder left (`holder_left_delegate_active`);
--   * it succeeded in a mailbox whose holder may have been away (`month_idle_holder`:
--     `owner_inactive_delegate_active`).
WITH own_hours AS (
    -- Practices with opening hours of their own; the others use the defaults (NULL rows).
    SELECT DISTINCT practice_id FROM cfg_opening_hours WHERE practice_id IS NOT NULL
),
events AS (
    SELECT
        a.operator, a.event_id, a.occurred_at,
        -- Paris time through `paris_hour`; events outside the hours it holds convert directly.
        coalesce(make_timestamp(epoch_us(a.occurred_at) + h.offset_us), timezone('Europe/Paris', a.occurred_at))
            AS occurred_local,
        a.practice_id, a.mailbox, a.holder_name, a.actor, a.action, a.outcome, a.attribution, a.right_needed,
        a.auth_method, a.is_before_recording, a.delegate_role, a.seg_from_at,
        -- Whose opening hours and holidays apply: the practice's own, else the defaults (NULL).
        CASE WHEN a.practice_id IN (SELECT practice_id FROM own_hours) THEN a.practice_id END AS hours_of
    FROM attributed_access AS a
    LEFT JOIN paris_hour AS h ON h.utc_hour = epoch_us(a.occurred_at) // 3600000000
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
      -- The holder's and the service accounts' own events concern only `month_idle_holder`
      -- (below): the others are left out before any opening hours are looked up.
      -- (the first test, on the event itself, is made before the event is attributed).
      AND (a.actor <> a.mailbox OR a.mailbox IN (SELECT mailbox FROM month_idle_holder))
      AND (a.attribution <> 'system' OR a.mailbox IN (SELECT mailbox FROM month_idle_holder))
),
placed AS (
    -- Opening ranges of one day do not overlap (the configuration checks it) and a calendar
    -- has one holiday per day: the joins keep one row per event.
    SELECT e.*,
        CAST(e.occurred_local AS DATE) AS day,
        h.name AS holiday_name,
        coalesce(c.is_closed, true) AND h.day IS NOT NULL AS is_holiday,
        o.opens_minute IS NULL OR (coalesce(c.is_closed, true) AND h.day IS NOT NULL) AS is_off_hours
    FROM events AS e
    LEFT JOIN cfg_opening_hours AS o
        ON o.practice_id IS NOT DISTINCT FROM e.hours_of
       AND o.isodow = isodow(e.occurred_local)
       -- Minutes of the day (the ranges are whole minutes): a TIME cast does not port.
       AND hour(e.occurred_local) * 60 + minute(e.occurred_local) >= o.opens_minute
       AND hour(e.occurred_local) * 60 + minute(e.occurred_local) < o.closes_minute
    LEFT JOIN public_holiday AS h ON h.day = CAST(e.occurred_local AS DATE) AND h.practice_id IS NOT DISTINCT FROM e.hours_of
    LEFT JOIN cfg_holidays_closed AS c ON c.practice_id IS NOT DISTINCT FROM e.hours_of
),
kept AS (
    SELECT *
    FROM placed
    WHERE attribution IN ('no_delegation', 'delegate_after_revocation', 'delegate_outside_period', 'delegate_beyond_rights')
       OR (is_off_hours AND outcome = 'success' AND action <> 'login_failed' AND attribution NOT IN ('system', 'owner'))
       OR (attribution LIKE 'delegate_%' AND mailbox IN (SELECT mailbox FROM holder_departure))
       OR (outcome = 'success' AND mailbox IN (SELECT mailbox FROM month_idle_holder))
)
-- The delegation each kept event is judged against, its rights and its words ("aucune
-- délégation" for an account that never had one), from its segment: looked up for these
-- events only.
SELECT k.operator, k.event_id, k.occurred_at, k.occurred_local, k.practice_id, k.mailbox, k.holder_name,
    k.actor, k.action, k.outcome, k.attribution, k.right_needed, k.auth_method, k.is_before_recording,
    k.delegate_role, k.hours_of, k.day, k.holiday_name, k.is_holiday, k.is_off_hours,
    s.rights_in_force, s.judged_against,
    coalesce(s.judged_against_fr, 'aucune délégation') AS judged_against_fr
FROM kept AS k
LEFT JOIN delegation_segment AS s ON s.mailbox = k.mailbox AND s.delegate = k.actor AND s.seg_from_at = k.seg_from_at
