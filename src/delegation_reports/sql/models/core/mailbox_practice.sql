-- Grain: one row per BAL PER held by a practitioner of a practice (roster members of kind
-- holder), with what the directory says of its holder.
WITH holder AS (
    SELECT
        member AS mailbox,
        -- A practitioner on several practices' rosters: the first id, unless the account acting
        -- works with them in another of those practices (`member_practice`).
        min(practice_id) AS practice_id,
        count(DISTINCT practice_id) AS n_practices,
        any_value(member_rpps) AS holder_rpps
    FROM roster_member
    WHERE member_kind = 'holder'
    GROUP BY member
),
directory_latest AS (
    SELECT address, arg_max(struct_pack(first_name, last_name, civility, profession_label, pp_id, bal_type), extracted_at) AS d
    FROM directory_entry
    GROUP BY address
)
SELECT
    h.mailbox,
    h.practice_id,
    p.practice_name,
    h.n_practices,
    coalesce(h.holder_rpps, CASE WHEN d.d.bal_type = 'PER' THEN d.d.pp_id END) AS holder_rpps,
    nullif(trim(concat_ws(' ', d.d.first_name, d.d.last_name)), '') AS holder_name,
    d.d.profession_label AS holder_profession,
    d.d.bal_type AS directory_bal_type
FROM holder AS h
JOIN (SELECT practice_id, min(practice_name) AS practice_name FROM roster_member GROUP BY practice_id) AS p
    USING (practice_id)
LEFT JOIN directory_latest AS d ON d.address = h.mailbox
