"""Analyst access: only aggregates reach the analyst file, and nothing but reads gets through.

The warehouse is built directly with DuckDB: a few rows in every schema, a
person_key in the person-level ones, so a leak would be visible.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from pipelines.query.analyst_db import (
    AnalystRefreshError,
    analyst_db_path,
    refresh_analyst_db,
)
from pipelines.query.cli import EXIT_REFUSED, query
from pipelines.query.readonly import AnalystDbMissing, QueryRefused, open_analyst, query_frame, run_query

PERSON = "0" * 63 + "1"
PERSON_LEVEL_TABLES = [
    "raw.income_records",
    "quarantine.income_records",
    "staging.stg_platforms__income_records",
    "intermediate.int_person_months",
    "dq.income_without_registration",
    "audit.load_ledger",
    "audit.runs",
]
AGGREGATE_TABLES = [
    "marts.flex_indicators_monthly",
    "marts.dim_region",
    "pub.flex_indicators_monthly",
    "pub.releases",
    "pub.latest_free",  # a view in the warehouse, materialised in the analyst file
    "ref.regions",
]


def build_warehouse(path: Path, with_pub: bool = True) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("BEGIN")
        for schema in ("raw", "quarantine", "staging", "intermediate", "dq", "audit", "marts", "ref"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE raw.income_records AS SELECT '{PERSON}' AS person_key, 3000.00 AS gross")
        con.execute(f"CREATE TABLE quarantine.income_records AS SELECT '{PERSON}' AS person_key, 'x' AS reason_code")
        con.execute(f"CREATE TABLE staging.stg_platforms__income_records AS SELECT '{PERSON}' AS person_key")
        con.execute(f"CREATE TABLE intermediate.int_person_months AS SELECT '{PERSON}' AS person_key, '2025-01' p")
        con.execute(f"CREATE TABLE dq.income_without_registration AS SELECT '{PERSON}' AS person_key")
        con.execute("CREATE TABLE audit.load_ledger AS SELECT 'landing/x.csv' AS file_path")
        con.execute("CREATE TABLE audit.runs AS SELECT 'r1' AS run_id")
        con.execute(
            """CREATE TABLE marts.flex_indicators_monthly AS
               SELECT * FROM (VALUES ('2025-01', 'province', '420000', 'ALL', 'ALL', 12, 3000.00::DECIMAL(18,2)),
                                     ('2025-01', 'country', 'CN', 'ALL', 'ALL', 40, 3100.00::DECIMAL(18,2)))
                 AS t(period, region_level, region_code, age_cohort, gender, active_workers, median_net_income)"""
        )
        con.execute("CREATE TABLE marts.dim_region AS SELECT 'CN' AS region_code, '中国' AS region_name")
        con.execute("CREATE TABLE ref.regions AS SELECT '420000' AS region_code, '湖北省' AS region_name")
        if with_pub:
            con.execute("CREATE SCHEMA pub")
            con.execute(
                """CREATE TABLE pub.flex_indicators_monthly AS
                   SELECT *, 'F' AS conf_status, 'P' AS status, 'r1' AS release_id
                   FROM marts.flex_indicators_monthly"""
            )
            con.execute("CREATE TABLE pub.releases AS SELECT 'r1' AS release_id, DATE '2025-02-01' AS vintage")
            con.execute(
                "CREATE VIEW pub.latest_free AS SELECT * FROM pub.flex_indicators_monthly WHERE conf_status='F'"
            )
        con.execute("COMMIT")
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A warehouse and its analyst database, for tests that change either."""
    path = build_warehouse(tmp_path / "wh.duckdb")
    refresh_analyst_db(path)
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, built once for the tests that only read."""
    path = build_warehouse(tmp_path_factory.mktemp("shared") / "wh.duckdb")
    refresh_analyst_db(path)
    return path


def count(warehouse: Path, table: str) -> int:
    _, rows = run_query(warehouse, f"SELECT count(*) FROM {table}")
    return rows[0][0]


# --- what the analyst file holds ----------------------------------------------------------


def test_analyst_file_holds_only_aggregates_and_reference_data(shared: Path) -> None:
    con = open_analyst(shared)
    try:
        schemas = {s for (s,) in con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
        tables = con.execute("SELECT tables FROM main.build_info").fetchone()
    finally:
        con.close()
    assert schemas == {"marts", "pub", "ref", "main"}
    assert tables is not None and sorted(tables[0]) == sorted(AGGREGATE_TABLES)
    assert analyst_db_path(shared) == shared.with_name("wh_analyst.duckdb")
    assert not analyst_db_path(shared).with_name(analyst_db_path(shared).resolve().name + ".wal").exists()


@pytest.mark.parametrize("table", AGGREGATE_TABLES)
def test_marts_pub_and_ref_answer(shared: Path, table: str) -> None:
    assert count(shared, table) >= 1


def test_rows_and_types_come_through(shared: Path) -> None:
    columns, rows = run_query(
        shared,
        "SELECT region_code, active_workers, median_net_income FROM marts.flex_indicators_monthly ORDER BY 1",
    )
    assert columns == ["region_code", "active_workers", "median_net_income"]
    assert [(r[0], r[1], str(r[2])) for r in rows] == [("420000", 12, "3000.00"), ("CN", 40, "3100.00")]


@pytest.mark.parametrize("table", PERSON_LEVEL_TABLES)
def test_person_level_and_audit_tables_do_not_exist(shared: Path, table: str) -> None:
    with pytest.raises(duckdb.CatalogException, match="not in the analyst database"):
        run_query(shared, f"SELECT * FROM {table}")


def test_no_person_key_anywhere(shared: Path) -> None:
    _, rows = run_query(shared, "SELECT table_name FROM duckdb_columns() WHERE column_name = 'person_key'")
    assert rows == []


def test_pub_missing_copies_what_exists(tmp_path: Path) -> None:
    path = build_warehouse(tmp_path / "wh.duckdb", with_pub=False)
    refresh_analyst_db(path)
    assert count(path, "marts.flex_indicators_monthly") == 2
    with pytest.raises(duckdb.CatalogException):
        run_query(path, "SELECT * FROM pub.releases")


def test_frames_for_notebooks(shared: Path) -> None:
    sql = "SELECT region_code, active_workers FROM pub.flex_indicators_monthly ORDER BY region_code"
    frame = query_frame(shared, sql)
    assert frame.to_dict(as_series=False) == {"region_code": ["420000", "CN"], "active_workers": [12, 40]}  # type: ignore[call-arg]
    assert list(query_frame(shared, sql, kind="pandas")["active_workers"]) == [12, 40]


# --- what is refused -----------------------------------------------------------------------


def refused_sql(warehouse: Path, outside: Path) -> dict[str, str]:
    return {
        "read_csv warehouse": f"SELECT * FROM read_csv('{warehouse}')",
        "read_parquet file": f"SELECT * FROM read_parquet('{outside}')",
        "replacement scan": f"SELECT * FROM '{outside}'",
        "read_text": f"SELECT * FROM read_text('{warehouse}')",
        "attach warehouse": f"ATTACH '{warehouse}' AS w (READ_ONLY)",
        "copy to": f"COPY marts.flex_indicators_monthly TO '{outside.parent / 'out.csv'}'",
        "copy select to": f"COPY (SELECT 1) TO '{outside.parent / 'out.csv'}'",
        "export": f"EXPORT DATABASE '{outside.parent / 'export'}'",
        "set": "SET enable_external_access = true",
        "reset": "RESET lock_configuration",
        "install": "INSTALL httpfs",
        "load": "LOAD parquet",
        "pragma": "PRAGMA database_list",
        "call": "CALL pragma_version()",
        "create": "CREATE TABLE marts.x AS SELECT 1",
        "multi": "SELECT 1; SELECT 2",
        "multi hiding attach": f"SELECT 1; ATTACH '{warehouse}' AS w",
        "empty": "  ;  ",
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "some.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT '{PERSON}' AS person_key) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


@pytest.mark.parametrize(
    "case",
    [
        "read_csv warehouse",
        "read_parquet file",
        "replacement scan",
        "read_text",
        "attach warehouse",
        "copy to",
        "copy select to",
        "export",
        "set",
        "reset",
        "install",
        "load",
        "pragma",
        "call",
        "create",
        "multi",
        "multi hiding attach",
        "empty",
    ],
)
def test_refused(shared: Path, outside: Path, case: str) -> None:
    sql = refused_sql(shared, outside)[case]
    with pytest.raises(QueryRefused):
        run_query(shared, sql)
    with pytest.raises(QueryRefused):
        query_frame(shared, sql)
    assert not (outside.parent / "out.csv").exists()
    assert not (outside.parent / "export").exists()


@pytest.mark.parametrize(
    "case", ["read_csv warehouse", "read_parquet file", "attach warehouse", "copy to", "export", "set", "install"]
)
def test_lockdown_holds_without_the_statement_check(shared: Path, outside: Path, case: str) -> None:
    """DuckDB itself refuses these on the analyst connection, whatever a caller sends through it."""
    con = open_analyst(shared)
    try:
        with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)):
            con.execute(refused_sql(shared, outside)[case]).fetchall()
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
    finally:
        con.close()
    assert not (outside.parent / "out.csv").exists()


def test_file_with_person_level_data_is_refused(warehouse: Path) -> None:
    """Pointing the analyst name at the warehouse itself must not expose it."""
    stable = analyst_db_path(warehouse)
    stable.unlink()
    stable.symlink_to(warehouse.name)
    with pytest.raises(QueryRefused, match="raw"):
        run_query(warehouse, "SELECT 1")


def test_missing_analyst_db_says_no_completed_run(tmp_path: Path) -> None:
    path = build_warehouse(tmp_path / "wh.duckdb")
    with pytest.raises(AnalystDbMissing, match="no completed run yet"):
        run_query(path, "SELECT 1")


# --- concurrency with runs ------------------------------------------------------------------


def test_refresh_does_not_break_an_open_connection_and_next_query_sees_new_data(warehouse: Path) -> None:
    old = open_analyst(warehouse)
    try:
        assert old.execute("SELECT count(*) FROM pub.flex_indicators_monthly").fetchone() == (2,)
        con = duckdb.connect(str(warehouse))
        con.execute("INSERT INTO pub.flex_indicators_monthly SELECT * FROM pub.flex_indicators_monthly")
        con.close()
        refresh_analyst_db(warehouse)

        assert old.execute("SELECT count(*) FROM pub.flex_indicators_monthly").fetchone() == (2,)
        assert count(warehouse, "pub.flex_indicators_monthly") == 4
        assert count(warehouse, "pub.latest_free") == 4
    finally:
        old.close()


def test_query_answers_from_last_run_while_a_writer_holds_the_warehouse(warehouse: Path) -> None:
    writer = duckdb.connect(str(warehouse))
    try:
        writer.execute("BEGIN")
        writer.execute("DELETE FROM marts.flex_indicators_monthly")
        writer.execute("CREATE TABLE marts.half_written AS SELECT 1 AS x")
        assert count(warehouse, "marts.flex_indicators_monthly") == 2
        with pytest.raises(duckdb.CatalogException):
            run_query(warehouse, "SELECT * FROM marts.half_written")

        # A refresh that cannot read the warehouse fails clearly and leaves the last build in place.
        with pytest.raises(AnalystRefreshError, match="holds it"):
            refresh_analyst_db(warehouse)
        assert count(warehouse, "marts.flex_indicators_monthly") == 2

        # The run commits and refreshes through its own connection.
        writer.execute("COMMIT")
        refresh_analyst_db(warehouse, con=writer)
        build = analyst_db_path(warehouse).resolve()
        assert not build.with_name(build.name + ".wal").exists()
        assert count(warehouse, "marts.flex_indicators_monthly") == 0
        assert count(warehouse, "marts.half_written") == 1
        assert count(warehouse, "ref.regions") == 1
    finally:
        writer.close()


def test_writer_in_another_process_does_not_block_queries(warehouse: Path) -> None:
    """A run in its own process holds the warehouse's file lock; analysts still get the last run's answer."""
    hold = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(warehouse)!r})\n"
        "con.execute('BEGIN'); con.execute('DELETE FROM pub.flex_indicators_monthly')\n"
        "print('holding', flush=True); sys.stdin.read()\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "holding"
        assert count(warehouse, "pub.flex_indicators_monthly") == 2
        with pytest.raises(AnalystRefreshError, match="holds it for writing"):
            refresh_analyst_db(warehouse)
        assert count(warehouse, "pub.flex_indicators_monthly") == 2
    finally:
        writer.communicate("", timeout=30)
    assert writer.returncode == 0


def test_refresh_keeps_only_current_and_previous_builds(warehouse: Path) -> None:
    for _ in range(4):
        refresh_analyst_db(warehouse)
    stable = analyst_db_path(warehouse)
    builds = sorted(p.name for p in warehouse.parent.iterdir() if p.name.startswith("wh_analyst.v"))
    assert len(builds) == 2
    assert stable.is_symlink() and stable.resolve().name == builds[-1]


def release(warehouse: Path, release_id: str, released_at: str = "2025-02-01 08:00:00+08") -> None:
    """Record a release in the warehouse as publication does: pub.releases and its rows in the history."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("DROP VIEW IF EXISTS pub.latest_free")
        con.execute("DROP TABLE pub.releases")  # the fixture's has no release time
        con.execute(
            """CREATE TABLE IF NOT EXISTS pub.release_log (release_id VARCHAR, released_at TIMESTAMPTZ)"""
        )
        con.execute("INSERT INTO pub.release_log VALUES (?, ?)", [release_id, released_at])
        con.execute("CREATE TABLE pub.releases AS SELECT * FROM pub.release_log")
        con.execute(
            """CREATE TABLE IF NOT EXISTS pub.flex_indicators_monthly_history AS
               SELECT * FROM pub.flex_indicators_monthly WHERE false"""
        )
        con.execute(
            """INSERT INTO pub.flex_indicators_monthly_history
               SELECT * REPLACE (? AS release_id) FROM pub.flex_indicators_monthly""",
            [release_id],
        )
    finally:
        con.close()


def history(warehouse: Path) -> list[tuple]:
    _, rows = run_query(
        warehouse,
        "SELECT release_id, region_code, status FROM pub.flex_indicators_monthly_history ORDER BY ALL",
    )
    return rows


def mark_the_analyst_history(warehouse: Path) -> None:
    """Change the current build's history behind its back: a copy from the warehouse would undo it."""
    con = duckdb.connect(str(analyst_db_path(warehouse).resolve()))
    try:
        con.execute("UPDATE pub.flex_indicators_monthly_history SET status = 'kept'")
    finally:
        con.close()


def test_a_refresh_appends_only_the_new_releases_to_the_history(warehouse: Path) -> None:
    release(warehouse, "R0001")
    refresh_analyst_db(warehouse)
    mark_the_analyst_history(warehouse)
    release(warehouse, "R0002", "2025-03-01 08:00:00+08")
    refresh_analyst_db(warehouse)
    assert history(warehouse) == [
        ("R0001", "420000", "kept"),
        ("R0001", "CN", "kept"),
        ("R0002", "420000", "P"),
        ("R0002", "CN", "P"),
    ]
    assert count(warehouse, "pub.releases") == 2


@pytest.mark.parametrize("change", ["warehouse rebuilt", "history column added"])
def test_a_history_unlike_the_previous_builds_is_copied_whole(warehouse: Path, change: str) -> None:
    release(warehouse, "R0001")
    refresh_analyst_db(warehouse)
    mark_the_analyst_history(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        if change == "warehouse rebuilt":  # the same release id, released again at another time
            con.execute("UPDATE pub.release_log SET released_at = released_at + INTERVAL 1 DAY")
            con.execute("CREATE OR REPLACE TABLE pub.releases AS SELECT * FROM pub.release_log")
        else:
            con.execute("ALTER TABLE pub.flex_indicators_monthly_history ADD COLUMN note VARCHAR")
    finally:
        con.close()
    refresh_analyst_db(warehouse)
    assert history(warehouse) == [("R0001", "420000", "P"), ("R0001", "CN", "P")]


def test_a_damaged_previous_build_is_replaced_by_a_whole_copy(warehouse: Path) -> None:
    release(warehouse, "R0001")
    refresh_analyst_db(warehouse)
    analyst_db_path(warehouse).resolve().write_bytes(b"not a database")
    refresh_analyst_db(warehouse)
    assert history(warehouse) == [("R0001", "420000", "P"), ("R0001", "CN", "P")]


def test_a_previous_build_holding_person_level_data_is_not_copied(warehouse: Path) -> None:
    """The analyst name pointed at the warehouse itself: the next build starts from nothing."""
    stable = analyst_db_path(warehouse)
    stable.unlink()
    stable.symlink_to(warehouse.name)
    refresh_analyst_db(warehouse)
    con = open_analyst(warehouse)
    try:
        schemas = {s for (s,) in con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert schemas == {"marts", "pub", "ref", "main"}
    assert warehouse.is_file() and not warehouse.is_symlink()  # the warehouse itself untouched


# --- the command ----------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(query)
    return app


def test_command_prints_table_csv_and_json(shared: Path) -> None:
    sql = "SELECT region_code, active_workers, median_net_income FROM marts.flex_indicators_monthly ORDER BY 1"
    runner = CliRunner()

    table = runner.invoke(cli(), [sql, "--warehouse", str(shared)])
    assert table.exit_code == 0, table.output
    assert "420000" in table.stdout and "3000.00" in table.stdout

    as_csv = runner.invoke(cli(), [sql, "--warehouse", str(shared), "--format", "csv"])
    assert as_csv.stdout.splitlines() == [
        "region_code,active_workers,median_net_income",
        "420000,12,3000.00",
        "CN,40,3100.00",
    ]

    as_json = runner.invoke(cli(), [sql, "--warehouse", str(shared), "--format", "json", "--limit", "1"])
    assert json.loads(as_json.stdout) == [{"region_code": "420000", "active_workers": 12, "median_net_income": 3000.0}]
    assert "first 1 rows" in as_json.stderr


def test_command_refusal_exits_2(shared: Path) -> None:
    result = CliRunner().invoke(cli(), [f"ATTACH '{shared}' AS w", "--warehouse", str(shared)])
    assert result.exit_code == EXIT_REFUSED
    assert "refused" in result.stderr

    result = CliRunner().invoke(cli(), [f"SELECT * FROM read_csv('{shared}')", "--warehouse", str(shared)])
    assert result.exit_code == EXIT_REFUSED


def test_command_without_analyst_db_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["SELECT 1", "--warehouse", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "no completed run yet" in result.stderr
