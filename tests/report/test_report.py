"""Monthly bureau reports: built from a small warehouse that holds nothing but `pub` tables.

The warehouse is made in code (14 months, Hubei with three prefectures, Beijing,
some C/D cells) with the columns of the publication interface
(docs/architecture.md). Holding only `pub` proves the report reads nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime
from html import escape as html_escape
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.report.data import (
    AGE_COHORTS,
    ReportDataError,
    latest_published_period,
    previous_periods,
)
from pipelines.settings import PROJECT_ROOT

HUBEI, WUHAN, YICHANG, XIANGYANG, BEIJING = "420000", "420100", "420500", "420600", "110000"
PERIOD = "2025-08"
PERIODS = previous_periods(PERIOD, 14)
RELEASE = "R20250905-01"
VINTAGE = date(2025, 9, 3)
PIPELINE = "0.1.0+test"
CONFIDENTIAL_TREND_MONTH = "2025-02"  # Hubei's province total is D that month: a gap in the trend

FLEX_MEASURES = [
    "active_workers",
    "active_jobs",
    "new_workers",
    "multi_platform_share",
    "side_job_share",
    "median_net_income",
    "p10_net_income",
    "p90_net_income",
    "mean_hours",
    "median_hourly_earnings",
    "below_min_wage_share",
    "social_insurance_share",
    "migrant_share",
    "retention_3m",
    "income_volatility",
    "gender_pay_gap",
]
DEMAND_MEASURES = [
    "open_postings",
    "new_postings",
    "vacancies",
    "employers",
    "median_offered_monthly_wage",
    "age_capped_share",
    "gender_restricted_share",
    "remote_share",
    "median_days_to_close",
    "tightness",
]
PUB_COLUMNS = "conf_status VARCHAR, vintage DATE, pipeline_version VARCHAR, status VARCHAR, release_id VARCHAR"
OCCUPATIONS = (
    ("online_delivery_rider", "网约配送员", "Online delivery rider"),
    ("ride_hailing_driver", "网约车驾驶员", "Ride-hailing driver"),
    ("live_streaming_seller", "直播销售员", "Live-streaming seller"),
)
HEADLINE_WORKERS = 123457
HEADLINE_INCOME = 4321
WOMEN_35_44 = 8765
UNDER_25_INCOME = 3579


def flex_values(period: str, region: str, cohort: str, gender: str) -> dict[str, float | None]:
    """Deterministic, distinguishable figures for one worker cell."""
    month = PERIODS.index(period)
    scale = {HUBEI: 1.0, WUHAN: 0.5, YICHANG: 0.2, XIANGYANG: 0.1, BEIJING: 0.9}[region]
    cohort_share = 1.0 if cohort == "ALL" else 0.1 + 0.03 * AGE_COHORTS.index(cohort)
    gender_share = {"ALL": 1.0, "F": 0.45, "M": 0.5, "U": 0.05}[gender]
    workers = round(100000 * scale * cohort_share * gender_share * (1 + 0.02 * month))
    income = 3000 + 50 * month + (300 if gender == "M" else 0)
    if (period, region, cohort, gender) == (PERIOD, HUBEI, "ALL", "ALL"):
        workers, income = HEADLINE_WORKERS, HEADLINE_INCOME
    if (period, region, cohort, gender) == (PERIOD, HUBEI, "35-44", "F"):
        workers = WOMEN_35_44
    if (period, region, cohort, gender) == (PERIOD, HUBEI, "16-24", "ALL"):
        income = UNDER_25_INCOME
    return {
        "active_workers": workers,
        "active_jobs": round(workers * 1.3),
        "new_workers": round(workers * 0.1),
        "multi_platform_share": 0.21,
        "side_job_share": 0.34,
        "median_net_income": income,
        "p10_net_income": income * 0.4,
        "p90_net_income": income * 2.1,
        "mean_hours": 151.5,
        "median_hourly_earnings": 24.6,
        "below_min_wage_share": 0.08,
        "social_insurance_share": 0.27,
        "migrant_share": 0.19,
        "retention_3m": 0.61 if month < len(PERIODS) - 3 else None,
        "income_volatility": 0.42,
        "gender_pay_gap": 0.09 if gender == "ALL" else None,
    }


def flex_status(period: str, region: str, cohort: str, gender: str) -> str:
    if (period, region, cohort, gender) == (CONFIDENTIAL_TREND_MONTH, HUBEI, "ALL", "ALL"):
        return "D"
    if period == PERIOD and region == HUBEI and cohort == "65+" and gender == "U":
        return "C"
    if period == PERIOD and region == HUBEI and cohort == "65+" and gender == "F":
        return "D"
    if period == PERIOD and region == XIANGYANG:
        return "C"
    return "F"


def build_pub_warehouse(path: Path) -> Path:
    """A warehouse with only the `pub` schema, as the publication step writes it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA pub")
    con.execute(
        "CREATE TABLE pub.dim_region (region_level VARCHAR, region_code VARCHAR, region_name VARCHAR, "
        "region_name_en VARCHAR, parent_region_code VARCHAR, province_code VARCHAR, macro_region VARCHAR, "
        "is_statistical_grouping BOOLEAN, is_indicator_level BOOLEAN, level_order INTEGER)"
    )
    con.executemany(
        "INSERT INTO pub.dim_region VALUES (?, ?, ?, ?, ?, ?, ?, false, ?, ?)",
        [
            ("country", "CN", "中国", "China", None, None, None, True, 1),
            ("macro_region", "central", "中部地区", "Central", "CN", None, "central", True, 2),
            ("macro_region", "east", "东部地区", "East", "CN", None, "east", True, 2),
            ("province", HUBEI, "湖北省", None, "central", HUBEI, "central", True, 3),
            ("prefecture", WUHAN, "武汉市", None, HUBEI, HUBEI, "central", True, 4),
            ("prefecture", YICHANG, "宜昌市", None, HUBEI, HUBEI, "central", True, 4),
            ("prefecture", XIANGYANG, "襄阳市", None, HUBEI, HUBEI, "central", True, 4),
            ("prefecture", "420700", "鄂州市", None, HUBEI, HUBEI, "central", True, 4),  # no figures
            ("county", "420102", "江岸区", None, WUHAN, HUBEI, "central", False, 5),
            ("province", BEIJING, "北京市", None, "east", BEIJING, "east", True, 3),
            ("prefecture", "110100", "北京市市辖区", None, BEIJING, BEIJING, "east", True, 4),
        ],
    )
    con.execute(
        "CREATE TABLE pub.dim_occupation (occupation_code VARCHAR, occupation_group VARCHAR, name_zh VARCHAR, "
        "name_en VARCHAR, is_new_platform_occupation BOOLEAN, cocc_2022_code VARCHAR, cocc_2022_name VARCHAR, "
        "is_total BOOLEAN)"
    )
    con.executemany(
        "INSERT INTO pub.dim_occupation VALUES (?, 'platform_services', ?, ?, true, NULL, NULL, ?)",
        [(code, zh, en, False) for code, zh, en in OCCUPATIONS] + [("ALL", "全部职业", "All occupations", True)],
    )
    con.execute(
        "CREATE TABLE pub.dim_period (period VARCHAR, year INTEGER, month INTEGER, quarter INTEGER, "
        "month_start DATE, month_end DATE, period_index INTEGER)"
    )
    con.execute(
        "CREATE TABLE pub.releases (release_id VARCHAR, vintage DATE, pipeline_version VARCHAR, "
        "released_at TIMESTAMPTZ, audit_passed BOOLEAN, audit_detail VARCHAR, flex_rows BIGINT, demand_rows BIGINT)"
    )
    con.execute(
        "INSERT INTO pub.releases VALUES (?, ?, ?, ?, true, 'no confidential figure derivable', 0, 0)",
        [RELEASE, VINTAGE, PIPELINE, datetime(2025, 9, 5, 6, 0)],
    )
    keys = "period VARCHAR, region_level VARCHAR, region_code VARCHAR"
    con.execute(
        f"CREATE TABLE pub.flex_indicators_monthly ({keys}, age_cohort VARCHAR, gender VARCHAR, "
        + ", ".join(f"{m} DOUBLE" for m in FLEX_MEASURES)
        + f", {PUB_COLUMNS})"
    )
    con.execute(
        f"CREATE TABLE pub.labor_demand_monthly ({keys}, occupation_code VARCHAR, "
        + ", ".join(f"{m} DOUBLE" for m in DEMAND_MEASURES)
        + f", {PUB_COLUMNS})"
    )
    levels = {
        HUBEI: "province",
        BEIJING: "province",
        WUHAN: "prefecture",
        YICHANG: "prefecture",
        XIANGYANG: "prefecture",
    }
    flex_rows, demand_rows = [], []
    for period in PERIODS:
        status = "P" if period in PERIODS[-3:] else "F"
        for region, level in levels.items():
            for cohort in (*AGE_COHORTS, "ALL"):
                for gender in ("F", "M", "U", "ALL"):
                    conf = flex_status(period, region, cohort, gender)
                    values = flex_values(period, region, cohort, gender)
                    measures = [values[m] if conf == "F" else None for m in FLEX_MEASURES]
                    flex_rows.append(
                        [period, level, region, cohort, gender, *measures, conf, VINTAGE, PIPELINE, status, RELEASE]
                    )
            for i, (occupation, *_names) in enumerate((*OCCUPATIONS, ("ALL",))):
                conf = "C" if (occupation == "ride_hailing_driver" and period == PERIOD and region == HUBEI) else "F"
                opened = 900 - 200 * i if occupation != "ALL" else 2100
                values = [opened, opened // 3, opened * 2, 12, 5200 + 10 * i, 0.31, 0.07, 0.05, 9.5, 0.4]
                demand_rows.append(
                    [
                        period,
                        level,
                        region,
                        occupation,
                        *(values if conf == "F" else [None] * len(values)),
                        conf,
                        VINTAGE,
                        PIPELINE,
                        status,
                        RELEASE,
                    ]
                )
    # executemany inserts row by row (slow in DuckDB): go through Arrow tables instead.
    for table, rows in (("flex_indicators_monthly", flex_rows), ("labor_demand_monthly", demand_rows)):
        names = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE pub.{table})").fetchall()]
        batch = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])  # noqa: F841
        con.execute(f"INSERT INTO pub.{table} SELECT * FROM batch")
    con.close()
    return path


@pytest.fixture(scope="module")
def pub_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pub_warehouse(tmp_path_factory.mktemp("pub") / "warehouse.duckdb")


@pytest.fixture(scope="module")
def hubei(pub_warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    from pipelines.report.render import render_report

    out = tmp_path_factory.mktemp("reports")
    return render_report(pub_warehouse, PERIOD, HUBEI, out)


def _cell(html: str, attribute: str, key: str) -> str:
    """The text of the table row marked data-<attribute>="key", tags stripped."""
    match = re.search(rf'<tr data-{attribute}="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attribute}={key}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_report_files_land_per_province_and_period(hubei, tmp_path: Path) -> None:
    assert hubei.html.parent.parts[-2:] == (HUBEI, PERIOD)
    assert hubei.html.name == "report.html" and hubei.pdf.name == "report.pdf"
    assert hubei.pdf.read_bytes().startswith(b"%PDF")
    assert hubei.status == "P" and hubei.release_id == RELEASE
    assert not list(hubei.html.parent.glob(".*tmp")), "no temporary files left behind"


def test_html_shows_the_published_headline_figures(hubei) -> None:
    html = hubei.html.read_text(encoding="utf-8")
    assert "湖北省" in html
    assert f"{HEADLINE_WORKERS:,}" in _cell(html, "measure", "active_workers")
    assert f"{HEADLINE_INCOME:,}" in _cell(html, "measure", "median_net_income")
    assert f"{WOMEN_35_44:,}" in _cell(html, "group", "women_35_44")
    assert f"{UNDER_25_INCOME:,}" in _cell(html, "group", "under_25")
    assert "2,100" in _cell(html, "measure", "open_postings")  # demand, occupation ALL
    assert "31.0%" in _cell(html, "measure", "age_capped_share")
    assert "武汉市" in _cell(html, "region", WUHAN)
    assert "420700" not in html, "a prefecture without any published figure is not listed"


def test_confidential_cells_show_as_confidential_not_numbers(hubei) -> None:
    html = hubei.html.read_text(encoding="utf-8")
    cohort = _cell(html, "cohort", "65+")
    assert "C 保密" in cohort.replace("&nbsp;", " ") and "D 保密" in cohort.replace("&nbsp;", " ")
    prefecture = _cell(html, "region", XIANGYANG).replace("&nbsp;", " ")
    assert prefecture.count("C 保密") == 2  # worker figures; its demand cells are free
    assert not re.search(r"\b0\b", prefecture.split("420600")[1].split("C")[0])
    occupation = _cell(html, "occupation", "ride_hailing_driver").replace("&nbsp;", " ")
    assert "C 保密" in occupation and not re.search(r"\d", occupation.replace("C 保密", ""))
    assert "Confidential, shown as gaps: 2025-02 (D)" in html  # trend caption
    for legend in ("primary confidential", "secondary confidential", "provisional", RELEASE, str(VINTAGE), PIPELINE):
        assert legend in html


def test_definitions_come_from_the_dbt_docs(hubei) -> None:
    import yaml

    html = hubei.html.read_text(encoding="utf-8")
    doc = yaml.safe_load((PROJECT_ROOT / "dbt/models/marts/labor_demand_monthly.yml").read_text(encoding="utf-8"))
    column = next(c for c in doc["models"][0]["columns"] if c["name"] == "age_capped_share")
    assert html_escape(" ".join(column["description"].split()), quote=False) in html


def test_only_pub_is_read(pub_warehouse: Path, tmp_path: Path) -> None:
    """The fixture warehouse holds nothing but pub; and the connection can't reach beyond the file."""
    con = duckdb.connect(str(pub_warehouse), read_only=True)
    schemas = {s for (s,) in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
    con.close()
    assert schemas == {"pub"}

    from pipelines.report.data import connect_pub

    con = connect_pub(pub_warehouse)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT * FROM read_csv('{PROJECT_ROOT / 'dbt/seeds/occupations.csv'}')")
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE pub.x (a INTEGER)")
    finally:
        con.close()


def test_clear_errors(pub_warehouse: Path, tmp_path: Path) -> None:
    from pipelines.report.render import render_report

    with pytest.raises(ReportDataError, match="prefecture"):
        render_report(pub_warehouse, PERIOD, WUHAN, tmp_path)
    with pytest.raises(ReportDataError, match="nothing published"):
        render_report(pub_warehouse, "2030-01", HUBEI, tmp_path)
    with pytest.raises(ReportDataError, match="YYYY-MM"):
        render_report(pub_warehouse, "2025-8", HUBEI, tmp_path)
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(ReportDataError, match="publication"):
        render_report(empty, PERIOD, HUBEI, tmp_path)


def test_render_all_writes_one_report_per_province(pub_warehouse: Path, tmp_path: Path) -> None:
    from pipelines.report.render import render_all

    results = render_all(pub_warehouse, PERIOD, tmp_path / "outbox")
    assert [r.province_code for r in results] == [BEIJING, HUBEI]
    for result in results:
        assert result.pdf == tmp_path / "outbox" / result.province_code / PERIOD / "report.pdf"
        assert result.pdf.stat().st_size > 10_000
    assert latest_published_period(pub_warehouse) == PERIOD
    assert latest_published_period(pub_warehouse, not_after="2025-07") == "2025-07"


def test_pdf_embeds_a_cjk_font_and_draws_the_charts(hubei) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(str(hubei.pdf))
    try:
        assert len(pdf) >= 2
        fonts: set[str] = set()
        images = 0
        for page in pdf:
            images += sum(1 for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT], max_depth=3):
                font = pdfium_c.FPDFTextObj_GetFont(obj.raw)
                size = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
                buffer = (pdfium_c.c_char * size)()
                pdfium_c.FPDFFont_GetBaseFontName(font, buffer, size)
                fonts.add(bytes(buffer).rstrip(b"\0").decode("latin-1"))
        assert any("CJK" in f or "WenQuanYi" in f or "Hei" in f for f in fonts), fonts
        assert images >= 3, "trend, age/gender and occupation charts"
        text = pdf[0].get_textpage().get_text_range()
        assert "湖北省" in text and f"{HEADLINE_WORKERS:,}" in text
    finally:
        pdf.close()


def test_rendered_first_page_has_a_chart_and_cjk_glyphs(hubei, tmp_path: Path) -> None:
    """Render page 1 to PNG: the chart region is drawn, and the title's glyphs are not empty boxes."""
    import numpy as np
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(hubei.pdf))
    try:
        image = pdf[0].render(scale=100 / 72).to_pil().convert("L")
    finally:
        pdf.close()
    image.save(tmp_path / "page1.png")
    pixels = np.asarray(image)
    height, width = pixels.shape
    ink = pixels < 200
    assert ink.mean() > 0.03, "the page is nearly blank"
    lower = ink[height // 2 :, :]  # the trend chart sits in the lower half of page 1
    assert lower.mean() > 0.03
    colour = np.asarray(pdfium.PdfDocument(str(hubei.pdf))[0].render(scale=100 / 72).to_pil().convert("RGB"))
    r, _, b = (colour[..., i].astype(int) for i in range(3))
    assert ((b - r > 40) & (b > 80)).sum() > 2000, "the blue trend line and headings are drawn"
    # A missing glyph is drawn as a hollow box: the title's ink would then be thin outlines only.
    title = ink[: height // 12, : width // 2]
    assert title.mean() > 0.02


def test_missing_cjk_font_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.report import charts

    charts.cjk_font.cache_clear()
    monkeypatch.setattr(charts, "CJK_FAMILIES", ("No Such Font",))
    try:
        with pytest.raises(charts.MissingCJKFont, match="fonts-noto-cjk"):
            charts.cjk_font()
    finally:
        charts.cjk_font.cache_clear()


def test_cli_command_renders_a_report(pub_warehouse: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from pipelines.report.cli import report

    app = typer.Typer()
    app.command()(report)
    app.command("noop")(lambda: None)  # two commands: typer keeps `report` as a subcommand
    outcome = CliRunner().invoke(
        app,
        ["report", "--period", PERIOD, "--region", HUBEI, "--out", str(tmp_path), "--warehouse", str(pub_warehouse)],
    )
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / HUBEI / PERIOD / "report.pdf").exists()
    failed = CliRunner().invoke(
        app,
        ["report", "--period", PERIOD, "--region", WUHAN, "--out", str(tmp_path), "--warehouse", str(pub_warehouse)],
    )
    assert failed.exit_code != 0 and "province" in failed.output


def test_reports_dag_imports(tmp_path: Path) -> None:
    """The DAG file parses in Airflow's DagBag (own AIRFLOW_HOME, in a subprocess: Airflow reads its
    configuration once per process, and tests/dags owns this process's)."""
    from pipelines.orchestration import airflow_env

    probe = (
        "import json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder='dags/monthly_reports.py')\n"
        "dag = bag.dags.get('monthly_reports')\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},\n"
        "  'tasks': [t.task_id for t in dag.topological_sort()] if dag else None,\n"
        "  'schedule': str(dag.timetable.expression) if dag else None,\n"
        "  'tz': str(dag.timetable.timezone) if dag else None,\n"
        "  'pools': sorted({t.pool for t in dag.tasks}) if dag else None}))\n"
    )
    env = {**os.environ, **airflow_env(tmp_path / "airflow"), "FLEXEMP_WORK_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["tasks"] == ["choose_period", "render_reports"]
    assert result["schedule"] == "0 6 5 * *"
    assert "Shanghai" in result["tz"]
    assert "flexemp_warehouse" not in result["pools"], "reports only read: not in the writers' pool"
