"""Everything one province's monthly report shows, read from the published tables (`pub.*`) only.

Reports go to the bureaus, i.e. outside the office, so by the publication rules
(indicators.md) they may show nothing but `pub`: this module opens the warehouse
read-only, with external access off, and every query names a `pub` table. A
confidential cell (conf_status C or D) keeps its key and null measures; we keep
it that way, as a row whose values are None and whose conf_status says why, so
the template can print "confidential" instead of a number or a 0.

Rows are plain dicts (column -> value) as they come from `pub`: the report shows
the published columns under their published names, and the definitions come
from the dbt docs (`column_definitions`), so nothing here restates an indicator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipelines.contract import Schema
from pipelines.settings import DBT_PROJECT_DIR

FLEX = f"{Schema.PUB}.flex_indicators_monthly"
DEMAND = f"{Schema.PUB}.labor_demand_monthly"
REGIONS = f"{Schema.PUB}.dim_region"
OCCUPATIONS = f"{Schema.PUB}.dim_occupation"
RELEASES = f"{Schema.PUB}.releases"
PUB_TABLES = (FLEX, DEMAND, REGIONS, OCCUPATIONS, RELEASES)

MARTS_DOCS = DBT_PROJECT_DIR / "models" / "marts"
CONFIDENTIAL = ("C", "D")  # SDMX OBS_CONF: C primary, D secondary confidential
TREND_MONTHS = 12
AGE_COHORTS = ("16-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("F", "M", "U")
TOTAL = "ALL"

# The two groups the bureaus follow closely (age discrimination in hiring, youth).
FOCUS_GROUPS = (
    ("women_35_44", "35-44", "F"),
    ("under_25", "16-24", TOTAL),
)

Row = dict[str, Any]


class ReportDataError(RuntimeError):
    """The warehouse cannot give this report: no pub schema, unknown region, nothing published."""


@dataclass(frozen=True)
class Region:
    code: str
    name: str  # Chinese (GB/T 2260)
    name_en: str | None
    level: str


@dataclass(frozen=True)
class Release:
    release_id: str | None
    vintage: date | None
    pipeline_version: str | None
    released_at: Any = None
    audit_passed: bool | None = None


@dataclass
class ReportData:
    """One province and month, as published. Missing rows are None (no cell: nobody active, no posting)."""

    province: Region
    period: str
    status: str | None  # P provisional / F final, of the month's province total
    release: Release
    headline: Row | None
    previous: Row | None  # the month before, for the change column
    trend: list[tuple[str, Row | None]]  # the last 12 months, oldest first
    cohort_gender: dict[tuple[str, str], Row]  # (age_cohort, gender) -> row, totals included
    focus: dict[str, Row | None]
    demand: Row | None
    demand_by_occupation: list[Row]  # with name_zh / name_en
    prefectures: list[Row]  # region_code, region_name, `workers` row, `demand` row
    occupations: dict[str, Row] = field(default_factory=dict)


def is_confidential(row: Row | None) -> bool:
    """True for a published C/D cell: its figures exist but must not be shown."""
    return row is not None and row.get("conf_status") in CONFIDENTIAL


def previous_periods(period: str, months: int) -> list[str]:
    """The `months` calendar months ending with `period` (YYYY-MM), oldest first."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months + 1, index + 1)]


def validate_period(period: str) -> str:
    """Accept YYYY-MM only: the pub tables key months that way, and a typo should fail loudly."""
    try:
        year, month = period.split("-")
        if len(year) != 4 or len(month) != 2 or not 1 <= int(month) <= 12:
            raise ValueError
        int(year)
    except ValueError:
        raise ReportDataError(f"period must be YYYY-MM, got {period!r}") from None
    return period


def connect_pub(warehouse: Path) -> Any:
    """Open the warehouse read-only with external access off; fail clearly when pub is not there.

    Read-only because a report never writes; external access off so nothing but
    the warehouse file can be read through this connection. DuckDB refuses a
    read-only open while a run holds the file for writing: say so, the caller
    (Airflow) retries later.
    """
    import duckdb

    if not warehouse.exists():
        raise ReportDataError(f"warehouse {warehouse} does not exist")
    try:
        con = duckdb.connect(str(warehouse), read_only=True, config={"enable_external_access": False})
    except duckdb.IOException as exc:
        raise ReportDataError(
            f"cannot open {warehouse} read-only (is a run writing it? try again when it has finished): {exc}"
        ) from exc
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ?", [Schema.PUB]
        ).fetchall()
    }
    missing = [t for t in PUB_TABLES if t not in present]
    if missing:
        con.close()
        raise ReportDataError(
            f"{warehouse} has no published tables {', '.join(missing)}: run the pipeline (publication) first"
        )
    return con


def _rows(con: Any, sql: str, params: list[Any]) -> list[Row]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _one(con: Any, sql: str, params: list[Any]) -> Row | None:
    rows = _rows(con, sql, params)
    return rows[0] if rows else None


def load_region(con: Any, code: str) -> Region:
    """The province the report is for; a prefecture or unknown code is an error (reports are per province)."""
    row = _one(
        con,
        f"SELECT region_code, region_name, region_name_en, region_level FROM {REGIONS} WHERE region_code = ?",
        [code],
    )
    if row is None:
        raise ReportDataError(f"unknown region code {code!r} (not in {REGIONS})")
    if row["region_level"] != "province":
        raise ReportDataError(
            f"{code} ({row['region_name']}) is a {row['region_level']}; reports are per province (PP0000 code)"
        )
    return Region(row["region_code"], row["region_name"], row["region_name_en"], row["region_level"])


def _flex(con: Any, periods: list[str], region: str, cohort: str, gender: str) -> dict[str, Row]:
    rows = _rows(
        con,
        f"SELECT * FROM {FLEX} WHERE period IN (SELECT unnest(?)) AND region_code = ? "
        "AND age_cohort = ? AND gender = ?",
        [periods, region, cohort, gender],
    )
    return {r["period"]: r for r in rows}


def load_release(con: Any, release_id: str | None) -> Release:
    """The release the rows belong to (pub holds the latest), with its vintage and audit result."""
    if release_id is None:
        row = _one(con, f"SELECT * FROM {RELEASES} ORDER BY released_at DESC NULLS LAST LIMIT 1", [])
    else:
        row = _one(con, f"SELECT * FROM {RELEASES} WHERE release_id = ?", [release_id])
    if row is None:
        return Release(release_id, None, None)
    return Release(
        release_id=row.get("release_id"),
        vintage=row.get("vintage"),
        pipeline_version=row.get("pipeline_version"),
        released_at=row.get("released_at"),
        audit_passed=row.get("audit_passed"),
    )


def load_report_data(warehouse: Path, period: str, region: str) -> ReportData:
    """Read one province's month from `pub`; raise ReportDataError when nothing is published for it."""
    validate_period(period)
    con = connect_pub(warehouse)
    try:
        province = load_region(con, region)
        code = province.code
        trend_periods = previous_periods(period, TREND_MONTHS)
        totals = _flex(con, trend_periods, code, TOTAL, TOTAL)
        headline = totals.get(period)
        demand = _one(
            con,
            f"SELECT * FROM {DEMAND} WHERE period = ? AND region_code = ? AND occupation_code = ?",
            [period, code, TOTAL],
        )
        if headline is None and demand is None:
            raise ReportDataError(f"nothing published for {code} ({province.name}) in {period}")

        cohort_gender = {
            (r["age_cohort"], r["gender"]): r
            for r in _rows(con, f"SELECT * FROM {FLEX} WHERE period = ? AND region_code = ?", [period, code])
        }
        focus = {name: cohort_gender.get((cohort, gender)) for name, cohort, gender in FOCUS_GROUPS}

        occupations = {
            r["occupation_code"]: r
            for r in _rows(con, f"SELECT occupation_code, name_zh, name_en FROM {OCCUPATIONS}", [])
        }
        by_occupation = _rows(
            con,
            f"""SELECT d.*, o.name_zh, o.name_en FROM {DEMAND} d LEFT JOIN {OCCUPATIONS} o USING (occupation_code)
                WHERE d.period = ? AND d.region_code = ? AND d.occupation_code <> ?
                ORDER BY d.open_postings DESC NULLS LAST, d.occupation_code""",
            [period, code, TOTAL],
        )
        prefectures = _prefectures(con, period, code)
        first = headline or demand
        assert first is not None
        return ReportData(
            province=province,
            period=period,
            status=first.get("status"),
            release=load_release(con, first.get("release_id")),
            headline=headline,
            previous=totals.get(trend_periods[-2]),
            trend=[(p, totals.get(p)) for p in trend_periods],
            cohort_gender=cohort_gender,
            focus=focus,
            demand=demand,
            demand_by_occupation=by_occupation,
            prefectures=prefectures,
            occupations=occupations,
        )
    finally:
        con.close()


def _prefectures(con: Any, period: str, province: str) -> list[Row]:
    """The province's prefectures that have a published worker or demand cell this month.

    A prefecture without any row had nobody active and no posting; listing all of
    them would fill the page with dashes.
    """
    regions = _rows(
        con,
        f"""SELECT region_code, region_name FROM {REGIONS}
            WHERE region_level = 'prefecture' AND province_code = ? ORDER BY region_code""",
        [province],
    )
    if not regions:
        return []
    workers = {
        r["region_code"]: r
        for r in _rows(
            con,
            f"""SELECT * FROM {FLEX} WHERE period = ? AND region_level = 'prefecture'
                AND age_cohort = ? AND gender = ? AND region_code IN (SELECT unnest(?))""",
            [period, TOTAL, TOTAL, [r["region_code"] for r in regions]],
        )
    }
    demand = {
        r["region_code"]: r
        for r in _rows(
            con,
            f"""SELECT * FROM {DEMAND} WHERE period = ? AND region_level = 'prefecture' AND occupation_code = ?
                AND region_code IN (SELECT unnest(?))""",
            [period, TOTAL, [r["region_code"] for r in regions]],
        )
    }
    return [
        {**r, "workers": workers.get(r["region_code"]), "demand": demand.get(r["region_code"])}
        for r in regions
        if r["region_code"] in workers or r["region_code"] in demand
    ]


def published_provinces(warehouse: Path, period: str) -> list[Region]:
    """Every province with at least one published cell (free or confidential) in `period`."""
    validate_period(period)
    con = connect_pub(warehouse)
    try:
        rows = _rows(
            con,
            f"""SELECT region_code, region_name, region_name_en, region_level FROM {REGIONS}
                WHERE region_level = 'province' AND region_code IN (
                    SELECT region_code FROM {FLEX} WHERE period = ? AND region_level = 'province'
                    UNION SELECT region_code FROM {DEMAND} WHERE period = ? AND region_level = 'province')
                ORDER BY region_code""",
            [period, period],
        )
        return [Region(r["region_code"], r["region_name"], r["region_name_en"], r["region_level"]) for r in rows]
    finally:
        con.close()


def latest_published_period(warehouse: Path, not_after: str | None = None) -> str | None:
    """The newest month with published worker or demand figures, optionally not after `not_after`."""
    con = connect_pub(warehouse)
    try:
        bound = validate_period(not_after) if not_after else "9999-12"
        row = con.execute(
            f"""SELECT max(period) FROM (SELECT period FROM {FLEX} UNION ALL SELECT period FROM {DEMAND})
                WHERE period <= ?""",
            [bound],
        ).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def column_definitions(models: tuple[str, ...] = ("flex_indicators_monthly", "labor_demand_monthly")) -> dict[str, str]:
    """Column name -> description, read from the marts' dbt docs: the one place indicators are defined.

    The pub tables carry the mart columns unchanged, so the mart docs define them.
    """
    definitions: dict[str, str] = {}
    for model in models:
        doc = yaml.safe_load((MARTS_DOCS / f"{model}.yml").read_text(encoding="utf-8"))
        for entry in doc.get("models", []):
            if entry.get("name") != model:
                continue
            for column in entry.get("columns", []):
                text = " ".join(str(column.get("description", "")).split())
                definitions.setdefault(column["name"], text)
    return definitions
