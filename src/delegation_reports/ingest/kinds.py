"""The canonical kinds of input: their columns, keys and target tables.

A kind is what a file *means* (audit events, delegation events...); a format or profile is how
a file *looks*. Every format is read into the columns of one kind, then validated by that
kind's staging model (``sql/ingest/stg_<kind>.sql``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One canonical kind of input."""

    name: str
    table: str
    columns: tuple[str, ...]
    required: frozenset[str]
    key: tuple[str, ...]
    # Stored columns compared to tell a true duplicate from a conflicting one.
    content: tuple[str, ...]
    # Column whose range the manifest records as the file's coverage.
    coverage: str | None
    description: str
    # Stored columns when they are not simply the key and the content (the directory).
    stored_columns: tuple[str, ...] = ()
    # Key columns that may be empty: compared as equal when both are (NULL-safe).
    nullable_key: frozenset[str] = frozenset()

    @property
    def stored(self) -> tuple[str, ...]:
        """The columns the loader writes into the kind's table (besides the source file)."""
        return self.stored_columns or self.key + self.content

    @property
    def header_signature(self) -> frozenset[str]:
        """Columns whose presence identifies this kind in a header (operator may be absent)."""
        return self.required - {"operator"}


AUDIT = Kind(
    name="audit",
    table="audit_event",
    columns=(
        "event_id",
        "occurred_at",
        "mailbox",
        "actor",
        "action",
        "outcome",
        "auth_method",
        "client_ip",
        "user_agent",
        "session_id",
        "message_id",
        "operator",
    ),
    required=frozenset(
        {"event_id", "occurred_at", "mailbox", "actor", "action", "outcome", "operator"}
    ),
    key=("operator", "event_id"),
    content=(
        "occurred_at",
        "mailbox",
        "actor",
        "action",
        "outcome",
        "auth_method",
        "client_ip",
        "user_agent",
        "session_id",
        "message_id",
    ),
    coverage="occurred_at",
    description="audit events",
)

DELEGATIONS = Kind(
    name="delegations",
    table="delegation_event",
    columns=(
        "event_id",
        "event_type",
        "event_at",
        "mailbox",
        "delegate",
        "delegate_name",
        "delegate_role",
        "rights",
        "valid_from",
        "valid_to",
        "performed_by",
        "operator",
    ),
    required=frozenset({"event_id", "event_type", "event_at", "mailbox", "delegate", "operator"}),
    key=("operator", "event_id"),
    content=(
        "event_type",
        "event_at",
        "mailbox",
        "delegate",
        "delegate_name",
        "delegate_role",
        "rights",
        "valid_from_at",
        "valid_until_at",
        "performed_by",
    ),
    coverage="event_at",
    description="delegation events",
)

SNAPSHOT = Kind(
    name="snapshot",
    table="delegation_snapshot",
    columns=(
        "as_of",
        "mailbox",
        "delegate",
        "delegate_name",
        "delegate_role",
        "rights",
        "valid_from",
        "valid_to",
        "operator",
    ),
    required=frozenset({"as_of", "mailbox", "delegate", "delegate_role", "rights", "operator"}),
    key=("operator", "as_of_at", "mailbox", "delegate"),
    content=("delegate_name", "delegate_role", "rights", "valid_from_at", "valid_until_at"),
    coverage="as_of_at",
    description="delegation snapshots",
)

ROSTER = Kind(
    name="roster",
    table="roster_member",
    columns=(
        "practice_id",
        "practice_name",
        "member",
        "member_kind",
        "member_rpps",
        "practice_siret",
        "practice_finess",
        "member_until",
    ),
    required=frozenset({"practice_id", "practice_name", "member", "member_kind"}),
    # A member's end date is part of the key: the same roster loaded again with an end date
    # for someone who left adds that fact instead of conflicting with the row without it.
    key=("practice_id", "member", "member_until_at"),
    content=("practice_name", "member_kind", "member_rpps", "practice_siret", "practice_finess"),
    coverage=None,
    description="practice roster",
    nullable_key=frozenset({"member_until_at"}),
)

# The directory's 31 columns, in the extraction's order, under the names stored.
DIRECTORY_COLUMNS = (
    "bal_type",
    "address",
    "pp_id_type",
    "pp_id",
    "pp_national_id",
    "structure_id_type",
    "structure_id",
    "service",
    "civility",
    "last_name",
    "first_name",
    "profession_category",
    "profession_category_label",
    "profession_code",
    "profession_label",
    "skill_code",
    "skill_label",
    "dematerialisation",
    "structure_name",
    "structure_brand",
    "address_line2",
    "address_line3",
    "street_number",
    "street_number_complement",
    "street_type",
    "street_name",
    "locality",
    "address_line6",
    "postal_code",
    "department",
    "country",
)

DIRECTORY = Kind(
    name="directory",
    table="directory_entry",
    columns=DIRECTORY_COLUMNS,
    required=frozenset({"bal_type", "address"}),
    key=("extracted_at", "row_digest"),
    content=(),
    coverage="extracted_at",
    description="MSSanté directory extraction",
    stored_columns=("extracted_at", "row_digest")
    + tuple(c if c != "dematerialisation" else "is_dematerialised" for c in DIRECTORY_COLUMNS),
)

KINDS: dict[str, Kind] = {k.name: k for k in (DELEGATIONS, SNAPSHOT, AUDIT, ROSTER, DIRECTORY)}
