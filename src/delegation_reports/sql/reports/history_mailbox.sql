-- Grain: one row describing a mailbox: its practice and holder, and the traces held for it.
SELECT
    $mailbox AS mailbox,
    m.practice_id, m.practice_name, m.holder_name, m.holder_rpps, m.holder_profession,
    (SELECT min(occurred_at) FROM audit_event WHERE mailbox = $mailbox) AS traced_from_at,
    (SELECT max(occurred_at) FROM audit_event WHERE mailbox = $mailbox) AS traced_to_at,
    (SELECT string_agg(DISTINCT operator, ', ' ORDER BY operator) FROM audit_event WHERE mailbox = $mailbox) AS operators
FROM (SELECT 1) AS one
LEFT JOIN mailbox_practice AS m ON m.mailbox = $mailbox
