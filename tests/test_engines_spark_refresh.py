"""The models on Spark give the tables DuckDB gives, row for row: on the samples and on a
warehouse where every rule fires, every model output is compared both ways (EXCEPT ALL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis_cases import MONTHS, build_varied, new_case
from delegation_reports.analysis import models
from delegation_reports.analysis.config import RULE_IDS, load_config
from delegation_reports.cli import main
from delegation_reports.engines import spark_runner
from delegation_reports.errors import UserError
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.warehouse import connect
from lake_cases import differences, write_lake_inputs

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
# Every table a refresh writes: core models, configuration, marts and findings.
OUTPUTS = (
    *spark_runner.CORE_ORDER,
    *spark_runner.CONFIG_TABLES,
    *models.MART_MODELS,
    "finding",
)


@pytest.fixture(scope="module")
def samples_lake(tmp_path_factory, spark):
    folder = tmp_path_factory.mktemp("spark-samples")
    con = connect(folder / "w.duckdb")
    try:
        for export in sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS):
            ingest_file(con, export)
        models.refresh(con, config=load_config(), force=True)
        lake = write_lake_inputs(con, folder / "lake")
        result = spark_runner.refresh(lake, spark=spark)
        yield con, lake, result
    finally:
        con.close()


@pytest.fixture(scope="module")
def varied_lake(tmp_path_factory, spark):
    folder = tmp_path_factory.mktemp("spark-varied")
    with new_case(folder) as case:
        build_varied(case)
        case.refresh(*MONTHS)
        lake = write_lake_inputs(case.con, folder / "lake")
        result = spark_runner.refresh(lake, months=list(MONTHS), spark=spark)
        yield case.con, lake, result


def _assert_same(con, lake, months=None):
    found = {}
    for table in OUTPUTS:
        scoped = months if table == "finding" else None
        n_missing, n_extra, sample = differences(con, lake, table, scoped)
        if n_missing or n_extra:
            found[table] = (n_missing, n_extra, sample)
    assert found == {}


def test_samples_give_the_same_tables_on_both_engines(samples_lake):
    con, lake, result = samples_lake
    assert result.tables["finding"] == con.execute("SELECT count(*) FROM finding").fetchone()[0] > 0
    _assert_same(con, lake)


def test_every_rule_gives_the_same_findings_on_both_engines(varied_lake):
    con, lake, result = varied_lake
    fired = {r[0] for r in con.execute("SELECT DISTINCT rule_id FROM finding").fetchall()}
    assert fired == set(RULE_IDS)
    _assert_same(con, lake, MONTHS)


def test_refresh_writes_month_partitions_and_state_last(varied_lake):
    _, lake, result = varied_lake
    folders = sorted(p.name for p in (lake / "models" / "finding").glob("month=*"))
    assert folders == [f"month={m}" for m in MONTHS]
    state = json.loads((lake / "_state" / "refresh_state.json").read_text(encoding="utf-8"))
    assert state["engine"] == "spark" and state["months"] == [str(m) for m in MONTHS]
    assert {t["name"] for t in state["tables"]} == set(OUTPUTS)
    state_time = (lake / "_state" / "refresh_state.json").stat().st_mtime
    newest_output = max(p.stat().st_mtime for p in (lake / "models").rglob("*.parquet"))
    assert state_time >= newest_output
    # Many months per statement: far fewer statements than models times months.
    per_month = len(models.MONTH_MODELS) + len(RULE_IDS) + len(models.MART_MODELS)
    assert result.statements < per_month * len(MONTHS)


def test_refresh_of_one_month_keeps_the_others(varied_lake, spark):
    con, lake, _ = varied_lake
    findings = lake / "models" / "finding"

    def files(month):
        return sorted(p.name for p in (findings / f"month={month}").glob("*.parquet"))

    before = {m: files(m) for m in MONTHS}
    spark_runner.refresh(lake, months=[MONTHS[-1]], spark=spark)
    for month in MONTHS[:-1]:
        assert files(month) == before[month]  # untouched
    assert files(MONTHS[-1]) and files(MONTHS[-1]) != before[MONTHS[-1]]  # rewritten
    _assert_same(con, lake, MONTHS)


def test_cli_refresh_names_a_missing_lake(tmp_path):
    result = CliRunner().invoke(main, ["spark", "refresh", "--lake", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert "lake.json" in result.output and "Traceback" not in result.output


def test_months_outside_the_lake_are_refused(varied_lake, spark):
    _, lake, _ = varied_lake
    with pytest.raises(UserError, match="2030-01"):
        spark_runner.refresh(lake, months=[models.Month(2030, 1)], spark=spark)
