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

-- Grain: one row per rejected input row, with the reason it was not loaded.
CREATE TABLE IF NOT EXISTS quarantine (
    file_id            INTEGER NOT NULL,
    file_sha256        VARCHAR NOT NULL,
    line_number        BIGINT NOT NULL,
    reason             VARCHAR NOT NULL,
    detail             VARCHAR,
    raw_text           VARCHAR
);

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
    source_file_id     INTEGER NOT NULL
);

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
