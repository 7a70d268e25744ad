-- Grain: one row per (operator, Paris month) that the traces of one of its audit files touch
-- (from the manifest's coverage spans, `audit_span`, less the months a retention purge
-- removed): the months in which the absence of a trace means something. A rule that reasons
-- on absence ("not used since", "not logged in for") holds only when every month it looks at
-- is here: a month before, between or after the files, or in a file's coverage gap, says
-- nothing.
SELECT DISTINCT s.operator, CAST(m.month AS DATE) AS month
FROM audit_span AS s,
    LATERAL (
        SELECT unnest(generate_series(
            date_trunc('month', timezone('Europe/Paris', s.from_at)),
            date_trunc('month', timezone('Europe/Paris', s.to_at)),
            INTERVAL 1 MONTH)) AS month
    ) AS m
WHERE s.operator IS NOT NULL
  -- Months a retention purge removed hold no traces any more.
  AND m.month >= coalesce(
      (SELECT date_trunc('month', timezone('Europe/Paris', max(cutoff_at))) FROM purge_record),
      m.month)
