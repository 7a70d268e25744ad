-- Grain: one row of delegation hygiene figures for the month, across practices.
SELECT
    count(*) FILTER (rule_id = 'open_ended_replacement') AS n_open_ended_replacements,
    count(*) FILTER (rule_id = 'dormant_delegation') AS n_dormant,
    count(*) FILTER (rule_id = 'delegate_outside_practice') AS n_off_roster,
    count(*) FILTER (rule_id = 'delegation_not_by_holder') AS n_not_by_holder,
    count(*) FILTER (rule_id = 'delegation_inconsistency') AS n_inconsistent,
    (SELECT count(*) FROM delegation_period WHERE in_force_from_at < $until_at AND in_force_until_at > $from_at) AS n_in_force
FROM finding
WHERE month = $month
