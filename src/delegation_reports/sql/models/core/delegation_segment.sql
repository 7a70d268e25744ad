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
    -- number rather than the period's reference, which is joined back once per segment; a
    -- pair with thousands of periods would otherwise copy every reference into every
    -- (segment, period) row.
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
state AS (
    SELECT
        b.mailbox,
        b.delegate,
        b.seg_from_at,
        bool_or(coalesce(b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at, false)) AS is_in_force,
        -- The rights of every period in force: an action is authorised when one of them has it.
        list_sort(list_distinct(flatten(list(p.rights) FILTER (
            b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at)))) AS rights_any,
        arg_max(p.rights, p.in_force_from_at) FILTER (
            b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at) AS rights_in_force,
        arg_max(p.delegate_role, p.in_force_from_at) FILTER (
            b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at) AS role_in_force,
        arg_max(p.delegate_role, p.started_latest_at) AS last_role,
        -- Inside a period's declared validity but before it was recorded (a back-dated grant).
        bool_or(coalesce(b.seg_from_at >= p.valid_from_at AND b.seg_from_at < p.started_earliest_at
                         AND b.seg_from_at < coalesce(p.valid_until_at, unbounded_until()), false))
            AS is_before_recording,
        -- The delegation an access in the segment is judged against: the period in force (the
        -- latest to start), else a back-dated one covering it, else the latest period started
        -- before, else the first one after.
        arg_max(p.period_no, p.in_force_from_at) FILTER (
            b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at) AS in_force_no,
        -- The latest period started before the segment, and whether a revocation cut it short
        -- (after the validity's own end, an access is outside the period, not after a
        -- revocation): how it ended tells what happened.
        arg_max(struct_pack(
                    period_no := p.period_no,
                    cut_at := CASE WHEN p.revoked_at < coalesce(p.valid_until_at, unbounded_until())
                                   THEN p.revoked_at END),
                coalesce(p.started_earliest_at, unbounded_from())) FILTER (
            coalesce(p.started_earliest_at, unbounded_from()) <= b.seg_from_at) AS latest_before,
        arg_min(p.period_no, p.started_latest_at) FILTER (
            b.seg_from_at >= p.valid_from_at AND b.seg_from_at < p.started_earliest_at
            AND b.seg_from_at < coalesce(p.valid_until_at, unbounded_until())) AS backdated_no,
        arg_min(p.period_no, p.started_latest_at) AS first_no
    FROM bounds AS b
    JOIN (
        SELECT mailbox, delegate, period_no, in_force_from_at, in_force_until_at, rights,
            delegate_role, started_earliest_at, started_latest_at, valid_from_at, valid_until_at,
            revoked_at
        FROM periods
    ) AS p USING (mailbox, delegate)
    GROUP BY b.mailbox, b.delegate, b.seg_from_at
)
SELECT
    s.mailbox,
    s.delegate,
    s.seg_from_at,
    coalesce(lead(s.seg_from_at) OVER (PARTITION BY s.mailbox, s.delegate ORDER BY s.seg_from_at),
             unbounded_until()) AS seg_until_at,
    s.is_in_force,
    s.rights_any,
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
