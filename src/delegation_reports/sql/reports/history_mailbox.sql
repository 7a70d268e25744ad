-- Grain: one row describing a mailbox: its practice and holder, and the traces held for it:
-- its first and last Paris days with traces and their operators, from the monthly days with
-- traces (`mailbox_day`, every covered month's kept up to date): the events themselves would
-- be scanned whole. The first and last instants are read from those days' events
-- (history_traced.sql).
SELECT
    $mailbox AS mailbox,
    m.practice_id, m.practice_name, m.holder_name, m.holder_rpps, m.holder_profession,
    d.first_day, d.last_day, d.operators
FROM (SELECT 1) AS one
LEFT JOIN mailbox_practice AS m ON m.mailbox = $mailbox
CROSS JOIN (
    SELECT min(day) AS first_day, max(day) AS last_day,
        string_agg(DISTINCT operator, ', ' ORDER BY operator) AS operators
    FROM mailbox_day
    WHERE mailbox = $mailbox
) AS d
