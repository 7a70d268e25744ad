-- Grain: one row per attributed event of an actor and/or a mailbox in a window.
SELECT event_id, occurred_at, occurred_local, practice_id, mailbox, holder_name, actor, action,
       outcome, auth_method, client_ip, user_agent, session_id, attribution, delegate_role,
       rights_in_force, right_needed, operator
FROM attributed_access
WHERE ($actor IS NULL OR actor = $actor)
  AND ($mailbox IS NULL OR mailbox = $mailbox)
  AND ($from_at IS NULL OR occurred_at >= $from_at)
  AND ($until_at IS NULL OR occurred_at < $until_at)
ORDER BY occurred_at, event_id
