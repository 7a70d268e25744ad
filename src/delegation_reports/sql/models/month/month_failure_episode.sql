-- Grain: one row per episode of failed logins of one account on one mailbox started in the
-- window [$from_at, $until_at): failures close together (a burst: at least `threshold`, each
-- less than $window_minutes after the previous) or numerous within a day (a slow series: at
-- least `slow_failures` in less than 24 hours, however spaced). Bursts and series that overlap
-- make one episode, holding every failure between its first and its last.
--
-- Read from the failed logins a day either side of the window (`month_failed_login`): an
-- episode belongs to the month it starts in, may run on past its end, and the window's first
-- failures may continue one started before.
WITH marked AS (
    SELECT *,
        CASE WHEN occurred_at - lag(occurred_at) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id)
                  < to_minutes(CAST($window_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst,
        -- The failures of the 24 hours from this one (this one's peers included).
        count(*) OVER day_ahead AS n_day,
        max(occurred_at) OVER day_ahead AS day_last_at
    FROM month_failed_login
    WINDOW day_ahead AS (PARTITION BY mailbox, actor ORDER BY occurred_at
        RANGE BETWEEN CURRENT ROW AND INTERVAL '23:59:59.999999' FOLLOWING)
),
numbered AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id) AS burst
    FROM marked
),
spans AS (
    -- Bursts, and days holding a slow series, as intervals of time.
    SELECT mailbox, actor, min(occurred_at) AS start_at, max(occurred_at) AS end_at, false AS is_series
    FROM numbered
    GROUP BY mailbox, actor, burst
    HAVING count(*) >= any_value(threshold)
    UNION ALL
    SELECT mailbox, actor, occurred_at, day_last_at, true
    FROM numbered
    WHERE n_day >= slow_failures
),
reach AS (
    -- How far the intervals before this one (in start order) reach.
    SELECT *,
        max(end_at) OVER (PARTITION BY mailbox, actor ORDER BY start_at, end_at
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached_at
    FROM spans
),
islands AS (
    -- Overlapping intervals merged: a new episode starts after the end of all those before.
    SELECT *,
        sum(CASE WHEN start_at <= reached_at THEN 0 ELSE 1 END) OVER (
            PARTITION BY mailbox, actor ORDER BY start_at, end_at ROWS UNBOUNDED PRECEDING) AS episode
    FROM reach
),
episodes AS (
    SELECT mailbox, actor, min(start_at) AS first_at, max(end_at) AS last_at, bool_or(is_series) AS is_series,
        bool_or(NOT is_series) AS has_burst
    FROM islands
    GROUP BY mailbox, actor, episode
    HAVING min(start_at) >= $from_at AND min(start_at) < $until_at
)
SELECT
    e.mailbox, e.actor, any_value(f.practice_id) AS practice_id, any_value(f.holder_name) AS holder_name,
    -- The role of a délégataire's account when the episode started (its last one, if none in force).
    any_value(coalesce(s.role_in_force, s.last_role)) AS delegate_role,
    e.first_at, e.last_at, e.is_series, e.has_burst,
    count(*) AS n_failures,
    list(f.event_id ORDER BY f.occurred_at, f.event_id) AS evidence,
    list_sort(list_distinct(list(f.client_ip))) AS client_ips,
    list(f.auth_method) AS auth_methods
FROM episodes AS e
JOIN month_failed_login AS f
    ON f.mailbox = e.mailbox AND f.actor = e.actor AND f.occurred_at >= e.first_at AND f.occurred_at <= e.last_at
LEFT JOIN delegation_segment AS s
    ON s.mailbox = e.mailbox AND s.delegate = e.actor AND e.first_at >= s.seg_from_at AND e.first_at < s.seg_until_at
GROUP BY e.mailbox, e.actor, e.first_at, e.last_at, e.is_series, e.has_burst
