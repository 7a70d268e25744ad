"""Reading a Parquet lake with ``--lake``: ``findings`` and the reports made from the lake of
a warehouse are those made from the warehouse itself (but for the generation time and the
note saying what the document rests on); lakes that cannot be read are refused clearly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import tree_hashes
from delegation_reports import lake
from delegation_reports.analysis.config import load_config
from delegation_reports.analysis.models import refresh
from delegation_reports.cli import main
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import opened

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
PRACTICES = ("C52249671000024", "C42064120100041")
HOLDER = "helene.garnier@medecin.mssante.fr"
GENERATED = re.compile(r"<dt>Généré le</dt><dd>[^<]*</dd>|<p>Généré le [^.]*\.")
CHAIN_NOTE = re.compile(r'<div class="chain-note">.*?</div>', re.S)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse of the sample exports with its models built, and its lake exported with
    the model outputs before any report was made from either."""
    root = tmp_path_factory.mktemp("lake-read")
    db, folder = root / "samples.duckdb", root / "lake"
    with opened(db) as con:
        for export in sorted(SAMPLES.iterdir()):
            if export.name not in NOT_EXPORTS:
                assert ingest_file(con, export).status == "loaded"
        refresh(con, None, load_config())
        lake.export_lake(con, folder, models=True)
    return db, folder


@pytest.fixture
def broken(sources, tmp_path) -> Path:
    """A copy of the lake, for a test to damage."""
    target = tmp_path / "lake"
    shutil.copytree(sources[1], target)
    return target


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _comparable(path: Path) -> str:
    """A document without what must differ: its generation time, and the note saying what
    it rests on (a warehouse's chain head, or a lake's digests)."""
    text = path.read_text("utf-8")
    assert len(CHAIN_NOTE.findall(text)) <= 1
    return CHAIN_NOTE.sub("", GENERATED.sub("", text))


# ---- tables ---------------------------------------------------------------------------------


def test_every_table_and_view_reads_back_as_in_the_warehouse(sources):
    """Both ways (EXCEPT ALL): same rows, same values; a NULL list and an empty one differ."""
    db, folder = sources
    with lake.lake_catalog(folder) as catalog, opened(catalog, read_only=True) as con:
        con.execute(f"ATTACH '{db}' AS wh (READ_ONLY)")
        state = json.loads((folder / lake.STATE_FILE).read_text("utf-8"))
        names = [t.name for t in lake.INPUT_TABLES] + [t["name"] for t in state["tables"]]
        names += ["finding_status", "directory_change"]
        for name in names:
            columns = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
            expected = [r[0] for r in con.execute(f"DESCRIBE wh.{name}").fetchall()]
            assert columns == expected, name
            for a, b in ((name, f"wh.{name}"), (f"wh.{name}", name)):
                extra = con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})")
                assert extra.fetchone()[0] == 0, (name, a)
        march = (
            "SELECT * FROM {} WHERE occurred_at >= TIMESTAMPTZ '2026-02-28 23:00:00+00' "
            "AND occurred_at < TIMESTAMPTZ '2026-03-31 22:00:00+00'"
        )
        pair = ("attributed_access", "wh.attributed_access")
        for a, b in (pair, pair[::-1]):
            diff = f"SELECT count(*) FROM ({march.format(a)} EXCEPT ALL {march.format(b)})"
            assert con.execute(diff).fetchone()[0] == 0
        assert con.execute(f"SELECT count(*) FROM ({march.format(pair[0])})").fetchone()[0] > 1000
        kinds = con.execute(
            "SELECT count(*) FILTER (WHERE delegation_ids IS NULL), "
            "count(*) FILTER (WHERE delegation_ids = []), count(*) FROM finding"
        ).fetchone()
        assert (
            kinds
            == con.execute(
                "SELECT count(*) FILTER (WHERE delegation_ids IS NULL), "
                "count(*) FILTER (WHERE delegation_ids = []), count(*) FROM wh.finding"
            ).fetchone()
        )
        assert kinds[0] > 0


# ---- findings -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_findings_from_the_lake_are_the_warehouse_findings(sources, fmt):
    db, folder = sources
    for month in ("2026-01", "2026-02", "2026-03"):
        from_db = run("findings", "--db", db, "--month", month, "--format", fmt)
        from_lake = run("findings", "--lake", folder, "--month", month, "--format", fmt)
        assert from_db.exit_code == 0 and from_lake.exit_code == 0, from_lake.output
        assert from_lake.output == from_db.output
    assert (
        len(
            json.loads(
                run("findings", "--lake", folder, "--month", "2026-03", "--format", "json").output
            )
        )
        > 5
    )


def test_findings_filters_work_on_the_lake(sources):
    db, folder = sources
    args = ("--month", "2026-03", "--practice", PRACTICES[0], "--format", "csv")
    from_lake = run("findings", "--lake", folder, *args)
    assert from_lake.exit_code == 0
    assert from_lake.output == run("findings", "--db", db, *args).output
    assert (
        run("findings", "--lake", folder, "--month", "2026-03", "--practice", "nope").exit_code == 1
    )


# ---- reports --------------------------------------------------------------------------------


@pytest.mark.slow
def test_reports_from_the_lake_are_those_from_the_warehouse(sources, tmp_path):
    db, folder = sources
    before = tree_hashes(folder)
    selection = [a for p in PRACTICES for a in ("--practice", p)]
    # From the lake first: the warehouse's report runs then record a first version, as the
    # lake (exported before any run) says.
    outputs = {}
    for name, source in (("lake", ("--lake", folder)), ("db", ("--db", db))):
        out = tmp_path / name
        for command in (
            ("report", "monthly", "--month", "2026-03", *selection),
            ("report", "overview", "--month", "2026-03"),
            (
                "report",
                "history",
                "--mailbox",
                HOLDER,
                "--from",
                "2026-01-01",
                "--to",
                "2026-03-31",
            ),
        ):
            result = run(*command, *source, "--out", out)
            assert result.exit_code == 0, (name, command, result.output)
        outputs[name] = out
    pages = sorted(p.relative_to(outputs["db"]) for p in outputs["db"].rglob("*.html"))
    assert len(pages) == len(PRACTICES) + 3  # the practices, index, overview, history
    for page in pages:
        assert _comparable(outputs["lake"] / page) == _comparable(outputs["db"] / page), page
    for practice in PRACTICES:
        name = f"2026-03/{practice}-preuves.csv"
        assert (outputs["lake"] / name).read_bytes() == (outputs["db"] / name).read_bytes()
    # The lake's pages say which lake they rest on; the manifest records it.
    lake_sha = lake.file_sha256(folder / "lake.json")
    state_sha = lake.file_sha256(folder / lake.STATE_FILE)
    page = (outputs["lake"] / "2026-03" / f"{PRACTICES[0]}.html").read_text("utf-8")
    note = CHAIN_NOTE.search(page).group(0)
    assert "lac de données Parquet" in note and lake_sha in note and state_sha in note
    manifest = json.loads((outputs["lake"] / "2026-03" / "manifest.json").read_text("utf-8"))
    assert {(r["lake_sha256"], r["chain_head"]) for r in manifest["runs"]} == {(lake_sha, None)}
    # Reading the lake changed nothing in it, and recorded no report run anywhere.
    assert tree_hashes(folder) == before
    with opened(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM report_run").fetchone()[0] == len(PRACTICES)


# ---- refusals -------------------------------------------------------------------------------


def _refused(args, message: str) -> None:
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_lake_without_model_outputs_is_refused(sources, tmp_path):
    with opened(sources[0], read_only=True) as con:
        lake.export_lake(con, tmp_path / "inputs-only")
    _refused(
        ("findings", "--lake", tmp_path / "inputs-only", "--month", "2026-03"),
        "holds no model outputs (_state/refresh_state.json is missing)",
    )


def test_an_unknown_format_version_is_refused(broken):
    description = json.loads((broken / "lake.json").read_text("utf-8"))
    description["format_version"] = 2
    (broken / "lake.json").write_text(json.dumps(description), encoding="utf-8")
    _refused(
        (
            "report",
            "overview",
            "--lake",
            broken,
            "--month",
            "2026-03",
            "--out",
            broken.parent / "o",
        ),
        "lake format version 2 is not supported",
    )


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            1,
            "the lake's model outputs were written by an earlier version of delegation-reports "
            "(refresh state format 1, this version reads 2): refresh them again with "
            "'delegation-reports spark refresh --lake DIR'",
        ),
        (3, "refresh state format version 3 is not supported by this version"),
    ],
)
def test_model_outputs_of_another_format_are_refused(broken, version, message):
    """Model outputs of format 1 hold ±infinity for open bounds where DuckDB wrote them,
    not the instants every reader of format 2 (Parquet readers without DuckDB too) expects."""
    state = json.loads((broken / lake.STATE_FILE).read_text("utf-8"))
    assert state["format_version"] == lake.STATE_FORMAT_VERSION == 2
    state["format_version"] = version
    (broken / lake.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    _refused(("findings", "--lake", broken, "--month", "2026-03"), message)


def test_models_older_than_the_inputs_are_refused(broken):
    description = json.loads((broken / "lake.json").read_text("utf-8"))
    description["source"]["chain_head"] = "0" * 64
    (broken / "lake.json").write_text(json.dumps(description), encoding="utf-8")
    _refused(
        ("findings", "--lake", broken, "--month", "2026-03"),
        "were refreshed from other inputs than those its lake.json now describes",
    )


def test_a_month_the_models_do_not_cover_is_refused(broken):
    state = json.loads((broken / lake.STATE_FILE).read_text("utf-8"))
    state["months"] = ["2026-02", "2026-03"]
    (broken / lake.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    _refused(
        ("findings", "--lake", broken, "--month", "2026-01"),
        "holds no model outputs for 2026-01: its models cover 2026-02 to 2026-03",
    )
    assert run("findings", "--lake", broken, "--month", "2026-03").exit_code == 0


def test_missing_or_unreadable_tables_are_named(broken):
    state_path = broken / lake.STATE_FILE
    state = json.loads(state_path.read_text("utf-8"))
    kept = [t for t in state["tables"] if t["name"] != "delegation_period"]
    state_path.write_text(json.dumps({**state, "tables": kept}), encoding="utf-8")
    _refused(
        ("findings", "--lake", broken, "--month", "2026-03"), "lacks the tables delegation_period"
    )
    state_path.write_text(json.dumps(state), encoding="utf-8")
    damaged = next((broken / "models" / "finding").rglob("*.parquet"))
    damaged.write_bytes(b"not parquet at all")
    _refused(("findings", "--lake", broken, "--month", "2026-03"), "cannot read table finding")


def test_another_configuration_than_the_models_is_refused(sources, tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text("[rules.bulk_access]\nmin_reads = 7\n", encoding="utf-8")
    _refused(
        ("findings", "--lake", sources[1], "--month", "2026-03", "--config", config),
        "were built with another rules configuration",
    )


def test_db_and_lake_together_are_refused(sources):
    _refused(
        ("findings", "--db", sources[0], "--lake", sources[1], "--month", "2026-03"),
        "choose where to read: --db FILE or --lake DIR, not both",
    )


def test_a_folder_that_is_no_lake_is_refused(tmp_path):
    _refused(("findings", "--lake", tmp_path, "--month", "2026-03"), "lake.json is missing")
    (tmp_path / "lake.json").write_text("{not json", encoding="utf-8")
    _refused(
        ("findings", "--lake", tmp_path, "--month", "2026-03"), "cannot read the lake description"
    )


def test_a_hostile_description_is_refused_not_run(broken):
    """lake.json comes from outside: its types, names and paths never reach SQL as given."""
    path = broken / "lake.json"
    original = path.read_text("utf-8")
    state_text = (broken / lake.STATE_FILE).read_text("utf-8")
    cases = [
        (
            lambda t: t["columns"][0].update(type="VARCHAR) AS x FROM read_csv('/etc/passwd') --"),
            "unknown type",
        ),
        (lambda t: t.update(name="lake_source"), "'lake_source' cannot name a lake table"),
        (lambda t: t.update(path="../../elsewhere"), "leaves the lake"),
    ]
    for change, message in cases:
        description = json.loads(original)
        change(description["tables"][0])
        path.write_text(json.dumps(description), encoding="utf-8")
        # The refresh state made to match: only the description itself can refuse it.
        state = json.loads(state_text)
        state["lake_sha256"] = lake.file_sha256(path)
        (broken / lake.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        _refused(("findings", "--lake", broken, "--month", "2026-03"), message)
