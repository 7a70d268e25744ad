-- Grain: one row per finding about the mailbox in the window's months. Delegation-level
-- findings repeat every month the delegation is in force: each is kept once, its latest.
SELECT rule_id, severity, practice_id, actor, first_at, last_at, n_events, evidence, title_fr,
       explanation_fr, month, finding_id,
       rule_text(practice_id, rule_id, 'label') AS rule_label,
       rule_text(practice_id, rule_id, 'who') AS rule_who,
       rule_text(practice_id, rule_id, 'advice') AS advice_fr
FROM finding
WHERE mailbox = $mailbox AND month >= $first_month AND month <= $last_month
QUALIFY row_number() OVER (
    PARTITION BY rule_id, actor, first_at, array_to_string(evidence, ',') ORDER BY month DESC) = 1
ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_at NULLS LAST, rule_id, actor, finding_id
