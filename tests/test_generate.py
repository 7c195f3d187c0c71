"""The synthetic landing tree: reproducible, laid out as the contract says, and honest about its faults.

The loader's tests compare quarantine and ledger counts with the manifest, so the
manifest must match the files exactly; these tests re-count the files independently.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines import contract
from pipelines.generate import APPLICABLE_REASONS, MANIFEST_NAME, UNKNOWN_PLATFORM, generate_landing
from pipelines.reference import known_platforms

WORKERS, MONTHS = 300, 3
HEX64 = re.compile(r"^[0-9a-f]{64}$")
NATIONAL_ID = re.compile(r"^\d{17}[\dX]$")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing") / "a"
    generate_landing(out, workers=WORKERS, months=MONTHS, seed=7)
    return out


@pytest.fixture(scope="module")
def manifest(tree: Path) -> dict:
    return json.loads((tree / MANIFEST_NAME).read_text(encoding="utf-8"))


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def data_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME]


def raw_text(path: Path) -> str:
    """Decoded text of a CSV/JSONL file (UTF-8 with or without BOM, else GB18030)."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def records(path: Path) -> int:
    """Data records as delivered: lines minus the CSV header; Parquet from its metadata."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = [ln for ln in raw_text(path).split("\n") if ln != ""]
    return max(0, len(lines) - 1) if ".csv" in path.name else len(lines)


def test_same_seed_same_bytes_other_seed_differs(tree: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    generate_landing(again, workers=WORKERS, months=MONTHS, seed=7)
    assert digest(tree) == digest(again)
    other = tmp_path / "c"
    generate_landing(other, workers=WORKERS, months=MONTHS, seed=8)
    assert digest(other) != digest(tree)


def test_layout_and_suffixes(tree: Path, manifest: dict) -> None:
    platforms = known_platforms() | {UNKNOWN_PLATFORM}
    seen_sources = set()
    for path in data_files(tree):
        source, platform, day, name = path.relative_to(tree).parts
        seen_sources.add(source)
        assert source in contract.SOURCES
        assert platform in platforms
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)
        assert name.endswith(contract.FILE_SUFFIXES), name
        assert path.relative_to(tree).as_posix() in manifest["files"]
    assert seen_sources == set(contract.SOURCES)
    assert len(manifest["files"]) == len(data_files(tree))


def test_manifest_counts_match_files(tree: Path, manifest: dict) -> None:
    for source in contract.SOURCES:
        summary = manifest["sources"][source]
        entries = {p: f for p, f in manifest["files"].items() if f["source"] == source}
        assert summary["files"] == len(entries)
        loaded = 0
        for rel, entry in entries.items():
            if entry["status"] != "loaded" or entry.get("cut_short"):
                continue
            assert records(tree / rel) == entry["rows"], rel
            loaded += entry["rows"]
        cut = sum(f["rows"] for f in entries.values() if f.get("cut_short"))
        assert loaded + cut == summary["rows"]
        assert summary["rows_valid"] == summary["rows"] - sum(summary["bad_rows"].values())
        per_file: dict[str, int] = {}
        for entry in entries.values():
            if entry["status"] == "loaded":
                for reason, n in entry["bad_rows"].items():
                    per_file[reason] = per_file.get(reason, 0) + n
        assert {r: n for r, n in summary["bad_rows"].items() if n} == per_file


def test_every_applicable_reason_injected(manifest: dict) -> None:
    for source in contract.SOURCES:
        bad = manifest["sources"][source]["bad_rows"]
        assert set(bad) == {r.value for r in APPLICABLE_REASONS[source]}
        assert all(n >= 1 for n in bad.values()), (source, bad)
    union = {r for s in contract.SOURCES for r in manifest["sources"][s]["bad_rows"]}
    assert union == {r.value for r in contract.Reason}


def test_file_faults_recorded(tree: Path, manifest: dict) -> None:
    for source in contract.SOURCES:
        faults = manifest["sources"][source]["file_faults"]
        codes = set(faults.values())
        assert {e.value for e in contract.FileError} | {"duplicate"} <= codes, (source, codes)
        for rel, code in faults.items():
            entry = manifest["files"][rel]
            if code == "duplicate":
                original = tree / entry["duplicate_of"]
                assert (tree / rel).read_bytes() == original.read_bytes()
                assert entry["delivery_date"] > manifest["files"][entry["duplicate_of"]]["delivery_date"]
            if code == "unknown_platform":
                assert f"/{UNKNOWN_PLATFORM}/" in rel
        empty = manifest["sources"][source]["empty_files"]
        assert any((tree / p).stat().st_size == 0 for p in empty)
        assert any((tree / p).stat().st_size > 0 for p in empty)
        assert manifest["sources"][source]["schema_drift"]
        cut = [p for p, f in manifest["files"].items() if f["source"] == source and f.get("cut_short")]
        assert len(cut) == 1 and not raw_text(tree / cut[0]).endswith("\n")


def test_unreadable_files_really_are(tree: Path, manifest: dict) -> None:
    for rel, entry in manifest["files"].items():
        if entry.get("error") != "unreadable_file":
            continue
        data = (tree / rel).read_bytes()
        if rel.endswith(".gz"):
            with pytest.raises((EOFError, OSError)):
                gzip.decompress(data)
        elif rel.endswith(".parquet"):
            with pytest.raises(Exception):  # noqa: B017 - any pyarrow error will do
                pq.read_table(io.BytesIO(data))
        else:
            for encoding in ("utf-8", "gb18030"):
                with pytest.raises(UnicodeDecodeError):
                    data.decode(encoding)


def test_formats_and_encodings_present(tree: Path, manifest: dict) -> None:
    files = [f for f in manifest["files"].values() if f["status"] == "loaded" and f["rows"] > 0]
    assert {f["format"] for f in files} == {"csv", "jsonl", "parquet"}
    assert any(f["compression"] == "gzip" and f["format"] == "csv" for f in files)
    assert any(f["compression"] == "gzip" and f["format"] == "jsonl" for f in files)
    gbk = [p for p, f in manifest["files"].items() if f.get("encoding") == "gb18030" and f["rows"] > 0]
    not_utf8 = 0
    for rel in gbk:
        data = (tree / rel).read_bytes()
        data = gzip.decompress(data) if rel.endswith(".gz") else data
        text = data.decode("gb18030")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
            assert re.search(r"[\u4e00-\u9fff]", text)
    assert not_utf8 >= 1
    assert any(f.get("encoding") == "utf-8-sig" for f in files)
    assert {f["native_types"] for f in files if f["format"] == "parquet"} == {True, False}


def person_keys(path: Path, fmt: str) -> list[str]:
    """person_key values of the parseable rows of a file (broken lines skipped, as the loader does)."""
    if fmt == "parquet":
        return pl.read_parquet(path)["person_key"].cast(pl.String).to_list()
    text = raw_text(path)
    if fmt == "jsonl":
        keys = []
        for line in text.splitlines():
            try:
                keys.append(json.loads(line)["person_key"])
            except (ValueError, KeyError, TypeError):
                continue
        return [k for k in keys if k is not None]
    table = pacsv.read_csv(
        io.BytesIO(text.encode()),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda _: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={"person_key": pa.string()},
                                             include_columns=["person_key"]),
    )
    return [k for k in table["person_key"].to_pylist() if k]


def test_person_keys_are_hex_except_injected(tree: Path, manifest: dict) -> None:
    for source in ("gig_registrations", "income_records"):
        keys: list[str] = []
        for rel, entry in manifest["files"].items():
            if entry["source"] == source and entry["status"] == "loaded" and entry["rows"] > 0:
                keys += person_keys(tree / rel, entry["format"])
        bad = manifest["sources"][source]["bad_rows"]
        not_hex = [k for k in keys if not HEX64.match(k)]
        ids = [k for k in not_hex if NATIONAL_ID.match(k)]
        assert len(ids) == bad["pii_national_id"]
        assert len(not_hex) - len(ids) == bad["invalid_person_key"]
        assert len(keys) - len(not_hex) > 100


def test_timestamps_booleans_and_spellings_vary(tree: Path) -> None:
    text = "\n".join(raw_text(p) for p in data_files(tree)
                     if p.name.endswith((".csv", ".csv.gz", ".jsonl", ".jsonl.gz")) and p.stat().st_size > 30
                     and "part" not in p.name)
    assert re.search(r"\d{2}:\d{2}:\d{2}Z", text)
    assert re.search(r"\d{2}:\d{2}:\d{2}\+08:00", text)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[,\"\n]", text)
    for word in ("是", "否", "女", "男"):
        assert word in text
    assert re.search(r",(?:yes|YES|Yes|no|NO|No),", text) or '"yes"' in text.lower()


def test_every_source_has_corrections(manifest: dict) -> None:
    for source in contract.SOURCES:
        assert manifest["sources"][source]["corrections"] > 0, source
    assert manifest["persons"]["multi_platform_persons"] > 0
