-- Grain: one row per delegation event of $operator among $event_ids that is in the warehouse
-- (loaded by this file or an earlier one): the permission changes whose state may be kept.
SELECT event_id
FROM delegation_event
WHERE operator = $operator AND list_contains($event_ids, event_id)
