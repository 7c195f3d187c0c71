"""The loader over whole deliveries: ledger accounting, duplicates, re-runs, crashes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from pipelines.contract import SOURCES
from pipelines.ingest import ingest_source
from pipelines.warehouse import connect
from tests.conftest import deliver, good_row, snapshot


def load_all(landing: Path, warehouse: Path, batch_rows: int = 500_000) -> dict[str, dict]:
    con = connect(warehouse)
    try:
        return {s: ingest_source(con, str(landing), s, "test-run", batch_rows=batch_rows).as_dict() for s in SOURCES}
    finally:
        con.close()


def small_tree(landing: Path, days: int = 6) -> None:
    """A few days of deliveries on two platforms, with some bad rows and a correction."""
    for d in range(1, days + 1):
        day = f"2025-02-{d:02d}"
        for platform in ("meituan", "eleme"):
            rows = [
                good_row(
                    "income_records",
                    record_id=f"{platform}-{d}-{i}",
                    platform_id=platform,
                    gross_income=f"{100 * i + d}.50",
                )
                for i in range(10)
            ]
            rows.append(
                good_row("income_records", record_id=f"{platform}-{d}-bad", platform_id=platform, hours_worked="900")
            )
            deliver(landing, "income_records", rows, platform=platform, day=day)
            deliver(
                landing,
                "gig_registrations",
                [good_row("gig_registrations", registration_id=f"{platform}-{d}", platform_id=platform)],
                platform=platform,
                day=day,
                fmt="jsonl",
            )
        deliver(landing, "job_postings", [good_row("job_postings", posting_id=f"p{d}")], day=day, fmt="parquet")


def test_every_file_accounts_for_its_rows(landing, warehouse):
    small_tree(landing)
    load_all(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    broken = con.execute("""
        SELECT l.file_path FROM audit.load_ledger AS l
        LEFT JOIN (SELECT file_path, count(*) AS n FROM raw.income_records GROUP BY 1
                   UNION ALL SELECT file_path, count(*) FROM raw.gig_registrations GROUP BY 1
                   UNION ALL SELECT file_path, count(*) FROM raw.job_postings GROUP BY 1) AS r USING (file_path)
        LEFT JOIN (SELECT file_path, count(*) AS n FROM quarantine.income_records GROUP BY 1
                   UNION ALL SELECT file_path, count(*) FROM quarantine.gig_registrations GROUP BY 1
                   UNION ALL SELECT file_path, count(*) FROM quarantine.job_postings GROUP BY 1) AS q USING (file_path)
        WHERE l.rows_delivered <> l.rows_loaded + l.rows_quarantined
           OR l.rows_loaded <> coalesce(r.n, 0) OR l.rows_quarantined <> coalesce(q.n, 0)""").fetchall()
    assert broken == []
    assert con.execute("SELECT count(*), sum(rows_delivered) FROM audit.load_ledger").fetchone() == (30, 150)


def test_same_bytes_again_are_a_duplicate_naming_the_original(landing, warehouse):
    original = deliver(landing, "income_records", [good_row("income_records")], day="2025-02-03")
    load_all(landing, warehouse)
    copy = landing / "income_records" / "meituan" / "2025-02-09" / "renamed.csv"
    copy.parent.mkdir(parents=True)
    shutil.copy(original, copy)
    result = load_all(landing, warehouse)["income_records"]
    assert result["files_duplicate"] == 1 and result["rows_loaded"] == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute(
        "SELECT status, duplicate_of, rows_delivered FROM audit.load_ledger WHERE file_path = ?", [str(copy)]
    ).fetchone() == ("duplicate", str(original), 0)
    assert con.execute("SELECT count(*) FROM raw.income_records").fetchone() == (1,)


def test_unknown_platform_folder_is_rejected_and_the_rest_loads(landing, warehouse):
    deliver(landing, "income_records", [good_row("income_records", platform_id="shop")], platform="shop", name="a")
    deliver(landing, "income_records", [good_row("income_records", platform_id="shop")], platform="shop", name="b")
    deliver(landing, "income_records", [good_row("income_records")])
    result = load_all(landing, warehouse)["income_records"]
    assert (result["files_rejected"], result["files_loaded"], result["rows_loaded"]) == (2, 1, 1)
    assert all("unknown_platform" in r and "'shop'" in r for r in result["rejected"])


def test_running_twice_changes_nothing(landing, warehouse):
    small_tree(landing)
    load_all(landing, warehouse)
    first = snapshot(warehouse)
    again = load_all(landing, warehouse)
    assert all(r["files_new"] == 0 for r in again.values())
    assert snapshot(warehouse) == first


def test_batches_give_the_same_warehouse_as_one_transaction(landing, tmp_path):
    small_tree(landing)
    load_all(landing, tmp_path / "one.duckdb")
    load_all(landing, tmp_path / "many.duckdb", batch_rows=1)
    assert snapshot(tmp_path / "one.duckdb") == snapshot(tmp_path / "many.duckdb")


CRASHING_RUN = textwrap.dedent("""
    import sys
    from pipelines.ingest import ingest_source
    from pipelines.warehouse import connect
    con = connect(__import__("pathlib").Path(sys.argv[2]))
    def progress(done, total, rows):
        print(done, flush=True)
    for source in ("job_postings", "gig_registrations", "income_records"):
        ingest_source(con, sys.argv[1], source, "crashing-run", progress=progress, batch_rows=1)
""")


def test_a_run_killed_mid_way_then_rerun_equals_one_clean_run(landing, tmp_path):
    small_tree(landing, days=10)
    reference = tmp_path / "reference.duckdb"
    load_all(landing, reference)
    crashed = tmp_path / "crashed.duckdb"
    for kill_after in (3, 25, 41):  # progress lines seen before SIGKILL, in several sources
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASHING_RUN, str(landing), str(crashed)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        for _ in range(kill_after):
            if not proc.stdout.readline():
                break
        proc.kill()
        proc.wait()
    load_all(landing, crashed)
    assert snapshot(crashed) == snapshot(reference)


def test_a_generated_tree_loads_exactly_as_its_manifest_says(tmp_path):
    """Every injected fault lands where the contract says, and every file accounts for its rows."""
    import json

    from pipelines.generate import generate_landing

    landing = tmp_path / "generated"
    generate_landing(landing, workers=400, months=2, seed=11)
    manifest = json.loads((landing / "_manifest.json").read_text())
    warehouse = tmp_path / "generated.duckdb"
    load_all(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    root = str(landing.resolve()) + "/"

    assert con.execute("""SELECT count(*) FROM audit.load_ledger
                          WHERE rows_delivered <> rows_loaded + rows_quarantined""").fetchone() == (0,)
    for source, expected in manifest["sources"].items():
        reasons = dict(con.execute(f"SELECT reason_code, count(*) FROM quarantine.{source} GROUP BY 1").fetchall())
        assert reasons == {r: n for r, n in expected["bad_rows"].items() if n}, source
        loaded = con.execute(f"SELECT count(*) FROM raw.{source}").fetchone()[0]
        assert loaded == expected["rows_valid"], source
        for path, fault in expected["file_faults"].items():
            status, error = con.execute("SELECT status, error FROM audit.load_ledger WHERE file_path = ?",
                                        [root + path]).fetchone()
            assert (status if fault == "duplicate" else error.split(":")[0]) == fault, path
        drift = {(p.removeprefix(root), c) for p, c in con.execute(
            "SELECT file_path, column_name FROM audit.schema_drift WHERE source = ?", [source]).fetchall()}
        assert drift == {(p, c) for p, cols in expected["schema_drift"].items() for c in cols}, source
