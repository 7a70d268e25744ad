-- Grain: one row per mailbox whose holder may have been away $holder_away_days days at some
-- point of the window (`owner_inactive_delegate_active`'s `days`): another account acted in
-- it during the month, and the holder's last success before the window (`holder_last_at`,
-- from `actor_month`, not from the events) is older than that before the window's end, or
-- unknown. Only these mailboxes' events can raise `owner_inactive_delegate_active`.
WITH owner_before AS (
    SELECT mailbox, max(last_success_at) AS last_at
    FROM actor_month
    WHERE actor = mailbox AND month < $month AND last_success_at IS NOT NULL
    GROUP BY mailbox
)
SELECT DISTINCT a.mailbox, o.last_at AS holder_last_at
FROM actor_month AS a
LEFT JOIN owner_before AS o USING (mailbox)
WHERE a.month = $month AND a.actor <> a.mailbox
  AND (o.last_at IS NULL OR o.last_at < $until_at - to_days(CAST($holder_away_days AS BIGINT)))
