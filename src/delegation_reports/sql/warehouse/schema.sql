-- The warehouse's stored tables. Every statement is idempotent; they run one by one, in one
-- transaction, each time the warehouse is opened for writing.

CREATE SEQUENCE IF NOT EXISTS ingest_file_seq START 1;

-- Grain: one row per input file processed (loaded, or failed). The manifest is the evidence of
-- what the warehouse rests on.
CREATE TABLE IF NOT EXISTS ingest_file (
    file_id            INTEGER PRIMARY KEY DEFAULT nextval('ingest_file_seq'),
    path               VARCHAR NOT NULL,
    file_name          VARCHAR NOT NULL,
    size_bytes         BIGINT NOT NULL,
    sha256             VARCHAR NOT NULL,
    kind               VARCHAR NOT NULL,
    format             VARCHAR NOT NULL,
    operator           VARCHAR,
    rows_read          BIGINT NOT NULL,
    rows_loaded        BIGINT NOT NULL,
    rows_duplicate     BIGINT NOT NULL,
    rows_quarantined   BIGINT NOT NULL,
    ignored_columns    VARCHAR[],
    dropped_content_columns VARCHAR[],
    covered_from_at    TIMESTAMPTZ,
    covered_to_at      TIMESTAMPTZ,
    started_at         TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ NOT NULL,
    tool_version       VARCHAR NOT NULL,
    notes              VARCHAR
);

-- Source records an adapter deliberately did not load (another Microsoft 365 workload, another
-- program's syslog line...): counted here and detailed in the notes. Not part of
-- rows_read = rows_loaded + rows_duplicate + rows_quarantined. Added after the first release:
-- older warehouses get the column when opened for writing.
ALTER TABLE ingest_file ADD COLUMN IF NOT EXISTS rows_skipped BIGINT DEFAULT 0;

-- The encoding the file was read with (`utf-8`, `cp1252`...): a profile's declared encoding,
-- unless the file turned out to be UTF-8. Added after the first release: NULL for files
-- loaded before.
ALTER TABLE ingest_file ADD COLUMN IF NOT EXISTS encoding VARCHAR;

-- Grain: one row per gap in an audit file's coverage (file_id + after_at): two consecutive
-- instants of the file's events more than the coverage gap (92 days, docs/formats.md#coverage)
-- apart, `after_at` the last before the gap and `before_at` the first after it. The file covers
-- its first to its last event except its gaps: an event dated decades away from the rest covers
-- its own month, not every month in between. Written with the manifest entry; a file without
-- a gap has no row. Added after the first release: filled, when a warehouse is first opened for
-- writing by a version that has it, from the events loaded before.
CREATE TABLE IF NOT EXISTS ingest_file_gap (
    file_id            INTEGER NOT NULL,
    after_at           TIMESTAMPTZ NOT NULL,
    before_at          TIMESTAMPTZ NOT NULL
);

-- Grain: one row per attempt to load a file that failed as a whole (unknown format, refused
-- encoding, an error midway...): nothing of it was loaded, and `n_lines` says how many lines it
-- holds, so that its lines are accounted for. Loading the file again later (after a fix) is
-- possible: a failure is not a load, and a successful one goes to ingest_file as usual.
CREATE TABLE IF NOT EXISTS ingest_failure (
    path               VARCHAR NOT NULL,
    file_name          VARCHAR NOT NULL,
    size_bytes         BIGINT,
    sha256             VARCHAR,
    n_lines            BIGINT,
    kind               VARCHAR,
    format             VARCHAR,
    operator           VARCHAR,
    rows_read          BIGINT NOT NULL,
    reason             VARCHAR NOT NULL,
    started_at         TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ NOT NULL,
    tool_version       VARCHAR
);

-- Grain: one row per rejected input row, with the reason it was not loaded.
CREATE TABLE IF NOT EXISTS quarantine (
    file_id            INTEGER NOT NULL,
    file_sha256        VARCHAR NOT NULL,
    line_number        BIGINT NOT NULL,
    reason             VARCHAR NOT NULL,
    detail             VARCHAR,
    raw_text           VARCHAR
);

-- When the row was quarantined (the load's transaction time). Added after the first release:
-- NULL for rows quarantined by versions that did not record it.
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS quarantined_at TIMESTAMPTZ;
ALTER TABLE quarantine ALTER COLUMN quarantined_at SET DEFAULT current_timestamp;

-- What the quarantined row is, whatever file brought it: its kind (`audit` for an access,
-- `delegations` for a delegation change...) and its key (the kind's key fields joined by
-- U+001F) when they could be read. A record already quarantined from an earlier file is not
-- quarantined again when it comes back, in the same or another container: it counts as a
-- duplicate. Added after the first release: NULL for older rows and unreadable records.
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS record_kind VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS record_key VARCHAR;

-- Grain: one row per audit event (operator + event_id).
CREATE TABLE IF NOT EXISTS audit_event (
    operator           VARCHAR NOT NULL,
    event_id           VARCHAR NOT NULL,
    occurred_at        TIMESTAMPTZ NOT NULL,
    mailbox            VARCHAR NOT NULL,
    actor              VARCHAR NOT NULL,
    action             VARCHAR NOT NULL,
    outcome            VARCHAR NOT NULL,
    auth_method        VARCHAR NOT NULL,
    client_ip          VARCHAR,
    user_agent         VARCHAR,
    session_id         VARCHAR,
    message_id         VARCHAR,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per delegation event (operator + event_id).
CREATE TABLE IF NOT EXISTS delegation_event (
    operator           VARCHAR NOT NULL,
    event_id           VARCHAR NOT NULL,
    event_type         VARCHAR NOT NULL,
    event_at           TIMESTAMPTZ NOT NULL,
    mailbox            VARCHAR NOT NULL,
    delegate           VARCHAR NOT NULL,
    delegate_name      VARCHAR,
    delegate_role      VARCHAR,
    rights             VARCHAR[],
    valid_from_at      TIMESTAMPTZ,
    valid_until_at     TIMESTAMPTZ,
    performed_by       VARCHAR,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per delegation listed in an operator's snapshot (operator + as_of + mailbox +
-- delegate).
CREATE TABLE IF NOT EXISTS delegation_snapshot (
    operator           VARCHAR NOT NULL,
    as_of_at           TIMESTAMPTZ NOT NULL,
    mailbox            VARCHAR NOT NULL,
    delegate           VARCHAR NOT NULL,
    delegate_name      VARCHAR,
    delegate_role      VARCHAR NOT NULL,
    rights             VARCHAR[] NOT NULL,
    valid_from_at      TIMESTAMPTZ,
    valid_until_at     TIMESTAMPTZ,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per member of a practice (practice_id + member).
CREATE TABLE IF NOT EXISTS roster_member (
    practice_id        VARCHAR NOT NULL,
    practice_name      VARCHAR NOT NULL,
    member             VARCHAR NOT NULL,
    member_kind        VARCHAR NOT NULL,
    member_rpps        VARCHAR,
    practice_siret     VARCHAR,
    practice_finess    VARCHAR,
    -- The member left the practice at this instant (end of the roster's `member_until` day).
    member_until_at    TIMESTAMPTZ,
    source_file_id     INTEGER NOT NULL
);
-- Warehouses made before rosters carried end dates.
ALTER TABLE roster_member ADD COLUMN IF NOT EXISTS member_until_at TIMESTAMPTZ;

-- Grain: one row per line of an MSSanté directory extraction (extraction time + line content).
CREATE TABLE IF NOT EXISTS directory_entry (
    extracted_at       TIMESTAMPTZ NOT NULL,
    row_digest         VARCHAR NOT NULL,
    bal_type           VARCHAR NOT NULL,
    address            VARCHAR NOT NULL,
    pp_id_type         VARCHAR,
    pp_id              VARCHAR,
    pp_national_id     VARCHAR,
    structure_id_type  VARCHAR,
    structure_id       VARCHAR,
    service            VARCHAR,
    civility           VARCHAR,
    last_name          VARCHAR,
    first_name         VARCHAR,
    profession_category VARCHAR,
    profession_category_label VARCHAR,
    profession_code    VARCHAR,
    profession_label   VARCHAR,
    skill_code         VARCHAR,
    skill_label        VARCHAR,
    is_dematerialised  BOOLEAN,
    structure_name     VARCHAR,
    structure_brand    VARCHAR,
    address_line2      VARCHAR,
    address_line3      VARCHAR,
    street_number      VARCHAR,
    street_number_complement VARCHAR,
    street_type        VARCHAR,
    street_name        VARCHAR,
    locality           VARCHAR,
    address_line6      VARCHAR,
    postal_code        VARCHAR,
    department         VARCHAR,
    country            VARCHAR,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per change of the Microsoft 365 permissions of one delegate on one mailbox
-- (operator + mailbox + delegate + source_event_id). `permissions` is the whole set after the
-- change, as `token=rights` texts: `mbx:fullaccess=documents+manage+read`, `sendas=send`,
-- `sendonbehalf=send`, `folder:<digest of the folder path>=read`. The m365 adapter reads it to
-- turn each change (GrantSendOnBehalfTo gives the whole resulting list) into a grant, modify or
-- revoke of the delegate's rights; written in the transaction of the file that brought it.
CREATE TABLE IF NOT EXISTS m365_permission_state (
    operator           VARCHAR NOT NULL,
    mailbox            VARCHAR NOT NULL,
    delegate           VARCHAR NOT NULL,
    changed_at         TIMESTAMPTZ NOT NULL,
    source_event_id    VARCHAR NOT NULL,
    permissions        VARCHAR[] NOT NULL,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per Dovecot session (operator + session_id) whose login line comes from a log
-- whose format names the master user: `master_user` is the délégataire who opened the session
-- through a master-user login, NULL when the holder logged in. The dovecot adapter attributes a
-- session's mailbox events to its master user, also when they arrive in a later log file than
-- the login.
CREATE TABLE IF NOT EXISTS dovecot_session (
    operator           VARCHAR NOT NULL,
    session_id         VARCHAR NOT NULL,
    owner              VARCHAR NOT NULL,
    master_user        VARCHAR,
    source_file_id     INTEGER NOT NULL
);

-- Grain: one row per BAL address that appeared, disappeared or changed between two successive
-- MSSanté directory extractions (extracted_at + address). An address may sit on several lines of
-- one extraction: its holders (`Identification nationale PP`, else type + `Identifiant PP`),
-- structures (type:id) and BAL types are compared as sorted sets. `change` is `appeared`,
-- `disappeared` or `changed`; the flags say what changed. A view: computed when read.
CREATE OR REPLACE VIEW directory_change AS
WITH extractions AS (
    SELECT extracted_at, lag(extracted_at) OVER (ORDER BY extracted_at) AS previous_extracted_at
    FROM (SELECT DISTINCT extracted_at FROM directory_entry)
),
bal AS (
    SELECT
        extracted_at,
        address,
        list_sort(list_distinct(list(bal_type))) AS bal_types,
        list_sort(list_distinct(list(coalesce(pp_national_id, pp_id_type || pp_id)))) AS holders,
        list_sort(list_distinct(list(structure_id_type || ':' || structure_id))) AS structures
    FROM directory_entry
    GROUP BY ALL
),
previous AS (
    SELECT e.extracted_at AS pair_at, b.*
    FROM extractions AS e JOIN bal AS b ON b.extracted_at = e.previous_extracted_at
),
current AS (
    SELECT e.extracted_at AS pair_at, b.*
    FROM extractions AS e JOIN bal AS b ON b.extracted_at = e.extracted_at
    WHERE e.previous_extracted_at IS NOT NULL
)
SELECT
    e.previous_extracted_at,
    e.extracted_at,
    coalesce(c.address, p.address) AS address,
    CASE WHEN p.address IS NULL THEN 'appeared'
         WHEN c.address IS NULL THEN 'disappeared'
         ELSE 'changed' END AS change,
    p.address IS NOT NULL AND c.address IS NOT NULL AND p.holders IS DISTINCT FROM c.holders AS holder_changed,
    p.address IS NOT NULL AND c.address IS NOT NULL AND p.structures IS DISTINCT FROM c.structures AS structure_changed,
    p.address IS NOT NULL AND c.address IS NOT NULL AND p.bal_types IS DISTINCT FROM c.bal_types AS bal_type_changed,
    p.holders AS previous_holders,
    c.holders AS holders,
    p.structures AS previous_structures,
    c.structures AS structures,
    p.bal_types AS previous_bal_types,
    c.bal_types AS bal_types
FROM previous AS p
FULL OUTER JOIN current AS c ON c.pair_at = p.pair_at AND c.address = p.address
JOIN extractions AS e ON e.extracted_at = coalesce(c.pair_at, p.pair_at)
WHERE p.address IS NULL OR c.address IS NULL
   OR p.holders IS DISTINCT FROM c.holders
   OR p.structures IS DISTINCT FROM c.structures
   OR p.bal_types IS DISTINCT FROM c.bal_types;

CREATE SEQUENCE IF NOT EXISTS finding_review_seq START 1;

-- Grain: one row per review decision on a finding (review_id). Append-only: a decision is
-- never changed or deleted; a later one (a reopening, a new acceptance) supersedes it. Each
-- row stands alone: what was decided (`accept` or `reopen`), by whom, when, why, until which
-- day (inclusive), and what the finding and its delegation were at that moment (the
-- delegation events the finding rested on). It is what a breach register needs.
CREATE TABLE IF NOT EXISTS finding_review (
    review_id          INTEGER PRIMARY KEY DEFAULT nextval('finding_review_seq'),
    finding_id         VARCHAR NOT NULL,
    decision           VARCHAR NOT NULL CHECK (decision IN ('accept', 'reopen')),
    reason             VARCHAR,
    decided_by         VARCHAR NOT NULL,
    decided_at         TIMESTAMPTZ NOT NULL,
    valid_until        DATE,
    rule_id            VARCHAR NOT NULL,
    practice_id        VARCHAR,
    mailbox            VARCHAR,
    actor              VARCHAR,
    delegation_key     VARCHAR,
    delegation_ids     VARCHAR[]
);

CREATE SEQUENCE IF NOT EXISTS report_run_seq START 1;

-- Grain: one row per monthly report rendered for a practice (run_id). Append-only: what a
-- practice was told, and when, so that findings changed by data arriving later can be named.
CREATE TABLE IF NOT EXISTS report_run (
    run_id             INTEGER PRIMARY KEY DEFAULT nextval('report_run_seq'),
    month              DATE NOT NULL,
    practice_id        VARCHAR NOT NULL,
    reported_at        TIMESTAMPTZ NOT NULL
);

-- Grain: one row per finding a report run showed (run_id + finding_id), with what it said.
CREATE TABLE IF NOT EXISTS report_run_finding (
    run_id             INTEGER NOT NULL,
    finding_id         VARCHAR NOT NULL,
    rule_id            VARCHAR NOT NULL,
    severity           VARCHAR NOT NULL,
    status             VARCHAR NOT NULL,
    mailbox            VARCHAR,
    actor              VARCHAR,
    title_fr           VARCHAR NOT NULL
);

-- The digest of the rows each loaded file contributed to the tables of traces, delegations,
-- rosters and the directory, and its quarantined rows (see integrity/digest.py): JSON, one
-- count and one sum of row hashes per table. Part of the manifest entry, so of the chain.
-- Added after the first release: NULL for files loaded before, which the chain sealed when
-- the warehouse was first opened by a version that has it.
ALTER TABLE ingest_file ADD COLUMN IF NOT EXISTS rows_digest VARCHAR;

CREATE SEQUENCE IF NOT EXISTS purge_seq START 1;

-- Grain: one row per retention purge (purge_id). Append-only. What was removed (traces before
-- `purged_before`, the first day of the first month kept, Europe/Paris), under which
-- retention, by whom, why when forced, how many rows per table (`row_counts`, JSON) and the
-- digest of the removed rows of each file (`removed`, JSON: file id -> table -> count and
-- sum, the same digest as the files' `rows_digest`), with `removed_digest`, the sha256 of
-- that JSON.
CREATE TABLE IF NOT EXISTS purge_record (
    purge_id           INTEGER PRIMARY KEY DEFAULT nextval('purge_seq'),
    purged_before      DATE NOT NULL,
    cutoff_at          TIMESTAMPTZ NOT NULL,
    delegations        BOOLEAN NOT NULL,
    retention_months   INTEGER NOT NULL,
    forced_reason      VARCHAR,
    performed_by       VARCHAR NOT NULL,
    performed_at       TIMESTAMPTZ NOT NULL,
    row_counts         VARCHAR NOT NULL,
    removed            VARCHAR NOT NULL,
    removed_digest     VARCHAR NOT NULL
);

-- Grain: one row per link of the warehouse's hash chain (seq, from 1). Append-only. Each
-- manifest entry (`file`), review decision (`review`) and purge (`purge`) gets one, in the
-- order they happen: `content` is the canonical JSON of its row, `entry_hash` the sha256 of
-- the link's position, kind, reference, content and the previous link's hash (see
-- integrity/chain.py and docs/integrity.md).
CREATE TABLE IF NOT EXISTS chain_entry (
    seq                INTEGER NOT NULL,
    entry_kind         VARCHAR NOT NULL,
    ref_id             INTEGER NOT NULL,
    content            VARCHAR NOT NULL,
    previous_hash      VARCHAR NOT NULL,
    entry_hash         VARCHAR NOT NULL
);

-- Grain: one row: the number of links and the hash of the last, rewritten with each link:
-- what the quick check compares with the chain's last link.
CREATE TABLE IF NOT EXISTS chain_head (
    n_entries          INTEGER NOT NULL,
    head_hash          VARCHAR NOT NULL
);
