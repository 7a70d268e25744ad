-- Grain: one row of key figures for the practice and month.
SELECT
    (SELECT count(*) FROM mailbox_practice WHERE practice_id = $practice_id) AS n_mailboxes,
    (SELECT count(*) FROM delegation_period AS p
        JOIN mailbox_practice AS m USING (mailbox)
        WHERE m.practice_id = $practice_id
          AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at) AS n_delegations,
    count(*) FILTER (attribution = 'owner') AS n_owner_actions,
    count(*) FILTER (attribution LIKE 'delegate_%') AS n_delegate_actions,
    count(*) FILTER (attribution = 'no_delegation') AS n_unknown_actions,
    count(DISTINCT actor) FILTER (attribution LIKE 'delegate_%') AS n_delegates_active,
    -- Accepted findings are exceptions, not alerts.
    (SELECT count(*) FROM finding_status WHERE month = $month AND practice_id = $practice_id AND status <> 'accepted' AND severity = 'critical') AS n_critical,
    (SELECT count(*) FROM finding_status WHERE month = $month AND practice_id = $practice_id AND status <> 'accepted' AND severity = 'warning') AS n_warning,
    (SELECT count(*) FROM finding_status WHERE month = $month AND practice_id = $practice_id AND status <> 'accepted' AND severity = 'info') AS n_info,
    (SELECT count(*) FROM finding_status WHERE month = $month AND practice_id = $practice_id AND status = 'accepted') AS n_accepted
FROM practice_access
WHERE practice_key = practice_key($practice_id) AND practice_id = $practice_id
  AND occurred_at >= $from_at AND occurred_at < $until_at
