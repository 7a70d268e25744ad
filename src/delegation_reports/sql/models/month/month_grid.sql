-- Grain: one row per month ($months: the months of trace coverage up to the month being built,
-- and that month), with its bounds (Paris midnights) and its rank: the windows over which the
-- delegation-level rules are evaluated at once.
SELECT
    m AS month,
    timezone('Europe/Paris', m::TIMESTAMP) AS from_at,
    timezone('Europe/Paris', (m + INTERVAL 1 MONTH)::TIMESTAMP) AS until_at,
    row_number() OVER (ORDER BY m) AS position
FROM unnest($months::DATE[]) AS t(m)
