"""A generated landing tree and a warehouse built from it, shared by the mart tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines import tasks
from pipelines.contract import SOURCES, column_names
from pipelines.generate import generate_landing


def build(landing: Path, warehouse: Path, full_refresh: bool = False) -> dict:
    """Ingest everything new and build the dbt project, as `flexemp run` does minus Airflow."""
    run_id = tasks.prepare_run(str(landing), str(warehouse))
    for source in SOURCES:
        tasks.ingest(source, str(landing), str(warehouse), run_id)
    outcome = tasks.transform(str(warehouse), run_id, full_refresh=full_refresh)
    tasks.finish_run(str(warehouse), run_id, "succeeded")
    return outcome


def registration_update(warehouse: Path, **changes: str) -> tuple[str, dict[str, str]]:
    """A later version of the only registration of a person with income in 3+ months, as a platform delivers it."""
    names = column_names("gig_registrations")
    con = duckdb.connect(str(warehouse), read_only=True)
    # the delivered version (raw): staging carries the compact person key
    row = con.execute(
        f"""SELECT {", ".join(f"delivered.{name}" for name in names)}
            FROM staging.stg_platforms__gig_registrations AS registration
            INNER JOIN raw.gig_registrations AS delivered
                USING (platform_id, registration_id, load_id, updated_at)
            WHERE registration.status = 'active'
              AND registration.person_key IN (
                  SELECT person_key FROM intermediate.int_person_months WHERE is_registered
                  GROUP BY person_key HAVING count(*) >= 3)
              AND registration.person_key IN (SELECT person_key FROM staging.stg_platforms__gig_registrations
                                              GROUP BY person_key HAVING count(*) = 1)
            ORDER BY registration.registration_id LIMIT 1"""
    ).fetchone()
    con.close()
    delivered = {name: as_delivered(value) for name, value in zip(names, row, strict=True)}
    delivered.update(updated_at="2026-01-05T08:00:00+08:00", **changes)
    return delivered["platform_id"], delivered


def income_correction(warehouse: Path, period: str) -> tuple[str, dict[str, str]]:
    """A later version of one income record of `period`, 100 CNY more, of a registered person with a
    province of residence and one registration, as a platform delivers it."""
    names = column_names("income_records")
    con = duckdb.connect(str(warehouse), read_only=True)
    row = con.execute(
        f"""SELECT {", ".join(f"delivered.{name}" for name in names)}
            FROM staging.stg_platforms__income_records AS income
            INNER JOIN raw.income_records AS delivered USING (file_path, source_row)
            INNER JOIN intermediate.int_person_months AS panel
                ON income.person_key = panel.person_key AND income.period = panel.period
            WHERE income.period = ? AND panel.is_registered AND panel.residence_province_code IS NOT NULL
              AND income.person_key IN (SELECT person_key FROM staging.stg_platforms__gig_registrations
                                        GROUP BY person_key HAVING count(*) = 1)
            ORDER BY income.record_id LIMIT 1""",
        [period],
    ).fetchone()
    con.close()
    delivered = {name: as_delivered(value) for name, value in zip(names, row, strict=True)}
    delivered.update(
        gross_income=str(Decimal(delivered["gross_income"]) + 100), updated_at="2026-01-05T08:00:00+08:00"
    )
    return delivered["platform_id"], delivered


def compact_key(person_key: str) -> str:
    """A delivered person key as the person-level models carry it (dbt macro compact_person_key): its
    first 128 bits, as the decimal text DuckDB casts to UHUGEINT in a comparison."""
    return str(int(person_key[:32], 16))


def as_delivered(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("marts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLEXEMP_WORK_DIR", str(folder / "work"))
        yield folder


@pytest.fixture(scope="session")
def generated(work: Path) -> Path:
    """Seven months (volatility needs six, retention three more than a new month)."""
    landing = work / "landing"
    generate_landing(landing, workers=1200, months=7, seed=7)
    return landing


@pytest.fixture(scope="session")
def built(work: Path, generated: Path) -> Path:
    warehouse = work / "built.duckdb"
    build(generated, warehouse)
    return warehouse
