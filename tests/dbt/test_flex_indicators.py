"""flex_indicators_monthly against an independent computation in Polars.

The expected cells are computed here from the raw tables with Polars, following
the spec's definitions (indicators.md) step by step, not the dbt SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

TZ = "Asia/Shanghai"


def table(warehouse: Path, name: str) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {name}").pl()
    finally:
        con.close()


def newest(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Corrections: the newest updated_at wins, ties go to the later delivery."""
    order = ["updated_at", "delivery_date", "file_path", "source_row"]
    return frame.sort(order, descending=True).unique(subset=key, keep="first", maintain_order=True)


@pytest.fixture(scope="module")
def expected(built: Path) -> dict[str, pl.DataFrame]:
    income = newest(table(built, "raw.income_records"), ["platform_id", "record_id"])
    registrations = newest(table(built, "raw.gig_registrations"), ["platform_id", "registration_id"])
    regions = table(built, "ref.regions").select("region_code", "province_code", "prefecture_code", "region_level")

    person_months = (
        income.with_columns(net=pl.col("gross_income") - pl.col("platform_fee").fill_null(0))
        .group_by("person_key", "period")
        .agg(gross=pl.col("gross_income").sum(), net=pl.col("net").sum())
    )
    months = sorted(person_months["period"].unique().to_list())
    # Attributes: newest updated_at among registrations registered by the end of the month.
    month_ends = pl.DataFrame({"period": months}).with_columns(
        next_month=(pl.col("period") + "-01").str.to_date().dt.offset_by("1mo").cast(pl.Datetime("us"))
        .dt.replace_time_zone(TZ)
    )
    attributes = (
        person_months.select("person_key", "period")
        .join(month_ends, on="period")
        .join(registrations.with_columns(pl.col("registered_at").dt.convert_time_zone(TZ),
                                         pl.col("updated_at").dt.convert_time_zone(TZ)), on="person_key")
        .filter(pl.col("registered_at") < pl.col("next_month"))
        .sort(["updated_at", "delivery_date", "platform_id", "registration_id"], descending=True)
        .unique(subset=["person_key", "period"], keep="first")
        .select("person_key", "period", "birth_year", "gender", "residence_region_code")
    )
    panel = (
        person_months.join(attributes, on=["person_key", "period"], how="left")
        .join(regions, left_on="residence_region_code", right_on="region_code", how="left")
        .with_columns(
            active=pl.col("gross") > 0,
            age=pl.col("period").str.slice(0, 4).cast(pl.Int32) - pl.col("birth_year"),
        )
    )
    first_active = panel.filter("active").group_by("person_key").agg(first=pl.col("period").min())
    panel = panel.join(first_active, on="person_key", how="left")
    counted = panel.filter(pl.col("active") & pl.col("birth_year").is_not_null() & (pl.col("age") >= 16))
    return {"panel": panel, "counted": counted, "months": pl.DataFrame({"period": months})}


def mart_cell(built: Path, period: str, level: str, code: str, cohort: str = "ALL", gender: str = "ALL") -> dict:
    row = table(built, "marts.flex_indicators_monthly").filter(
        (pl.col("period") == period) & (pl.col("region_level") == level) & (pl.col("region_code") == code)
        & (pl.col("age_cohort") == cohort) & (pl.col("gender") == gender)
    )
    assert row.height == 1, (period, level, code, cohort, gender)
    return row.row(0, named=True)


def median(values: pl.Series) -> float:
    return float(values.cast(pl.Float64).median())


def test_active_workers_and_median_income_for_the_country(built, expected):
    counted = expected["counted"]
    for period in expected["months"]["period"]:
        cell = counted.filter(pl.col("period") == period)
        mart = mart_cell(built, period, "country", "CN")
        assert mart["active_workers"] == cell.height
        assert float(mart["median_net_income"]) == pytest.approx(median(cell["net"]), abs=0.006)  # rounded to the fen


def test_women_35_44_in_a_province(built, expected):
    counted = expected["counted"].filter((pl.col("gender") == "F") & pl.col("age").is_between(35, 44))
    period = expected["months"]["period"][-1]
    biggest = (counted.filter(pl.col("period") == period).group_by("province_code").len()
               .sort(["len", "province_code"], descending=True).row(0))[0]
    cell = counted.filter((pl.col("period") == period) & (pl.col("province_code") == biggest))
    mart = mart_cell(built, period, "province", biggest, "35-44", "F")
    assert mart["active_workers"] == cell.height
    assert float(mart["median_net_income"]) == pytest.approx(median(cell["net"]), abs=0.006)  # rounded to the fen


def test_gender_pay_gap(built, expected):
    period = expected["months"]["period"][2]
    cell = expected["counted"].filter(pl.col("period") == period)
    men, women = median(cell.filter(gender="M")["net"]), median(cell.filter(gender="F")["net"])
    mart = mart_cell(built, period, "country", "CN")
    assert mart["gender_pay_gap"] == pytest.approx((men - women) / men, rel=1e-9)


def test_retention_3m(built, expected):
    months = expected["months"]["period"].to_list()
    period, later = months[1], months[4]
    counted = expected["counted"].filter(pl.col("period") == period)
    new = counted.filter(pl.col("first") == period)["person_key"]
    active_later = expected["panel"].filter((pl.col("period") == later) & pl.col("active"))["person_key"]
    mart = mart_cell(built, period, "country", "CN")
    assert mart["new_workers"] == new.len()
    assert mart["retention_3m"] == pytest.approx(new.is_in(active_later.implode()).sum() / new.len())
    assert mart_cell(built, months[-3], "country", "CN")["retention_3m"] is None  # month + 3 not loaded


def test_income_volatility(built, expected):
    months = expected["months"]["period"].to_list()
    period, window = months[6], months[1:7]  # the 7th month: its 6-month window is months 2..7
    panel = expected["panel"]
    grid = (
        expected["counted"].filter(pl.col("period") == period).select("person_key")
        .join(pl.DataFrame({"period": window}), how="cross")
        .join(panel.select("person_key", "period", "net", "active"), on=["person_key", "period"], how="left")
        .with_columns(pl.col("net").cast(pl.Float64).fill_null(0.0), pl.col("active").fill_null(False))
    )
    cv = (
        grid.group_by("person_key")
        .agg(active_months=pl.col("active").sum(), mean=pl.col("net").mean(), std=pl.col("net").std(ddof=0))
        .filter((pl.col("active_months") >= 3) & (pl.col("mean") > 0))
        .with_columns(cv=pl.col("std") / pl.col("mean"))
    )
    assert cv.height > 0
    mart = mart_cell(built, period, "country", "CN")
    assert mart["income_volatility"] == pytest.approx(float(cv["cv"].median()), rel=1e-9)
    assert mart_cell(built, months[4], "country", "CN")["income_volatility"] is None  # fewer than 6 months loaded
