-- Grain: one row per burst of reads (no pause longer than $gap_minutes) by one account on one
-- mailbox, for the month being built. Kept from month to month: the baseline of `bulk_access`.
WITH reads AS (
    SELECT practice_id, mailbox, actor, occurred_at, event_id
    FROM month_access
    WHERE action = 'read' AND outcome = 'success' AND attribution <> 'system'
),
marked AS (
    SELECT *,
        CASE WHEN occurred_at - lag(occurred_at) OVER w <= to_minutes(CAST($gap_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst
    FROM reads
    WINDOW w AS (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id)
),
numbered AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id) AS burst
    FROM marked
)
SELECT
    $month::DATE AS month, any_value(practice_id) AS practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_reads
FROM numbered
GROUP BY mailbox, actor, burst
