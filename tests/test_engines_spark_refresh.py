"""The models on Spark give the tables DuckDB gives, row for row: on the samples and on a
warehouse where every rule fires, every model output of a ``spark refresh`` is compared with
the warehouse's both ways (EXCEPT ALL: duplicates count, list order and NULL versus an
empty list matter); the reports read from the Spark-refreshed lake say what the warehouse's
say; a refresh stopped before its state leaves the lake readable as before, or refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis_cases import MONTHS, build_varied, config_from, new_case
from delegation_reports import lake
from delegation_reports.analysis import models
from delegation_reports.analysis.config import DELEGATION_LEVEL_RULES, RULE_IDS, load_config
from delegation_reports.cli import main
from delegation_reports.engines import spark_runner
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import opened
from lake_cases import differences

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
PRACTICE = "C52249671000024"
GENERATED = re.compile(r"<dt>Généré le</dt><dd>[^<]*</dd>|<p>Généré le [^.]*\.")
CHAIN_NOTE = re.compile(r'<div class="chain-note">.*?</div>', re.S)


def _spark_lake(con, folder: Path, spark, months=None):
    """The warehouse's inputs exported as a lake, refreshed on Spark; the warehouse's stored
    accesses written, to compare them."""
    models.ensure_practice_access(con, models.covered_months(con))
    target = folder / "lake"
    lake.export_lake(con, target)
    return target, spark_runner.refresh(target, months=months, spark=spark)


@pytest.fixture(scope="module")
def samples_lake(tmp_path_factory, spark):
    folder = tmp_path_factory.mktemp("spark-samples")
    db = folder / "w.duckdb"
    with opened(db) as con:
        for export in sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS):
            assert ingest_file(con, export).status == "loaded"
        models.refresh(con, config=load_config(), force=True)
        target, result = _spark_lake(con, folder, spark)
    return db, target, result


@pytest.fixture(scope="module")
def varied_lake(tmp_path_factory, spark):
    folder = tmp_path_factory.mktemp("spark-varied")
    with new_case(folder) as case:
        build_varied(case)
        case.refresh(*MONTHS)
        target, result = _spark_lake(case.con, folder, spark, months=list(MONTHS))
        yield case.con, target, result


def _assert_same(con, target: Path, months=None) -> None:
    found = {}
    for table in spark_runner.OUTPUTS:
        scoped = months if table in ("finding", spark_runner.PRACTICE_ACCESS) else None
        n_missing, n_extra, sample = differences(con, target, table, scoped)
        if n_missing or n_extra:
            found[table] = (n_missing, n_extra, sample)
    assert found == {}


def test_samples_give_the_same_tables_on_both_engines(samples_lake):
    db, target, result = samples_lake
    with opened(db, read_only=True) as con:
        for table, n in (("finding", 10), (spark_runner.PRACTICE_ACCESS, 1000)):
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert result.tables[table] == rows > n
        _assert_same(con, target)


def test_a_file_split_by_a_far_event_gives_the_same_tables_on_both_engines(tmp_path, spark):
    """An audit export holding one event in 1970: both engines read its coverage as two
    spans (docs/formats.md#coverage), and build 1970-01 and the samples' months only."""
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLES, exports, ignore=shutil.ignore_patterns(*NOT_EXPORTS))
    with open(exports / "alpha_audit.csv", "a", encoding="utf-8") as handle:
        handle.write(
            "A-999999,1970-01-01T00:00:00Z,helene.garnier@medecin.mssante.fr,"
            "sandrine.moulin@pro.mssante.fr,read,success,otp,192.0.2.17,Thunderbird,s-far,,"
            "Messagerie Alpha\n"
        )
    with opened(tmp_path / "w.duckdb") as con:
        for export in sorted(exports.iterdir()):
            assert ingest_file(con, export).status == "loaded"
        models.refresh(con, config=load_config(), force=True)
        target, result = _spark_lake(con, tmp_path, spark)
        assert [str(m) for m in result.months] == ["1970-01", "2026-01", "2026-02", "2026-03"]
        months = {r[0] for r in con.execute("SELECT DISTINCT month FROM trace_month").fetchall()}
        assert sorted(f"{m:%Y-%m}" for m in months) == [str(m) for m in result.months]
        _assert_same(con, target)


def test_every_rule_gives_the_same_findings_on_both_engines(varied_lake):
    con, target, result = varied_lake
    fired = {r[0] for r in con.execute("SELECT DISTINCT rule_id FROM finding").fetchall()}
    assert fired == set(RULE_IDS)
    _assert_same(con, target, MONTHS)
    # NULL and empty lists both occur, and are kept apart.
    kinds = con.execute(
        "SELECT count(*) FILTER (WHERE delegation_ids IS NULL) > 0, "
        "count(*) FILTER (WHERE delegation_ids = []) + count(*) FILTER (WHERE evidence = []) > 0 "
        "FROM finding"
    ).fetchone()
    assert kinds == (True, True)


def test_refresh_writes_month_partitions_and_state_last(varied_lake):
    _, target, result = varied_lake
    for table in ("finding", spark_runner.PRACTICE_ACCESS):
        folders = sorted(p.name for p in (target / "models" / table).glob("month=*"))
        assert folders == [f"month={m}" for m in MONTHS]
    state_path = target / lake.STATE_FILE
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert state["engine"] == "spark" and state["months"] == [str(m) for m in MONTHS]
    assert state["format_version"] == lake.STATE_FORMAT_VERSION
    assert {t["name"] for t in state["tables"]} >= set(lake.REQUIRED_MODELS)
    assert state["lake_sha256"] == lake.file_sha256(target / lake.LAKE_FILE)
    newest_output = max(p.stat().st_mtime for p in (target / "models").rglob("*.parquet"))
    assert state_path.stat().st_mtime >= newest_output
    assert not (target / lake.SWAP_FILE).exists() and not (target / "_staging").exists()
    # Many months per statement: the core models, marts, stored accesses, month grid and
    # each delegation-level rule once for all months; per month, its working tables, then
    # one statement for all its rules, one for the runs of findings, one for the findings.
    across = [r for r in RULE_IDS if r in DELEGATION_LEVEL_RULES and models.reads_all_months(r)]
    once = len(spark_runner.CORE_ORDER) + len(models.MART_MODELS) + 1 + 1 + len(across)
    assert result.statements == once + len(MONTHS) * (len(models.MONTH_MODELS) + 3)


def test_months_of_an_earlier_state_format_are_not_carried_over(tmp_path):
    """A refresh of some months keeps the other months of the previous state only when their
    outputs are of this format (format 1 held ±infinity for open bounds)."""
    config = load_config()
    path = tmp_path / lake.STATE_FILE
    path.parent.mkdir()
    state = {
        "format_version": lake.STATE_FORMAT_VERSION,
        "lake_sha256": "inputs",
        "config_digest": config.digest,
        "months": ["2026-02"],
    }
    path.write_text(json.dumps(state), encoding="utf-8")
    assert spark_runner._previous_months(tmp_path, "inputs", config) == {"2026-02"}
    path.write_text(json.dumps({**state, "format_version": 1}), encoding="utf-8")
    assert spark_runner._previous_months(tmp_path, "inputs", config) == set()


def test_a_refresh_stopped_before_its_state_leaves_the_lake_as_it_was(
    varied_lake, tmp_path, monkeypatch, spark
):
    """Stopped once its outputs are written (staged), the lake reads as before; stopped
    while they are being put in place, it is refused until a refresh completes."""
    _, source, _ = varied_lake
    target = tmp_path / "lake"
    shutil.copytree(source, target)
    month = MONTHS[-1]

    def findings() -> list:
        with lake.lake_catalog(target) as catalog, opened(catalog, read_only=True) as con:
            return con.execute(
                "SELECT * FROM finding WHERE month = ? ORDER BY finding_id", [month.first_day]
            ).fetchall()

    before = findings()
    state_before = (target / lake.STATE_FILE).read_bytes()
    # Another configuration: one of the month's rules turned off.
    rule = before[0][2]
    config = config_from(tmp_path, f"[rules.{rule}]\nenabled = false\n")
    seen = {}

    class Stopped(Exception):
        pass

    def stop_point(label: str) -> None:
        if label == "spark refresh: outputs staged":
            seen["staged"] = findings()  # another reader, while the refresh waits
            assert any(target.glob("_staging/*/out/finding/month=*"))
        elif label == "spark refresh: outputs in place":
            raise Stopped(label)

    monkeypatch.setattr(spark_runner, "stop_point", stop_point)
    with pytest.raises(Stopped):
        spark_runner.refresh(target, months=[month], config=config, spark=spark)
    assert seen["staged"] == before
    assert (target / lake.STATE_FILE).read_bytes() == state_before
    result = CliRunner().invoke(
        main, ["findings", "--lake", str(target), "--month", str(month), "--format", "csv"]
    )
    assert result.exit_code == 1 and "refresh_swap.json" in result.output, result.output
    assert "Traceback" not in result.output


def test_reports_from_a_spark_refreshed_lake_are_those_from_the_warehouse(samples_lake, tmp_path):
    db, target, _ = samples_lake

    def run(*args):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    for month in ("2026-01", "2026-02", "2026-03"):
        args = ("findings", "--month", month, "--format", "json")
        assert run(*args, "--lake", target) == run(*args, "--db", db)
    pages = {}
    for name, source in (("lake", ("--lake", target)), ("db", ("--db", db))):
        out = tmp_path / name
        run(
            "report", "monthly", "--month", "2026-03", "--practice", PRACTICE, *source, "--out", out
        )
        text = (out / "2026-03" / f"{PRACTICE}.html").read_text("utf-8")
        pages[name] = CHAIN_NOTE.sub("", GENERATED.sub("", text))
        evidence = (out / "2026-03" / f"{PRACTICE}-preuves.csv").read_bytes()
        pages[f"{name}-evidence"] = evidence
    assert pages["lake"] == pages["db"]
    assert pages["lake-evidence"] == pages["db-evidence"]
    assert pages["lake-evidence"].count(b"\n") > 10


def test_cli_refresh_names_a_missing_lake(tmp_path):
    result = CliRunner().invoke(main, ["spark", "refresh", "--lake", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert "no lake at" in result.output and "Traceback" not in result.output


def test_cli_refresh_refuses_a_setting_that_is_not_key_value(tmp_path):
    result = CliRunner().invoke(
        main, ["spark", "refresh", "--lake", str(tmp_path), "--conf", "spark.driver.memory"]
    )
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output and "Traceback" not in result.output


def test_months_outside_the_lake_are_refused(varied_lake, spark):
    _, target, _ = varied_lake
    with pytest.raises(UserError, match="2030-01"):
        spark_runner.refresh(target, months=[models.Month(2030, 1)], spark=spark)
