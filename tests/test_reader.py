"""Formats, encodings and broken files, through the real loader."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.ingest import ingest_source
from pipelines.warehouse import connect
from tests.conftest import deliver, good_row


def load(landing: Path, warehouse: Path, source: str = "job_postings") -> duckdb.DuckDBPyConnection:
    con = connect(warehouse)
    ingest_source(con, str(landing), source, "test-run")
    return con


def ledger(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("""SELECT status, rows_delivered, rows_loaded, rows_quarantined, error
                          FROM audit.load_ledger ORDER BY file_path""").fetchall()


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"])
def test_every_format_loads_the_same_rows(landing, warehouse, fmt):
    rows = [good_row("job_postings", posting_id=f"p{i}", title=f"主播助理{i}") for i in range(5)]
    deliver(landing, "job_postings", rows, fmt=fmt)
    con = load(landing, warehouse)
    assert ledger(con) == [("loaded", 5, 5, 0, None)]
    assert con.execute("SELECT list(title ORDER BY source_row) FROM raw.job_postings").fetchone()[0] == [
        f"主播助理{i}" for i in range(5)
    ]


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig"])
def test_chinese_csv_encodings_are_detected(landing, warehouse, encoding):
    deliver(landing, "job_postings", [good_row("job_postings", title="社区团购团长（兴盛优选）")], encoding=encoding)
    con = load(landing, warehouse)
    assert con.execute("SELECT title FROM raw.job_postings").fetchall() == [("社区团购团长（兴盛优选）",)]


def test_column_order_is_free_and_extra_columns_are_drift(landing, warehouse):
    cols = ["title", "shift_pattern", *[c for c in good_row("job_postings") if c != "title"]]
    rows = [good_row("job_postings") | {"shift_pattern": "night"}]
    deliver(landing, "job_postings", rows, columns=cols)
    con = load(landing, warehouse)
    assert con.execute("SELECT title, _extra->>'shift_pattern' FROM raw.job_postings").fetchall() == [
        ("外卖骑手", "night")
    ]
    assert con.execute("SELECT column_name FROM audit.schema_drift").fetchall() == [("shift_pattern",)]


def test_missing_required_column_rejects_the_file_and_the_rest_loads(landing, warehouse):
    cols = [c for c in good_row("job_postings") if c != "employer_id"]
    deliver(landing, "job_postings", [good_row("job_postings")], columns=cols, name="broken")
    deliver(landing, "job_postings", [good_row("job_postings")], name="fine")
    con = load(landing, warehouse)
    (broken, fine) = ledger(con)
    assert broken[:4] == ("rejected", 0, 0, 0) and broken[4].startswith("missing_required_column: ")
    assert "employer_id" in broken[4]
    assert fine == ("loaded", 1, 1, 0, None)


def test_truncated_gzip_and_undecodable_bytes_are_unreadable(landing, warehouse):
    path = deliver(landing, "job_postings", [good_row("job_postings")] * 50, fmt="csv.gz", name="cut")
    path.write_bytes(path.read_bytes()[:-20])
    bad = deliver(landing, "job_postings", [good_row("job_postings")], name="garbage")
    bad.write_bytes(b"posting_id,title\n\xff\xfe\xff\n")
    not_parquet = deliver(landing, "job_postings", [good_row("job_postings")], fmt="parquet", name="fake")
    not_parquet.write_bytes(b"this is not parquet")
    con = load(landing, warehouse)
    errors = [e for *_, e in ledger(con)]
    assert [e.split(":")[0] for e in errors] == ["unreadable_file"] * 3
    assert con.execute("SELECT count(*) FROM raw.job_postings").fetchone() == (0,)


def test_malformed_lines_are_single_quarantined_rows(landing, warehouse):
    path = deliver(landing, "job_postings", [good_row("job_postings", posting_id=f"p{i}") for i in range(3)])
    text = path.read_text()
    lines = text.splitlines()
    lines.insert(2, "p9,meituan,too,few")  # a record with too few fields between two good ones
    path.write_text("\n".join(lines) + "\n" + lines[-1][:25])  # and a last line cut short
    jsonl = deliver(landing, "job_postings", [good_row("job_postings", posting_id="j1")], fmt="jsonl", name="j")
    jsonl.write_text(jsonl.read_text() + '{"posting_id": "j2", "title": \n')
    con = load(landing, warehouse)
    assert [r[:4] for r in ledger(con)] == [("loaded", 2, 1, 1), ("loaded", 5, 3, 2)]
    got = con.execute("""SELECT file_path LIKE '%.jsonl', source_row, reason_code FROM quarantine.job_postings
                         ORDER BY 1, 2""").fetchall()
    assert got == [(False, 2, "malformed_row"), (False, 5, "malformed_row"), (True, 2, "malformed_row")]
    assert con.execute(
        "SELECT list(posting_id ORDER BY source_row) FROM raw.job_postings WHERE file_path LIKE '%.csv'"
    ).fetchone()[0] == ["p0", "p1", "p2"]


def test_empty_and_header_only_files_load_zero_rows(landing, warehouse):
    deliver(landing, "job_postings", [], name="header_only")
    empty = deliver(landing, "job_postings", [good_row("job_postings")], name="zero_bytes")
    empty.write_bytes(b"")
    con = load(landing, warehouse)
    assert [r[:4] for r in ledger(con)] == [("loaded", 0, 0, 0), ("loaded", 0, 0, 0)]


def test_parquet_native_types_are_read_as_delivered(landing, warehouse):
    from datetime import UTC, datetime
    from decimal import Decimal

    folder = landing / "income_records" / "meituan" / "2025-02-03"
    folder.mkdir(parents=True)
    frame = pl.DataFrame(
        {
            "record_id": ["n1"],
            "platform_id": ["meituan"],
            "person_key": ["c" * 64],
            "period": ["2025-01"],
            "gross_income": [Decimal("1234.56")],
            "hours_worked": [12.5],
            "tasks_completed": [7],
            "social_insurance": [True],
            "updated_at": [datetime(2025, 2, 1, 2, 0, tzinfo=UTC)],
        }
    )
    buf = io.BytesIO()
    frame.write_parquet(buf)
    (folder / "native.parquet").write_bytes(buf.getvalue())
    con = load(landing, warehouse, "income_records")
    got = con.execute("""SELECT gross_income, hours_worked, tasks_completed, social_insurance,
                                strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') FROM raw.income_records""")
    assert got.fetchall() == [(Decimal("1234.56"), Decimal("12.50"), 7, True, "2025-02-01 02:00")]


def test_gzip_helper_roundtrip_is_real_gzip(landing):
    path = deliver(landing, "job_postings", [good_row("job_postings")], fmt="jsonl.gz")
    assert gzip.decompress(path.read_bytes()).startswith(b"{")
