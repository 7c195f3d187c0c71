"""labor_demand_monthly end to end on a tiny real warehouse.

A handful of postings, registrations and income records are delivered through the
real ingestion (`ingest_source`), one `dbt build` seeds and builds the demand mart and
the dimensions with everything upstream (their unit and data tests run too), and a few
cells are checked against values worked out by hand below. The work folder is tmp_path, so neither the
warehouse nor dbt's target/ and logs/ land in the repository.

Postings (Asia/Shanghai times; 420102 is a county of prefecture 420100 in province
420000, central; 110105 a county of 110100 in 110000, east):

| id | occupation              | place  | employer | head | wage            | posted       | closed               |
|----|-------------------------|--------|----------|------|-----------------|--------------|----------------------|
| P1 | rider (delivered)       | 420102 | e1       | 3    | 6000-9000 month | 01-10        | open                 |
| P2 | ride-hailing (title)    | 420000 | e1       | 2    | 200-300 day     | 01-15        | 02-10 (a correction) |
| P3 | rider (delivered)       | 420100 | e2       | 1    | 20- hour        | 02-03 10:00  | 02-04 22:00          |
| P4 | live streaming (title)  | 110105 | e3       | 1    | piece           | 02-20        | open                 |
| P5 | rider (delivered)       | 420102 | e2       | 4    | 120000 year     | 01-05 09:00  | 01-31T18:30Z = 02-01 |

Workers: W1 (rider, lives in 420102) active in January and February; W2
(ride-hailing, 420102) active in February. The newest delivery is in March.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.contract import SOURCES
from pipelines.dbt_runner import run_dbt
from pipelines.ingest import ingest_source
from pipelines.warehouse import connect, ensure_ingest_tables
from tests.conftest import OTHER_PERSON, PERSON, deliver, good_row

KEY = ("period", "region_level", "region_code", "occupation_code")


def posting(posting_id: str, **overrides: str | None) -> dict[str, str | None]:
    return good_row("job_postings", posting_id=posting_id, **overrides)


P1 = posting("P1", posted_at="2025-01-10T09:00:00", closed_at=None, updated_at="2025-01-10T09:00:00",
             employer_id="e1", region_code="420102", headcount="3", wage_min="6000", wage_max="9000",
             wage_period="month", age_max="45", gender_requirement="none", is_remote="false")
P2_OPEN = posting("P2", title="网约车司机（急招）", occupation_code=None, posted_at="2025-01-15T09:00:00",
                  closed_at=None, updated_at="2025-01-15T09:00:00", employer_id="e1", region_code="420000",
                  headcount="2", wage_min="200", wage_max="300", wage_period="day", age_max="35",
                  gender_requirement="male", is_remote="false")
P2_CLOSED = {**P2_OPEN, "closed_at": "2025-02-10T09:00:00", "updated_at": "2025-02-10T09:00:00"}
P3 = posting("P3", posted_at="2025-02-03T10:00:00", closed_at="2025-02-04T22:00:00", updated_at="2025-02-04T22:00:00",
             employer_id="e2", region_code="420100", headcount="1", wage_min="20", wage_max=None, wage_period="hour",
             age_max=None, gender_requirement="female", is_remote="true")
P4 = posting("P4", platform_id="douyin", title="带货主播（日结）", occupation_code=None,
             posted_at="2025-02-20T12:00:00", closed_at=None, updated_at="2025-02-20T12:00:00", employer_id="e3",
             region_code="110105", headcount=None,
             wage_min="5", wage_max="8", wage_period="piece", age_max=None, gender_requirement="none", is_remote=None)
P5 = posting("P5", posted_at="2025-01-05T09:00:00", closed_at="2025-01-31T18:30:00Z", updated_at="2025-01-31T18:30:00Z",
             employer_id="e2", region_code="420102", headcount="4", wage_min="120000", wage_max="120000",
             wage_period="year", age_max="30", gender_requirement=None, is_remote="false")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Deliver, ingest, seed and build once for every check in this module."""
    work = tmp_path_factory.mktemp("work")
    landing = work / "landing"
    deliver(landing, "job_postings", [P1, P2_OPEN, P3, P5], platform="meituan", day="2025-02-05")
    deliver(landing, "job_postings", [P2_CLOSED], platform="meituan", day="2025-03-05")
    deliver(landing, "job_postings", [P4], platform="douyin", day="2025-03-05")
    deliver(landing, "gig_registrations", [
        good_row("gig_registrations", registration_id="g1", person_key=PERSON),
        good_row("gig_registrations", registration_id="g2", person_key=OTHER_PERSON,
                 occupation_code="ride_hailing_driver"),
    ], day="2025-02-03")
    deliver(landing, "income_records", [
        good_row("income_records", record_id="r1", person_key=PERSON, period="2025-01"),
        good_row("income_records", record_id="r2", person_key=PERSON, period="2025-02"),
        good_row("income_records", record_id="r3", person_key=OTHER_PERSON, period="2025-02"),
    ], day="2025-02-03")

    path = work / "warehouse.duckdb"
    con = connect(path)
    try:
        ensure_ingest_tables(con)
        for source in SOURCES:
            result = ingest_source(con, str(landing), source, "test-run")
            assert result.rows_quarantined == 0, result.as_dict()
    finally:
        con.close()

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("FLEXEMP_WORK_DIR", str(work))
        # The selection's ancestors include the seeds, so `build` seeds them (a separate
        # `dbt seed` would only add a second project parse to the test's time).
        # buildable: leave out tests of models outside the selection that merely point at a
        # selected one (flex_indicators_monthly's relationships to dim_region), which the
        # default (eager) would run against a table this build never makes.
        run_dbt(["build", "--select", "+labor_demand_monthly +dim_region +dim_occupation +dim_platform",
                 "--indirect-selection", "buildable"], path)
    return path


def query(warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def cell(warehouse: Path, period: str, level: str, code: str, occupation: str) -> dict | None:
    rows = query(warehouse, f"""
        select * from marts.labor_demand_monthly
        where period = '{period}' and region_level = '{level}'
          and region_code = '{code}' and occupation_code = '{occupation}'""")
    assert len(rows) <= 1
    return rows[0] if rows else None


def test_january_country_total(warehouse: Path) -> None:
    row = cell(warehouse, "2025-01", "country", "CN", "ALL")
    assert row is not None
    # Open and new: P1, P2, P5 (P5 closes on 1 February, Shanghai time).
    assert (row["open_postings"], row["new_postings"], row["vacancies"], row["employers"]) == (3, 3, 9, 2)
    # Monthly wages of the new postings: 7500 (P1), 250 x 21.75 = 5437.50 (P2), 120000 / 12 = 10000 (P5).
    assert str(row["median_offered_monthly_wage"]) == "7500.00"
    assert row["age_capped_share"] == pytest.approx(2 / 3, rel=1e-6)  # P2 (35) and P5 (30)
    assert row["gender_restricted_share"] == pytest.approx(1 / 3, rel=1e-6)  # P2 (male)
    assert row["remote_share"] == 0
    assert row["median_days_to_close"] is None  # nothing closed in January
    assert row["tightness"] == pytest.approx(9.0)  # 9 vacancies / W1


def test_all_counts_distinct_employers_not_the_sum(warehouse: Path) -> None:
    rider = cell(warehouse, "2025-01", "country", "CN", "online_delivery_rider")
    ride = cell(warehouse, "2025-01", "country", "CN", "ride_hailing_driver")
    total = cell(warehouse, "2025-01", "country", "CN", "ALL")
    assert (rider["employers"], ride["employers"], total["employers"]) == (2, 1, 2)
    assert rider["open_postings"] + ride["open_postings"] == total["open_postings"]


def test_province_level_posting_counts_in_its_province_and_no_prefecture(warehouse: Path) -> None:
    # P2's place of work is the province 420000 itself.
    assert cell(warehouse, "2025-01", "province", "420000", "ALL")["open_postings"] == 3
    assert cell(warehouse, "2025-01", "macro_region", "central", "ALL")["open_postings"] == 3
    prefecture = cell(warehouse, "2025-01", "prefecture", "420100", "ALL")
    assert (prefecture["open_postings"], prefecture["vacancies"], prefecture["employers"]) == (2, 7, 2)
    assert cell(warehouse, "2025-02", "prefecture", "420100", "ride_hailing_driver") is None
    province_ride = cell(warehouse, "2025-01", "province", "420000", "ride_hailing_driver")
    assert province_ride["open_postings"] == 1
    assert province_ride["tightness"] is None  # W2 is not active in January


def test_february_open_new_and_closed(warehouse: Path) -> None:
    row = cell(warehouse, "2025-02", "country", "CN", "ALL")
    # Open: P1, P2 (closed 02-10), P3, P4, P5 (closed 02-01); new: P3, P4.
    assert (row["open_postings"], row["new_postings"], row["vacancies"], row["employers"]) == (5, 2, 11, 3)
    assert str(row["median_offered_monthly_wage"]) == "3480.00"  # P3: 20 x 174; P4 is a piece rate
    assert row["age_capped_share"] == 0
    assert row["gender_restricted_share"] == pytest.approx(0.5)  # P3 (female)
    assert row["remote_share"] == pytest.approx(1.0)  # P3 true, P4 unknown
    # Closed in February: P2 26 days, P3 1.5 days, P5 26 days 17.5 hours.
    assert row["median_days_to_close"] == pytest.approx(26.0)
    assert row["tightness"] == pytest.approx(5.5)  # 11 / (W1 + W2)

    riders = cell(warehouse, "2025-02", "prefecture", "420100", "online_delivery_rider")
    assert (riders["open_postings"], riders["new_postings"], riders["vacancies"], riders["employers"]) == (3, 1, 8, 2)
    assert riders["median_days_to_close"] == pytest.approx((1.5 + 26 + 17.5 / 24) / 2)
    assert riders["tightness"] == pytest.approx(8.0)
    assert cell(warehouse, "2025-02", "province", "420000", "ride_hailing_driver")["tightness"] == pytest.approx(2.0)


def test_march_postings_still_open_and_empty_measures_null(warehouse: Path) -> None:
    row = cell(warehouse, "2025-03", "country", "CN", "ALL")
    assert (row["open_postings"], row["new_postings"], row["vacancies"]) == (2, 0, 4)  # P1 and P4
    assert row["median_offered_monthly_wage"] is None
    assert row["age_capped_share"] is None
    assert row["remote_share"] is None
    assert row["tightness"] is None  # no income loaded for March
    live = cell(warehouse, "2025-03", "prefecture", "110100", "live_streaming_seller")
    assert (live["open_postings"], live["tightness"]) == (1, None)
    assert cell(warehouse, "2025-04", "country", "CN", "ALL") is None


def test_titles_classified_and_correction_applied(warehouse: Path) -> None:
    rows = {r["posting_id"]: r for r in query(warehouse, "select * from intermediate.int_job_postings_classified")}
    assert (rows["P2"]["occupation_code"], rows["P2"]["occupation_source"]) == ("ride_hailing_driver", "title")
    assert (rows["P4"]["occupation_code"], rows["P4"]["occupation_source"]) == ("live_streaming_seller", "title")
    assert rows["P1"]["occupation_source"] == "delivered"
    assert rows["P2"]["closed_period"] == "2025-02"
    assert str(rows["P2"]["offered_monthly_wage"]) == "5437.50"


def test_grain_is_unique_and_every_key_is_in_the_dimensions(warehouse: Path) -> None:
    dupes = query(warehouse, f"""
        select {", ".join(KEY)}, count(*) as n from marts.labor_demand_monthly
        group by all having count(*) > 1""")
    assert dupes == []
    orphans = query(warehouse, """
        select d.* from marts.labor_demand_monthly as d
        left join marts.dim_region as r on d.region_code = r.region_code and d.region_level = r.region_level
        left join marts.dim_occupation as o on d.occupation_code = o.occupation_code
        where r.region_code is null or o.occupation_code is null""")
    assert orphans == []
    levels = {r["region_level"]: r["n"] for r in query(
        warehouse, "select region_level, count(*) as n from marts.dim_region group by all")}
    assert levels["country"] == 1 and levels["macro_region"] == 4 and levels["province"] == 31
