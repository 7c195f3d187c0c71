"""Shared test helpers: small deliveries built in code, written in the contract's layout."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from pipelines.contract import column_names

PERSON = "0" * 63 + "1"
OTHER_PERSON = "ab" * 32

GOOD_ROWS: dict[str, dict[str, str]] = {
    "job_postings": {
        "posting_id": "p1",
        "platform_id": "meituan",
        "posted_at": "2025-01-10T09:00:00",
        "closed_at": "2025-01-20T09:00:00",
        "updated_at": "2025-01-20T09:00:00",
        "employer_id": "e1",
        "title": "外卖骑手",
        "occupation_code": "online_delivery_rider",
        "region_code": "420102",
        "employment_type": "gig",
        "is_remote": "false",
        "wage_min": "6000",
        "wage_max": "9000",
        "wage_period": "month",
        "headcount": "3",
        "age_min": "18",
        "age_max": "45",
        "gender_requirement": "none",
        "education_min": "junior_high",
    },
    "gig_registrations": {
        "registration_id": "g1",
        "platform_id": "meituan",
        "person_key": PERSON,
        "registered_at": "2025-01-05T08:00:00+08:00",
        "updated_at": "2025-01-05T08:00:00+08:00",
        "birth_year": "1990",
        "gender": "女",
        "residence_region_code": "420102",
        "hukou_region_code": "510104",
        "occupation_code": "online_delivery_rider",
        "education_level": "senior_high",
        "has_other_job": "否",
        "status": "active",
        "deregistered_at": "",
    },
    "income_records": {
        "record_id": "r1",
        "platform_id": "meituan",
        "person_key": PERSON,
        "period": "2025-01",
        "gross_income": "5200.50",
        "platform_fee": "300",
        "hours_worked": "160.5",
        "tasks_completed": "420",
        "social_insurance": "yes",
        "currency": "CNY",
        "updated_at": "2025-02-01T10:00:00Z",
    },
}


def good_row(source: str, **overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = dict(GOOD_ROWS[source])
    row.update(overrides)
    return row


def deliver(
    root: Path,
    source: str,
    rows: list[dict[str, str | None]],
    platform: str = "meituan",
    day: str = "2025-02-03",
    name: str = "part-0001",
    fmt: str = "csv",
    encoding: str = "utf-8",
    columns: list[str] | None = None,
) -> Path:
    """Write one delivered file; `columns` chooses (and orders) the header, default the contract's."""
    folder = root / source / platform / day
    folder.mkdir(parents=True, exist_ok=True)
    cols = columns or list(column_names(source))
    frame = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=dict.fromkeys(cols, pl.String))
    if fmt.startswith("csv"):
        data = (
            frame.write_csv().encode(encoding)
            if encoding != "utf-8-sig"
            else b"\xef\xbb\xbf" + frame.write_csv().encode()
        )
    elif fmt.startswith("jsonl"):
        data = "".join(
            json.dumps({k: v for k, v in r.items() if k in cols}, ensure_ascii=False) + "\n" for r in rows
        ).encode()
    elif fmt == "parquet":
        buf = io.BytesIO()
        frame.write_parquet(buf)
        data = buf.getvalue()
    else:
        raise ValueError(fmt)
    if fmt.endswith(".gz"):
        data = gzip.compress(data)
    path = folder / f"{name}.{fmt}"
    path.write_bytes(data)
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "warehouse.duckdb"


RUN_SPECIFIC = {"audit.runs", "audit.check_results"}
RUN_SPECIFIC_COLUMNS = {"loaded_at", "run_id"}


def snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table's rows (sorted), leaving out what legitimately differs per run."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1"
        ).fetchall()
        out = {}
        for (table,) in tables:
            if table in RUN_SPECIFIC:
                continue
            cols = [
                c
                for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()
                if c not in RUN_SPECIFIC_COLUMNS
            ]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()
