"""An incremental build leaves out unchanged reference data, and only that (pipelines.dbt_selection)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from pipelines.dbt_runner import dbt_paths
from pipelines.dbt_selection import project_fingerprint
from tests.dbt.conftest import build

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


def recorded_fingerprints(warehouse: Path) -> list[str | None]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("SELECT dbt_project_fingerprint FROM audit.runs ORDER BY started_at").fetchall()
    finally:
        con.close()
    return [fingerprint for (fingerprint,) in rows]


def test_reference_data_is_rebuilt_after_a_project_change_or_a_failed_build(work: Path, generated: Path, built: Path):
    warehouse = work / "reference.duckdb"
    shutil.copy(built, warehouse)
    assert recorded_fingerprints(warehouse) == [project_fingerprint()]

    build(generated, warehouse)  # nothing new, same project
    skipped = last_build_nodes()
    assert not {node for node in skipped if node.startswith("seed.")}
    assert "model.flexemp.dim_region" not in skipped
    assert "model.flexemp.flex_indicators_monthly" in skipped  # data models are built as always
    assert TIES_DATA_TO_REFERENCE in skipped  # and data is still tested against the reference tables

    for change in (
        "SET dbt_project_fingerprint = 'a project before this release'",  # the project changed since
        "SET loaded_through = NULL WHERE started_at = (SELECT max(started_at) FROM audit.runs)",  # the last failed
    ):
        con = duckdb.connect(str(warehouse))
        con.execute(f"UPDATE audit.runs {change}")
        con.close()
        build(generated, warehouse)
        rebuilt = last_build_nodes()
        assert {"seed.flexemp.regions", "model.flexemp.dim_region", "model.flexemp.dim_platform"} <= rebuilt, change
        assert recorded_fingerprints(warehouse)[-1] == project_fingerprint()
