-- Grain: one finding per delegation in force during the window and per third party who gave
-- or modified it: someone other than the holder (who is responsible for the mailbox) and
-- other than the délégataire (`delegation_self_granted`), or nobody the export names.
WITH changes AS (
    SELECT p.*, known_person(p.granted_by) AS granter
    FROM delegation_period AS p
    -- Snapshots never say who made a change: only the operators' delegation histories do.
    WHERE p.source = 'events' AND p.started_latest_at < $until_at
      AND p.delegation_key IN (
          SELECT delegation_key FROM delegation_period
          WHERE in_force_from_at < $until_at AND in_force_until_at > $from_at)
)
SELECT
    'delegation_not_by_holder' AS rule_id,
    practice_of(any_value(m.practice_id), any_value(mp.practice_id)) AS practice_id,
    c.mailbox, c.granter AS actor,
    min(c.started_latest_at) AS first_at, max(c.started_latest_at) AS last_at, count(*) AS n_events,
    list(c.source_event_id ORDER BY c.started_latest_at) AS evidence,
    c.delegation_key, c.delegate AS delegation_delegate,
    CASE WHEN c.granter IS NULL THEN 'Délégation donnée par une personne inconnue'
         ELSE 'Délégation donnée par un tiers' END AS title_fr,
    'La délégation de la boîte ' || fr_of(coalesce(any_value(m.holder_name), c.mailbox)) || ' à '
        || coalesce(any_value(c.delegate_name), c.delegate)
        || coalesce(' (' || fr_role(any_value(c.delegate_role)) || ')', '') || ' a été '
        || array_to_string(list(CASE c.opened_by WHEN 'grant' THEN 'donnée' ELSE 'modifiée' END
               || ' le ' || fr_when(c.started_latest_at) || ' (événement ' || c.source_event_id || ')'
               ORDER BY c.started_latest_at), ', puis ')
        || CASE WHEN c.granter IS NULL
                THEN ' sans que l''export de l''opérateur indique par qui : l''auteur de ce changement est inconnu. '
                ELSE ' par ' || c.granter || ', et non par le titulaire de la boîte. ' END
        || 'Le titulaire est responsable de sa boîte.' AS explanation_fr
FROM changes AS c
LEFT JOIN mailbox_practice AS m ON m.mailbox = c.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = c.mailbox AND mp.actor = c.delegate
WHERE c.granter IS NULL OR (c.granter <> c.mailbox AND c.granter <> c.delegate)
GROUP BY c.mailbox, c.delegate, c.granter, c.delegation_key
