-- Grain: one finding per delegation in force during the window whose délégataire is on the
-- roster of none of the holder's practices. A replacement is external to the practice by
-- nature: never flagged here (`open_ended_replacement` watches its dates).
SELECT
    'delegate_outside_practice' AS rule_id,
    m.practice_id, p.mailbox, p.delegate AS actor,
    min(p.started_latest_at) AS first_at, NULL::TIMESTAMPTZ AS last_at, 0 AS n_events,
    list(p.source_event_id ORDER BY p.started_latest_at) FILTER (p.source_event_id IS NOT NULL) AS evidence,
    p.delegation_key,
    'Délégataire extérieur au cabinet' AS title_fr,
    fr_person(any_value(p.delegate_name), p.delegate, any_value(p.delegate_role)) || ' a accès à la boîte '
        || fr_of(coalesce(any_value(m.holder_name), p.mailbox)) || ' depuis le ' || fr_long_date(min(p.started_latest_at))
        || ' mais ne figure pas dans la liste des membres du cabinet.' AS explanation_fr
FROM delegation_period AS p
JOIN mailbox_practice AS m ON m.mailbox = p.mailbox
WHERE p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
  AND p.delegate_role IS DISTINCT FROM 'replacement'
  AND NOT EXISTS (
      SELECT 1
      FROM roster_member AS r
      JOIN roster_member AS h ON h.practice_id = r.practice_id AND h.member = p.mailbox AND h.member_kind = 'holder'
      WHERE r.member = p.delegate)
GROUP BY m.practice_id, p.mailbox, p.delegate, p.delegation_key
