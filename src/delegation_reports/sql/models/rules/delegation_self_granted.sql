-- Grain: one finding per delegation in force during the window that its own délégataire gave
-- or modified (widening their own rights, for instance): a délégataire acts under the
-- holder's responsibility and cannot grant themselves access.
WITH changes AS (
    SELECT p.*,
        lag(p.rights) OVER (PARTITION BY p.delegation_key ORDER BY p.started_latest_at) AS rights_before
    FROM delegation_period AS p
    WHERE p.source = 'events' AND p.started_latest_at < $until_at
      AND p.delegation_key IN (
          SELECT delegation_key FROM delegation_period
          WHERE in_force_from_at < $until_at AND in_force_until_at > $from_at)
)
SELECT
    'delegation_self_granted' AS rule_id,
    practice_of(any_value(m.practice_id), any_value(mp.practice_id)) AS practice_id,
    c.mailbox, c.delegate AS actor,
    min(c.started_latest_at) AS first_at, max(c.started_latest_at) AS last_at, count(*) AS n_events,
    list(c.source_event_id ORDER BY c.started_latest_at) AS evidence,
    c.delegation_key,
    'Délégation que le délégataire s''est donnée lui-même' AS title_fr,
    fr_person(any_value(c.delegate_name), c.delegate, any_value(c.delegate_role)) || ' a lui-même '
        || array_to_string(list(
               CASE c.opened_by WHEN 'grant' THEN 'créé sa délégation' ELSE 'modifié sa délégation' END
               || ' sur la boîte ' || fr_of(coalesce(m.holder_name, c.mailbox))
               || ' le ' || fr_when(c.started_latest_at) || ' (événement ' || c.source_event_id || ')'
               || coalesce(' en s''ajoutant les droits : ' || nullif(fr_rights(
                      list_filter(c.rights, lambda r: NOT list_contains(coalesce(c.rights_before, []::VARCHAR[]), r))), ''), '')
               ORDER BY c.started_latest_at), ', puis ')
        || '. Seul le titulaire peut déléguer sa boîte.' AS explanation_fr
FROM changes AS c
LEFT JOIN mailbox_practice AS m ON m.mailbox = c.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = c.mailbox AND mp.actor = c.delegate
WHERE c.granted_by = c.delegate
GROUP BY c.mailbox, c.delegate, c.delegation_key
