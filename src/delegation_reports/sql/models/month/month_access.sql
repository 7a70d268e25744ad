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
calendar AS (
    -- Whose opening hours and holidays an event may follow: the defaults (NULL) or a
    -- practice's own.
    SELECT CAST(NULL AS VARCHAR) AS hours_of
    UNION ALL
    SELECT practice_id FROM own_hours
),
window_hour AS (
    -- Each UTC hour of the window, with the offset of Paris time in that hour and the Paris
    -- wall-clock time it starts at. Paris is a whole number of hours from UTC, so a UTC hour
    -- is one hour of one Paris day: its day, weekday and hour of the day, and so the
    -- opening hours and the holidays, hold for every event in it, and the events' minutes
    -- are the same in both times.
    SELECT utc_hour, offset_us, make_timestamp(utc_hour * 3600000000 + offset_us) AS local_start
    FROM (
        SELECT utc_hour,
            epoch_us(timezone('Europe/Paris', make_timestamp(utc_hour * 3600000000)::TIMESTAMPTZ))
                - utc_hour * 3600000000 AS offset_us
        FROM (SELECT unnest(range(epoch_us($from_at) // 3600000000,
                                  (epoch_us($until_at) - 1) // 3600000000 + 1)) AS utc_hour)
    )
),
hour_open AS (
    -- How many minutes of each hour of the window each calendar's opening ranges cover.
    SELECT w.utc_hour, w.offset_us, w.local_start, c.hours_of,
        -- (least and greatest skip NULLs: an hour no range meets counts nothing).
        coalesce(sum(CASE WHEN o.opens_minute IS NOT NULL
                          THEN least(o.closes_minute, hour(w.local_start) * 60 + 60)
                               - greatest(o.opens_minute, hour(w.local_start) * 60) END), 0) AS open_minutes
    FROM window_hour AS w
    CROSS JOIN calendar AS c
    LEFT JOIN cfg_opening_hours AS o
        ON o.practice_id IS NOT DISTINCT FROM c.hours_of
       AND o.isodow = isodow(w.local_start)
       AND o.opens_minute < hour(w.local_start) * 60 + 60
       AND o.closes_minute > hour(w.local_start) * 60
    GROUP BY w.utc_hour, w.offset_us, w.local_start, c.hours_of
),
open_mask AS (
    -- For the hours partly open only (opening ranges are whole minutes: an hour may open or
    -- close within it), one character per minute of the hour: '1' open, '0' closed.
    SELECT h.utc_hour, h.hours_of,
        string_agg(CASE WHEN o.opens_minute IS NULL THEN '0' ELSE '1' END, '' ORDER BY m.minute) AS open_mask
    FROM hour_open AS h
    CROSS JOIN (SELECT unnest(range(0, 60)) AS minute) AS m
    LEFT JOIN cfg_opening_hours AS o
        ON o.practice_id IS NOT DISTINCT FROM h.hours_of
       AND o.isodow = isodow(h.local_start)
       AND hour(h.local_start) * 60 + m.minute >= o.opens_minute
       AND hour(h.local_start) * 60 + m.minute < o.closes_minute
    WHERE h.open_minutes > 0 AND h.open_minutes < 60
    GROUP BY h.utc_hour, h.hours_of
),
hour_place AS (
    -- Each hour of the window for each calendar: its Paris day, the holiday it falls on, and
    -- whether it is outside the opening hours (a holiday when the calendar closes on them, or
    -- no opening range in it), or the minutes of it that are, when it is partly open. A
    -- calendar has one holiday per day.
    SELECT h.utc_hour, h.hours_of, h.offset_us,
        CAST(h.local_start AS DATE) AS day,
        d.name AS holiday_name,
        coalesce(c.is_closed, true) AND d.day IS NOT NULL AS is_holiday,
        CASE WHEN coalesce(c.is_closed, true) AND d.day IS NOT NULL THEN true
             WHEN h.open_minutes = 0 THEN true
             WHEN h.open_minutes = 60 THEN false
        END AS is_off_hour,
        CASE WHEN NOT (coalesce(c.is_closed, true) AND d.day IS NOT NULL) THEN m.open_mask END AS open_mask
    FROM hour_open AS h
    LEFT JOIN open_mask AS m ON m.utc_hour = h.utc_hour AND m.hours_of IS NOT DISTINCT FROM h.hours_of
    LEFT JOIN public_holiday AS d ON d.day = CAST(h.local_start AS DATE) AND d.practice_id IS NOT DISTINCT FROM h.hours_of
    LEFT JOIN cfg_holidays_closed AS c ON c.practice_id IS NOT DISTINCT FROM h.hours_of
),
events AS (
    SELECT
        a.operator, a.event_id, a.occurred_at,
        a.practice_id, a.mailbox, a.holder_name, a.actor, a.action, a.outcome, a.attribution, a.right_needed,
        a.auth_method, a.is_before_recording, a.delegate_role, a.seg_from_at,
        -- Whose opening hours and holidays apply: the practice's own, else the defaults (NULL).
        CASE WHEN a.practice_id IN (SELECT practice_id FROM own_hours) THEN a.practice_id END AS hours_of
    FROM attributed_access AS a
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
      -- The holder's and the service accounts' own events concern only `month_idle_holder`
      -- (below): the others are left out before any opening hours are looked up.
      -- (the first test, on the event itself, is made before the event is attributed).
      AND (a.actor <> a.mailbox OR a.mailbox IN (SELECT mailbox FROM month_idle_holder))
      AND (a.attribution <> 'system' OR a.mailbox IN (SELECT mailbox FROM month_idle_holder))
),
placed AS (
    -- Placed by their hour (every hour of the window has a row per calendar): the minute is
    -- looked at in the hours partly open only.
    SELECT e.*,
        make_timestamp(epoch_us(e.occurred_at) + p.offset_us) AS occurred_local,
        p.day,
        p.holiday_name,
        p.is_holiday,
        CASE WHEN p.open_mask IS NULL THEN p.is_off_hour
             ELSE substr(p.open_mask, CAST(epoch_us(e.occurred_at) // 60000000 % 60 AS INTEGER) + 1, 1) = '0'
        END AS is_off_hours
    FROM events AS e
    JOIN hour_place AS p
        ON p.utc_hour = epoch_us(e.occurred_at) // 3600000000 AND p.hours_of IS NOT DISTINCT FROM e.hours_of
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
-- events only. Of the delegation, the fields the rules name (its key, the délégataire's name
-- and role, when it was recorded): most kept events are a délégataire's off hours, and
-- writing the whole record with each cost more than the rest of the write; the whole record
-- is the segment's (`delegation_segment.judged_against`).
SELECT k.operator, k.event_id, k.occurred_at, k.occurred_local, k.practice_id, k.mailbox, k.holder_name,
    k.actor, k.action, k.outcome, k.attribution, k.right_needed, k.auth_method, k.is_before_recording,
    k.delegate_role, k.hours_of, k.day, k.holiday_name, k.is_holiday, k.is_off_hours,
    s.rights_in_force,
    CASE WHEN s.judged_against IS NOT NULL THEN struct_pack(
        delegation_key := s.judged_against.delegation_key,
        delegate_name := s.judged_against.delegate_name,
        delegate_role := s.judged_against.delegate_role,
        started_latest_at := s.judged_against.started_latest_at) END AS judged_against,
    coalesce(s.judged_against_fr, 'aucune délégation') AS judged_against_fr
FROM kept AS k
LEFT JOIN delegation_segment AS s ON s.mailbox = k.mailbox AND s.delegate = k.actor AND s.seg_from_at = k.seg_from_at
