-- Grain: one row per delegation-level finding of the month being built ($month): the first
-- month of the run of consecutive months of trace coverage, ending with $month, in which the
-- finding holds. Read from `delegation_history` (the delegation-level rules evaluated for
-- every month of `month_grid`), so it does not depend on which months were built before.
WITH held AS (
    SELECT DISTINCT h.month, g.position,
        finding_key(h.rule_id, h.practice_id, h.mailbox, h.actor, h.first_at, h.evidence,
                    h.delegation_key, true) AS finding_id
    FROM delegation_history AS h
    JOIN month_grid AS g USING (month)
),
runs AS (
    -- Consecutive covered months share `position - rank`.
    SELECT finding_id, month,
        position - row_number() OVER (PARTITION BY finding_id ORDER BY position) AS run
    FROM held
)
SELECT finding_id, min(month) AS first_month
FROM runs
GROUP BY finding_id, run
HAVING max(month) = $month
