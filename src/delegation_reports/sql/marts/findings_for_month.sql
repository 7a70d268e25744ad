-- Grain: one row per finding of a month, most severe first, optionally for one practice and
-- one rule, with its lifecycle status and, when accepted, the acceptance; and what the reports
-- say of its rule for its practice (label, who acts, advice: see default_rules.toml), read from
-- the resolved configuration's tables (no macro: any connection can run this). Instants are
-- given as microseconds since the epoch (`analysis.findings.month_findings` makes them datetimes:
-- the driver's own conversion, through the connection's time zone, costs several times more).
WITH texts AS (
    SELECT practice_id, rule_id,
        any_value(value) FILTER (name = 'label') AS label,
        any_value(value) FILTER (name = 'who') AS who,
        any_value(value) FILTER (name = 'advice') AS advice
    FROM cfg_rule_param
    WHERE name IN ('label', 'who', 'advice')
    GROUP BY ALL
)
SELECT
    f.rule_id, f.severity, f.practice_id, f.mailbox, f.actor, epoch_us(f.first_at) AS first_at,
    epoch_us(f.last_at) AS last_at, f.n_events, f.evidence, f.title_fr, f.explanation_fr,
    f.finding_id, f.status, f.first_month, f.delegation_key, f.delegation_ids, f.accepted_by,
    epoch_us(f.accepted_at) AS accepted_at, f.accepted_reason,
    f.accepted_until,
    coalesce(own.label, base.label) AS rule_label,
    coalesce(own.who, base.who) AS rule_who,
    coalesce(own.advice, base.advice) AS advice_fr
FROM finding_status AS f
LEFT JOIN texts AS own ON own.practice_id = f.practice_id AND own.rule_id = f.rule_id
LEFT JOIN texts AS base ON base.practice_id IS NULL AND base.rule_id = f.rule_id
WHERE f.month = $month
  AND ($practice_id IS NULL OR f.practice_id = $practice_id)
  AND ($rule_id IS NULL OR f.rule_id = $rule_id)
ORDER BY
    CASE f.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
    f.practice_id NULLS LAST, f.first_at NULLS LAST, f.rule_id, f.mailbox, f.actor
