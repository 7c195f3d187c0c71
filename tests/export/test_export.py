"""Exports of pub tables: every format read back with its real reader, filters, refusals, codebook.

The pub schema is built here, small, with exactly the interface's columns
(docs/architecture.md, "Publication interface"): the mart columns from the dbt
yml + conf_status, vintage, pipeline_version, status, release_id.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from pandas.io.stata import StataReader
from typer.testing import CliRunner

from pipelines.export import ExportError, TableRefused, WarehouseUnavailable, export_table
from pipelines.export.cli import export
from pipelines.export.codebook import MARTS_DOCS_DIR, PUBLICATION_DOCS, build_codebook
from pipelines.export.writers import stata_label

RELEASE = "2025-07-03_r2"  # an underscore, to see it escaped in LaTeX
OLD_RELEASE = "2025-06-02_r1"
VINTAGE = dt.date(2025, 7, 3)
PIPELINE = "0.1.0"
PUBLICATION_COLUMNS = "conf_status VARCHAR, vintage DATE, pipeline_version VARCHAR, status VARCHAR, release_id VARCHAR"
KEY_COLUMNS = {"period", "region_level", "region_code", "age_cohort", "gender", "occupation_code"}
COUNT_COLUMNS = {
    "active_workers",
    "active_jobs",
    "new_workers",
    "open_postings",
    "new_postings",
    "vacancies",
    "employers",
}


def yml_model(name: str) -> dict:
    content = yaml.safe_load((MARTS_DOCS_DIR / f"{name}.yml").read_text(encoding="utf-8"))
    return next(m for m in content["models"] if m["name"] == name)


def yml_columns(name: str) -> list[str]:
    return [c["name"] for c in yml_model(name)["columns"]]


def mart_ddl(name: str, table: str) -> str:
    """pub.<table>: the mart's documented columns, in order, + the publication columns."""

    def sql_type(column: str) -> str:
        if column in KEY_COLUMNS:
            return "VARCHAR"
        if column in COUNT_COLUMNS:
            return "BIGINT"
        if column == "median_offered_monthly_wage":
            return "DECIMAL(18,2)"
        return "DOUBLE"

    columns = ", ".join(f"{c} {sql_type(c)}" for c in yml_columns(name))
    return f"CREATE TABLE pub.{table} ({columns}, {PUBLICATION_COLUMNS})"


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    columns = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE pub.{table})").fetchall()]
    for row in rows:
        con.execute(
            f"INSERT INTO pub.{table} VALUES ({', '.join('?' for _ in columns)})",
            [row.get(c) for c in columns],
        )


def worker_row(period: str, level: str, code: str, age: str, gender: str, conf: str = "F", **measures) -> dict:
    row = {
        "period": period,
        "region_level": level,
        "region_code": code,
        "age_cohort": age,
        "gender": gender,
        "conf_status": conf,
        "vintage": VINTAGE,
        "pipeline_version": PIPELINE,
        "status": "P" if period >= "2025-05" else "F",
        "release_id": RELEASE,
    }
    if conf == "F":
        row |= {
            "active_workers": 120,
            "active_jobs": 150,
            "new_workers": 30,
            "multi_platform_share": 0.25,
            "median_net_income": 5200.5,
            "p10_net_income": 1800.0,
            "p90_net_income": 9100.25,
        }
    return row | measures


WORKER_ROWS = [
    worker_row("2025-04", "country", "CN", "ALL", "ALL", gender_pay_gap=0.12),
    worker_row("2025-06", "country", "CN", "ALL", "ALL", gender_pay_gap=0.1),
    worker_row("2025-06", "country", "CN", "ALL", "F"),
    worker_row("2025-06", "province", "420000", "ALL", "ALL", active_workers=45),
    worker_row("2025-06", "prefecture", "420100", "25-34", "F", conf="C"),
    worker_row("2025-06", "prefecture", "420100", "25-34", "M", conf="D"),
]


def build_pub(path: Path) -> Path:
    """A tiny published warehouse: two indicator tables, dimensions, releases, a history."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA pub")
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE marts.flex_indicators_monthly AS SELECT 1 AS secret")
    con.execute("CREATE TABLE raw.job_postings AS SELECT 'p1' AS posting_id")
    con.execute(mart_ddl("flex_indicators_monthly", "flex_indicators_monthly"))
    con.execute(mart_ddl("flex_indicators_monthly", "flex_indicators_monthly_history"))
    con.execute(mart_ddl("labor_demand_monthly", "labor_demand_monthly"))
    insert(con, "flex_indicators_monthly", WORKER_ROWS)
    insert(con, "flex_indicators_monthly_history", WORKER_ROWS)
    insert(
        con,
        "flex_indicators_monthly_history",
        [
            worker_row("2025-04", "country", "CN", "ALL", "ALL", active_workers=118)
            | {"release_id": OLD_RELEASE, "vintage": dt.date(2025, 6, 2)}
        ],
    )
    demand = {"vintage": VINTAGE, "pipeline_version": PIPELINE, "status": "P", "release_id": RELEASE}
    insert(
        con,
        "labor_demand_monthly",
        [
            demand
            | {"period": "2025-06", "region_level": "country", "region_code": "CN", "occupation_code": "ALL"}
            | {"open_postings": 40, "new_postings": 12, "vacancies": 75, "employers": 9, "conf_status": "F"}
            | {"median_offered_monthly_wage": 6500.25, "tightness": 0.8},
            demand
            | {"period": "2025-06", "region_level": "prefecture", "region_code": "420100"}
            | {"occupation_code": "online_tutor", "conf_status": "C"},
        ],
    )
    con.execute(
        """CREATE TABLE pub.dim_region (region_level VARCHAR, region_code VARCHAR, region_name VARCHAR,
        region_name_en VARCHAR, parent_region_code VARCHAR, province_code VARCHAR, macro_region VARCHAR,
        is_statistical_grouping BOOLEAN, is_indicator_level BOOLEAN, level_order INTEGER)"""
    )
    con.execute(
        """INSERT INTO pub.dim_region VALUES
        ('country', 'CN', '中国', 'China', NULL, NULL, NULL, false, true, 1),
        ('macro_region', 'central', '中部地区', 'Central', 'CN', NULL, 'central', false, true, 2),
        ('province', '420000', '湖北省', NULL, 'central', '420000', 'central', false, true, 3),
        ('prefecture', '420100', '武汉市', NULL, '420000', '420000', 'central', false, true, 4)"""
    )
    con.execute(
        """CREATE TABLE pub.dim_platform (platform_id VARCHAR, platform_name VARCHAR, platform_type VARCHAR,
        platform_subtype VARCHAR, ilo_typology VARCHAR)"""
    )
    con.execute(
        """INSERT INTO pub.dim_platform VALUES
        ('meituan_waimai', '美团 & 外卖 100%', 'delivery', NULL, 'location_based'),
        ('didi', '滴滴出行', 'ride_hailing', NULL, 'location_based')"""
    )
    con.execute(
        """CREATE TABLE pub.releases (release_id VARCHAR, vintage DATE, pipeline_version VARCHAR,
        released_at TIMESTAMPTZ, audit_passed BOOLEAN, audit_detail VARCHAR, flex_rows BIGINT, demand_rows BIGINT)"""
    )
    con.execute(
        "INSERT INTO pub.releases VALUES (?, ?, ?, TIMESTAMPTZ '2025-06-02 10:00:00+08', true, 'ok', 1, 0), "
        "(?, ?, ?, TIMESTAMPTZ '2025-07-03 10:00:00+08', true, 'ok', 6, 2)",
        [OLD_RELEASE, dt.date(2025, 6, 2), PIPELINE, RELEASE, VINTAGE, PIPELINE],
    )
    con.close()
    return path


@pytest.fixture(scope="module")
def built_pub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pub(tmp_path_factory.mktemp("pub") / "warehouse.duckdb")


@pytest.fixture
def pub_warehouse(built_pub: Path, tmp_path: Path) -> Path:
    """A fresh copy per test, so no test can see another's effects."""
    return Path(shutil.copy(built_pub, tmp_path / "warehouse.duckdb"))


MEASURES = ["active_workers", "median_net_income", "multi_platform_share"]


# --- codebook -------------------------------------------------------------------------------


def test_codebook_reads_the_dbt_yml(pub_warehouse: Path) -> None:
    con = duckdb.connect(str(pub_warehouse), read_only=True)
    try:
        book = build_codebook(con, "flex_indicators_monthly")
    finally:
        con.close()
    model = yml_model("flex_indicators_monthly")
    documented = {c["name"]: c["description"].strip() for c in model["columns"]}
    assert book.description == model["description"].strip()
    for name in ("active_workers", "active_jobs", "income_volatility", "gender_pay_gap"):
        assert book.column(name).description == documented[name]
        assert book.column(name).source == "dbt/models/marts/flex_indicators_monthly.yml"
    publication = yaml.safe_load(PUBLICATION_DOCS.read_text(encoding="utf-8"))
    conf = next(c for c in publication["columns"] if c["name"] == "conf_status")
    assert book.column("conf_status").description == conf["description"].strip()
    assert all(c.description for c in book.columns), "every exported column is documented"
    assert book.column("vintage").type == "DATE"
    assert [c.code for c in book.legend["conf_status"]] == ["F", "C", "D"]
    assert book.release is not None
    assert (book.release.release_id, book.release.vintage, book.release.audit_passed) == (RELEASE, "2025-07-03", True)
    assert book.row_count == len(WORKER_ROWS)


# --- formats ----------------------------------------------------------------------------------


def test_csv_has_bom_data_and_sidecar(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "flex_indicators_monthly", "csv", tmp_path / "flex.csv", {})
    raw = result.out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(result.out, encoding="utf-8-sig", dtype={"region_code": str})
    assert len(frame) == result.rows == len(WORKER_ROWS)
    assert list(frame.columns)[-5:] == ["conf_status", "vintage", "pipeline_version", "status", "release_id"]
    confidential = frame[frame["conf_status"].isin(["C", "D"])]
    assert len(confidential) == 2
    assert confidential[MEASURES].isna().all().all()
    assert set(confidential["region_code"]) == {"420100"}  # key kept
    assert frame["period"].tolist() == sorted(frame["period"])  # sorted by the grain
    sidecar = result.sidecar
    assert sidecar == tmp_path / "flex.codebook.md"
    text = sidecar.read_text(encoding="utf-8")
    assert RELEASE in text and "2025-07-03" in text and PIPELINE in text
    assert "primary confidential" in text and "secondary confidential" in text
    assert yml_model("flex_indicators_monthly")["columns"][5]["description"].strip() in text


def test_csv_keeps_chinese_names(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "dim_region", "csv", tmp_path / "regions.csv", {})
    frame = pd.read_csv(result.out, encoding="utf-8-sig", dtype=str)
    assert frame.set_index("region_code")["region_name"].to_dict() == {
        "CN": "中国",
        "central": "中部地区",
        "420000": "湖北省",
        "420100": "武汉市",
    }
    text = result.sidecar.read_text(encoding="utf-8")
    assert "Reference dimension" in text and RELEASE in text  # a dimension is as of the latest release


def test_parquet_carries_codebook_in_metadata(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "labor_demand_monthly", "parquet", tmp_path / "demand.parquet", {})
    table = pq.read_table(result.out)
    assert table.num_rows == 2
    metadata = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert metadata["flexemp.vintage"] == "2025-07-03"
    assert metadata["flexemp.release_id"] == RELEASE
    assert "D: secondary confidential" in metadata["flexemp.legend"]
    book = json.loads(metadata["flexemp.codebook"])
    documented = {c["name"]: c["description"].strip() for c in yml_model("labor_demand_monthly")["columns"]}
    described = {c["name"]: c["description"] for c in book["columns"]}
    assert described["tightness"] == documented["tightness"]
    assert described["employers"] == documented["employers"]
    rows = table.to_pylist()
    confidential = next(r for r in rows if r["conf_status"] == "C")
    assert confidential["open_postings"] is None and confidential["occupation_code"] == "online_tutor"
    assert float(next(r for r in rows if r["conf_status"] == "F")["median_offered_monthly_wage"]) == 6500.25
    assert result.sidecar.is_file()


def test_xlsx_has_data_and_metadata_sheets(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "flex_indicators_monthly", "xlsx", tmp_path / "flex.xlsx", {})
    book = openpyxl.load_workbook(result.out)
    assert book.sheetnames == ["data", "metadata"]
    data = book["data"]
    assert data.freeze_panes == "A2"
    header = [c.value for c in data[1]]
    assert header[:5] == ["period", "region_level", "region_code", "age_cohort", "gender"]
    assert data.max_row == len(WORKER_ROWS) + 1
    assert data.column_dimensions["A"].width and data.column_dimensions["A"].width >= len("period")
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in data.iter_rows(min_row=2)]
    confidential = [r for r in rows if r["conf_status"] in ("C", "D")]
    assert len(confidential) == 2 and all(r["active_workers"] is None for r in confidential)
    assert next(r for r in rows if r["conf_status"] == "F")["median_net_income"] == 5200.5
    meta = book["metadata"]
    cells = {str(c.value) for row in meta.iter_rows() for c in row if c.value is not None}
    assert {RELEASE, "2025-07-03", PIPELINE}.issubset(cells)
    assert any("primary confidential" in c for c in cells)
    documented = {c["name"]: c["description"].strip() for c in yml_model("flex_indicators_monthly")["columns"]}
    table = [(row[0].value, row[1].value) for row in meta.iter_rows(max_col=2)]
    start = table.index(("column", "definition"))
    definitions = dict(table[start + 1 :])
    for name in header:
        assert definitions.get(name), f"no definition for {name} in the metadata sheet"
    assert definitions["income_volatility"] == documented["income_volatility"]


def test_dta_has_labels(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "flex_indicators_monthly", "dta", tmp_path / "flex.dta", {})
    assert result.out.read_bytes().startswith(b"<stata_dta><header><release>118</release>")
    with StataReader(result.out) as reader:
        labels = reader.variable_labels()
        data_label = reader.data_label
        value_labels = reader.value_labels()
    assert all(0 < len(label) <= 80 for label in labels.values())
    assert labels["active_workers"] == "Distinct active persons"
    assert "flex_indicators_monthly" in data_label and "2025-07-03" in data_label
    assert set(value_labels["conf_status"].values()) == {
        "F free",
        "C primary confidential",
        "D secondary confidential",
    }
    frame = pd.read_stata(result.out)
    assert len(frame) == len(WORKER_ROWS)
    confidential = frame[frame["conf_status"].astype(str).str[0].isin(["C", "D"])]
    assert len(confidential) == 2 and confidential["active_workers"].isna().all()
    assert frame["vintage"].dt.date.unique().tolist() == [VINTAGE]
    assert result.sidecar.is_file()  # the long definitions


def test_stata_label_cuts_long_definitions() -> None:
    text = "Median over active persons with at least 3 active months in the 6 months ending with this one, of the CV"
    label = stata_label(text)
    assert len(label) <= 80 and label.endswith("...")
    assert stata_label("Distinct active persons.") == "Distinct active persons"


def test_tex_is_booktabs_with_escapes_letters_and_notes(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "flex_indicators_monthly", "tex", tmp_path / "flex.tex", {})
    tex = result.out.read_text(encoding="utf-8")
    for command in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}"):
        assert tex.count(command) == 1
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert r"active\_workers" in tex  # header escaped
    rows = [line for line in tex.splitlines() if line.startswith("2025-")]
    assert len(rows) == len(WORKER_ROWS)
    measures = range(5, len(yml_columns("flex_indicators_monthly")))  # after the five key columns
    for gender, letter in (("F", "C"), ("M", "D")):
        line = next(r for r in rows if f"25-34 & {gender} &" in r)
        cells = [c.strip() for c in line.removesuffix(r"\\").split("&")]
        assert {cells[i] for i in measures} == {letter}  # the confidential figure shows its letter
    free = next(r for r in rows if r.startswith("2025-06 & country & CN & ALL & ALL"))
    assert "5{,}200.50" in free and "--" in free  # numbers formatted; a null on a free row is "--"
    notes = next(line for line in tex.splitlines() if "Notes:" in line)
    assert RELEASE.replace("_", r"\_") in notes and "2025-07-03" in notes
    assert "primary confidential" in notes and "pub.flex\\_indicators\\_monthly" in notes


def test_tex_escapes_special_characters(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(pub_warehouse, "dim_platform", "tex", tmp_path / "platforms.tex", {})
    tex = result.out.read_text(encoding="utf-8")
    assert r"meituan\_waimai & 美团 \& 外卖 100\% &" in tex
    assert "100%" not in tex.replace(r"100\%", "")


# --- filters ----------------------------------------------------------------------------------


def test_filters_select_rows(pub_warehouse: Path, tmp_path: Path) -> None:
    def rows(**filters: list[str]) -> pd.DataFrame:
        result = export_table(pub_warehouse, "flex_indicators_monthly", "csv", tmp_path / "f.csv", filters)
        return pd.read_csv(result.out, encoding="utf-8-sig", dtype=str)

    assert len(rows(period=["2025-06"])) == 5
    assert len(rows(period=["2025-04", "2025-06"])) == 6
    assert rows(period=["2025-06"], gender=["F"])["region_code"].tolist() == ["CN", "420100"]
    assert rows(region=["420100"], age_cohort=["25-34"])["conf_status"].tolist() == ["C", "D"]
    assert rows(region_level=["province"])["region_code"].tolist() == ["420000"]
    assert rows(status=["F"])["period"].tolist() == ["2025-04"]
    assert len(rows(region=["x' OR '1'='1"])) == 0  # a value is a value, never SQL


def test_filters_the_table_cannot_honour_are_refused(pub_warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no column 'gender'"):
        export_table(pub_warehouse, "labor_demand_monthly", "csv", tmp_path / "d.csv", {"gender": ["F"]})
    with pytest.raises(ExportError, match="YYYY-MM"):
        export_table(pub_warehouse, "flex_indicators_monthly", "csv", tmp_path / "d.csv", {"period": ["2025-6"]})
    with pytest.raises(ExportError, match="unknown filter"):
        export_table(pub_warehouse, "flex_indicators_monthly", "csv", tmp_path / "d.csv", {"1=1; --": ["x"]})


def test_occupation_filter_and_columns(pub_warehouse: Path, tmp_path: Path) -> None:
    result = export_table(
        pub_warehouse,
        "labor_demand_monthly",
        "csv",
        tmp_path / "d.csv",
        {"occupation": ["ALL"]},
        columns=["period", "region_code", "vacancies", "conf_status"],
    )
    frame = pd.read_csv(result.out, encoding="utf-8-sig", dtype=str)
    assert frame.to_dict("records") == [
        {"period": "2025-06", "region_code": "CN", "vacancies": "75", "conf_status": "F"}
    ]
    assert [c.name for c in result.codebook.columns] == ["period", "region_code", "vacancies", "conf_status"]


def test_history_export_by_release(pub_warehouse: Path, tmp_path: Path) -> None:
    every = export_table(pub_warehouse, "flex_indicators_monthly_history", "parquet", tmp_path / "h.parquet", {})
    assert every.rows == len(WORKER_ROWS) + 1
    assert {r.release_id for r in every.codebook.releases} == {OLD_RELEASE, RELEASE}
    old = export_table(
        pub_warehouse, "flex_indicators_monthly_history", "csv", tmp_path / "old.csv", {"release": [OLD_RELEASE]}
    )
    frame = pd.read_csv(old.out, encoding="utf-8-sig", dtype=str)
    assert frame["active_workers"].tolist() == ["118"]
    assert old.codebook.release is not None and old.codebook.release.vintage == "2025-06-02"


# --- what may leave the warehouse -----------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "marts.flex_indicators_monthly",
        "raw.job_postings",
        "pub.flex_indicators_monthly",
        "job_postings",
        "releases_secret",
        "flex_indicators_monthly; DROP TABLE pub.releases",
        "(SELECT * FROM raw.job_postings)",
        "",
    ],
)
def test_unpublished_tables_are_refused(pub_warehouse: Path, tmp_path: Path, table: str) -> None:
    with pytest.raises(TableRefused):
        export_table(pub_warehouse, table, "csv", tmp_path / "x.csv", {})
    assert not (tmp_path / "x.csv").exists()


def test_missing_warehouse_and_table(tmp_path: Path) -> None:
    with pytest.raises(WarehouseUnavailable):
        export_table(tmp_path / "none.duckdb", "flex_indicators_monthly", "csv", tmp_path / "x.csv", {})
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(ExportError, match="does not exist"):
        export_table(empty, "dim_period", "csv", tmp_path / "x.csv", {})


def test_export_does_not_write_the_warehouse(pub_warehouse: Path, tmp_path: Path) -> None:
    before = pub_warehouse.read_bytes()
    export_table(pub_warehouse, "flex_indicators_monthly", "xlsx", tmp_path / "flex.xlsx", {})
    assert pub_warehouse.read_bytes() == before


# --- the command --------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The command as the lead registers it on the main app."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """flexemp (test app)."""

    app.command()(export)
    return app


def test_cli_exports_with_filters(pub_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(
        cli(),
        [
            *("export", "flex_indicators_monthly", "--format", "csv", "--out", str(out)),
            *("--warehouse", str(pub_warehouse), "--period", "2025-06", "--period", "2025-04", "--gender", "ALL"),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "flex_indicators_monthly.csv", encoding="utf-8-sig", dtype=str)
    assert len(frame) == 3
    assert (out / "flex_indicators_monthly.codebook.md").is_file()


def test_cli_refuses_with_exit_code_2(pub_warehouse: Path, tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "x.csv"), "--warehouse", str(pub_warehouse)]
    refused = CliRunner().invoke(cli(), ["export", "marts.flex_indicators_monthly", *args])
    assert refused.exit_code == 2
    assert "Refused" in refused.output and "pub" in refused.output
    bad_filter = CliRunner().invoke(cli(), ["export", "labor_demand_monthly", *args, "--gender", "F"])
    assert bad_filter.exit_code == 2
    assert not (tmp_path / "x.csv").exists()


def test_codebook_without_releases_table(pub_warehouse: Path, tmp_path: Path) -> None:
    """Before the first release is recorded, an export still works and says so."""
    con = duckdb.connect(str(pub_warehouse))
    con.execute("DROP TABLE pub.releases")
    con.close()
    dims = export_table(pub_warehouse, "dim_region", "csv", tmp_path / "r.csv", {})
    assert dims.codebook.releases == ()
    assert "no release recorded" in dims.sidecar.read_text(encoding="utf-8")
    flex = export_table(pub_warehouse, "flex_indicators_monthly", "parquet", tmp_path / "f.parquet", {})
    assert flex.codebook.release is not None and flex.codebook.release.vintage == "2025-07-03"  # from the rows
