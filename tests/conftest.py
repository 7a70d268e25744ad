"""Fixtures and helpers shared by the ingestion tests.

Every warehouse lives under pytest's temporary directories; the user's real warehouse (the
``DELEGATION_REPORTS_DB`` variable, ``./delegation.duckdb``) is never read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from delegation_reports.ingest.pipeline import FileResult, ingest_file
from delegation_reports.warehouse import DB_ENV, connect

TESTS = Path(__file__).resolve().parent
VALID = TESTS / "data" / "valid"
INVALID = TESTS / "data" / "invalid"
SAMPLES = TESTS.parent / "data" / "samples"
NOT_EXPORTS = frozenset({"ground_truth.csv", "samples.json"})
PARIS = ZoneInfo("Europe/Paris")

# The canonical columns, as docs/formats.md lists them.
AUDIT_COLUMNS = (
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
)
DELEGATION_COLUMNS = (
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
)
SNAPSHOT_COLUMNS = (
    "as_of",
    "mailbox",
    "delegate",
    "delegate_name",
    "delegate_role",
    "rights",
    "valid_from",
    "valid_to",
    "operator",
)
ROSTER_COLUMNS = (
    "practice_id",
    "practice_name",
    "member",
    "member_kind",
    "member_rpps",
    "practice_siret",
    "practice_finess",
)
# The 31 headers of the Annuaire Santé extraction (DOMAIN.md §4).
DIRECTORY_HEADERS = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION structure BAL",
    "L3COMPLEMENTDISTRIBUTION structure BAL",
    "L4NUMEROVOIE structure BAL",
    "L4COMPLEMENTNUMEROVOIE structure BAL",
    "NL4TYPEVOIE structure BAL",
    "L4LIBELLEVOIE structure BAL",
    "L5LIEUDITMENTION structure BAL",
    "L6LIGNEACHEMINEMENT structure BAL",
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
)
# The same columns under the names the warehouse stores, in the extraction's order.
DIRECTORY_FIELDS = (
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
FR_JOURNAL_HEADERS = (
    "N° d'événement",
    "Date et heure",
    "Boîte aux lettres",
    "Utilisateur",
    "Action",
    "Résultat",
    "Authentification",
    "Adresse IP",
    "Logiciel client",
    "Session",
    "Identifiant du message",
    "Opérateur",
)
FR_DELEGATION_HEADERS = (
    "N° d'opération",
    "Opération",
    "Date de l'opération",
    "BAL du délégant",
    "Compte du délégataire",
    "Nom du délégataire",
    "Fonction",
    "Droits",
    "Début",
    "Fin",
    "Réalisée par",
    "Opérateur",
)

OPERATOR = "Messagerie Test"


# ---- warehouses ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_default_warehouse(monkeypatch, tmp_path_factory) -> None:
    """A command that forgets --db writes to a throwaway file, never to ./delegation.duckdb."""
    monkeypatch.setenv(DB_ENV, str(tmp_path_factory.mktemp("default-db") / "default.duckdb"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "w.duckdb"


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(db_path)
    try:
        yield connection
    finally:
        connection.close()


@dataclass
class LoadedSamples:
    con: duckdb.DuckDBPyConnection
    results: dict[str, FileResult]


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Iterator[LoadedSamples]:
    """A warehouse holding every sample export, opened read-only for the session."""
    path = tmp_path_factory.mktemp("samples-db") / "samples.duckdb"
    exports = sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS)
    writer = connect(path)
    try:
        results = {p.name: ingest_file(writer, p) for p in exports}
    finally:
        writer.close()
    reader = connect(path, read_only=True)
    try:
        yield LoadedSamples(reader, results)
    finally:
        reader.close()


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (by its path inside it) with its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- writing input files ------------------------------------------------------------------


def csv_line(fields: Sequence[str], delimiter: str = ",") -> str:
    """One CSV record, quoted where needed (its quoted values may hold line ends)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def write_lines(
    path: Path,
    lines: Sequence[str],
    *,
    encoding: str = "utf-8",
    line_end: str = "\n",
    bom: bool = False,
) -> Path:
    """Write ``lines`` exactly as given, each followed by ``line_end``."""
    data = "".join(line + line_end for line in lines).encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    line_end: str = "\n",
    bom: bool = False,
) -> Path:
    lines = [csv_line(header, delimiter)] + [csv_line(row, delimiter) for row in rows]
    return write_lines(path, lines, encoding=encoding, line_end=line_end, bom=bom)


def write_jsonl(path: Path, records: Sequence[dict]) -> Path:
    return write_lines(path, [json.dumps(r, ensure_ascii=False) for r in records])


def audit_record(event_id: str, **values: str) -> dict[str, str]:
    """A valid canonical audit row; keyword arguments replace fields."""
    record = {
        "event_id": event_id,
        "occurred_at": "2026-03-02T09:15:00+01:00",
        "mailbox": "helene.garnier@medecin.mssante.fr",
        "actor": "sandrine.moulin@pro.mssante.fr",
        "action": "read",
        "outcome": "success",
        "auth_method": "cps",
        "client_ip": "192.0.2.17",
        "user_agent": "Thunderbird 128.7.1",
        "session_id": "s-1",
        "message_id": "",
        "operator": OPERATOR,
    }
    unknown = set(values) - set(record)
    assert not unknown, unknown
    record.update(values)
    return record


def audit_fields(event_id: str, **values: str) -> list[str]:
    record = audit_record(event_id, **values)
    return [record[c] for c in AUDIT_COLUMNS]


def write_audit(path: Path, records: Sequence[dict], **options) -> Path:
    return write_csv(
        path, AUDIT_COLUMNS, [[r[c] for c in AUDIT_COLUMNS] for r in records], **options
    )


def delegation_record(event_id: str, **values: str) -> dict[str, str]:
    record = {
        "event_id": event_id,
        "event_type": "grant",
        "event_at": "2026-01-05T09:00:00+01:00",
        "mailbox": "helene.garnier@medecin.mssante.fr",
        "delegate": "sandrine.moulin@pro.mssante.fr",
        "delegate_name": "Sandrine Moulin",
        "delegate_role": "secretary",
        "rights": "read|send",
        "valid_from": "",
        "valid_to": "",
        "performed_by": "helene.garnier@medecin.mssante.fr",
        "operator": OPERATOR,
    }
    unknown = set(values) - set(record)
    assert not unknown, unknown
    record.update(values)
    return record


def write_delegations(path: Path, records: Sequence[dict], **options) -> Path:
    rows = [[r[c] for c in DELEGATION_COLUMNS] for r in records]
    return write_csv(path, DELEGATION_COLUMNS, rows, **options)


def roster_record(member: str, **values: str) -> dict[str, str]:
    record = {
        "practice_id": "P-1",
        "practice_name": "Cabinet des Tilleuls",
        "member": member,
        "member_kind": "staff",
        "member_rpps": "",
        "practice_siret": "",
        "practice_finess": "",
    }
    unknown = set(values) - set(record)
    assert not unknown, unknown
    record.update(values)
    return record


def write_roster(path: Path, records: Sequence[dict], **options) -> Path:
    return write_csv(
        path, ROSTER_COLUMNS, [[r[c] for c in ROSTER_COLUMNS] for r in records], **options
    )


def directory_line(**values: str) -> str:
    """One directory extraction line; unnamed fields are empty."""
    unknown = set(values) - set(DIRECTORY_FIELDS)
    assert not unknown, unknown
    return "|".join(values.get(name, "") for name in DIRECTORY_FIELDS)


def write_directory(
    path: Path, lines: Sequence[str], headers: Sequence[str] = DIRECTORY_HEADERS
) -> Path:
    return write_lines(path, ["|".join(headers), *lines])


def bundled_profile_text(name: str) -> str:
    from importlib import resources

    return (resources.files("delegation_reports.ingest") / "profiles" / f"{name}.toml").read_text(
        encoding="utf-8"
    )


def profile_variant(tmp_path: Path, base: str, name: str, **settings: str) -> Path:
    """A copy of a bundled profile under another name with some top-level settings replaced."""
    lines = []
    for line in bundled_profile_text(base).splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "name":
            line = f'name = "{name}"'
        elif key in settings:
            line = f'{key} = "{settings.pop(key)}"'
        lines.append(line)
    assert not settings, f"settings not in {base}: {settings}"
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def physical_line_of(path: Path, marker: bytes) -> int:
    """The number of the last physical line holding ``marker`` (header = 1)."""
    numbers = [
        n for n, line in enumerate(path.read_bytes().split(b"\n"), start=1) if marker in line
    ]
    assert numbers, f"{marker!r} not in {path}"
    return numbers[-1]


# ---- reading the warehouse ----------------------------------------------------------------


def ingest(con: duckdb.DuckDBPyConnection, path: Path, **options) -> FileResult:
    result = ingest_file(con, path, **options)
    assert result.status != "failed", result.message
    return result


def older_warehouse(path: Path, first_file: Path, drop_column: str) -> Path:
    """A warehouse holding ``first_file``, made as a version before ``drop_column``
    (``table.column``) existed: the column is dropped again."""
    con = connect(path)
    try:
        ingest(con, first_file)
        table, column = drop_column.split(".")
        con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    finally:
        con.close()
    return path


def largest_intermediate_rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> int:
    """The largest intermediate result (rows) of a statement, from its profiled plan
    (``EXPLAIN (ANALYZE, FORMAT json)``): what tells a cost linear in the rows from one that
    crosses them."""
    plan = json.loads(
        con.execute("EXPLAIN (ANALYZE, FORMAT json) " + sql, params or {}).fetchall()[0][1]
    )
    largest, nodes = 0, list(plan["operator"] if isinstance(plan, dict) else plan)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        largest = max(largest, node.get("intermediate_rows", 0) or 0)
    return largest


def records(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quarantined(con: duckdb.DuckDBPyConnection, sha256: str | None = None) -> list[dict]:
    sql = "SELECT file_sha256, line_number, reason, detail, raw_text FROM quarantine"
    if sha256:
        return records(con, sql + " WHERE file_sha256 = ? ORDER BY line_number", [sha256])
    return records(con, sql + " ORDER BY file_sha256, line_number")


def stored_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def table_contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every stored table's rows, as sorted text: equal contents compare equal."""
    return {
        table: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{table}"').fetchall())
        for table in stored_tables(con)
    }


def text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, column, type) of every VARCHAR or VARCHAR[] column of every stored table."""
    return [
        tuple(r)
        for r in con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' "
            "AND c.data_type IN ('VARCHAR', 'VARCHAR[]')"
        ).fetchall()
    ]


def rows_by(con: duckdb.DuckDBPyConnection, table: str, key: str, columns: Sequence[str]) -> dict:
    select = ", ".join(columns)
    return {r[key]: r for r in records(con, f"SELECT {select} FROM {table}")}


# ---- expected values ----------------------------------------------------------------------


def utc(text: str) -> datetime:
    """An ISO 8601 instant with an offset, as UTC."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value.astimezone(UTC)


def paris(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    """A Europe/Paris wall-clock time as UTC, by zoneinfo."""
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS, fold=fold).astimezone(UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=PARIS).astimezone(UTC)


def bound(text: str, *, is_end: bool) -> datetime | None:
    """A canonical validity bound: empty, an instant, or a Paris day (an end includes it)."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 10:
        day = date.fromisoformat(text)
        return day_start(day + timedelta(days=1) if is_end else day)
    return utc(text)


def text_or_none(value: str) -> str | None:
    return value.strip() or None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (starting one takes seconds)."""
    from delegation_reports.engines.spark_session import session

    spark = session("local[2]", app="delegation-reports-tests")
    yield spark
    spark.stop()
