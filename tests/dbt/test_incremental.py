"""Incremental builds give the same warehouse as a full refresh on the same data."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.dbt_runner import DbtError
from tests.conftest import deliver
from tests.dbt.conftest import build, compact_key, income_correction, registration_update

TABLES = (
    "staging.stg_platforms__gig_registrations",
    "staging.stg_platforms__income_records",
    "staging.stg_platforms__income_record_superseded_versions",
    "staging.stg_platforms__job_postings",
    "intermediate.int_job_postings_classified",
    "intermediate.int_income_person_platform_months",
    "intermediate.int_person_months",
    "intermediate.int_person_month_history",
    "marts.flex_indicators_monthly",
    "marts.labor_demand_monthly",
)


def deliver_until(source: Path, target: Path, last_day: str | None, after: str | None = None) -> None:
    """Copy the delivery folders of `source` dated in (after, last_day] into `target`."""
    for path in source.rglob("*"):
        parts = path.relative_to(source).parts
        if path.is_file() and len(parts) == 4:
            day = parts[2]
            if (last_day is None or day <= last_day) and (after is None or day > after):
                dest = target / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, dest)


def differences(a: Path, b: Path) -> dict[str, int]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    out = {}
    for t in TABLES:
        one = con.execute(f"SELECT count(*) FROM (SELECT * FROM a.{t} EXCEPT ALL SELECT * FROM b.{t})").fetchone()
        two = con.execute(f"SELECT count(*) FROM (SELECT * FROM b.{t} EXCEPT ALL SELECT * FROM a.{t})").fetchone()
        out[t] = one[0] + two[0]
    return out


def test_incremental_equals_full_refresh_with_late_corrections(work: Path, generated: Path):
    landing = work / "incremental_landing"
    incremental = work / "incremental.duckdb"
    deliver_until(generated, landing, "2025-04-10")
    build(landing, incremental)
    deliver_until(generated, landing, "2025-06-20", after="2025-04-10")  # later months and corrections of earlier ones
    build(landing, incremental)
    deliver_until(generated, landing, None, after="2025-06-20")
    build(landing, incremental)

    full = work / "full.duckdb"
    build(landing, full, full_refresh=True)
    assert differences(incremental, full) == dict.fromkeys(TABLES, 0)
    con = duckdb.connect(str(full), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.flex_indicators_monthly").fetchone()[0] > 100


def rebuilt_periods(warehouse: Path) -> list[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute("SELECT period FROM intermediate.int_periods_to_rebuild ORDER BY 1").fetchall()
    con.close()
    return [period for (period,) in rows]


def test_status_change_rebuilds_no_month_and_a_correction_only_the_persons_months(work: Path, generated: Path):
    landing = work / "registration_landing"
    warehouse = work / "registration.duckdb"
    deliver_until(generated, landing, None)
    build(landing, warehouse)

    platform, suspended = registration_update(warehouse, status="suspended")
    deliver(landing, "gig_registrations", [suspended], platform=platform, day="2026-01-05", name="status")
    build(landing, warehouse)
    assert rebuilt_periods(warehouse) == []  # same person, same cells: nothing to recompute

    older = str(int(suspended["birth_year"]) - 30)
    corrected = dict(suspended, birth_year=older, updated_at="2026-01-06T08:00:00+08:00")
    deliver(landing, "gig_registrations", [corrected], platform=platform, day="2026-01-06", name="correction")
    build(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    person_periods = [
        p
        for (p,) in con.execute(
            "SELECT period FROM intermediate.int_person_months WHERE person_key = ? ORDER BY 1",
            [compact_key(suspended["person_key"])],
        ).fetchall()
    ]
    con.close()
    assert rebuilt_periods(warehouse) == person_periods  # the person moved to another age cohort in each month

    full = work / "registration_full.duckdb"
    build(landing, full, full_refresh=True)
    assert differences(warehouse, full) == dict.fromkeys(TABLES, 0)


def test_a_move_to_another_province_rebuilds_only_the_regions_it_left_and_joined(work: Path, generated: Path):
    landing = work / "move_landing"
    warehouse = work / "move.duckdb"
    deliver_until(generated, landing, None)
    build(landing, warehouse)
    platform, registration = registration_update(warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    old_province = con.execute(
        "SELECT province_code FROM ref.regions WHERE region_code = ?", [registration["residence_region_code"]]
    ).fetchone()[0]
    new_region, new_province = con.execute(
        """SELECT region_code, province_code FROM ref.regions
           WHERE region_level = 'county' AND province_code <> ? ORDER BY region_code LIMIT 1""",
        [old_province],
    ).fetchone()
    con.close()
    # a figure planted in a region the move does not touch, in a month it rebuilds: kept, not recomputed
    con = duckdb.connect(str(warehouse))
    planted = con.execute(
        """UPDATE marts.flex_indicators_monthly SET active_jobs = active_jobs + 1000
           WHERE region_level = 'province' AND age_cohort = 'ALL' AND gender = 'ALL'
             AND region_code = (SELECT min(region_code) FROM marts.flex_indicators_monthly
                                WHERE region_level = 'province' AND region_code NOT IN (?, ?))
             AND period = (SELECT min(period) FROM intermediate.int_person_months
                           WHERE person_key = ? AND is_registered)
           RETURNING period, region_code""",
        [old_province, new_province, compact_key(registration["person_key"])],
    ).fetchall()
    con.close()
    assert len(planted) == 1

    moved = dict(registration, residence_region_code=new_region)
    deliver(landing, "gig_registrations", [moved], platform=platform, day="2026-01-05", name="move")
    build(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    whole = con.execute("SELECT count(*) FROM intermediate.int_periods_to_rebuild WHERE rebuilds_every_cell").fetchone()
    provinces = con.execute(
        """SELECT DISTINCT list(region_code ORDER BY region_code) FROM intermediate.int_regions_to_rebuild
           WHERE region_level = 'province' GROUP BY period"""
    ).fetchall()
    countries = con.execute(
        "SELECT count(*) FROM intermediate.int_regions_to_rebuild WHERE region_level = 'country'"
    ).fetchone()
    con.close()
    assert whole == (0,)  # only the person moved: no month is rebuilt whole
    assert provinces == [(sorted([old_province, new_province]),)]
    assert countries == (len(rebuilt_periods(warehouse)),)
    assert planted[0][0] in rebuilt_periods(warehouse)

    full = work / "move_full.duckdb"
    build(landing, full, full_refresh=True)
    # everything else as a full refresh computes it; the planted row differs (once each way)
    assert differences(warehouse, full) == {**dict.fromkeys(TABLES, 0), "marts.flex_indicators_monthly": 2}


def test_an_income_correction_rebuilds_only_the_regions_of_its_person_in_the_months_it_reaches(
    work: Path, generated: Path
):
    landing = work / "correction_landing"
    warehouse = work / "correction.duckdb"
    deliver_until(generated, landing, None)
    build(landing, warehouse)
    platform, corrected = income_correction(warehouse, "2025-04")
    con = duckdb.connect(str(warehouse))
    provinces = {
        period: province
        for period, province in con.execute(
            """SELECT period, residence_province_code FROM intermediate.int_person_months
               WHERE person_key = ? AND is_registered""",
            [compact_key(corrected["person_key"])],
        ).fetchall()
    }
    # a figure planted in a province the correction does not touch, in a month it rebuilds: kept
    planted = con.execute(
        """UPDATE marts.flex_indicators_monthly SET active_jobs = active_jobs + 1000
           WHERE region_level = 'province' AND age_cohort = 'ALL' AND gender = 'ALL' AND period = '2025-05'
             AND region_code = (SELECT min(region_code) FROM marts.flex_indicators_monthly
                                WHERE region_level = 'province' AND region_code <> ?)
           RETURNING period""",
        [provinces["2025-05"]],
    ).fetchall()
    con.close()
    assert planted == [("2025-05",)]

    deliver(landing, "income_records", [corrected], platform=platform, day="2026-01-05", name="correction")
    build(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    rebuilt = con.execute(
        "SELECT period, rebuilds_every_cell FROM intermediate.int_periods_to_rebuild ORDER BY 1"
    ).fetchall()
    reached = con.execute(
        "SELECT period FROM marts.dim_period WHERE period >= '2025-04' OR period = '2025-01' ORDER BY 1"
    ).fetchall()
    listed = con.execute(
        """SELECT period, list(region_code ORDER BY region_code) FROM intermediate.int_regions_to_rebuild
           WHERE region_level = 'province' GROUP BY period ORDER BY period"""
    ).fetchall()
    con.close()
    # April, its retention month January, and every later month (first active month, volatility)
    assert rebuilt == [(p, False) for (p,) in reached]
    assert listed == [(p, [provinces[p]]) for p, _ in rebuilt if p in provinces]

    full = work / "correction_full.duckdb"
    build(landing, full, full_refresh=True)
    assert differences(warehouse, full) == {**dict.fromkeys(TABLES, 0), "marts.flex_indicators_monthly": 2}


@pytest.mark.parametrize(
    ("table", "column"),
    [("int_person_months", "has_other_job"), ("int_person_attributes_by_period", "moves_cells")],
)
def test_an_older_warehouse_stops_with_a_call_for_a_full_refresh(work: Path, built: Path, table: str, column: str):
    """An incremental table without a column of this project's model, on a warehouse whose runs say this project
    built it (a table built by hand with an earlier project): the build stops and calls for a full refresh."""
    warehouse = work / f"older_{table}.duckdb"
    shutil.copy(built, warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute(f"ALTER TABLE intermediate.{table} DROP COLUMN {column}")
    con.close()
    landing = work / f"older_{table}_landing"
    platform, suspended = registration_update(warehouse, status="suspended")
    deliver(landing, "gig_registrations", [suspended], platform=platform, day="2026-01-05", name="status")

    with pytest.raises(DbtError, match="flexemp run --full-refresh"):
        build(landing, warehouse)
    build(landing, warehouse, full_refresh=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    assert column in {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    }
