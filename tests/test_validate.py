"""Each contract rule, one small delivery at a time, through the real loader into DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_source
from pipelines.warehouse import connect
from tests.conftest import deliver, good_row


def load(landing: Path, warehouse: Path, source: str) -> duckdb.DuckDBPyConnection:
    con = connect(warehouse)
    ingest_source(con, str(landing), source, "test-run")
    return con


def quarantined(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, str]]:
    return con.execute(f"SELECT reason_code, reason_detail FROM quarantine.{source} ORDER BY source_row").fetchall()


RULES = [
    # source, overrides, expected reason, column named first in the detail
    ("income_records", {"person_key": "11010519491231002X"}, "pii_national_id", "person_key"),
    ("gig_registrations", {"person_key": "11010519491231002x"}, "pii_national_id", "person_key"),
    ("income_records", {"gross_income": None}, "missing_required", "gross_income"),
    ("income_records", {"person_key": "11010519491231002X", "gross_income": None}, "pii_national_id", "person_key"),
    ("job_postings", {"title": ""}, "missing_required", "title"),
    ("job_postings", {"wage_period": None}, "missing_required", "wage_period"),
    ("income_records", {"gross_income": "12.345"}, "invalid_type", "gross_income"),
    ("income_records", {"gross_income": "abc", "currency": "USD"}, "invalid_type", "gross_income"),
    ("income_records", {"hours_worked": "many"}, "invalid_type", "hours_worked"),
    ("income_records", {"period": "2025-13"}, "invalid_type", "period"),
    ("income_records", {"updated_at": "2025/02/01 10:00"}, "invalid_type", "updated_at"),
    ("income_records", {"social_insurance": "maybe"}, "invalid_type", "social_insurance"),
    ("job_postings", {"headcount": "2.5"}, "invalid_type", "headcount"),
    ("gig_registrations", {"residence_region_code": "42010"}, "invalid_type", "residence_region_code"),
    ("gig_registrations", {"gender": "X"}, "invalid_enum", "gender"),
    ("job_postings", {"employment_type": "contract"}, "invalid_enum", "employment_type"),
    ("gig_registrations", {"status": "gone"}, "invalid_enum", "status"),
    ("income_records", {"platform_id": "eleme"}, "platform_mismatch", "platform_id"),
    ("gig_registrations", {"residence_region_code": "999999"}, "unknown_region", "residence_region_code"),
    ("gig_registrations", {"hukou_region_code": "990100"}, "unknown_region", "hukou_region_code"),
    ("job_postings", {"occupation_code": "astronaut"}, "unknown_occupation", "occupation_code"),
    ("gig_registrations", {"occupation_code": "astronaut"}, "unknown_occupation", "occupation_code"),
    ("income_records", {"person_key": "not-a-key"}, "invalid_person_key", "person_key"),
    ("income_records", {"person_key": "0" * 63 + "g"}, "invalid_person_key", "person_key"),
    ("income_records", {"person_key": "0" * 63}, "invalid_person_key", "person_key"),
    ("income_records", {"person_key": "0" * 64 + "1"}, "invalid_person_key", "person_key"),
    ("gig_registrations", {"person_key": "0" * 62 + " 1"}, "invalid_person_key", "person_key"),
    ("income_records", {"hours_worked": "800"}, "out_of_range", "hours_worked"),
    ("income_records", {"gross_income": "-5"}, "out_of_range", "gross_income"),
    ("income_records", {"tasks_completed": "-1"}, "out_of_range", "tasks_completed"),
    ("gig_registrations", {"birth_year": "1920"}, "out_of_range", "birth_year"),
    ("gig_registrations", {"birth_year": "2010"}, "out_of_range", "birth_year"),
    ("job_postings", {"age_min": "12"}, "out_of_range", "age_min"),
    ("job_postings", {"age_max": "75"}, "out_of_range", "age_max"),
    ("job_postings", {"headcount": "0"}, "out_of_range", "headcount"),
    ("income_records", {"platform_fee": "6000"}, "fee_exceeds_gross", "platform_fee"),
    ("job_postings", {"wage_min": "9000", "wage_max": "6000"}, "wage_range_inverted", "wage_min"),
    ("job_postings", {"closed_at": "2025-01-09T09:00:00"}, "closed_before_posted", "closed_at"),
    ("job_postings", {"posted_at": "2025-02-05T00:00:00", "closed_at": None}, "future_date", "posted_at"),
    ("income_records", {"period": "2025-03"}, "future_date", "period"),
    ("income_records", {"currency": "usd"}, "non_cny_currency", "currency"),
    ("gig_registrations", {"status": "deregistered"}, "missing_deregistered_at", "deregistered_at"),
]


@pytest.mark.parametrize(("source", "overrides", "reason", "column"), RULES)
def test_rule_quarantines_with_first_failing_reason(landing, warehouse, source, overrides, reason, column):
    deliver(landing, source, [good_row(source), good_row(source, **overrides)])
    con = load(landing, warehouse, source)
    assert con.execute(f"SELECT count(*) FROM raw.{source}").fetchone() == (1,)
    [(code, detail)] = quarantined(con, source)
    assert code == reason
    assert detail.startswith(column + " ")


def test_accepted_spellings_load(landing, warehouse):
    rows = [
        good_row("gig_registrations", registration_id=f"g{i}", gender=g, has_other_job=b)
        for i, (g, b) in enumerate(
            [
                ("女", "是"),
                ("男", "否"),
                ("female", "TRUE"),
                ("Male", "0"),
                ("u", "Yes"),
                ("F", "no"),
                ("unknown", "1"),
                ("M", None),
            ]
        )
    ]
    deliver(landing, "gig_registrations", rows)
    con = load(landing, warehouse, "gig_registrations")
    assert quarantined(con, "gig_registrations") == []
    got = con.execute("SELECT gender, has_other_job FROM raw.gig_registrations ORDER BY source_row").fetchall()
    assert got == [
        ("F", True),
        ("M", False),
        ("F", True),
        ("M", False),
        ("U", True),
        ("F", False),
        ("U", True),
        ("M", None),
    ]


def test_timestamps_naive_mean_shanghai_and_offsets_are_kept(landing, warehouse):
    rows = [
        good_row("income_records", record_id="a", updated_at="2025-01-05T10:00:00"),
        good_row("income_records", record_id="b", updated_at="2025-01-05T10:00:00Z"),
        good_row("income_records", record_id="c", updated_at="2025-01-05 10:00:00+08:00"),
    ]
    deliver(landing, "income_records", rows)
    con = load(landing, warehouse, "income_records")
    got = con.execute("""SELECT record_id, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M')
                         FROM raw.income_records ORDER BY 1""").fetchall()
    assert got == [("a", "2025-01-05 02:00"), ("b", "2025-01-05 10:00"), ("c", "2025-01-05 02:00")]


def test_posting_on_the_day_after_delivery_is_allowed(landing, warehouse):
    deliver(landing, "job_postings", [good_row("job_postings", posted_at="2025-02-04T23:59:59", closed_at=None)])
    con = load(landing, warehouse, "job_postings")
    assert quarantined(con, "job_postings") == []


def test_money_is_exact_decimal(landing, warehouse):
    deliver(landing, "income_records", [good_row("income_records", gross_income="0.10", platform_fee="0.07")])
    con = load(landing, warehouse, "income_records")
    assert con.execute(
        "SELECT typeof(gross_income), gross_income - platform_fee = 0.03 FROM raw.income_records"
    ).fetchone() == ("DECIMAL(18,2)", True)


def test_national_id_is_stored_nowhere(landing, warehouse):
    national_id = "11010519491231002X"
    deliver(
        landing,
        "income_records",
        [
            good_row("income_records", person_key=national_id),
            good_row("income_records", record_id=f"id:{national_id}", person_key="bad"),
        ],
    )
    con = load(landing, warehouse, "income_records")
    tables = con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()
    for (table,) in tables:
        hits = con.execute(
            f"SELECT count(*) FROM {table} AS t WHERE CAST(t AS VARCHAR) ILIKE '%{national_id}%'"
        ).fetchone()
        assert hits == (0,), table
    codes = [c for c, _ in quarantined(con, "income_records")]
    assert codes == ["pii_national_id", "invalid_person_key"]


def test_a_person_key_in_upper_case_is_loaded_in_lower_case(landing, warehouse):
    deliver(landing, "income_records", [good_row("income_records", person_key="AB" * 32)])
    con = load(landing, warehouse, "income_records")
    assert con.execute("SELECT person_key FROM raw.income_records").fetchall() == [("ab" * 32,)]
    assert quarantined(con, "income_records") == []
