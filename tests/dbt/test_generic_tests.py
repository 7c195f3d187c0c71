"""The project's own generic dbt tests (dbt/tests/generic) catch what they exist for."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.dbt_runner import DbtError, run_dbt

GRAIN_TEST = "unique_combination_of_columns_int_person_months_person_key__period"


@pytest.fixture
def warehouse(built: Path, tmp_path: Path) -> Path:
    """A copy of the built warehouse, free to be damaged."""
    copy = tmp_path / "damaged.duckdb"
    shutil.copy(built, copy)
    return copy


def test_the_grain_test_passes_on_the_built_panel(warehouse: Path) -> None:
    run_dbt(["test", "--select", GRAIN_TEST], warehouse)


def test_the_grain_test_fails_on_a_repeated_person_month(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """INSERT INTO intermediate.int_person_months
               SELECT * FROM intermediate.int_person_months ORDER BY person_key, period LIMIT 3"""
        )
    with pytest.raises(DbtError) as failed:
        run_dbt(["test", "--select", GRAIN_TEST], warehouse)
    assert GRAIN_TEST in str(failed.value)
    assert "Got 3 results" in str(failed.value)
