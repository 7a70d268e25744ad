-- Grain: one row per record of the roster file being loaded, typed, with the list of problems
-- that keep it out of the warehouse. Reads `raw_canonical`.
WITH typed AS (
    SELECT
        line_number,
        has_bad_bytes,
        raw_text,
        nullif(trim(practice_id), '') AS practice_id,
        nullif(trim(practice_name), '') AS practice_name,
        lower(nullif(trim(member), '')) AS member,
        nullif(trim(member_kind), '') AS member_kind_text,
        nullif(replace(trim(member_rpps), ' ', ''), '') AS member_rpps,
        nullif(replace(trim(practice_siret), ' ', ''), '') AS practice_siret,
        nullif(upper(replace(trim(practice_finess), ' ', '')), '') AS practice_finess,
        nullif(trim(member_until), '') AS member_until_text,
        -- The last day the member belonged to the practice (a date: the whole Paris day).
        bound_in_range(bound_ts(nullif(trim(member_until), ''), true)) AS member_until
    FROM raw_canonical
),
checked AS (
    SELECT
        *,
        lower(member_kind_text) AS member_kind,
        list_filter([
            CASE WHEN has_bad_bytes THEN {'reason': 'undecodable_bytes', 'detail': 'bytes not valid in the file encoding'} END,
            control_problem(['practice_id', 'member', 'member_rpps', 'practice_siret', 'practice_finess'], [practice_id, member, member_rpps, practice_siret, practice_finess]),
            CASE WHEN practice_id IS NULL THEN {'reason': 'missing_required_field', 'detail': 'practice_id'} END,
            CASE WHEN practice_name IS NULL THEN {'reason': 'missing_required_field', 'detail': 'practice_name'} END,
            CASE WHEN member IS NULL THEN {'reason': 'missing_required_field', 'detail': 'member'} END,
            CASE WHEN member_kind_text IS NULL THEN {'reason': 'missing_required_field', 'detail': 'member_kind'} END,
            -- practice ids name report files: keep them to a safe alphabet
            CASE WHEN NOT regexp_full_match(practice_id, '[A-Za-z0-9._-]{1,64}') OR practice_id IN ('.', '..')
                THEN {'reason': 'invalid_identifier', 'detail': 'practice_id=' || left(practice_id, 80)} END,
            CASE WHEN lower(member_kind_text) NOT IN ('holder', 'staff')
                THEN {'reason': 'invalid_value', 'detail': 'member_kind=' || left(member_kind_text, 60)} END,
            CASE WHEN NOT address_ok(member)
                THEN {'reason': 'invalid_address', 'detail': 'member=' || left(member, 80)} END,
            CASE WHEN rpps_problem(member_rpps) IS NOT NULL
                THEN {'reason': rpps_problem(member_rpps), 'detail': 'member_rpps=' || left(member_rpps, 40)} END,
            CASE WHEN siret_problem(practice_siret) IS NOT NULL
                THEN {'reason': siret_problem(practice_siret), 'detail': 'practice_siret=' || left(practice_siret, 40)} END,
            CASE WHEN finess_problem(practice_finess) IS NOT NULL
                THEN {'reason': finess_problem(practice_finess), 'detail': 'practice_finess=' || left(practice_finess, 40)} END,
            CASE WHEN member_until.problem IS NOT NULL
                THEN {'reason': member_until.problem, 'detail': 'member_until=' || left(member_until_text, 60)} END
        ], lambda p: p IS NOT NULL) AS problems
    FROM typed
)
SELECT
    line_number,
    practice_id,
    practice_name,
    member,
    member_kind,
    member_rpps,
    practice_siret,
    practice_finess,
    member_until.ts AS member_until_at,
    problems,
    CASE WHEN len(problems) > 0 THEN raw_text END AS raw_text
FROM checked
