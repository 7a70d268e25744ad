-- Grain: one row per finding of the month on a mailbox (or by an operator) that no practice's
-- roster claims: no practice report shows it, so the overview does, in full.
SELECT rule_id, severity, title_fr, mailbox, actor, first_at, last_at, n_events, evidence,
       explanation_fr, finding_id,
       rule_text(NULL, rule_id, 'label') AS rule_label,
       rule_text(NULL, rule_id, 'who') AS rule_who,
       rule_text(NULL, rule_id, 'advice') AS advice_fr
FROM finding
WHERE month = $month AND practice_id IS NULL
ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
    mailbox NULLS LAST, first_at NULLS LAST, rule_id, actor
