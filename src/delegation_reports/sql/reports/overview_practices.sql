-- Grain: one row per practice on the roster, ranked by the month's findings: critical first,
-- then warnings, then information. Accepted findings are exceptions, not alerts: counted apart.
SELECT
    r.practice_id,
    min(r.practice_name) AS practice_name,
    count(DISTINCT r.member) FILTER (r.member_kind = 'holder') AS n_mailboxes,
    (SELECT count(*) FROM finding_status AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.status <> 'accepted' AND f.severity = 'critical') AS n_critical,
    (SELECT count(*) FROM finding_status AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.status <> 'accepted' AND f.severity = 'warning') AS n_warning,
    (SELECT count(*) FROM finding_status AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.status <> 'accepted' AND f.severity = 'info') AS n_info,
    -- Whether any trace of the month concerns the practice's mailboxes: without, its zero
    -- findings mean "no data", not "nothing to report".
    EXISTS (SELECT 1 FROM mailbox_day AS d JOIN mailbox_practice AS m USING (mailbox)
            WHERE d.month = $month AND m.practice_id = r.practice_id) AS has_traces,
    (SELECT count(*) FROM finding_status AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.status = 'accepted') AS n_accepted
FROM roster_member AS r
GROUP BY r.practice_id
ORDER BY n_critical DESC, n_warning DESC, n_info DESC, r.practice_id
