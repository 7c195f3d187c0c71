"""Every dbt unit test (`unit_tests:` in the model ymls), against the built warehouse.

`flexemp run` builds with `--exclude test_type:unit` (they test logic, not data), so
the suite runs them here; dbt needs the models' parents to exist, hence `built`.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.dbt_runner import run_dbt


def test_every_dbt_unit_test_passes(built: Path) -> None:
    run_dbt(["test", "--select", "test_type:unit"], built)
