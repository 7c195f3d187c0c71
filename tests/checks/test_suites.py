"""The raw GX suites, run for real inside DuckDB on small tables shaped like raw.*.

Each test builds good rows in SQL, breaks specific rows on purpose, and compares what
the suite reports with a direct SQL count over the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.checks import suites
from pipelines.checks.suites import CheckFailed, SuiteOutcome, raise_on_critical, record_results, run_suite

NATIONAL_ID = "110101199003071234"  # made up; shaped like a resident ID (region, birth date, serial, check)
LOAD = "L1"
FILES = ("a.csv", "b.csv", "c.csv", "d.csv")


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """raw.* as the loader creates them: contract columns typed per DUCKDB_TYPE, plus lineage."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for source in contract.SOURCES:
        cols = [f"{c.name} {contract.DUCKDB_TYPE[c.kind]}" for c in contract.COLUMNS[source]]
        cols += [f"{contract.EXTRA_COLUMN} VARCHAR", "file_path VARCHAR", "source_row INTEGER",
                 "load_id VARCHAR", "delivery_date DATE"]
        con.execute(f"CREATE TABLE raw.{source} ({', '.join(cols)})")


# Good rows, generated set-wise: row i lives in FILES[i % 4] at source_row i // 4 + 1.
LINEAGE = (f"list_value{FILES}[(i % 4) + 1], (i // 4 + 1)::INTEGER, '{LOAD}', DATE '2025-02-03'")
GOOD_SQL = {
    "income_records": f"""
        SELECT 'r' || i, 'meituan', sha256('person' || (i % 37)), '2025-' || lpad((1 + i % 12)::VARCHAR, 2, '0'),
               (100 + i)::DECIMAL(18,2), (i % 50)::DECIMAL(18,2),
               CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 200)::DECIMAL(9,2) END, i % 30, i % 2 = 0,
               CASE WHEN i % 3 = 0 THEN NULL ELSE 'CNY' END,
               TIMESTAMPTZ '2025-02-01 10:00:00+08' + to_minutes(i), NULL, {LINEAGE}
        FROM range(?) AS r(i)""",
    "gig_registrations": f"""
        SELECT 'g' || i, 'meituan', sha256('person' || i), TIMESTAMPTZ '2025-01-05 08:00:00+08' + to_hours(i),
               TIMESTAMPTZ '2025-01-06 08:00:00+08' + to_hours(i), 1970 + i % 35, list_value('F', 'M', 'U')[i % 3 + 1],
               '420102', CASE WHEN i % 4 = 0 THEN NULL ELSE '510104' END, 'online_delivery_rider', 'senior_high',
               i % 2 = 0, 'active', NULL, NULL, {LINEAGE}
        FROM range(?) AS r(i)""",
    "job_postings": f"""
        SELECT 'p' || i, 'meituan', TIMESTAMPTZ '2025-01-10 09:00:00+08' + to_hours(i),
               CASE WHEN i % 2 = 0 THEN TIMESTAMPTZ '2025-01-20 09:00:00+08' + to_hours(i) END,
               TIMESTAMPTZ '2025-01-20 09:00:00+08', 'e' || (i % 7), '外卖骑手', 'online_delivery_rider', '420102',
               'gig', false, 6000, 9000, 'month', 3, 18, 45, 'none', 'junior_high', NULL, {LINEAGE}
        FROM range(?) AS r(i)""",
}


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("SET TimeZone = 'Asia/Shanghai'")
    create_raw_tables(connection)
    yield connection
    connection.close()


def insert_good(con: duckdb.DuckDBPyConnection, source: str, n: int) -> None:
    con.execute(f"INSERT INTO raw.{source} {GOOD_SQL[source]}", [n])


def run(con: duckdb.DuckDBPyConnection, source: str, tmp_path: Path, run_id: str = "run-1") -> SuiteOutcome:
    return run_suite(con, f"raw_{source}", f"SELECT * FROM raw.{source} WHERE load_id = '{LOAD}'",
                     f"raw.{source}[{LOAD}]", tmp_path / "artifacts", run_id)


def outcome_of(outcome: SuiteOutcome, expectation: str, column: str | None) -> suites.ExpectationOutcome:
    found = [o for o in outcome.outcomes if o.expectation == expectation and o.column == column]
    assert len(found) == 1, f"{expectation} on {column}: {found}"
    return found[0]


def sql_count(con: duckdb.DuckDBPyConnection, source: str, where: str) -> int:
    return con.execute(f"SELECT count(*) FROM raw.{source} WHERE load_id = '{LOAD}' AND ({where})").fetchone()[0]


def sql_files(con: duckdb.DuckDBPyConnection, source: str, where: str) -> list[str]:
    rows = con.execute(f"SELECT DISTINCT file_path FROM raw.{source} WHERE load_id = '{LOAD}' AND ({where}) "
                       "ORDER BY 1").fetchall()
    return [r[0] for r in rows]


# --------------------------------------------------------------------------------------------


def test_suite_files_are_valid_and_name_contract_columns() -> None:
    lineage = {*contract.LINEAGE_COLUMNS, contract.EXTRA_COLUMN}
    for source in contract.SOURCES:
        spec = suites.load_suite(f"raw_{source}")
        known = set(contract.column_names(source)) | lineage
        for exp in spec["expectations"]:
            assert exp["meta"]["severity"] in suites.SEVERITIES
            named = suites._domain_columns(exp["kwargs"])
            assert named <= known, (source, exp)
        checked_not_null = {e["kwargs"]["column"] for e in spec["expectations"]
                            if e["type"] == "expect_column_values_to_not_be_null"
                            and e["meta"]["severity"] == "critical"}
        assert set(contract.required_columns(source)) | set(contract.LINEAGE_COLUMNS) <= checked_not_null
    assert set(suites.available_suites()) >= {f"raw_{s}" for s in contract.SOURCES}


@pytest.mark.parametrize("source", contract.SOURCES)
def test_good_rows_pass_every_expectation(con: duckdb.DuckDBPyConnection, tmp_path: Path, source: str) -> None:
    insert_good(con, source, 400)
    outcome = run(con, source, tmp_path)
    assert [o for o in outcome.outcomes if not o.success] == []
    assert outcome.success and outcome.critical_failures == []
    raise_on_critical(outcome)  # does not raise
    assert outcome.result_path == tmp_path / "artifacts" / "checks" / "run-1" / f"raw_{source}.json"
    result = json.loads(outcome.result_path.read_text())
    assert result["success"] is True
    assert len(result["results"]) == len(suites.load_suite(f"raw_{source}")["expectations"])


def test_income_violations_are_counted_exactly_and_named_with_their_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    insert_good(con, "income_records", 400)
    # Break rows on purpose, each in known files.
    con.execute("UPDATE raw.income_records SET hours_worked = 800 WHERE file_path = 'b.csv' AND source_row IN (3, 9)")
    con.execute("UPDATE raw.income_records SET platform_fee = gross_income + 1 "
                "WHERE file_path IN ('a.csv', 'c.csv') AND source_row <= 4")
    con.execute("UPDATE raw.income_records SET period = '2025-13' WHERE file_path = 'd.csv' AND source_row = 7")
    con.execute(f"UPDATE raw.income_records SET person_key = '{NATIONAL_ID}' "
                "WHERE file_path = 'c.csv' AND source_row = 11")
    con.execute("UPDATE raw.income_records SET currency = 'USD' WHERE file_path = 'a.csv' AND source_row = 20")
    con.execute("UPDATE raw.income_records SET gross_income = NULL WHERE file_path = 'd.csv' AND source_row = 30")
    # a loader bug: one row of b.csv inserted twice
    con.execute("INSERT INTO raw.income_records SELECT * FROM raw.income_records "
                "WHERE file_path = 'b.csv' AND source_row = 50")
    # rows of another load are not this load's problem
    con.execute("INSERT INTO raw.income_records SELECT * REPLACE ('L0' AS load_id, 9999 AS hours_worked) "
                "FROM raw.income_records LIMIT 10")

    outcome = run(con, "income_records", tmp_path)

    cases = {
        ("expect_column_values_to_be_between", "hours_worked"): "hours_worked NOT BETWEEN 0 AND 744",
        ("expect_column_pair_values_a_to_be_greater_than_b", "gross_income,platform_fee"):
            "platform_fee > gross_income",
        ("expect_column_values_to_match_regex", "period"): "NOT regexp_full_match(period, '\\d{4}-(0[1-9]|1[0-2])')",
        ("expect_column_values_to_match_regex", "person_key"): "NOT regexp_full_match(person_key, '[0-9a-f]{64}')",
        ("expect_column_values_to_not_match_regex", "person_key"): f"person_key = '{NATIONAL_ID}'",
        ("expect_column_values_to_be_in_set", "currency"): "currency <> 'CNY'",
        ("expect_column_values_to_not_be_null", "gross_income"): "gross_income IS NULL",
        ("unexpected_rows_expectation", "platform_id,record_id,updated_at,file_path"):
            "(platform_id, record_id, updated_at, file_path) IN (SELECT (platform_id, record_id, updated_at, file_path)"
            f" FROM raw.income_records WHERE load_id = '{LOAD}' GROUP BY ALL HAVING count(*) > 1)",
    }
    for (expectation, column), where in cases.items():
        o = outcome_of(outcome, expectation, column)
        expected = sql_count(con, "income_records", where)
        assert expected > 0, where
        assert (o.success, o.severity, o.unexpected_count) == (False, "critical", expected), (o, where)
        assert o.files == sql_files(con, "income_records", where), o
    failed = {(o.expectation, o.column) for o in outcome.critical_failures}
    assert failed == set(cases)
    assert outcome_of(outcome, "expect_column_pair_values_a_to_be_greater_than_b",
                      "gross_income,platform_fee").files == ["a.csv", "c.csv"]

    with pytest.raises(CheckFailed) as raised:
        raise_on_critical(outcome)
    message = str(raised.value)
    assert "expect_column_values_to_be_between [hours_worked]" in message
    assert "files: b.csv" in message
    assert "expect_column_pair_values_a_to_be_greater_than_b [gross_income,platform_fee]" in message
    assert "a.csv, c.csv" in message
    assert raised.value.outcome is outcome

    # The national ID is stored nowhere: not in the message, the kept result or the audit table.
    record_results(con, outcome, stage="raw")
    audit = con.execute("SELECT string_agg(detail, ' ') FROM audit.check_results").fetchone()[0]
    for text in (message, outcome.result_path.read_text(), audit, *(o.detail for o in outcome.outcomes)):
        assert NATIONAL_ID not in text


def test_warning_is_recorded_but_does_not_raise(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    insert_good(con, "income_records", 100)
    con.execute("UPDATE raw.income_records SET hours_worked = NULL WHERE source_row <= 18")
    missing = sql_count(con, "income_records", "hours_worked IS NULL")
    assert missing > 60  # the warning's threshold: more than 60% of hours missing
    outcome = run(con, "income_records", tmp_path)
    warning = outcome_of(outcome, "expect_column_values_to_not_be_null", "hours_worked")
    assert (warning.success, warning.severity, warning.unexpected_count) == (False, "warning", missing)
    assert outcome.critical_failures == [] and outcome.success is False
    raise_on_critical(outcome)  # warnings never raise

    record_results(con, outcome, stage="raw")
    rows = con.execute("SELECT severity, success, unexpected_count FROM audit.check_results "
                       "WHERE expectation = 'expect_column_values_to_not_be_null' AND column_name = 'hours_worked'"
                       ).fetchall()
    assert rows == [("warning", False, missing)]


def test_results_land_in_audit_table_once_per_run_and_check(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    insert_good(con, "gig_registrations", 50)
    con.execute("UPDATE raw.gig_registrations SET residence_region_code = '42010' WHERE source_row = 2")
    outcome = run(con, "gig_registrations", tmp_path, run_id="run-7")
    record_results(con, outcome, stage="raw")
    record_results(con, outcome, stage="raw")  # a rerun of the same run replaces, never duplicates
    n_expectations = len(suites.load_suite("raw_gig_registrations")["expectations"])
    assert con.execute("SELECT count(*) FROM audit.check_results").fetchone()[0] == n_expectations
    row = con.execute(
        "SELECT run_id, stage, suite, target, severity, success, unexpected_count, detail, checked_at IS NOT NULL "
        "FROM audit.check_results WHERE column_name = 'residence_region_code' "
        "AND expectation = 'expect_column_values_to_match_regex'").fetchone()
    assert row[:7] == ("run-7", "raw", "raw_gig_registrations", f"raw.gig_registrations[{LOAD}]", "critical",
                       False, sql_count(con, "gig_registrations", "length(residence_region_code) <> 6"))
    assert "'42010'" in row[7] and row[8]
    saved = json.loads((tmp_path / "artifacts" / "checks" / "run-7" / "raw_gig_registrations.json").read_text())
    assert saved["meta"]["run_id"] == "run-7" and saved["success"] is False


def test_job_posting_pairs_and_enums(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    insert_good(con, "job_postings", 80)
    con.execute("UPDATE raw.job_postings SET closed_at = posted_at - INTERVAL 1 DAY "
                "WHERE file_path = 'd.csv' AND source_row = 5")
    con.execute("UPDATE raw.job_postings SET wage_min = 10000 WHERE file_path = 'a.csv' AND source_row IN (1, 2)")
    con.execute("UPDATE raw.job_postings SET employment_type = 'contractor' WHERE file_path = 'b.csv'")
    outcome = run(con, "job_postings", tmp_path)
    closed = outcome_of(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "closed_at,posted_at")
    assert (closed.unexpected_count, closed.files) == (sql_count(con, "job_postings", "closed_at < posted_at"),
                                                       ["d.csv"])
    wages = outcome_of(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "wage_max,wage_min")
    assert (wages.unexpected_count, wages.files) == (2, ["a.csv"])
    enum = outcome_of(outcome, "expect_column_values_to_be_in_set", "employment_type")
    assert (enum.unexpected_count, enum.files) == (sql_count(con, "job_postings", "file_path = 'b.csv'"), ["b.csv"])
    assert "'contractor'" in enum.detail
    assert {(o.expectation, o.column) for o in outcome.critical_failures} == {
        (closed.expectation, closed.column), (wages.expectation, wages.column), (enum.expectation, enum.column)}


def test_empty_load_only_warns(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    outcome = run(con, "income_records", tmp_path)
    assert outcome.critical_failures == []
    row_count = outcome_of(outcome, "expect_table_row_count_to_be_between", None)
    assert (row_count.success, row_count.severity) == (False, "warning")


def test_national_id_pattern_spares_hex_keys_and_catches_ids(con: duckdb.DuckDBPyConnection) -> None:
    """A 64-hex key must never trip the PII check by chance; an ID standing alone must."""
    spec = suites.load_suite("raw_income_records")
    (pattern,) = [e["kwargs"]["regex"] for e in spec["expectations"]
                  if e["type"] == "expect_column_values_to_not_match_regex"]
    random_keys = con.execute(
        "SELECT count(*) FROM (SELECT sha256(i::VARCHAR) || '' AS k FROM range(200000) r(i)) "
        "WHERE regexp_matches(k, ?)", [pattern]).fetchone()[0]
    all_digit_hex = con.execute("SELECT regexp_matches(?, ?)", ["1" + NATIONAL_ID * 3 + "0" * 9, pattern]).fetchone()
    assert random_keys == 0 and all_digit_hex == (False,)
    for value in (NATIONAL_ID, "11010119900307123X", f" {NATIONAL_ID}", f"id:{NATIONAL_ID}", f"{NATIONAL_ID};x"):
        assert con.execute("SELECT regexp_matches(?, ?)", [value, pattern]).fetchone() == (True,), value


def test_bare_table_name_and_warehouse_stays_usable(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """GX reads through cursors of the caller's connection and lets go of them afterwards."""
    insert_good(con, "income_records", 20)
    outcome = run_suite(con, "raw_income_records", "raw.income_records", "raw.income_records",
                        tmp_path / "artifacts", "run-2")
    assert outcome.success
    con.execute("INSERT INTO raw.income_records SELECT * FROM raw.income_records LIMIT 1")  # still writable
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    con.close()
    again = duckdb.connect(path)  # nothing of GX keeps the file open
    assert again.execute("SELECT count(*) FROM raw.income_records").fetchone() == (21,)
    again.close()


def test_data_docs_are_built_offline(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    insert_good(con, "income_records", 20)
    con.execute("UPDATE raw.income_records SET hours_worked = 900 WHERE source_row = 1")
    run(con, "income_records", tmp_path)
    index = suites.build_data_docs(tmp_path / "artifacts")
    assert index == tmp_path / "artifacts" / "data_docs" / "index.html" and index.is_file()
    pages = list((tmp_path / "artifacts" / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1 and "raw_income_records" in pages[0].read_text()


def test_runner_is_generic_and_gx_errors_fail_closed(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Any suite file and any target work (marts later); an expectation GX cannot evaluate counts as failed."""
    suite_dir = tmp_path / "expectations"
    suite_dir.mkdir()
    (suite_dir / "mart_demo.json").write_text(json.dumps({
        "name": "mart_demo",
        "expectations": [
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "share", "min_value": 0, "max_value": 1}, "meta": {"severity": "critical"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"},
             "meta": {"severity": "critical"}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10},
             "meta": {"severity": "warning"}},
        ],
    }))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.demo AS SELECT i AS k, i / 4 AS share FROM range(6) r(i)")
    outcome = run_suite(con, "mart_demo", "marts.demo", "marts.demo", tmp_path / "artifacts", "run-3",
                        expectations_dir=suite_dir)
    share = outcome_of(outcome, "expect_column_values_to_be_between", "share")
    missing = outcome_of(outcome, "expect_column_values_to_not_be_null", "no_such_column")
    rows = outcome_of(outcome, "expect_table_row_count_to_be_between", None)
    assert (share.success, share.unexpected_count, share.files) == (False, 1, [])  # 1.25; no file_path column
    assert missing.success is False and missing.detail.startswith("error:") and "no_such_column" in missing.detail
    assert (rows.success, rows.severity, rows.detail) == (False, "warning", "observed 6")
    assert len(outcome.critical_failures) == 2
    with pytest.raises(CheckFailed, match="no_such_column"):
        raise_on_critical(outcome)


def test_bad_suite_file_and_open_transaction_are_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    suite_dir = tmp_path / "expectations"
    suite_dir.mkdir()
    (suite_dir / "bad.json").write_text(json.dumps({"name": "bad", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {}}]}))
    with pytest.raises(ValueError, match="severity"):
        suites.load_suite("bad", suite_dir)
    # A typo in a kwarg or in the type must fail loudly, never drop the check.
    for name, exp in {"kwarg_typo": {"type": "expect_column_values_to_be_between",
                                     "kwargs": {"column": "hours_worked", "min_valu": 0}},
                      "type_typo": {"type": "expect_column_values_to_bee_between",
                                    "kwargs": {"column": "hours_worked", "min_value": 0}}}.items():
        exp["meta"] = {"severity": "critical"}
        (suite_dir / f"{name}.json").write_text(json.dumps({"name": name, "expectations": [exp]}))
        with pytest.raises(ValueError, match=r"min_valu|accepted 0 of 1"):
            run_suite(con, name, "raw.income_records", "raw.income_records", tmp_path, "r",
                      expectations_dir=suite_dir)
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(RuntimeError, match="committed"):
        run(con, "income_records", tmp_path)
    con.execute("ROLLBACK")
