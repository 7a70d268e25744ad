-- Grain: one row per line of the MSSanté directory extraction being loaded, typed, with the
-- list of problems that keep it out of the warehouse. Reads `raw_canonical`; the extraction
-- time is the variable `extracted_at`.
WITH typed AS (
    SELECT
        line_number,
        has_bad_bytes,
        raw_text,
        getvariable('extracted_at')::TIMESTAMPTZ AS extracted_at,
        upper(nullif(trim(bal_type), '')) AS bal_type,
        lower(nullif(trim(address), '')) AS address,
        nullif(trim(pp_id_type), '') AS pp_id_type,
        nullif(trim(pp_id), '') AS pp_id,
        nullif(trim(pp_national_id), '') AS pp_national_id,
        nullif(trim(structure_id_type), '') AS structure_id_type,
        nullif(upper(trim(structure_id)), '') AS structure_id,
        nullif(trim(service), '') AS service,
        nullif(trim(civility), '') AS civility,
        nullif(trim(last_name), '') AS last_name,
        nullif(trim(first_name), '') AS first_name,
        nullif(trim(profession_category), '') AS profession_category,
        nullif(trim(profession_category_label), '') AS profession_category_label,
        nullif(trim(profession_code), '') AS profession_code,
        nullif(trim(profession_label), '') AS profession_label,
        nullif(trim(skill_code), '') AS skill_code,
        nullif(trim(skill_label), '') AS skill_label,
        nullif(trim(dematerialisation), '') AS dematerialisation_text,
        nullif(trim(structure_name), '') AS structure_name,
        nullif(trim(structure_brand), '') AS structure_brand,
        nullif(trim(address_line2), '') AS address_line2,
        nullif(trim(address_line3), '') AS address_line3,
        nullif(trim(street_number), '') AS street_number,
        nullif(trim(street_number_complement), '') AS street_number_complement,
        nullif(trim(street_type), '') AS street_type,
        nullif(trim(street_name), '') AS street_name,
        nullif(trim(locality), '') AS locality,
        nullif(trim(address_line6), '') AS address_line6,
        nullif(trim(postal_code), '') AS postal_code,
        nullif(trim(department), '') AS department,
        nullif(trim(country), '') AS country
    FROM raw_canonical
),
parsed AS (
    SELECT
        *,
        CASE lower(dematerialisation_text)
            WHEN 'o' THEN true WHEN 'oui' THEN true WHEN 'true' THEN true WHEN '1' THEN true
            WHEN 'n' THEN false WHEN 'non' THEN false WHEN 'false' THEN false WHEN '0' THEN false
        END AS is_dematerialised,
        CASE WHEN pp_id_type = '8' THEN rpps_problem(pp_id) END AS pp_problem,
        CASE structure_id_type
            WHEN '1' THEN finess_problem(structure_id)
            WHEN '2' THEN siren_problem(structure_id)
            WHEN '3' THEN siret_problem(structure_id)
        END AS structure_problem
    FROM typed
),
checked AS (
    SELECT
        *,
        list_filter([
            CASE WHEN has_bad_bytes THEN {'reason': 'undecodable_bytes', 'detail': 'bytes not valid in the file encoding'} END,
            control_problem(['address', 'pp_id', 'pp_national_id', 'structure_id'], [address, pp_id, pp_national_id, structure_id]),
            CASE WHEN bal_type IS NULL THEN {'reason': 'missing_required_field', 'detail': 'Type de BAL'} END,
            CASE WHEN address IS NULL THEN {'reason': 'missing_required_field', 'detail': 'Adresse BAL'} END,
            CASE WHEN NOT address_ok(address)
                THEN {'reason': 'invalid_address', 'detail': 'Adresse BAL=' || left(address, 80)} END,
            CASE WHEN bal_type NOT IN ('PER', 'ORG', 'APP', 'CAB')
                THEN {'reason': 'invalid_value', 'detail': 'Type de BAL=' || left(bal_type, 20)} END,
            CASE WHEN pp_problem IS NOT NULL
                THEN {'reason': pp_problem, 'detail': 'Identifiant PP=' || left(pp_id, 40)} END,
            CASE WHEN structure_problem IS NOT NULL
                THEN {'reason': structure_problem, 'detail': 'Identification Structure=' || left(structure_id, 40)} END,
            CASE WHEN dematerialisation_text IS NOT NULL AND is_dematerialised IS NULL
                THEN {'reason': 'invalid_value', 'detail': 'Dématérialisation=' || left(dematerialisation_text, 20)} END
        ], lambda p: p IS NOT NULL) AS problems
    FROM parsed
)
SELECT
    line_number,
    extracted_at,
    md5(array_to_string(list_transform([bal_type, address, pp_id_type, pp_id, pp_national_id,
        structure_id_type, structure_id, service, civility, last_name, first_name,
        profession_category, profession_category_label, profession_code, profession_label,
        skill_code, skill_label, dematerialisation_text, structure_name, structure_brand,
        address_line2, address_line3, street_number, street_number_complement, street_type,
        street_name, locality, address_line6, postal_code, department, country],
        lambda v: coalesce(v, '')), chr(31))) AS row_digest,
    bal_type, address, pp_id_type, pp_id, pp_national_id, structure_id_type, structure_id,
    service, civility, last_name, first_name, profession_category, profession_category_label,
    profession_code, profession_label, skill_code, skill_label, is_dematerialised,
    structure_name, structure_brand, address_line2, address_line3, street_number,
    street_number_complement, street_type, street_name, locality, address_line6, postal_code,
    department, country,
    problems,
    CASE WHEN len(problems) > 0 THEN raw_text END AS raw_text
FROM checked
