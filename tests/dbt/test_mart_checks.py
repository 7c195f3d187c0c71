"""The mart GX suites pass on a real build and catch what they are for."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import tasks
from pipelines.checks.suites import CheckFailed


@pytest.fixture
def copy_of_built(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "checked.duckdb"
    shutil.copy(built, target)
    return target


def test_mart_suites_pass_on_a_real_build(copy_of_built):
    outcome = tasks.check_marts(str(copy_of_built), "run-ok")
    assert set(outcome) >= {"marts_flex_indicators_monthly", "marts_flex_indicators_additivity",
                            "marts_labor_demand_monthly", "marts_labor_demand_additivity", "marts_periods_kept"}
    con = duckdb.connect(str(copy_of_built), read_only=True)
    assert con.execute("SELECT count(*) FROM audit.check_results WHERE run_id = 'run-ok' AND stage = 'marts'"
                       ).fetchone()[0] > 20
    assert con.execute("SELECT count(*) FROM audit.mart_periods").fetchone()[0] == 7


def test_a_total_that_is_not_the_sum_of_its_children_fails(copy_of_built):
    con = duckdb.connect(str(copy_of_built))
    con.execute("""UPDATE marts.flex_indicators_monthly SET active_workers = active_workers + 1
                   WHERE region_level = 'country' AND age_cohort = 'ALL' AND gender = 'ALL' AND period = '2025-03'""")
    con.close()
    with pytest.raises(CheckFailed, match="workers_difference"):
        tasks.check_marts(str(copy_of_built), "run-broken-total")


def test_a_share_outside_0_1_and_inverted_percentiles_fail(copy_of_built):
    con = duckdb.connect(str(copy_of_built))
    con.execute("""UPDATE marts.flex_indicators_monthly SET migrant_share = 1.5, p10_net_income = p90_net_income + 1
                   WHERE region_level = 'country' AND age_cohort = 'ALL' AND gender = 'ALL' AND period = '2025-02'""")
    con.close()
    with pytest.raises(CheckFailed) as failed:
        tasks.check_marts(str(copy_of_built), "run-broken-share")
    assert "migrant_share" in str(failed.value) and "p10_net_income" in str(failed.value)


def test_a_month_that_disappears_between_runs_fails(copy_of_built):
    tasks.check_marts(str(copy_of_built), "run-first")
    con = duckdb.connect(str(copy_of_built))
    con.execute("DELETE FROM marts.flex_indicators_monthly WHERE period = '2025-01'")
    con.close()
    with pytest.raises(CheckFailed, match="still_present"):
        tasks.check_marts(str(copy_of_built), "run-lost-month")
