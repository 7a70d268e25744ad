-- Grain: one row per audit event of the window [$from_at, $until_at), with its practice, the
-- mailbox holder, and one attribution: owner, system, delegate_authorised,
-- delegate_beyond_rights, delegate_outside_period, delegate_after_revocation, no_delegation.
WITH events AS (
    SELECT a.*, m.practice_id, m.holder_name
    FROM audit_event AS a
    LEFT JOIN mailbox_practice AS m USING (mailbox)
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
),
system_actor AS (
    -- Matched on distinct actors: a few hundred patterns checks, not one per event.
    SELECT DISTINCT a.actor
    FROM (SELECT DISTINCT actor FROM events) AS a
    JOIN cfg_system_actor AS s ON a.actor GLOB s.pattern
),
candidates AS (
    -- Each non-owner event against the delegations ever given to its actor on its mailbox.
    SELECT
        e.operator, e.event_id,
        count(p.mailbox) AS n_periods,
        bool_or(e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS is_in_force,
        bool_or(e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at
                AND list_contains(p.rights, right_needed(e.action))) AS is_in_force_with_right,
        -- The latest period started before the event: how it ended tells what happened. A
        -- revocation counts when it cut the delegation short; after the validity's own end,
        -- the access is outside the period.
        arg_max_null(
            CASE WHEN p.revoked_at < coalesce(p.valid_until_at, 'infinity'::TIMESTAMPTZ) THEN p.revoked_at END,
            coalesce(p.started_earliest_at, '-infinity'::TIMESTAMPTZ)) FILTER (
            coalesce(p.started_earliest_at, '-infinity'::TIMESTAMPTZ) <= e.occurred_at) AS last_revoked_at,
        arg_max(p.delegate_role, p.in_force_from_at) FILTER (
            e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS role_in_force,
        arg_max(p.rights, p.in_force_from_at) FILTER (
            e.occurred_at >= p.in_force_from_at AND e.occurred_at < p.in_force_until_at) AS rights_in_force,
        arg_max(p.delegate_role, p.started_latest_at) AS last_role
    FROM events AS e
    JOIN delegation_period AS p ON p.mailbox = e.mailbox AND p.delegate = e.actor
    WHERE e.actor <> e.mailbox
    GROUP BY e.operator, e.event_id
)
SELECT
    e.operator, e.event_id, e.occurred_at, paris(e.occurred_at) AS occurred_local,
    e.practice_id, e.mailbox, e.holder_name, e.actor, e.action, e.outcome, e.auth_method,
    e.client_ip, e.user_agent, e.session_id, e.message_id,
    CASE
        WHEN e.actor = e.mailbox THEN 'owner'
        WHEN e.actor IN (SELECT actor FROM system_actor) THEN 'system'
        WHEN c.n_periods IS NULL THEN 'no_delegation'
        WHEN c.is_in_force_with_right THEN 'delegate_authorised'
        WHEN c.is_in_force THEN 'delegate_beyond_rights'
        WHEN c.last_revoked_at IS NOT NULL AND c.last_revoked_at <= e.occurred_at THEN 'delegate_after_revocation'
        ELSE 'delegate_outside_period'
    END AS attribution,
    coalesce(c.role_in_force, c.last_role) AS delegate_role,
    c.rights_in_force,
    right_needed(e.action) AS right_needed
FROM events AS e
LEFT JOIN candidates AS c USING (operator, event_id)
