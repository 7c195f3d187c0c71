"""The dbt project's fingerprint follows its files and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.dbt_selection import project_fingerprint
from pipelines.settings import DBT_PROJECT_DIR


def test_the_fingerprint_changes_with_any_project_file_but_not_with_dbt_output(tmp_path: Path):
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project)
    before = project_fingerprint(project)
    assert before == project_fingerprint(DBT_PROJECT_DIR)

    (project / "target").mkdir(exist_ok=True)
    (project / "target" / "run_results.json").write_text("{}")
    assert project_fingerprint(project) == before

    seed = project / "seeds" / "platforms.csv"
    seed.write_bytes(seed.read_bytes() + b"\n")
    changed = project_fingerprint(project)
    assert changed != before

    (project / "models" / "marts" / "dim_platform.sql").rename(project / "models" / "marts" / "dim_platforms.sql")
    assert project_fingerprint(project) not in (before, changed)  # a renamed file is a change too
