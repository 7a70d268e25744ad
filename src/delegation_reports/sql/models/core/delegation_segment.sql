-- Grain: one row per (mailbox, delegate, segment of time over which the delegation state of
-- the pair is constant), from `delegation_period`. A segment starts at `seg_from_at` and runs
-- to the next segment of the pair (`seg_until_at`); the first starts at `unbounded_from()`,
-- the last ends at `unbounded_until()` (macros.sql). Each segment also names the delegation
-- its accesses are judged against (`judged_against`: its key, who granted and revoked it and
-- when; its events' ids are in `delegation_record`, by key), which findings quote as
-- evidence, and says it in words once (`judged_against_fr`), for the explanations of every
-- finding.
--
-- Every test the attribution makes of an instant t against a period is of the form `t >= x`
-- or `t < x` with x a bound of that period, so the state only changes at those bounds: an
-- access is attributed by finding its segment (one equality join and one range test), not
-- by testing it against every period of its pair.
WITH periods AS (
    -- Each period of a pair, numbered: what the segments are tested against carries the
    -- number rather than the period's reference, which is joined back once per segment
    -- rather than copied into every (bound, period) row the joins below give.
    SELECT *,
        row_number() OVER (
            PARTITION BY mailbox, delegate
            ORDER BY started_latest_at, source_event_id, delegation_key, in_force_from_at,
                     in_force_until_at) AS period_no,
        struct_pack(delegation_key, source, source_event_id, opened_by,
                    granted_by, started_latest_at, revoked_at, revoked_by, revoke_event_id,
                    valid_from_at, valid_until_at, rights, delegate_role, delegate_name) AS ref
    FROM delegation_period
),
bounds AS (
    SELECT DISTINCT mailbox, delegate, b AS seg_from_at
    FROM delegation_period,
        unnest([unbounded_from(), in_force_from_at, in_force_until_at, started_earliest_at, revoked_at,
                valid_from_at, valid_until_at]) AS t(b)
    WHERE b IS NOT NULL AND b < unbounded_until()
),
-- The state at each bound, in parts whose rows follow the bounds and periods rather than
-- their product: testing every bound against every period of its pair cost (bounds) x
-- (periods) per pair, nine million rows for a pair modified 3,000 times.
in_force AS (
    -- The periods in force at each bound (a range join: as many rows as bounds when a
    -- pair's periods do not overlap, whatever their number).
    SELECT b.mailbox, b.delegate, b.seg_from_at,
        true AS is_in_force,
        -- The rights of every period in force: an action is authorised when one of them has
        -- the right it needs (one of these four, see `attributed_access`). Flags rather than
        -- a list, so that attributing an event tests a flag instead of gathering a list.
        bool_or(list_contains(p.rights, 'read')) AS may_read,
        bool_or(list_contains(p.rights, 'send')) AS may_send,
        bool_or(list_contains(p.rights, 'documents')) AS may_documents,
        bool_or(list_contains(p.rights, 'manage')) AS may_manage,
        arg_max(p.rights, p.in_force_from_at) AS rights_in_force,
        arg_max(p.delegate_role, p.in_force_from_at) AS role_in_force,
        -- The period in force an access is judged against: the latest to start.
        arg_max(p.period_no, p.in_force_from_at) AS in_force_no
    FROM bounds AS b
    JOIN periods AS p
        ON p.mailbox = b.mailbox AND p.delegate = b.delegate
       AND b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at
    GROUP BY b.mailbox, b.delegate, b.seg_from_at
),
backdated AS (
    -- Inside a period's declared validity but before it was recorded (a back-dated grant),
    -- and the first such period: for the bounds where no period is in force only (where one
    -- is, neither is read), so that the validity each of a chain of modifications keeps from
    -- its grant, which covers every bound since, is not tested against them.
    SELECT b.mailbox, b.delegate, b.seg_from_at,
        true AS is_before_recording,
        arg_min(p.period_no, p.started_latest_at) AS backdated_no
    FROM (
        SELECT mailbox, delegate, seg_from_at FROM bounds
        EXCEPT
        SELECT mailbox, delegate, seg_from_at FROM in_force
    ) AS b
    JOIN periods AS p
        ON p.mailbox = b.mailbox AND p.delegate = b.delegate
       AND b.seg_from_at >= p.valid_from_at AND b.seg_from_at < p.started_earliest_at
       AND b.seg_from_at < coalesce(p.valid_until_at, unbounded_until())
    GROUP BY b.mailbox, b.delegate, b.seg_from_at
),
latest AS (
    -- The latest period started at or before each bound, and whether a revocation cut it
    -- short (after the validity's own end, an access is outside the period, not after a
    -- revocation): how it ended tells what happened. Bounds and period starts in one
    -- sequence per pair, a start before a bound at the same instant: the last start before
    -- a bound.
    SELECT mailbox, delegate, seg_from_at, is_bound,
        last_value(started IGNORE NULLS) OVER (
            PARTITION BY mailbox, delegate ORDER BY instant, is_bound, period_no
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS latest_before
    FROM (
        SELECT mailbox, delegate, coalesce(started_earliest_at, unbounded_from()) AS instant,
            CAST(NULL AS TIMESTAMPTZ) AS seg_from_at, 0 AS is_bound, period_no,
            struct_pack(
                period_no := period_no,
                cut_at := CASE WHEN revoked_at < coalesce(valid_until_at, unbounded_until())
                               THEN revoked_at END) AS started
        FROM periods
        UNION ALL
        SELECT mailbox, delegate, seg_from_at, seg_from_at, 1, NULL, NULL
        FROM bounds
    )
),
pair AS (
    -- What holds for the whole pair: the role last given, and its first period.
    SELECT mailbox, delegate,
        arg_max(delegate_role, started_latest_at) AS last_role,
        arg_min(period_no, started_latest_at) AS first_no
    FROM periods
    GROUP BY mailbox, delegate
),
state AS (
    SELECT
        b.mailbox,
        b.delegate,
        b.seg_from_at,
        coalesce(i.is_in_force, false) AS is_in_force,
        coalesce(i.may_read, false) AS may_read,
        coalesce(i.may_send, false) AS may_send,
        coalesce(i.may_documents, false) AS may_documents,
        coalesce(i.may_manage, false) AS may_manage,
        i.rights_in_force,
        i.role_in_force,
        a.last_role,
        coalesce(d.is_before_recording, false) AS is_before_recording,
        -- The delegation an access in the segment is judged against: the period in force (the
        -- latest to start), else a back-dated one covering it, else the latest period started
        -- before, else the first one after.
        i.in_force_no,
        l.latest_before,
        d.backdated_no,
        a.first_no
    FROM bounds AS b
    JOIN pair AS a ON a.mailbox = b.mailbox AND a.delegate = b.delegate
    LEFT JOIN in_force AS i
        ON i.mailbox = b.mailbox AND i.delegate = b.delegate AND i.seg_from_at = b.seg_from_at
    LEFT JOIN backdated AS d
        ON d.mailbox = b.mailbox AND d.delegate = b.delegate AND d.seg_from_at = b.seg_from_at
    LEFT JOIN latest AS l
        ON l.is_bound = 1 AND l.mailbox = b.mailbox AND l.delegate = b.delegate
       AND l.seg_from_at = b.seg_from_at
)
SELECT
    s.mailbox,
    s.delegate,
    s.seg_from_at,
    coalesce(lead(s.seg_from_at) OVER (PARTITION BY s.mailbox, s.delegate ORDER BY s.seg_from_at),
             unbounded_until()) AS seg_until_at,
    s.is_in_force,
    s.may_read,
    s.may_send,
    s.may_documents,
    s.may_manage,
    s.rights_in_force,
    s.role_in_force,
    s.last_role,
    coalesce(s.latest_before.cut_at <= s.seg_from_at, false) AS is_after_revocation,
    s.is_before_recording AND NOT s.is_in_force AS is_before_recording,
    j.ref AS judged_against,
    fr_delegation(j.ref, r.events_fr) AS judged_against_fr
FROM state AS s
JOIN periods AS j
    ON j.mailbox = s.mailbox AND j.delegate = s.delegate
   AND j.period_no = coalesce(s.in_force_no, s.backdated_no, s.latest_before.period_no, s.first_no)
LEFT JOIN delegation_record AS r
    ON r.mailbox = j.mailbox AND r.delegate = j.delegate AND r.delegation_key = j.delegation_key
