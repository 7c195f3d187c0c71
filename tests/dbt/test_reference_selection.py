"""An incremental build leaves out unchanged reference data, and only that; with nothing new loaded,
no build runs at all (pipelines.dbt_selection)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.dbt_runner import dbt_paths
from pipelines.dbt_selection import project_fingerprint
from tests.conftest import deliver
from tests.dbt.conftest import build, registration_update

TIES_DATA_TO_REFERENCE = (
    "test.flexemp.relationships_stg_platforms__gig_registrations_residence_region_code__region_code__ref_regions_"
)


def last_build_nodes() -> set[str]:
    """The nodes the last dbt invocation ran (its run_results.json), test hashes cut off."""
    results = json.loads((dbt_paths()["target"] / "run_results.json").read_text(encoding="utf-8"))
    assert all(r["status"] in ("success", "pass") for r in results["results"])
    return {
        r["unique_id"].rsplit(".", 1)[0] if r["unique_id"].startswith("test.") else r["unique_id"]
        for r in results["results"]
    }


def recorded_builds(warehouse: Path) -> list[tuple[str | None, datetime | None]]:
    """(dbt_project_fingerprint, loaded_through) of every run, oldest first."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        query = "SELECT dbt_project_fingerprint, loaded_through FROM audit.runs ORDER BY started_at"
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_a_run_with_nothing_new_builds_nothing(work: Path, generated: Path, built: Path):
    warehouse = work / "nothing_new.duckdb"
    shutil.copy(built, warehouse)
    results = dbt_paths()["target"] / "run_results.json"
    results.unlink(missing_ok=True)

    assert build(generated, warehouse)["built"] is False  # every file already loaded, same project
    assert not results.exists()  # dbt was not invoked
    first, again = recorded_builds(warehouse)
    assert again == first  # the same project over the same loads: the next build starts where the last did

    landing = work / "nothing_new_landing"
    platform, suspended = registration_update(warehouse, status="suspended")
    deliver(landing, "gig_registrations", [suspended], platform=platform, day="2026-01-05", name="status")
    assert build(landing, warehouse)["built"] is True
    assert "model.flexemp.stg_platforms__gig_registrations" in last_build_nodes()
    assert recorded_builds(warehouse)[-1][1] > first[1]


def test_reference_data_is_rebuilt_after_a_project_change_or_a_failed_build(work: Path, generated: Path, built: Path):
    warehouse = work / "reference.duckdb"
    shutil.copy(built, warehouse)
    assert [fingerprint for fingerprint, _ in recorded_builds(warehouse)] == [project_fingerprint()]

    landing = work / "reference_landing"  # one new delivery, same project
    platform, suspended = registration_update(warehouse, status="suspended")
    deliver(landing, "gig_registrations", [suspended], platform=platform, day="2026-01-05", name="status")
    build(landing, warehouse)
    skipped = last_build_nodes()
    assert not {node for node in skipped if node.startswith("seed.")}
    assert "model.flexemp.dim_region" not in skipped
    assert "model.flexemp.flex_indicators_monthly" in skipped  # data models are built as always
    assert TIES_DATA_TO_REFERENCE in skipped  # and data is still tested against the reference tables

    for change, from_scratch in (
        ("SET loaded_through = NULL WHERE started_at = (SELECT max(started_at) FROM audit.runs)", False),  # failed
        (  # another project's build failed (it may have rebuilt some tables), this one's succeeded before
            "SET dbt_project_fingerprint = 'a release tried and withdrawn', loaded_through = NULL "
            "WHERE started_at = (SELECT max(started_at) FROM audit.runs)",
            True,
        ),
        ("SET dbt_project_fingerprint = 'a project before this release'", True),  # the project changed since
    ):
        con = duckdb.connect(str(warehouse))
        con.execute(f"UPDATE audit.runs {change}")
        con.close()
        assert build(landing, warehouse)["full_refresh"] is from_scratch, change  # nothing new, yet all is built
        rebuilt = last_build_nodes()
        assert {"seed.flexemp.regions", "model.flexemp.dim_region", "model.flexemp.dim_platform"} <= rebuilt, change
        assert recorded_builds(warehouse)[-1][0] == project_fingerprint()


def test_a_new_release_recomputes_the_rows_incremental_models_kept(work: Path, generated: Path, built: Path):
    """Rows an earlier project computed (here: a posting's title as it kept it) do not survive its successor's first
    build."""
    warehouse = work / "new_release.duckdb"
    shutil.copy(built, warehouse)
    landing = work / "new_release_landing"
    platform, suspended = registration_update(warehouse, status="suspended")
    deliver(landing, "gig_registrations", [suspended], platform=platform, day="2026-01-05", name="status")

    def earlier_project_kept_one_posting() -> None:
        with duckdb.connect(str(warehouse)) as con:
            posting = con.execute(
                """SELECT platform_id, posting_id FROM intermediate.int_job_postings_classified
                   ORDER BY platform_id, posting_id LIMIT 1"""
            ).fetchone()
            con.execute(
                """UPDATE intermediate.int_job_postings_classified SET title = 'earlier project'
                   WHERE platform_id = ? AND posting_id = ?""",
                list(posting),
            )

    def kept_from_earlier_project() -> int:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            query = "SELECT count(*) FROM intermediate.int_job_postings_classified WHERE title = ?"
            return con.execute(query, ["earlier project"]).fetchone()[0]

    earlier_project_kept_one_posting()
    assert build(landing, warehouse)["full_refresh"] is False  # same project: the kept row stays as it is
    assert kept_from_earlier_project() == 1

    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE audit.runs SET dbt_project_fingerprint = 'a project before this release'")
    assert build(landing, warehouse)["full_refresh"] is True
    assert kept_from_earlier_project() == 0
