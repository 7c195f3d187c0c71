"""Incremental builds give the same warehouse as a full refresh on the same data."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from tests.dbt.conftest import build

TABLES = (
    "intermediate.int_income_person_platform_months",
    "intermediate.int_person_months",
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
