-- Grain: one finding per contradictory delegation event dated in the window (data quality).
SELECT
    'delegation_inconsistency' AS rule_id,
    m.practice_id, i.mailbox, i.delegate AS actor,
    i.event_at AS first_at, i.event_at AS last_at, 1 AS n_events,
    [i.event_id] AS evidence,
    'Historique de délégation incohérent' AS title_fr,
    'L''export de l''opérateur ' || i.operator || ' contient, le ' || fr_when(i.event_at) || ', '
        || CASE i.issue
            WHEN 'revoke_without_grant' THEN 'le retrait d''une délégation jamais donnée'
            WHEN 'revoke_after_revoke' THEN 'le retrait d''une délégation déjà retirée'
            WHEN 'modify_without_grant' THEN 'la modification d''une délégation jamais donnée'
            WHEN 'modify_after_revoke' THEN 'la modification d''une délégation déjà retirée'
            WHEN 'overlapping_grant' THEN 'une nouvelle délégation alors qu''une autre était en cours'
          END
        || ' (boîte ' || i.mailbox || ', délégataire ' || i.delegate || '). L''historique est peut-être incomplet.' AS explanation_fr
FROM delegation_inconsistency AS i
LEFT JOIN mailbox_practice AS m ON m.mailbox = i.mailbox
WHERE i.event_at >= $from_at AND i.event_at < $until_at
