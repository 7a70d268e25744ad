-- Grain: one row per record of the delegation-event file being loaded, typed, with the list of
-- problems that keep it out of the warehouse. Reads `raw_canonical`; `event_ts()` and
-- `bound_ts()` are defined for the file's time layout.
WITH typed AS (
    SELECT
        line_number,
        has_bad_bytes,
        raw_text,
        coalesce(nullif(trim(operator), ''), getvariable('default_operator')) AS operator,
        nullif(trim(event_id), '') AS event_id,
        nullif(trim(event_type), '') AS event_type_text,
        nullif(trim(event_at), '') AS event_at_text,
        lower(nullif(trim(mailbox), '')) AS mailbox,
        lower(nullif(trim(delegate), '')) AS delegate,
        nullif(trim(delegate_name), '') AS delegate_name,
        nullif(trim(delegate_role), '') AS delegate_role_text,
        nullif(trim(rights), '') AS rights_text,
        nullif(trim(valid_from), '') AS valid_from_text,
        nullif(trim(valid_to), '') AS valid_to_text,
        lower(nullif(trim(performed_by), '')) AS performed_by
    FROM raw_canonical
),
parsed AS (
    SELECT
        *,
        lower(event_type_text) AS event_type,
        lower(delegate_role_text) AS delegate_role,
        list_sort(list_distinct(list_filter(
            list_transform(string_split(coalesce(rights_text, ''), '|'), lambda r: lower(trim(r))),
            lambda r: r <> ''))) AS rights,
        event_in_range(event_ts(event_at_text)) AS event,
        bound_in_range(bound_ts(valid_from_text, false)) AS valid_from,
        bound_in_range(bound_ts(valid_to_text, true)) AS valid_to
    FROM typed
),
checked AS (
    SELECT
        *,
        list_filter([
            CASE WHEN has_bad_bytes THEN {'reason': 'undecodable_bytes', 'detail': 'bytes not valid in the file encoding'} END,
            control_problem(['operator', 'event_id', 'mailbox', 'delegate', 'performed_by'], [operator, event_id, mailbox, delegate, performed_by]),
            CASE WHEN event_id IS NULL THEN {'reason': 'missing_required_field', 'detail': 'event_id'} END,
            CASE WHEN event_type_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'event_type'} END,
            CASE WHEN event_at_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'event_at'} END,
            CASE WHEN mailbox IS NULL THEN {'reason': 'missing_required_field', 'detail': 'mailbox'} END,
            CASE WHEN delegate IS NULL THEN {'reason': 'missing_required_field', 'detail': 'delegate'} END,
            CASE WHEN operator IS NULL THEN {'reason': 'missing_required_field', 'detail': 'operator'} END,
            CASE WHEN delegate_role_text IS NULL AND event_type IN ('grant', 'modify')
                THEN {'reason': 'missing_required_field', 'detail': 'delegate_role'} END,
            CASE WHEN len(rights) = 0 AND event_type IN ('grant', 'modify')
                THEN {'reason': 'missing_required_field', 'detail': 'rights'} END,
            CASE WHEN event.problem IS NOT NULL
                THEN {'reason': event.problem, 'detail': 'event_at=' || left(event_at_text, 60)} END,
            CASE WHEN valid_from.problem IS NOT NULL
                THEN {'reason': valid_from.problem, 'detail': 'valid_from=' || left(valid_from_text, 60)} END,
            CASE WHEN valid_to.problem IS NOT NULL
                THEN {'reason': valid_to.problem, 'detail': 'valid_to=' || left(valid_to_text, 60)} END,
            CASE WHEN event_type NOT IN ('grant', 'modify', 'revoke')
                THEN {'reason': 'unknown_action', 'detail': 'event_type=' || left(event_type_text, 60)} END,
            CASE WHEN delegate_role NOT IN ('secretary', 'medical_assistant', 'replacement', 'other')
                THEN {'reason': 'invalid_value', 'detail': 'delegate_role=' || left(delegate_role_text, 60)} END,
            CASE WHEN len(list_filter(rights, lambda r: r NOT IN ('read', 'send', 'documents', 'manage'))) > 0
                THEN {'reason': 'invalid_value', 'detail': 'rights=' || left(rights_text, 80)} END,
            CASE WHEN NOT address_ok(mailbox)
                THEN {'reason': 'invalid_address', 'detail': 'mailbox=' || left(mailbox, 80)} END,
            CASE WHEN NOT address_ok(delegate)
                THEN {'reason': 'invalid_address', 'detail': 'delegate=' || left(delegate, 80)} END,
            CASE WHEN mailbox = delegate
                THEN {'reason': 'invalid_value', 'detail': 'a mailbox cannot be delegated to its own holder'} END,
            CASE WHEN valid_from.ts IS NOT NULL AND valid_to.ts IS NOT NULL AND valid_to.ts <= valid_from.ts
                THEN {'reason': 'invalid_range', 'detail': 'valid_to is not after valid_from'} END
        ], lambda p: p IS NOT NULL) AS problems
    FROM parsed
)
SELECT
    line_number,
    operator,
    event_id,
    event_type,
    event.ts AS event_at,
    mailbox,
    delegate,
    delegate_name,
    delegate_role,
    rights,
    valid_from.ts AS valid_from_at,
    valid_to.ts AS valid_until_at,
    performed_by,
    problems,
    CASE WHEN len(problems) > 0 THEN raw_text END AS raw_text
FROM checked
