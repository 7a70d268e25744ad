-- Grain: one row per finding of a month, most severe first, optionally for one practice and
-- one rule, with its lifecycle status and, when accepted, the acceptance; and what the reports
-- say of its rule for its practice (label, who acts, advice: see default_rules.toml).
SELECT
    rule_id, severity, practice_id, mailbox, actor, first_at, last_at, n_events, evidence,
    title_fr, explanation_fr, finding_id, status, first_month, delegation_key, delegation_ids,
    accepted_by, accepted_at, accepted_reason, accepted_until,
    rule_text(practice_id, rule_id, 'label') AS rule_label,
    rule_text(practice_id, rule_id, 'who') AS rule_who,
    rule_text(practice_id, rule_id, 'advice') AS advice_fr
FROM finding_status
WHERE month = $month
  AND ($practice_id IS NULL OR practice_id = $practice_id)
  AND ($rule_id IS NULL OR rule_id = $rule_id)
ORDER BY
    CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
    practice_id NULLS LAST, first_at NULLS LAST, rule_id, mailbox, actor
