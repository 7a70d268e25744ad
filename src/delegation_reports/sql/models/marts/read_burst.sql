-- Grain: one row per burst of reads (no pause longer than $gap_minutes) by one account on one
-- mailbox, in the month being built. Kept from month to month: the baseline of `bulk_access`.
-- Built from the events alone (service accounts are left out by the rule), so that a change
-- of delegations or rosters leaves it valid.
WITH marked AS (
    SELECT
        mailbox, actor, occurred_at,
        -- Events of the same second are peers: whatever their order, one of them at most
        -- starts a burst, and they share it.
        CASE WHEN occurred_at - lag(occurred_at) OVER w <= to_minutes(CAST($gap_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst
    FROM audit_event
    WHERE occurred_at >= $from_at AND occurred_at < $until_at
      AND action = 'read' AND outcome = 'success'
    WINDOW w AS (PARTITION BY mailbox, actor ORDER BY occurred_at)
),
numbered AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at) AS burst
    FROM marked
)
SELECT
    $month::DATE AS month, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_reads
FROM numbered
GROUP BY mailbox, actor, burst
