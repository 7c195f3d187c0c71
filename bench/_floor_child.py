"""The floor: what bare DuckDB needs to read the landing tree into typed tables and answer one question.

Run by `bench/run_benchmark.py` in its own process (so its memory is measured apart
from the pipeline's). It imports nothing from `pipelines/` on purpose: the floor is a
yardstick, and a yardstick built from the code it measures would move with it. The
few facts it needs about the data (column names, which columns are numbers,
timestamps, booleans) are restated below as plain constants.

What it does, and nothing more (no validation, no ledger, no quarantine):

1. list each source's files, skip those the manifest lists as file faults (rejected or
   duplicate files: the floor measures reading, not error handling) and empty files;
2. CSV: read each file's bytes once to find its header line and its encoding (UTF-8
   first; the few GB18030 files are transcoded to UTF-8 in a temp folder because
   DuckDB 2.0 has no GB18030 reader) and group files by header line, so each group is
   one `read_csv([...], columns=..., header=true)` with known column order and types;
   JSON Lines: one `read_json` per source; Parquet: one `read_parquet(union_by_name)`;
3. `INSERT INTO <source> BY NAME` per group (union by name at the table level),
   turning platform spellings of timestamps, booleans and gender into typed values;
4. one aggregate query: active workers (person-months with gross income > 0) and
   median net income by period x province x age cohort x gender (CUBE), with each
   person's attributes from their latest registration.

Writes a JSON of the timings to `--json`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

# Column -> how the floor types it. "ts": timestamp text in several spellings; "bool": true/1/yes/是 ...;
# "gender": F/M/U in several spellings; anything else is a DuckDB type read directly.
COLUMNS: dict[str, dict[str, str]] = {
    "job_postings": {
        "posting_id": "VARCHAR",
        "platform_id": "VARCHAR",
        "posted_at": "ts",
        "closed_at": "ts",
        "updated_at": "ts",
        "employer_id": "VARCHAR",
        "title": "VARCHAR",
        "occupation_code": "VARCHAR",
        "region_code": "VARCHAR",
        "employment_type": "VARCHAR",
        "is_remote": "bool",
        "wage_min": "DECIMAL(18,2)",
        "wage_max": "DECIMAL(18,2)",
        "wage_period": "VARCHAR",
        "headcount": "INTEGER",
        "age_min": "INTEGER",
        "age_max": "INTEGER",
        "gender_requirement": "VARCHAR",
        "education_min": "VARCHAR",
    },
    "gig_registrations": {
        "registration_id": "VARCHAR",
        "platform_id": "VARCHAR",
        "person_key": "VARCHAR",
        "registered_at": "ts",
        "updated_at": "ts",
        "birth_year": "INTEGER",
        "gender": "gender",
        "residence_region_code": "VARCHAR",
        "hukou_region_code": "VARCHAR",
        "occupation_code": "VARCHAR",
        "education_level": "VARCHAR",
        "has_other_job": "bool",
        "status": "VARCHAR",
        "deregistered_at": "ts",
    },
    "income_records": {
        "record_id": "VARCHAR",
        "platform_id": "VARCHAR",
        "person_key": "VARCHAR",
        "period": "VARCHAR",
        "gross_income": "DECIMAL(18,2)",
        "platform_fee": "DECIMAL(18,2)",
        "hours_worked": "DECIMAL(9,2)",
        "tasks_completed": "INTEGER",
        "social_insurance": "bool",
        "currency": "VARCHAR",
        "updated_at": "ts",
    },
}
FORMATS = {"csv": (".csv", ".csv.gz"), "jsonl": (".jsonl", ".jsonl.gz"), "parquet": (".parquet",)}
FINAL_TYPE = {"ts": "TIMESTAMPTZ", "bool": "BOOLEAN", "gender": "VARCHAR"}
TRUE_SPELLINGS = "'true', '1', 'yes', '是'"
FALSE_SPELLINGS = "'false', '0', 'no', '否'"
GENDER_SQL = (
    "CASE lower(CAST({c} AS VARCHAR)) WHEN 'f' THEN 'F' WHEN 'female' THEN 'F' WHEN '女' THEN 'F' "
    "WHEN 'm' THEN 'M' WHEN 'male' THEN 'M' WHEN '男' THEN 'M' WHEN 'u' THEN 'U' WHEN 'unknown' THEN 'U' END"
)

AGGREGATE_SQL = """
CREATE OR REPLACE TABLE floor_indicators AS
WITH income AS (
    SELECT person_key, period, gross_income, platform_fee
    FROM income_records
    QUALIFY row_number() OVER (PARTITION BY platform_id, record_id ORDER BY updated_at DESC) = 1
),
person_month AS (
    SELECT person_key, period, sum(gross_income) AS gross, sum(gross_income - coalesce(platform_fee, 0)) AS net
    FROM income GROUP BY person_key, period
),
person AS (
    SELECT person_key, birth_year, gender, left(residence_region_code, 2) AS province
    FROM gig_registrations
    QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY updated_at DESC, registered_at DESC) = 1
),
joined AS (  -- TRY_CAST: the floor does not validate, and a few delivered periods are not YYYY-MM
    SELECT period, province, gender, gross, net,
           CASE WHEN age IS NULL THEN NULL WHEN age < 25 THEN '16-24' WHEN age < 35 THEN '25-34'
                WHEN age < 45 THEN '35-44' WHEN age < 55 THEN '45-54' ELSE '55+' END AS age_cohort
    FROM (SELECT m.*, p.province, p.gender, TRY_CAST(left(m.period, 4) AS INTEGER) - p.birth_year AS age
          FROM person_month AS m JOIN person AS p USING (person_key))
    WHERE gross > 0
)
SELECT period, province, age_cohort, gender,
       count(*) AS active_workers, median(net) AS median_net_income,
       grouping(province, age_cohort, gender) AS grouping_id  -- 7: the national total (not an unknown cell)
FROM joined
GROUP BY period, CUBE (province, age_cohort, gender)
"""


def final_expr(column: str, kind: str) -> str:
    """The SQL turning a read column into its typed value (platform spellings normalised)."""
    c = f'"{column}"'
    if kind == "ts":  # naive text means Shanghai time (session zone); ISO with T, offset or Z casts directly
        return f"TRY_CAST({c} AS TIMESTAMPTZ) AS {c}"
    if kind == "bool":
        text = f"lower(CAST({c} AS VARCHAR))"
        return (
            f"CASE WHEN {text} IN ({TRUE_SPELLINGS}) THEN true WHEN {text} IN ({FALSE_SPELLINGS}) THEN false END AS {c}"
        )
    if kind == "gender":
        return f"{GENDER_SQL.format(c=c)} AS {c}"
    return f"TRY_CAST({c} AS {kind}) AS {c}"


def read_type(kind: str) -> str:
    """How a column is read from text: typed numbers directly, spelled values as text."""
    return "VARCHAR" if kind in FINAL_TYPE else kind


def sql_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def csv_groups(files: list[Path], tmp: Path) -> tuple[dict[str, list[str]], int]:
    """Group CSV files by header line; transcode GB18030 files to UTF-8 under `tmp`. Returns groups, transcoded."""
    groups: dict[str, list[str]] = defaultdict(list)
    transcoded = 0
    for path in files:
        data = path.read_bytes()
        gz = path.name.endswith(".gz")
        if gz:
            data = gzip.decompress(data)
        target = str(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
            out = tmp / f"{transcoded}_{path.name.removesuffix('.gz')}"
            out.write_text(text, encoding="utf-8")
            target = str(out)
            transcoded += 1
        header = text[: text.find("\n")] if "\n" in text else text
        groups[header.lstrip("\ufeff").rstrip("\r")].append(target)
    return groups, transcoded


def load_source(con: duckdb.DuckDBPyConnection, source: str, files: list[Path], tmp: Path) -> dict:
    """Read one source's files into the typed table `<source>`; returns timings and counts."""
    columns = COLUMNS[source]
    con.execute(
        f"CREATE OR REPLACE TABLE {source} ("
        + ", ".join(f'"{c}" {FINAL_TYPE.get(k, k)}' for c, k in columns.items())
        + ")"
    )
    by_format: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        name = f.name.lower()
        fmt = next((k for k, suffixes in FORMATS.items() if name.endswith(suffixes)), None)
        if fmt:
            by_format[fmt].append(f)

    started = time.perf_counter()
    groups, transcoded = csv_groups(by_format["csv"], tmp)
    scan_seconds = time.perf_counter() - started
    statements = []
    for header, members in groups.items():
        names = header.split(",")
        present = [c for c in names if c in columns]
        spec = "{" + ", ".join(f"'{n}': '{read_type(columns.get(n, 'VARCHAR'))}'" for n in names) + "}"
        statements.append(
            f"INSERT INTO {source} BY NAME SELECT {', '.join(final_expr(c, columns[c]) for c in present)} "
            f"FROM read_csv({sql_list(members)}, columns={spec}, header=true, delim=',', quote='\"', "
            f"escape='\"', ignore_errors=true, compression='auto')"
        )
    if by_format["jsonl"]:
        spec = "{" + ", ".join(f"'{c}': '{read_type(k)}'" for c, k in columns.items()) + "}"
        statements.append(
            f"INSERT INTO {source} BY NAME SELECT {', '.join(final_expr(c, k) for c, k in columns.items())} "
            f"FROM read_json({sql_list([str(f) for f in by_format['jsonl']])}, format='newline_delimited', "
            f"columns={spec}, ignore_errors=true, compression='auto')"
        )
    if by_format["parquet"]:
        files_sql = sql_list([str(f) for f in by_format["parquet"]])
        present = {r[0] for r in con.execute(f"SELECT DISTINCT name FROM parquet_schema({files_sql})").fetchall()}
        statements.append(
            f"INSERT INTO {source} BY NAME SELECT "
            f"{', '.join(final_expr(c, k) for c, k in columns.items() if c in present)} "
            f"FROM read_parquet({files_sql}, union_by_name=true)"
        )
    for statement in statements:
        con.execute(statement)
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    return {
        "files": len(files),
        "files_by_format": {k: len(v) for k, v in by_format.items()},
        "csv_header_groups": len(groups),
        "gb18030_transcoded": transcoded,
        "rows": int(rows),
        "csv_scan_seconds": scan_seconds,
        "seconds": time.perf_counter() - started,
    }


def skipped_files(landing: Path) -> set[Path]:
    """Files the manifest lists as faults (rejected or duplicate): the floor does not handle errors."""
    manifest = landing / "_manifest.json"
    if not manifest.exists():
        return set()
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {landing / path for path, entry in data.get("files", {}).items() if entry.get("status") != "loaded"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file for the floor's tables (replaced)")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 4GB (default: DuckDB's)")
    args = parser.parse_args()

    wall = time.perf_counter()
    for suffix in ("", ".wal"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    con = duckdb.connect(str(args.db))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(f"SET temp_directory = '{args.db.parent / 'floor_spill'}'")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    skip = skipped_files(args.landing)
    result: dict = {"sources": {}, "memory_limit": args.memory_limit or "duckdb default"}
    tmp = Path(tempfile.mkdtemp(prefix="floor_gb18030_", dir=args.db.parent))
    try:
        for source in COLUMNS:
            files = sorted(
                p
                for p in (args.landing / source).glob("*/*/*")
                if p.is_file() and p not in skip and p.stat().st_size > 0
            )
            result["sources"][source] = load_source(con, source, files, tmp)
        started = time.perf_counter()
        con.execute(AGGREGATE_SQL)
        result["query_seconds"] = time.perf_counter() - started
        result["result_rows"] = con.execute("SELECT count(*) FROM floor_indicators").fetchone()[0]
        result["national_active_workers"] = dict(
            con.execute(
                "SELECT period, active_workers FROM floor_indicators WHERE grouping_id = 7 ORDER BY period"
            ).fetchall()
        )
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result["read_seconds"] = sum(s["seconds"] for s in result["sources"].values())
    result["read_rows"] = sum(s["rows"] for s in result["sources"].values())
    result["seconds"] = result["read_seconds"] + result["query_seconds"]
    result["process_seconds"] = time.perf_counter() - wall
    result["db_bytes"] = sum(os.path.getsize(p) for p in (f"{args.db}", f"{args.db}.wal") if os.path.exists(p))
    args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
