"""dbt run in-process on a real DuckDB file: seeds land in `ref` (no prefixed schema), failures raise.

The work folder is a temporary directory, so neither the warehouse nor dbt's
target/ and logs/ land in the repository.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines.dbt_runner import DbtError, run_dbt
from pipelines.settings import DBT_PROJECT_DIR, SEEDS_DIR

SEEDS = ("regions", "platforms", "occupations", "minimum_wages")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEXEMP_WORK_DIR", str(tmp_path))
    return tmp_path


def seed_rows(name: str) -> int:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def test_seed_and_seed_tests_build_the_ref_schema(work: Path) -> None:
    warehouse = work / "warehouse.duckdb"
    repo_target_existed = (DBT_PROJECT_DIR / "target").exists()

    run_dbt(["seed"], warehouse)
    run_dbt(["test", "--select", "resource_type:seed", "--indirect-selection", "cautious"], warehouse)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name in SEEDS:
            count = con.sql(f"select count(*) from ref.{name}").fetchall()[0][0]
            assert count == seed_rows(name), name
        schemas = {row[0] for row in con.sql("select distinct table_schema from information_schema.tables").fetchall()}
        assert schemas == {"ref"}
        types = dict(con.sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'ref' and table_name = 'regions'").fetchall())
        assert types["region_code"] == "VARCHAR"
        assert types["is_statistical_grouping"] == "BOOLEAN"
        assert con.sql("select region_name from ref.regions where region_code = '110000'").fetchall() == [("北京市",)]
        tier1 = con.sql("select count(distinct province_code) from ref.minimum_wages where tier = 1").fetchall()
        assert tier1[0][0] == 31

    assert (work / "dbt" / "target" / "manifest.json").exists()
    assert (DBT_PROJECT_DIR / "target").exists() == repo_target_existed


def test_failed_nodes_raise_dbt_error(work: Path) -> None:
    # Tests on seeds that were never loaded: every test node errors.
    with pytest.raises(DbtError) as err:
        run_dbt(["test", "--select", "unique_regions_region_code"], work / "empty.duckdb")
    assert "unique_regions_region_code" in str(err.value)
    assert err.value.failures
    # dbt keeps one database open per invocation; a failed one still releases the file
    # (another configuration could not open it in this process otherwise).
    duckdb.connect(str(work / "empty.duckdb"), read_only=True).close()


def test_invalid_command_raises_dbt_error(work: Path) -> None:
    with pytest.raises(DbtError, match="No such command"):
        run_dbt(["no-such-command"], work / "empty.duckdb")
