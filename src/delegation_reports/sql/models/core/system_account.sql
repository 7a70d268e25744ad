-- Grain: one row per account of the audit data that matches a configured service-account
-- pattern (`system_actors`). Matched on distinct accounts, a few hundred pattern tests.
SELECT DISTINCT a.actor
FROM (SELECT DISTINCT actor FROM audit_event) AS a
JOIN cfg_system_actor AS s ON a.actor GLOB s.pattern
