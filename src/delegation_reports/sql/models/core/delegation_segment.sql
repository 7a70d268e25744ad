-- Grain: one row per (mailbox, delegate, segment of time over which the delegation state of
-- the pair is constant), from `delegation_period`. A segment starts at `seg_from_at` and runs
-- to the next segment of the pair (`seg_until_at`); the first starts at `unbounded_from()`,
-- the last ends at `unbounded_until()` (macros.sql). Each segment also names the delegation
-- its accesses are judged against (`judged_against`: its key, events, who granted and revoked
-- it and when), which findings quote as evidence, and says it in words once
-- (`judged_against_fr`), for the explanations of every finding.
--
-- Every test the attribution makes of an instant t against a period is of the form `t >= x`
-- or `t < x` with x a bound of that period, so the state only changes at those bounds: an
-- access is attributed by finding its segment (one equality join and one range test), not
-- by testing it against every period of its pair.
WITH bounds AS (
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
        arg_max(p.ref, p.in_force_from_at) FILTER (
            b.seg_from_at >= p.in_force_from_at AND b.seg_from_at < p.in_force_until_at) AS ref_in_force,
        arg_max(p.ref, coalesce(p.started_earliest_at, unbounded_from())) FILTER (
            coalesce(p.started_earliest_at, unbounded_from()) <= b.seg_from_at) AS ref_before,
        arg_min(p.ref, p.started_latest_at) FILTER (
            b.seg_from_at >= p.valid_from_at AND b.seg_from_at < p.started_earliest_at
            AND b.seg_from_at < coalesce(p.valid_until_at, unbounded_until())) AS ref_backdated,
        arg_min(p.ref, p.started_latest_at) AS ref_first
    FROM bounds AS b
    JOIN (
        SELECT *, struct_pack(delegation_key, delegation_ids, source, source_event_id, opened_by,
                              granted_by, started_latest_at, revoked_at, revoked_by, revoke_event_id,
                              valid_from_at, valid_until_at, rights, delegate_role, delegate_name) AS ref
        FROM delegation_period
    ) AS p USING (mailbox, delegate)
    GROUP BY b.mailbox, b.delegate, b.seg_from_at
)
SELECT
    mailbox,
    delegate,
    seg_from_at,
    coalesce(lead(seg_from_at) OVER (PARTITION BY mailbox, delegate ORDER BY seg_from_at),
             unbounded_until()) AS seg_until_at,
    is_in_force,
    rights_any,
    rights_in_force,
    role_in_force,
    last_role,
    -- The latest period started before the segment (`ref_before`): how it ended tells what
    -- happened. A revocation counts when it cut the delegation short; after the validity's
    -- own end, an access is outside the period.
    coalesce(ref_before.revoked_at < coalesce(ref_before.valid_until_at, unbounded_until())
             AND ref_before.revoked_at <= seg_from_at, false) AS is_after_revocation,
    is_before_recording AND NOT is_in_force AS is_before_recording,
    coalesce(ref_in_force, ref_backdated, ref_before, ref_first) AS judged_against,
    fr_delegation(coalesce(ref_in_force, ref_backdated, ref_before, ref_first)) AS judged_against_fr
FROM state
