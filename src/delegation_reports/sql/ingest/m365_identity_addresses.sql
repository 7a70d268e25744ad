-- Grain: one row per address known to the warehouse (a roster member or a directory entry)
-- whose alias (the part before @) or display name (first and last name, either order) is $key,
-- compared without case. Resolves Exchange identities that are not addresses.
SELECT DISTINCT lower(known.address) AS address
FROM (
    SELECT member AS address, NULL AS first_name, NULL AS last_name FROM roster_member
    UNION ALL
    SELECT address, first_name, last_name FROM directory_entry
) AS known
WHERE lower(split_part(known.address, '@', 1)) = $key
   OR lower(concat_ws(' ', known.first_name, known.last_name)) = $key
   OR lower(concat_ws(' ', known.last_name, known.first_name)) = $key
ORDER BY address
