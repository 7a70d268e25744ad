-- Grain: one finding per delegation change (grant or modification) made by someone other
-- than the holder, whose delegation is in force during the window.
SELECT DISTINCT ON (p.source_event_id, p.operator)
    'delegation_not_by_holder' AS rule_id,
    m.practice_id, p.mailbox, p.granted_by AS actor,
    p.started_latest_at AS first_at, NULL::TIMESTAMPTZ AS last_at, 1 AS n_events,
    [p.source_event_id] AS evidence,
    p.delegation_key, p.delegation_ids,
    'Délégation donnée par un tiers' AS title_fr,
    'La délégation de la boîte de ' || coalesce(m.holder_name, p.mailbox) || ' à '
        || coalesce(p.delegate_name, p.delegate) || ' a été '
        || CASE p.opened_by WHEN 'grant' THEN 'donnée' ELSE 'modifiée' END || ' le ' || fr_date(p.started_latest_at)
        || ' par ' || p.granted_by || ', et non par le titulaire de la boîte. Le titulaire est responsable '
        || 'de sa boîte : vérifiez qu''il l''a bien demandé.' AS explanation_fr
FROM delegation_period AS p
LEFT JOIN mailbox_practice AS m ON m.mailbox = p.mailbox
WHERE p.granted_by IS NOT NULL AND p.granted_by <> p.mailbox
  AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
