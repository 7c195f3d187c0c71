"""Where things live. One place for paths, so the CLI, the DAGs and the tests agree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DAGS_DIR = PROJECT_ROOT / "dags"


def work_dir() -> Path:
    """The project's working area (ignored by git): Airflow home, demo data, reports."""
    return Path(os.environ.get("FLEXEMP_WORK_DIR", PROJECT_ROOT / ".work")).resolve()


@dataclass(frozen=True)
class RunPaths:
    """The two things every stage needs to know: where deliveries land, where the warehouse is."""

    landing: str  # local folder or s3:// URL
    warehouse: Path

    @property
    def artifacts(self) -> Path:
        """Check results, data docs and other per-warehouse outputs, beside the warehouse file."""
        return self.warehouse.parent / f"{self.warehouse.stem}_artifacts"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flexemp")
    except PackageNotFoundError:
        return "0+unknown"


PIPELINE_VERSION = _version()
