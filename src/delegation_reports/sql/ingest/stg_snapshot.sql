-- Grain: one row per record of the delegation-snapshot file being loaded, typed, with the list
-- of problems that keep it out of the warehouse. Reads `raw_canonical`; `bound_ts()` is defined
-- for the file's time layout.
WITH typed AS (
    SELECT
        line_number,
        has_bad_bytes,
        raw_text,
        coalesce(nullif(trim(operator), ''), getvariable('default_operator')) AS operator,
        nullif(trim(as_of), '') AS as_of_text,
        lower(nullif(trim(mailbox), '')) AS mailbox,
        lower(nullif(trim(delegate), '')) AS delegate,
        nullif(trim(delegate_name), '') AS delegate_name,
        nullif(trim(delegate_role), '') AS delegate_role_text,
        nullif(trim(rights), '') AS rights_text,
        nullif(trim(valid_from), '') AS valid_from_text,
        nullif(trim(valid_to), '') AS valid_to_text
    FROM raw_canonical
),
parsed AS (
    SELECT
        *,
        lower(delegate_role_text) AS delegate_role,
        list_sort(list_distinct(list_filter(
            list_transform(string_split(coalesce(rights_text, ''), '|'), lambda r: lower(trim(r))),
            lambda r: r <> ''))) AS rights,
        event_in_range(bound_ts(as_of_text, false)) AS as_of,
        bound_in_range(bound_ts(valid_from_text, false)) AS valid_from,
        bound_in_range(bound_ts(valid_to_text, true)) AS valid_to
    FROM typed
),
checked AS (
    SELECT
        *,
        list_filter([
            CASE WHEN has_bad_bytes THEN {'reason': 'undecodable_bytes', 'detail': 'bytes not valid in the file encoding'} END,
            control_problem(['operator', 'mailbox', 'delegate'], [operator, mailbox, delegate]),
            CASE WHEN as_of_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'as_of'} END,
            CASE WHEN mailbox IS NULL THEN {'reason': 'missing_required_field', 'detail': 'mailbox'} END,
            CASE WHEN delegate IS NULL THEN {'reason': 'missing_required_field', 'detail': 'delegate'} END,
            CASE WHEN delegate_role_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'delegate_role'} END,
            CASE WHEN len(rights) = 0 THEN {'reason': 'missing_required_field', 'detail': 'rights'} END,
            CASE WHEN operator IS NULL THEN {'reason': 'missing_required_field', 'detail': 'operator'} END,
            CASE WHEN as_of.problem IS NOT NULL
                THEN {'reason': as_of.problem, 'detail': 'as_of=' || left(as_of_text, 60)} END,
            CASE WHEN valid_from.problem IS NOT NULL
                THEN {'reason': valid_from.problem, 'detail': 'valid_from=' || left(valid_from_text, 60)} END,
            CASE WHEN valid_to.problem IS NOT NULL
                THEN {'reason': valid_to.problem, 'detail': 'valid_to=' || left(valid_to_text, 60)} END,
            CASE WHEN delegate_role NOT IN ('secretary', 'medical_assistant', 'replacement', 'other')
                THEN {'reason': 'invalid_value', 'detail': 'delegate_role=' || left(delegate_role_text, 60)} END,
            CASE WHEN len(list_filter(rights, lambda r: r NOT IN ('read', 'send', 'documents', 'manage'))) > 0
                THEN {'reason': 'invalid_value', 'detail': 'rights=' || left(rights_text, 80)} END,
            CASE WHEN NOT address_ok(mailbox)
                THEN {'reason': 'invalid_address', 'detail': 'mailbox=' || left(mailbox, 80)} END,
            CASE WHEN NOT address_ok(delegate)
                THEN {'reason': 'invalid_address', 'detail': 'delegate=' || left(delegate, 80)} END,
            CASE WHEN valid_from.ts IS NOT NULL AND valid_to.ts IS NOT NULL AND valid_to.ts <= valid_from.ts
                THEN {'reason': 'invalid_range', 'detail': 'valid_to is not after valid_from'} END
        ], lambda p: p IS NOT NULL) AS problems
    FROM parsed
)
SELECT
    line_number,
    operator,
    as_of.ts AS as_of_at,
    mailbox,
    delegate,
    delegate_name,
    delegate_role,
    rights,
    valid_from.ts AS valid_from_at,
    valid_to.ts AS valid_until_at,
    problems,
    CASE WHEN len(problems) > 0 THEN raw_text END AS raw_text
FROM checked
