-- Grain: one row per (practice, rule) with texts of its own (NULL practice: the defaults):
-- what the reports say of the rule (label, who acts, advice: see default_rules.toml), from the
-- resolved configuration's tables (no macro: any connection can run this).
SELECT practice_id, rule_id,
    any_value(value) FILTER (name = 'label') AS label,
    any_value(value) FILTER (name = 'who') AS who,
    any_value(value) FILTER (name = 'advice') AS advice
FROM cfg_rule_param
WHERE name IN ('label', 'who', 'advice')
GROUP BY ALL
