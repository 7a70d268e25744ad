-- Grain: one row per critical finding of the month on a practice's mailbox (accepted ones are
-- exceptions, not alerts), with its practice's name and what the reports say of its rule.
SELECT f.rule_id, f.severity, f.practice_id, p.practice_name, f.mailbox, f.actor, f.title_fr,
    f.explanation_fr, f.finding_id, f.status, f.first_month,
    rule_text(f.practice_id, f.rule_id, 'label') AS rule_label,
    rule_text(f.practice_id, f.rule_id, 'who') AS rule_who,
    rule_text(f.practice_id, f.rule_id, 'advice') AS advice_fr
FROM finding_status AS f
JOIN (SELECT practice_id, min(practice_name) AS practice_name FROM roster_member GROUP BY ALL) AS p
    USING (practice_id)
WHERE f.month = $month AND f.status <> 'accepted' AND f.severity = 'critical'
ORDER BY f.rule_id, p.practice_name, f.practice_id, f.first_at NULLS LAST, f.mailbox, f.actor
