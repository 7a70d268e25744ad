-- Grain: one row per record of the audit file being loaded, typed, with the list of problems
-- that keep it out of the warehouse (empty when the row is valid). Reads `raw_canonical`;
-- `event_ts()` is defined for the file's time layout.
WITH typed AS (
    SELECT
        line_number,
        has_bad_bytes,
        raw_text,
        coalesce(nullif(trim(operator), ''), getvariable('default_operator')) AS operator,
        nullif(trim(event_id), '') AS event_id,
        nullif(trim(occurred_at), '') AS occurred_at_text,
        lower(nullif(trim(mailbox), '')) AS mailbox,
        lower(nullif(trim(actor), '')) AS actor,
        nullif(trim(action), '') AS action_text,
        nullif(trim(outcome), '') AS outcome_text,
        coalesce(nullif(trim(auth_method), ''), 'unknown') AS auth_method_text,
        nullif(trim(client_ip), '') AS client_ip,
        nullif(user_agent, '') AS user_agent,
        nullif(trim(session_id), '') AS session_id,
        nullif(trim(message_id), '') AS message_id
    FROM raw_canonical
),
parsed AS (
    SELECT
        *,
        event_in_range(event_ts(occurred_at_text)) AS occurred,
        lower(action_text) AS action,
        lower(outcome_text) AS outcome,
        lower(auth_method_text) AS auth_method
    FROM typed
),
checked AS (
    SELECT
        *,
        list_filter([
            CASE WHEN has_bad_bytes THEN {'reason': 'undecodable_bytes', 'detail': 'bytes not valid in the file encoding'} END,
            control_problem(['operator', 'event_id', 'mailbox', 'actor', 'session_id', 'message_id'], [operator, event_id, mailbox, actor, session_id, message_id]),
            CASE WHEN event_id IS NULL THEN {'reason': 'missing_required_field', 'detail': 'event_id'} END,
            CASE WHEN occurred_at_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'occurred_at'} END,
            CASE WHEN mailbox IS NULL THEN {'reason': 'missing_required_field', 'detail': 'mailbox'} END,
            CASE WHEN actor IS NULL THEN {'reason': 'missing_required_field', 'detail': 'actor'} END,
            CASE WHEN action_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'action'} END,
            CASE WHEN outcome_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'outcome'} END,
            CASE WHEN operator IS NULL THEN {'reason': 'missing_required_field', 'detail': 'operator'} END,
            CASE WHEN occurred.problem IS NOT NULL
                THEN {'reason': occurred.problem, 'detail': 'occurred_at=' || left(occurred_at_text, 60)} END,
            CASE WHEN action NOT IN ('login', 'login_failed', 'logout', 'read', 'send', 'delete', 'move', 'download', 'other')
                THEN {'reason': 'unknown_action', 'detail': 'action=' || left(action_text, 60)} END,
            CASE WHEN outcome NOT IN ('success', 'failure')
                THEN {'reason': 'invalid_value', 'detail': 'outcome=' || left(outcome_text, 60)} END,
            CASE WHEN auth_method NOT IN ('cps', 'e-cps', 'psc', 'otp', 'password', 'certificate', 'unknown')
                THEN {'reason': 'invalid_value', 'detail': 'auth_method=' || left(auth_method_text, 60)} END,
            CASE WHEN NOT address_ok(mailbox)
                THEN {'reason': 'invalid_address', 'detail': 'mailbox=' || left(mailbox, 80)} END,
            CASE WHEN NOT address_ok(actor) AND actor NOT LIKE 'system:%'
                THEN {'reason': 'invalid_address', 'detail': 'actor=' || left(actor, 80)} END,
            CASE WHEN NOT ip_ok(client_ip)
                THEN {'reason': 'invalid_value', 'detail': 'client_ip=' || left(client_ip, 60)} END
        ], lambda p: p IS NOT NULL) AS problems
    FROM parsed
)
SELECT
    line_number,
    operator,
    event_id,
    occurred.ts AS occurred_at,
    mailbox,
    actor,
    action,
    outcome,
    auth_method,
    client_ip,
    user_agent,
    session_id,
    message_id,
    problems,
    CASE WHEN len(problems) > 0 THEN raw_text END AS raw_text
FROM checked
