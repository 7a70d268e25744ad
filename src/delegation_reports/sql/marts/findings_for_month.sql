-- Grain: one row per finding of a month, most severe first, optionally for one practice and
-- one rule, with its lifecycle status and, when accepted, the acceptance (what the reports say
-- of each rule, `rule_texts.sql`, is read apart: once per rule, not once per finding). Instants
-- are given as microseconds since the epoch (`analysis.findings.month_findings` makes them
-- datetimes: the driver's own conversion, through the connection's time zone, costs several
-- times more).
SELECT
    f.rule_id, f.severity, f.practice_id, f.mailbox, f.actor, epoch_us(f.first_at) AS first_at,
    epoch_us(f.last_at) AS last_at, f.n_events, f.evidence, f.title_fr, f.explanation_fr,
    f.finding_id, f.status, f.first_month, f.delegation_key, f.delegation_ids, f.accepted_by,
    epoch_us(f.accepted_at) AS accepted_at, f.accepted_reason,
    f.accepted_until
FROM finding_status AS f
WHERE f.month = $month
  AND ($practice_id IS NULL OR f.practice_id = $practice_id)
  AND ($rule_id IS NULL OR f.rule_id = $rule_id)
ORDER BY
    CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
    f.practice_id NULLS LAST, f.first_at NULLS LAST, f.rule_id, f.mailbox, f.actor
