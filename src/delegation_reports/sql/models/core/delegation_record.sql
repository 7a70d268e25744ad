-- Grain: one row per delegation recorded by events (mailbox, delegate, `delegation_key`: see
-- delegation_period.sql), with the ids of its events in time order (`delegation_ids`: the
-- grant, its modifications and the revocation), their number and the words explanations
-- quote them with (`events_fr`: every id up to ten, else the first two, the last one and the
-- count). The only place a delegation's ids are kept: periods, segments, accesses and rules
-- carry the key, and a finding's `delegation_ids` is joined from here once, where findings are
-- written. A delegation seen only in snapshots has no events, and no row here.
--
-- Each event belongs to the latest delegation of its pair started at or before it (in the
-- order delegation_period chains them: time, then id); a delegation starts at the event of
-- the period its key names. Revocations before any grant belong to none.
WITH starts AS (
    SELECT DISTINCT operator, mailbox, delegate, delegation_key AS event_id
    FROM delegation_period
    WHERE source = 'events' AND source_event_id = delegation_key
),
keyed AS (
    SELECT e.mailbox, e.delegate, e.event_id, e.event_at,
        last_value(s.event_id IGNORE NULLS) OVER (
            PARTITION BY e.mailbox, e.delegate ORDER BY e.event_at, e.event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS delegation_key
    FROM delegation_event AS e
    LEFT JOIN starts AS s
        ON s.operator = e.operator AND s.mailbox = e.mailbox AND s.delegate = e.delegate
       AND s.event_id = e.event_id
),
records AS (
    SELECT mailbox, delegate, delegation_key,
        list(event_id ORDER BY event_at, event_id) AS delegation_ids,
        count(*) AS n_events
    FROM keyed
    WHERE delegation_key IS NOT NULL
    GROUP BY mailbox, delegate, delegation_key
)
SELECT mailbox, delegate, delegation_key, delegation_ids, n_events,
    fr_event_ids(delegation_ids) AS events_fr
FROM records
