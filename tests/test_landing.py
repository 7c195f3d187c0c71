"""Landing roots: local folders and s3:// on a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pipelines.ingest import ingest_source
from pipelines.landing import discover
from pipelines.warehouse import connect
from tests.conftest import deliver, good_row, snapshot


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("FLEXEMP_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield endpoint
    finally:
        server.stop()


def upload(endpoint: str, local_root: Path, bucket: str, prefix: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for path in local_root.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local_root).as_posix()}")


def test_discovery_follows_the_layout_in_delivery_order(landing):
    deliver(landing, "income_records", [good_row("income_records")], day="2025-02-10", name="b")
    deliver(landing, "income_records", [good_row("income_records")], day="2025-02-02", name="a")
    (landing / "income_records" / "meituan" / "stray.csv").write_text("not in a delivery folder")
    found = discover(str(landing), "income_records")
    assert [(f.platform_id, f.delivery_folder, f.name) for f in found] == [
        ("meituan", "2025-02-02", "a.csv"),
        ("meituan", "2025-02-10", "b.csv"),
    ]
    assert discover(str(landing), "job_postings") == []


def test_s3_landing_loads_like_a_local_folder(landing, tmp_path, s3_endpoint):
    deliver(landing, "income_records", [good_row("income_records"), good_row("income_records", currency="USD")])
    deliver(landing, "gig_registrations", [good_row("gig_registrations")], fmt="jsonl.gz")
    deliver(landing, "job_postings", [good_row("job_postings")], fmt="parquet")
    upload(s3_endpoint, landing, "deliveries", "flexemp/landing")

    local_wh, s3_wh = tmp_path / "local.duckdb", tmp_path / "s3.duckdb"
    for root, wh in ((str(landing), local_wh), ("s3://deliveries/flexemp/landing", s3_wh)):
        con = connect(wh)
        for source in ("job_postings", "gig_registrations", "income_records"):
            ingest_source(con, root, source, "run")
        con.close()

    con = connect(s3_wh)
    assert con.execute("SELECT min(file_path) FROM audit.load_ledger").fetchone()[0].startswith("s3://deliveries/")
    assert con.execute("SELECT count(*) FROM raw.income_records").fetchone() == (1,)
    con.close()
    assert relative(snapshot(s3_wh)) == relative(snapshot(local_wh))


def relative(snap: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """File paths relative to the landing root, so an s3 and a local warehouse compare."""
    return {t: [tuple(str(v).split("landing/")[-1] for v in row) for row in rows] for t, rows in snap.items()}
