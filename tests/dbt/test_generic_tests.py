"""The project's own generic dbt tests (dbt/tests/generic) catch what they exist for."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import tasks
from pipelines.dbt_runner import DbtError, dbt_paths, run_dbt
from pipelines.dbt_selection import project_fingerprint

# The panel's grain test; a daily build checks only the persons it changed (argument `persons`).
GRAIN_TEST = "unique_combination_of_columns_int_person_months_person_key__period__persons"


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


def repeat_two_persons_months(warehouse: Path) -> str:
    """Repeat one person-month of each of two persons; the first, returned, is listed as changed by the last build."""
    with duckdb.connect(str(warehouse)) as con:
        first, second = (
            key
            for (key,) in con.execute(
                "SELECT DISTINCT person_key FROM intermediate.int_person_months ORDER BY person_key LIMIT 2"
            ).fetchall()
        )
        for key in (first, second):
            con.execute(
                """INSERT INTO intermediate.int_person_months
                   SELECT * FROM intermediate.int_person_months WHERE person_key = ? ORDER BY period LIMIT 1""",
                [key],
            )
        con.execute(
            """INSERT INTO intermediate.int_changes_since_last_build (change_kind, period, person_key)
               VALUES ('income_person', NULL, ?)""",
            [first],
        )
    return first


def start_a_daily_build(warehouse: Path, generated: Path) -> None:
    """Where a pipeline run stands when its dbt build starts: recorded with its project's fingerprint, no watermark."""
    run_id = tasks.prepare_run(str(generated), str(warehouse))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "UPDATE audit.runs SET dbt_project_fingerprint = ? WHERE run_id = ?", [project_fingerprint(), run_id]
        )


def test_a_daily_build_checks_the_grain_of_the_persons_changed_since_the_last_build(
    warehouse: Path, generated: Path
) -> None:
    changed = repeat_two_persons_months(warehouse)
    start_a_daily_build(warehouse, generated)
    with pytest.raises(DbtError) as failed:
        run_dbt(["build", "--select", GRAIN_TEST], warehouse)
    assert "Got 1 result" in str(failed.value)  # the changed person's repeat; the other's rows were checked before
    (compiled,) = dbt_paths()["target"].glob("compiled/**/int_person_months.yml/unique_combination_of_columns_*.sql")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert [row[0] for row in con.execute(compiled.read_text()).fetchall()] == [changed]

    with pytest.raises(DbtError) as failed:
        run_dbt(["test", "--select", GRAIN_TEST], warehouse)  # by hand: every row
    assert "Got 2 results" in str(failed.value)


def test_a_build_after_the_project_changed_checks_every_row(warehouse: Path, generated: Path) -> None:
    repeat_two_persons_months(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE audit.runs SET dbt_project_fingerprint = 'an earlier project'")
    start_a_daily_build(warehouse, generated)
    with pytest.raises(DbtError) as failed:
        run_dbt(["build", "--select", GRAIN_TEST], warehouse)
    assert "Got 2 results" in str(failed.value)


HISTORY_GRAIN_TEST = (
    "unique_combination_of_columns_int_person_month_history_person_key__period__persons_and_months_rebuilt_for_everyone"
)


def test_a_daily_build_checks_the_histories_of_the_months_it_rebuilt_for_everyone(
    warehouse: Path, generated: Path
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        person, rebuilt, other = con.execute(
            """SELECT person_key, min(period), max(period) FROM intermediate.int_person_month_history
               GROUP BY person_key HAVING count(*) >= 2 ORDER BY person_key LIMIT 1"""
        ).fetchone()
        for period in (rebuilt, other):
            con.execute(
                """INSERT INTO intermediate.int_person_month_history
                   SELECT * FROM intermediate.int_person_month_history WHERE person_key = ? AND period = ?""",
                [person, period],
            )
        con.execute("DELETE FROM intermediate.int_periods_to_rebuild")
        con.execute(
            """INSERT INTO intermediate.int_periods_to_rebuild (period, rebuilds_every_person, rebuilds_every_cell)
               VALUES (?, true, true)""",
            [rebuilt],
        )
    start_a_daily_build(warehouse, generated)
    with pytest.raises(DbtError) as failed:
        run_dbt(["build", "--select", HISTORY_GRAIN_TEST], warehouse)
    assert "Got 1 result" in str(failed.value)  # the person changed in no month: only the rebuilt month is read


INCOME_GRAIN_TEST = "unique_combination_of_columns_stg_platforms__income_records_platform_id__record_id__income_records"


def test_a_daily_build_checks_the_grain_of_the_income_records_delivered_since_the_last_build(
    warehouse: Path, generated: Path
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        loads = con.execute("SELECT load_id FROM raw.income_records GROUP BY 1 ORDER BY 1 LIMIT 2").fetchall()
        (delivered_since,), (earlier,) = loads
        for load_id in (delivered_since, earlier):  # a second current version of one record of each load
            con.execute(
                """INSERT INTO raw.income_records
                   SELECT * REPLACE (source_row + 1000000 AS source_row) FROM raw.income_records
                   WHERE load_id = ? ORDER BY source_row LIMIT 1""",
                [load_id],
            )
        con.execute(
            "UPDATE audit.load_ledger SET loaded_at = now() + INTERVAL 1 DAY WHERE load_id = ?", [delivered_since]
        )
        (planted,) = con.execute(
            "SELECT record_id FROM raw.income_records WHERE load_id = ? AND source_row > 1000000", [delivered_since]
        ).fetchone()
    start_a_daily_build(warehouse, generated)
    with pytest.raises(DbtError) as failed:
        run_dbt(["build", "--select", INCOME_GRAIN_TEST], warehouse)
    assert "Got 1 result" in str(failed.value)  # the record of the load since; the other was checked before
    (compiled,) = dbt_paths()["target"].glob(
        "compiled/**/stg_platforms__income_records.yml/unique_combination_of_columns_*.sql"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert [row[1] for row in con.execute(compiled.read_text()).fetchall()] == [planted]

    with pytest.raises(DbtError) as failed:
        run_dbt(["test", "--select", INCOME_GRAIN_TEST], warehouse)  # by hand: every row
    assert "Got 2 results" in str(failed.value)


NOT_NULL_TEST = "int_person_months,test_name:not_null_columns"  # the panel's not-null checks, one node


def test_the_not_null_test_passes_on_the_built_panel(warehouse: Path) -> None:
    run_dbt(["test", "--select", NOT_NULL_TEST], warehouse)


def test_the_not_null_test_names_each_column_with_nulls(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """UPDATE intermediate.int_person_months SET is_active = NULL
               WHERE person_key IN (SELECT person_key FROM intermediate.int_person_months
                                    ORDER BY person_key, period LIMIT 2)"""
        )
        con.execute(
            """UPDATE intermediate.int_person_months SET is_registered = NULL
               WHERE person_key = (SELECT max(person_key) FROM intermediate.int_person_months)"""
        )
    with pytest.raises(DbtError) as failed:
        run_dbt(["test", "--select", NOT_NULL_TEST], warehouse)
    assert "not_null_columns_int_person_months" in str(failed.value)
    assert "Got 2 results" in str(failed.value)  # two columns hold nulls

    (compiled,) = dbt_paths()["target"].glob("compiled/**/int_person_months.yml/not_null_columns_*.sql")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(f"SELECT * FROM ({compiled.read_text()}) ORDER BY column_name").fetchall()
        planted = con.execute(
            """SELECT count(*) FILTER (WHERE is_active IS NULL), count(*) FILTER (WHERE is_registered IS NULL)
               FROM intermediate.int_person_months"""
        ).fetchone()
    assert found == [("is_active", planted[0]), ("is_registered", planted[1])]
