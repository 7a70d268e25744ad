-- Grain: one row per (mailbox, delegate, continuous period with constant rights), from the
-- delegation events and from successive snapshots. Bounds known only from snapshots are kept
-- as intervals (`*_earliest_at`, `*_latest_at`), never invented.
--
-- A *delegation* is the run of periods from a grant to its revocation (grant, modifications,
-- revocation): `delegation_key` names it (the grant's event id; for snapshots, the operator,
-- pair and first snapshot listing it), so that a finding about a delegation keeps the same
-- identity from month to month. Its events' ids are listed once, in `delegation_record`, not
-- with each period: a delegation modified thousands of times would copy thousands of ids
-- into each of its thousands of periods.
WITH chained AS (
    SELECT *,
        -- A new delegation starts at a grant, or at a modification with nothing before it or
        -- after a revocation (kept as an inconsistency, but still a delegation).
        sum(CASE WHEN event_type = 'grant'
                   OR (event_type = 'modify' AND coalesce(prev_type_c, 'revoke') = 'revoke') THEN 1 ELSE 0 END)
            OVER (PARTITION BY mailbox, delegate ORDER BY event_at, event_id) AS chain
    FROM (SELECT *, lag(event_type) OVER (PARTITION BY mailbox, delegate ORDER BY event_at, event_id) AS prev_type_c
          FROM delegation_event)
),
chains AS (
    SELECT mailbox, delegate, chain,
        arg_min(event_id, struct_pack(event_at, event_id)) AS delegation_key
    FROM chained
    WHERE chain > 0
    GROUP BY ALL
),
ordered AS (
    SELECT
        *,
        lead(event_type) OVER w AS next_type,
        lead(event_at) OVER w AS next_at,
        lead(performed_by) OVER w AS next_by,
        lead(event_id) OVER w AS next_event_id,
        -- The validity a modification without dates keeps: that of the latest grant or dated
        -- modification before it (a chain of undated modifications keeps it too).
        last_value(CASE WHEN NOT (event_type = 'modify' AND valid_from_at IS NULL AND valid_until_at IS NULL)
                        THEN struct_pack(valid_from_at, valid_until_at) END IGNORE NULLS) OVER (
            PARTITION BY mailbox, delegate ORDER BY event_at, event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS kept_validity,
        lag(event_type) OVER w AS prev_type
    FROM chained
    WINDOW w AS (PARTITION BY mailbox, delegate ORDER BY event_at, event_id)
),
from_events AS (
    SELECT
        mailbox,
        delegate,
        delegate_name,
        delegate_role,
        rights,
        event_at AS started_earliest_at,
        event_at AS started_latest_at,
        -- A modification without dates keeps the validity it modifies.
        CASE WHEN event_type = 'modify' AND valid_from_at IS NULL AND valid_until_at IS NULL
             THEN kept_validity.valid_from_at ELSE valid_from_at END AS valid_from_at,
        CASE WHEN event_type = 'modify' AND valid_from_at IS NULL AND valid_until_at IS NULL
             THEN kept_validity.valid_until_at ELSE valid_until_at END AS valid_until_at,
        next_at AS ended_earliest_at,
        next_at AS ended_latest_at,
        CASE WHEN next_type = 'revoke' THEN next_at END AS revoked_at,
        CASE WHEN next_type = 'revoke' THEN next_by END AS revoked_by,
        performed_by AS granted_by,
        event_type AS opened_by,
        event_id AS source_event_id,
        CASE WHEN next_type = 'revoke' THEN next_event_id END AS revoke_event_id,
        c.delegation_key,
        operator,
        'events' AS source
    FROM ordered
    LEFT JOIN chains AS c USING (mailbox, delegate, chain)
    WHERE event_type IN ('grant', 'modify')
),
snapshot_times AS (
    -- An operator's snapshots in time order, each with the one before and after it.
    SELECT operator, as_of_at,
        row_number() OVER (PARTITION BY operator ORDER BY as_of_at) AS snapshot_no,
        lag(as_of_at) OVER (PARTITION BY operator ORDER BY as_of_at) AS prev_as_of_at,
        lead(as_of_at) OVER (PARTITION BY operator ORDER BY as_of_at) AS next_as_of_at
    FROM (SELECT DISTINCT operator, as_of_at FROM delegation_snapshot)
),
listed AS (
    -- Each listing of a pair, with the pair's previous and next listing: a pair absent from
    -- a snapshot is a gap between the numbers of the snapshots listing it. Read this way
    -- (rather than every pair at every snapshot), the cost follows the rows listed, however
    -- many snapshots and pairs there are.
    SELECT s.operator, s.mailbox, s.delegate, s.as_of_at, s.delegate_name, s.delegate_role,
        s.rights, s.valid_from_at, s.valid_until_at, t.snapshot_no, t.prev_as_of_at,
        t.next_as_of_at,
        struct_pack(delegate_role := s.delegate_role, rights := s.rights,
                    valid_from_at := s.valid_from_at, valid_until_at := s.valid_until_at) AS state,
        lag(t.snapshot_no) OVER w AS prev_listed_no,
        lead(t.snapshot_no) OVER w AS next_listed_no,
        lag(struct_pack(delegate_role := s.delegate_role, rights := s.rights,
                        valid_from_at := s.valid_from_at, valid_until_at := s.valid_until_at)) OVER w
            AS prev_state
    FROM delegation_snapshot AS s
    JOIN snapshot_times AS t USING (operator, as_of_at)
    WINDOW w AS (PARTITION BY s.operator, s.mailbox, s.delegate ORDER BY t.snapshot_no)
),
islands AS (
    -- An island: consecutive snapshots listing the pair with the same state. A listing:
    -- consecutive snapshots listing the pair, whatever changed in between (one delegation).
    SELECT *,
        sum(CASE WHEN prev_listed_no = snapshot_no - 1 AND prev_state IS NOT DISTINCT FROM state
                 THEN 0 ELSE 1 END) OVER (
            PARTITION BY operator, mailbox, delegate ORDER BY snapshot_no) AS island,
        sum(CASE WHEN prev_listed_no = snapshot_no - 1 THEN 0 ELSE 1 END) OVER (
            PARTITION BY operator, mailbox, delegate ORDER BY snapshot_no) AS listing
    FROM listed
),
island_bounds AS (
    SELECT operator, mailbox, delegate, island,
        any_value(delegate_name) AS delegate_name,
        any_value(delegate_role) AS delegate_role,
        any_value(rights) AS rights,
        any_value(valid_from_at) AS valid_from_at,
        any_value(valid_until_at) AS valid_until_at,
        -- The snapshot before the island's first and the one after its last (NULL at the
        -- ends): the value at the extreme key, NULL kept, as the field of the extreme
        -- (key, value) pair (a pair's snapshot numbers are distinct, so keys never tie).
        min(struct_pack(k := snapshot_no, v := prev_as_of_at)).v AS started_earliest_at,
        min(as_of_at) AS started_latest_at,
        max(as_of_at) AS last_listed_at,
        max(struct_pack(k := snapshot_no, v := next_as_of_at)).v AS next_unlisted_at,
        -- Gone from the next snapshot (not merely changed): only the island's last listing
        -- can be followed by a snapshot that does not list the pair.
        bool_or(next_as_of_at IS NOT NULL AND coalesce(next_listed_no <> snapshot_no + 1, true))
            AS is_gone_after,
        any_value(listing) AS listing
    FROM islands
    GROUP BY ALL
),
listings AS (
    SELECT operator, mailbox, delegate, listing, min(started_latest_at) AS first_listed_at
    FROM island_bounds
    GROUP BY ALL
),
from_snapshots AS (
    SELECT
        mailbox, delegate, delegate_name, delegate_role, rights,
        -- Listed from the first snapshot on: the grant happened before, date unknown.
        started_earliest_at,
        started_latest_at,
        valid_from_at,
        valid_until_at,
        last_listed_at AS ended_earliest_at,
        next_unlisted_at AS ended_latest_at,
        -- Gone from the next snapshot (not merely changed): treated as a revocation.
        CASE WHEN is_gone_after THEN next_unlisted_at END AS revoked_at,
        NULL::VARCHAR AS revoked_by,
        NULL::VARCHAR AS granted_by,
        'snapshot' AS opened_by,
        NULL::VARCHAR AS source_event_id,
        NULL::VARCHAR AS revoke_event_id,
        'snapshot:' || b.operator || ':' || b.mailbox || ':' || b.delegate || ':' || strftime(l.first_listed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')
            AS delegation_key,
        b.operator,
        'snapshots' AS source
    FROM island_bounds AS b
    JOIN listings AS l USING (operator, mailbox, delegate, listing)
),
bounded AS (
    SELECT
        *,
        -- Where a bound is uncertain (snapshots), the period is taken as wide as it may have been:
        -- an access inside the uncertainty gets the benefit of the doubt.
        greatest(coalesce(started_earliest_at, unbounded_from()), coalesce(valid_from_at, unbounded_from())) AS in_force_from_at,
        least(coalesce(ended_latest_at, unbounded_until()), coalesce(valid_until_at, unbounded_until())) AS in_force_until_at
    FROM (SELECT * FROM from_events UNION ALL SELECT * FROM from_snapshots)
)
-- A period whose validity ended before it began (a modification made after a replacement's
-- end) was never in force: no in-force bounds, rather than an interval that ends before it
-- starts and that window tests would take for one in force.
SELECT
    mailbox, delegate, delegate_name, delegate_role, rights, started_earliest_at, started_latest_at,
    valid_from_at, valid_until_at, ended_earliest_at, ended_latest_at, revoked_at, revoked_by,
    granted_by, opened_by, source_event_id, revoke_event_id, delegation_key,
    operator, source,
    CASE WHEN in_force_until_at > in_force_from_at THEN in_force_from_at END AS in_force_from_at,
    CASE WHEN in_force_until_at > in_force_from_at THEN in_force_until_at END AS in_force_until_at
FROM bounded
