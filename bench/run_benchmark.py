"""flexemp benchmark: the pipeline against a bare-DuckDB floor, on the same landing files.

    uv run python bench/run_benchmark.py [--workers N] [--months M] [--scale-curve] [--out DIR] [--json PATH]

A script that prints figures, not a timed test: speed depends on the machine and on
what else runs on it, so no test asserts a duration. A missed target is reported,
not an error; the exit code is non-zero only when a step crashes (see bench/README.md).

Steps, one size:
  (a) a landing tree from `flexemp generate` under --out (reused when its manifest matches);
  (b) the newest delivery day is moved aside, so the first runs see every day but the last;
      every other landing file is read once, untimed, so that the floor and the pipeline both
      read it from the page cache;
  (c) the floor (bench/_floor_child.py): plain DuckDB read_csv/read_json/read_parquet into typed
      tables, then one GROUPING SETS query; no project code;
  (d) the pipeline (bench/_pipeline_child.py): `run_pipeline`, as `flexemp run --full-refresh`
      calls it, on a fresh warehouse, timed per stage;
  (e) the held-out day moved back, and the pipeline again on the same warehouse (the increment);
  (f) the pipeline once more with nothing new delivered: what every scheduled run pays;
  (g) the warehouse size (file + .wal);
  (h) a table and a JSON of seconds, rows/s, peak RSS and the ratios against the targets.
Each of (c) to (f) runs in its own process; a sampler thread here sums the resident
memory (VmRSS) of that process and all its descendants every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_ROOT = REPO / ".work" / "bench"
SOURCES = ("job_postings", "gig_registrations", "income_records")
MIB = 1024 * 1024
GIB = 1024 * MIB
SAMPLE_SECONDS = 0.2

# Targets of the issue (2 cores, 1M workers x 12 months).
MAX_PIPELINE_VS_FLOOR = 3.0
MIN_INGEST_VS_FLOOR = 0.5
MAX_PEAK_RSS = 4 * GIB
MAX_INCREMENT_VS_FULL = 0.10

console = Console(width=None if sys.stdout.isatty() else 160)  # logs and CI: no 80-column wrap


class BenchmarkError(RuntimeError):
    """A step crashed (not a missed target): the benchmark cannot report figures for it."""


# --- memory of a process tree ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (via /proc/<pid>/task/*/children, else a scan of /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    try:
        found: list[int] = []
        for task in tasks.iterdir():
            text = (task / "children").read_text()
            found += [int(c) for c in text.split()]
        return found
    except FileNotFoundError:
        return []
    except OSError:
        pass
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _rss(pid: int) -> int:
    """Resident set size of one process in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> int:
    """Sum of VmRSS over `root` and all its descendants (shared pages counted per process: an upper bound)."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss(pid)
        todo += _children(pid)
    return total


@dataclass
class Sampler:
    """Samples a process tree's resident memory in a thread: (epoch seconds, bytes) every 0.2 s."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss(self.pid)))
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak(self) -> int:
        return max((b for _, b in self.samples), default=0)

    def peak_between(self, start: float | None, end: float | None) -> int | None:
        """Peak within [start, end] (plus the sample just before, which a short stage may fall between)."""
        if start is None or end is None:
            return None
        inside = [b for t, b in self.samples if start <= t <= end]
        before = [b for t, b in self.samples if t < start][-1:]
        return max(inside + before, default=None)


@dataclass
class Measured:
    """One child process: its wall time, exit code and memory samples."""

    seconds: float
    returncode: int
    sampler: Sampler


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run `cmd` with its output in `log`, sampling its process tree's memory."""
    with open(log, "w") as out:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        sampler = Sampler(child.pid).start()
        returncode = child.wait()
        seconds = time.perf_counter() - started
        sampler.stop()
    return Measured(seconds, returncode, sampler)


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the landing tree and the held-out day -----------------------------------------------------


@dataclass(frozen=True)
class SizePaths:
    """Where one size's files live: the landing tree and, beside it, everything the benchmark writes."""

    landing: Path

    @property
    def base(self) -> Path:
        return self.landing.parent

    @property
    def held_out(self) -> Path:
        return self.base / "held_out"

    @property
    def warehouse(self) -> Path:
        return self.base / "pipeline.duckdb"

    @property
    def floor_db(self) -> Path:
        return self.base / "floor.duckdb"

    @property
    def work(self) -> Path:
        """FLEXEMP_WORK_DIR of the children: Airflow home and dbt target, apart from the developer's."""
        return self.base / "work"


def manifest_matches(landing: Path, workers: int, months: int, seed: int) -> bool:
    manifest = landing / "_manifest.json"
    if not manifest.exists():
        return False
    params = json.loads(manifest.read_text(encoding="utf-8")).get("parameters", {})
    return (params.get("workers"), params.get("months"), params.get("seed")) == (workers, months, seed)


def ensure_tree(paths: SizePaths, workers: int, months: int, seed: int) -> dict[str, Any]:
    """Reuse the landing tree if its manifest matches, else generate it (not part of any timing)."""
    restore_day(paths)  # a run that crashed may have left the last day aside
    if manifest_matches(paths.landing, workers, months, seed):
        return {"generated": False}
    if paths.landing.exists():
        shutil.rmtree(paths.landing)
    paths.base.mkdir(parents=True, exist_ok=True)
    console.print(f"Generating {workers:,} workers x {months} months into {paths.landing} ...")
    started = time.perf_counter()
    log = paths.base / "generate.log"
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "generate",
        "--out",
        str(paths.landing),
        "--workers",
        str(workers),
        "--months",
        str(months),
        "--seed",
        str(seed),
    ]
    with open(log, "w") as out:
        done = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not manifest_matches(paths.landing, workers, months, seed):
        raise BenchmarkError(f"flexemp generate failed (exit {done.returncode}):\n{_tail(log)}")
    return {"generated": True, "seconds": time.perf_counter() - started}


def _day_folders(root: Path) -> list[Path]:
    """Every <source>/<platform>/<YYYY-MM-DD> folder under `root`."""
    found = []
    for source in SOURCES:
        for folder in (root / source).glob("*/*"):
            try:
                date.fromisoformat(folder.name)
            except ValueError:
                continue
            if folder.is_dir():
                found.append(folder)
    return found


TYPICAL_DAY = (0.67, 1.5)  # a typical delivery day carries this share of the mean day's rows


def typical_day(rows_by_day: dict[str, int]) -> str:
    """The newest delivery day whose rows are within TYPICAL_DAY of the mean day.

    Not simply the newest day: the generator puts pay days past its calendar's end (the last month's
    monthly settlements and bonuses) on its last day, which therefore carries several times a mean day.
    """
    mean = sum(rows_by_day.values()) / max(len(rows_by_day), 1)
    lo, hi = TYPICAL_DAY
    typical = [d for d, n in rows_by_day.items() if lo * mean <= n <= hi * mean]
    return max(typical) if typical else max(rows_by_day)


def hold_out_typical_day(paths: SizePaths) -> dict[str, Any]:
    """Move every source's folders of one typical delivery date aside; the increment brings them back."""
    folders = _day_folders(paths.landing)
    if not folders:
        raise BenchmarkError(f"no delivery folders under {paths.landing}")
    days = {f.name for f in folders}
    rows_by_day = dict.fromkeys(days, 0)
    manifest = json.loads((paths.landing / "_manifest.json").read_text(encoding="utf-8"))
    for entry in manifest.get("files", {}).values():
        day = entry.get("delivery_date", "")
        if day in rows_by_day:
            rows_by_day[day] += int(entry.get("rows", 0))
    chosen = typical_day(rows_by_day)
    held = [f for f in folders if f.name == chosen]
    files = [p for f in held for p in f.iterdir() if p.is_file()]
    all_files = sum(1 for f in folders for p in f.iterdir() if p.is_file())
    for folder in held:
        target = paths.held_out / folder.relative_to(paths.landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    mean_rows = sum(rows_by_day.values()) / max(len(rows_by_day), 1)
    return {
        "date": chosen,
        "newest_date": max(days),
        "rows": rows_by_day[chosen],
        "mean_rows_per_delivery_day": mean_rows,
        "rows_vs_mean_day": rows_by_day[chosen] / mean_rows if mean_rows else 0.0,
        "folders": len(held),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in (paths.held_out / f.relative_to(paths.landing) for f in files)),
        "mean_files_per_delivery_day": all_files / len(days),
    }


def restore_day(paths: SizePaths) -> None:
    """Move held-out day folders back into the landing tree (idempotent)."""
    if not paths.held_out.exists():
        return
    for folder in _day_folders(paths.held_out):
        target = paths.landing / folder.relative_to(paths.held_out)
        if target.exists():
            raise BenchmarkError(f"{target} exists in the landing tree and in {paths.held_out}; remove one")
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    shutil.rmtree(paths.held_out)


# --- the steps ---------------------------------------------------------------------------------


def warm_page_cache(root: Path) -> dict[str, float]:
    """Read every file under `root` once (untimed): the floor and the pipeline then both read from the page cache.

    The floor reads first. Without this it alone paid for whatever the OS had evicted
    since the tree was written or last read, and the pipeline's ratio to it followed:
    at 1M its read took 83 s after other work had filled the memory, and 70 s right
    after, with the files cached.
    """
    started = time.perf_counter()
    files = size = 0
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while chunk := f.read(1 << 22):
                    size += len(chunk)
            files += 1
    return {"files": files, "bytes": size, "seconds": time.perf_counter() - started}


def child_env(paths: SizePaths) -> dict[str, str]:
    env = dict(os.environ)
    env["FLEXEMP_WORK_DIR"] = str(paths.work)
    env.pop("AIRFLOW_HOME", None)  # the work folder's own, so the benchmark never touches the developer's
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_floor(paths: SizePaths, memory_limit: str) -> dict[str, Any]:
    """Step (c): the floor in its own process."""
    out = paths.base / "floor.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(BENCH_DIR / "_floor_child.py"),
        "--landing",
        str(paths.landing),
        "--db",
        str(paths.floor_db),
        "--json",
        str(out),
        "--memory-limit",
        memory_limit,
    ]
    measured = run_measured(cmd, child_env(paths), paths.base / "floor.log")
    if measured.returncode != 0 or not out.exists():
        raise BenchmarkError(f"the floor crashed (exit {measured.returncode}):\n{_tail(paths.base / 'floor.log')}")
    result = json.loads(out.read_text(encoding="utf-8"))
    result["process_wall_seconds"] = measured.seconds
    result["peak_rss_bytes"] = measured.sampler.peak
    result["read_rows_per_second"] = result["read_rows"] / result["read_seconds"] if result["read_seconds"] else 0.0
    for suffix in ("", ".wal"):
        Path(f"{paths.floor_db}{suffix}").unlink(missing_ok=True)
    return result


def pipeline_child_cmd(paths: SizePaths, out: Path, *flags: str) -> list[str]:
    """The command line of `_pipeline_child.py` on this size's tree and warehouse, writing its JSON to `out`."""
    return [
        sys.executable,
        str(BENCH_DIR / "_pipeline_child.py"),
        "--landing",
        str(paths.landing),
        "--warehouse",
        str(paths.warehouse),
        "--json",
        str(out),
        *flags,
    ]


def warm_up(paths: SizePaths) -> float:
    """Migrate the benchmark's Airflow metadata DB once (a one-time install cost, never a run's)."""
    out = paths.base / "warm_up.json"
    cmd = pipeline_child_cmd(paths, out, "--prepare-only")
    measured = run_measured(cmd, child_env(paths), paths.base / "warm_up.log")
    if measured.returncode != 0:
        raise BenchmarkError(f"Airflow warm-up failed:\n{_tail(paths.base / 'warm_up.log')}")
    return measured.seconds


def remove_warehouse(warehouse: Path) -> None:
    for suffix in ("", ".wal", ".lock"):
        Path(f"{warehouse}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(warehouse.parent / f"{warehouse.stem}_artifacts", ignore_errors=True)


def warehouse_bytes(warehouse: Path) -> int:
    return sum(os.path.getsize(p) for p in (warehouse, Path(f"{warehouse}.wal")) if p.exists())


def run_pipeline_step(paths: SizePaths, name: str, full_refresh: bool) -> dict[str, Any]:
    """Steps (d) and (e): one `run_pipeline` in its own process, with per-stage timings and memory."""
    out = paths.base / f"{name}.json"
    out.unlink(missing_ok=True)
    dbt_results = paths.base / f"{name}.dbt_run_results.json"
    dbt_results.unlink(missing_ok=True)
    flags = ["--hash-pass", "--keep-dbt-results", str(dbt_results), *(["--full-refresh"] if full_refresh else [])]
    cmd = pipeline_child_cmd(paths, out, *flags)
    log = paths.base / f"{name}.log"
    measured = run_measured(cmd, child_env(paths), log)
    if not out.exists():
        raise BenchmarkError(f"the pipeline ({name}) crashed (exit {measured.returncode}):\n{_tail(log)}")
    child = json.loads(out.read_text(encoding="utf-8"))
    if child.get("status") != "succeeded":
        raise BenchmarkError(f"the pipeline ({name}) failed: {child.get('error')}\n{_tail(log)}")
    summary = summarise_run(child, measured, warehouse_bytes(paths.warehouse))
    summary["dbt_slowest_nodes"] = slowest_dbt_nodes(dbt_results)
    return summary


def slowest_dbt_nodes(results: Path, count: int = 12) -> list[dict[str, Any]]:
    """The profile behind the run's dbt seconds: its slowest nodes (none when the run built nothing)."""
    if not results.exists():
        return []
    nodes = json.loads(results.read_text(encoding="utf-8"))["results"]
    nodes.sort(key=lambda node: node["execution_time"], reverse=True)
    return [{"node": node["unique_id"], "seconds": node["execution_time"]} for node in nodes[:count]]


def _task(child: dict[str, Any], dag_id: str, task_id: str) -> dict[str, Any] | None:
    for task in child["dags"].get(dag_id, {}).get("tasks", []):
        if task["task_id"] == task_id and task["start"] is not None and task["end"] is not None:
            return task
    return None


def _stage_row(name: str, seconds: float | None, rows: int | None, peak: int | None, note: str = "") -> dict:
    rate = rows / seconds if rows is not None and seconds else None
    return {
        "stage": name,
        "seconds": seconds,
        "rows": rows,
        "rows_per_second": rate,
        "peak_rss_bytes": peak,
        "note": note,
    }


def summarise_run(child: dict[str, Any], measured: Measured, size: int) -> dict[str, Any]:
    """Per-stage rows (seconds, rows, rows/s, peak RSS in the stage's window) and the run's totals."""
    sampler = measured.sampler
    sources = child.get("sources", {})
    run_rows = sum(s["rows_loaded"] + s["rows_quarantined"] for s in sources.values())
    stages: list[dict[str, Any]] = []

    hashing = child.get("hash_pass", {})
    if hashing:
        seconds = sum(h["discover_seconds"] + h["hash_seconds"] for h in hashing.values())
        stages.append(
            _stage_row(
                "discovery + hashing",
                seconds,
                run_rows,
                sampler.peak_between(child.get("hash_start"), child.get("hash_end")),
                f"measured apart, before the run ({sum(h['files'] for h in hashing.values()):,} files, "
                f"{sum(h['bytes'] for h in hashing.values()) / MIB:,.0f} MiB); ingest overlaps it with parsing",
            )
        )
    by_name = {s["name"]: s for s in child.get("stages", [])}
    for stage, label in (("preparing Airflow", "Airflow start-up (DAG parse)"), ("opening the run", "open run")):
        if stage in by_name:
            s = by_name[stage]
            stages.append(_stage_row(label, s["end"] - s["start"], None, sampler.peak_between(s["start"], s["end"])))

    task_total = 0.0
    plan = [(f"ingest_{src}", "ingest", f"validate + load {src}", src, "all") for src in SOURCES]
    plan += [(f"ingest_{src}", "check_raw", f"raw checks {src}", src, "loaded") for src in SOURCES]
    plan += [
        ("transform", "dbt_build", "dbt build", None, "run"),
        ("transform", "check_marts", "mart checks", None, "run"),
        ("publish", "publish", "publication", None, "run"),
    ]
    for dag_id, task_id, label, source, basis in plan:
        task = _task(child, dag_id, task_id)
        if task is None:
            continue
        seconds = task["end"] - task["start"]
        task_total += seconds
        if source is None:
            rows, note = run_rows, "rows/s over the rows this run ingested"
        else:
            s = sources.get(source, {})
            rows = s.get("rows_loaded", 0) + (s.get("rows_quarantined", 0) if basis == "all" else 0)
            note = "loaded + quarantined rows" if basis == "all" else "loaded rows"
        stages.append(_stage_row(label, seconds, rows, sampler.peak_between(task["start"], task["end"]), note))

    dag_seconds = sum(d.get("seconds", 0.0) for d in child["dags"].values())
    stages.append(
        _stage_row(
            "Airflow per-DAG overhead",
            max(dag_seconds - task_total, 0.0),
            None,
            None,
            "DAG runs' wall time minus the tasks above (open/close_run, scheduling loop)",
        )
    )

    ingest_seconds = sum(s["seconds"] for s in stages if s["stage"].startswith("validate + load"))
    return {
        "run_seconds": child["run_seconds"],
        "process_wall_seconds": measured.seconds,
        "import_seconds": child.get("import_seconds"),
        "rows": run_rows,
        "ingest_seconds": ingest_seconds,
        "ingest_rows_per_second": run_rows / ingest_seconds if ingest_seconds else 0.0,
        "peak_rss_bytes": sampler.peak,
        "peak_rss_run_bytes": sampler.peak_between(child.get("run_start"), child.get("run_end")),
        "warehouse_bytes": size,
        "sources": sources,
        "stages": stages,
        "hash_pass": hashing,
    }


def run_size(workers: int, months: int, seed: int, landing: Path, memory_limit: str) -> dict[str, Any]:
    """Steps (a) to (h) for one size; the landing tree is left complete (held-out day restored)."""
    paths = SizePaths(landing.resolve())
    result: dict[str, Any] = {"workers": workers, "months": months, "seed": seed, "landing": str(paths.landing)}
    result["tree"] = ensure_tree(paths, workers, months, seed)
    paths.work.mkdir(parents=True, exist_ok=True)
    try:
        result["held_out_day"] = hold_out_typical_day(paths)
        console.print(
            f"[bold]{workers:,} x {months}[/]: held out {result['held_out_day']['date']} "
            f"({result['held_out_day']['files']} files); floor ..."
        )
        result["page_cache_warm_up"] = warm_page_cache(paths.landing)
        result["floor"] = run_floor(paths, memory_limit)
        result["airflow_warm_up_seconds"] = warm_up(paths)
        console.print(f"[bold]{workers:,} x {months}[/]: pipeline, full refresh on an empty warehouse ...")
        remove_warehouse(paths.warehouse)
        result["full_refresh"] = run_pipeline_step(paths, "full_refresh", full_refresh=True)
    finally:
        restore_day(paths)
    console.print(f"[bold]{workers:,} x {months}[/]: pipeline, daily increment ...")
    result["increment"] = run_pipeline_step(paths, "increment", full_refresh=False)
    console.print(f"[bold]{workers:,} x {months}[/]: pipeline, a run with no new data ...")
    result["no_change"] = run_pipeline_step(paths, "no_change", full_refresh=False)
    result["ratios"], result["targets"] = judge(result)
    return result


def judge(result: dict[str, Any]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The issue's ratios, and each target met or missed."""
    floor, full, inc, same = result["floor"], result["full_refresh"], result["increment"], result["no_change"]
    ratios = {
        "pipeline_vs_floor": full["run_seconds"] / floor["seconds"] if floor["seconds"] else float("inf"),
        "ingest_vs_floor_read_throughput": (
            full["ingest_rows_per_second"] / floor["read_rows_per_second"] if floor["read_rows_per_second"] else 0.0
        ),
        "increment_vs_full_refresh": inc["run_seconds"] / full["run_seconds"] if full["run_seconds"] else 0.0,
        # not a target: the share of a full refresh that any run costs, whatever it delivers
        "no_change_vs_full_refresh": same["run_seconds"] / full["run_seconds"] if full["run_seconds"] else 0.0,
    }
    runs = (full, inc, same)
    stage_peaks = [s["peak_rss_bytes"] or 0 for run in runs for s in run["stages"]]
    peak = max([*stage_peaks, *(run["peak_rss_bytes"] for run in runs)])
    targets = [
        {
            "target": "full pipeline within 3x the floor",
            "value": ratios["pipeline_vs_floor"],
            "limit": MAX_PIPELINE_VS_FLOOR,
            "met": ratios["pipeline_vs_floor"] <= MAX_PIPELINE_VS_FLOOR,
        },
        {
            "target": "ingest >= half the floor's read throughput",
            "value": ratios["ingest_vs_floor_read_throughput"],
            "limit": MIN_INGEST_VS_FLOOR,
            "met": ratios["ingest_vs_floor_read_throughput"] >= MIN_INGEST_VS_FLOOR,
        },
        {
            "target": "peak RSS < 4 GiB in every stage (GiB)",
            "value": peak / GIB,
            "limit": MAX_PEAK_RSS / GIB,
            "met": peak < MAX_PEAK_RSS,
        },
        {
            "target": "daily increment < 10% of the full refresh",
            "value": ratios["increment_vs_full_refresh"],
            "limit": MAX_INCREMENT_VS_FULL,
            "met": ratios["increment_vs_full_refresh"] < MAX_INCREMENT_VS_FULL,
        },
    ]
    return ratios, targets


# --- output ------------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:,.1f}"


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / MIB:,.0f}"


def print_size(result: dict[str, Any]) -> None:
    floor, full, inc, same = result["floor"], result["full_refresh"], result["increment"], result["no_change"]
    held = result["held_out_day"]
    title = (
        f"flexemp benchmark: {result['workers']:,} workers x {result['months']} months "
        f"({os.cpu_count()} cores; increment = delivery day {held['date']}: {held['files']} files "
        f"(mean {held['mean_files_per_delivery_day']:.0f} per day), {held['rows']:,} rows "
        f"({held['rows_vs_mean_day']:.1f}x the mean day))"
    )
    overview = Table(title=title)
    for column in ("step", "seconds", "rows", "rows/s", "peak RSS MiB", "database MiB"):
        overview.add_column(column, justify="left" if column == "step" else "right")
    overview.add_row(
        "floor: read (bare DuckDB)",
        _s(floor["read_seconds"]),
        f"{floor['read_rows']:,}",
        _rate(floor["read_rows_per_second"]),
        "",
        "",
    )
    overview.add_row("floor: aggregate query", _s(floor["query_seconds"]), "", "", "", "")
    overview.add_row(
        "floor: total",
        _s(floor["seconds"]),
        f"{floor['read_rows']:,}",
        _rate(floor["read_rows"] / floor["seconds"] if floor["seconds"] else None),
        _mib(floor["peak_rss_bytes"]),
        _mib(floor["db_bytes"]),
    )
    for label, run in (
        ("pipeline: full refresh", full),
        ("pipeline: daily increment", inc),
        ("pipeline: no new data", same),
    ):
        overview.add_row(
            label,
            _s(run["run_seconds"]),
            f"{run['rows']:,}",
            _rate(run["rows"] / run["run_seconds"] if run["run_seconds"] else None),
            _mib(run["peak_rss_bytes"]),
            _mib(run["warehouse_bytes"]),
        )
    console.print(overview)

    stages = Table(title="Pipeline stages (seconds, rows/s, peak RSS of the process tree in the stage)")
    stages.add_column("stage")
    for column in ("full s", "full rows/s", "full MiB", "incr s", "incr rows/s", "incr MiB", "no new data s"):
        stages.add_column(column, justify="right")
    inc_by_name = {s["stage"]: s for s in inc["stages"]}
    same_by_name = {s["stage"]: s for s in same["stages"]}
    for s in full["stages"]:
        i = inc_by_name.get(s["stage"], {})
        stages.add_row(
            s["stage"],
            _s(s["seconds"]),
            _rate(s["rows_per_second"]),
            _mib(s["peak_rss_bytes"]),
            _s(i.get("seconds")),
            _rate(i.get("rows_per_second")),
            _mib(i.get("peak_rss_bytes")),
            _s(same_by_name.get(s["stage"], {}).get("seconds")),
        )
    stages.add_row(
        "[bold]run_pipeline total",
        _s(full["run_seconds"]),
        "",
        _mib(full["peak_rss_run_bytes"]),
        _s(inc["run_seconds"]),
        "",
        _mib(inc["peak_rss_run_bytes"]),
        _s(same["run_seconds"]),
    )
    console.print(stages)
    console.print(
        "discovery + hashing is measured apart, before each run (ingest overlaps it with parsing); "
        "run_pipeline total excludes it and the interpreter start-up "
        f"(process wall: full {full['process_wall_seconds']:.1f}s, increment "
        f"{inc['process_wall_seconds']:.1f}s, no new data {same['process_wall_seconds']:.1f}s).",
        style="dim",
        highlight=False,
    )
    slowest = ", ".join(
        f"{node['node'].split('.')[2][:60]} {node['seconds']:.1f}" for node in inc.get("dbt_slowest_nodes", [])[:6]
    )
    if slowest:
        console.print(f"Slowest dbt nodes of the increment (s): {slowest}.", style="dim", highlight=False)
    if not TYPICAL_DAY[0] <= held["rows_vs_mean_day"] <= TYPICAL_DAY[1]:
        console.print(
            f"Note: no delivery day is typical; the increment is the newest day, {held['rows_vs_mean_day']:.1f}x "
            "the rows of a mean delivery day.",
            style="yellow",
            highlight=False,
        )
    print_targets(result)


def print_targets(result: dict[str, Any]) -> None:
    table = Table(title="Targets")
    for column in ("target", "value", "limit", ""):
        table.add_column(column, justify="left" if column == "target" else "right")
    for t in result["targets"]:
        table.add_row(
            t["target"], f"{t['value']:.2f}", f"{t['limit']:g}", "[green]met[/]" if t["met"] else "[red]missed[/]"
        )
    console.print(table)
    console.print(
        f"A run with no new data took {result['ratios']['no_change_vs_full_refresh']:.0%} of the full refresh: "
        "what any scheduled run pays, deliveries or not; it builds nothing in dbt (not a target).",
        highlight=False,
    )


def print_curve(results: list[dict[str, Any]]) -> None:
    table = Table(title="Scale curve")
    for column in (
        "workers",
        "rows",
        "floor s",
        "full s",
        "full / floor",
        "ingest / floor read",
        "increment s",
        "incr / full",
        "no new data s",
        "peak RSS MiB",
        "warehouse MiB",
    ):
        table.add_column(column, justify="right")
    for r in results:
        full, ratios = r["full_refresh"], r["ratios"]
        table.add_row(
            f"{r['workers']:,}",
            f"{full['rows']:,}",
            _s(r["floor"]["seconds"]),
            _s(full["run_seconds"]),
            f"{ratios['pipeline_vs_floor']:.2f}",
            f"{ratios['ingest_vs_floor_read_throughput']:.2f}",
            _s(r["increment"]["run_seconds"]),
            f"{ratios['increment_vs_full_refresh']:.2f}",
            _s(r["no_change"]["run_seconds"]),
            _mib(max(full["peak_rss_bytes"], r["increment"]["peak_rss_bytes"], r["no_change"]["peak_rss_bytes"])),
            _mib(r["increment"]["warehouse_bytes"]),
        )
    console.print(table)


def curve_sizes(workers: int) -> list[int]:
    """100k, 300k and 1M at the default size; else a tenth, three tenths and all of --workers."""
    return sorted({max(100, workers // 10), max(100, round(workers * 0.3)), workers})


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="flexemp benchmark: pipeline vs a bare-DuckDB floor.")
    parser.add_argument("--workers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale-curve", action="store_true", help="run at a tenth, 3/10 and all of --workers")
    parser.add_argument(
        "--out",
        type=Path,
        help="landing tree (default .work/bench/<workers>x<months>/landing); "
        "with --scale-curve, the folder holding one <workers>x<months>/landing per size",
    )
    parser.add_argument("--json", type=Path, help="write the figures here (default: beside the landing tree)")
    parser.add_argument(
        "--floor-memory-limit",
        default="4GB",
        help="DuckDB memory_limit of the floor (the pipeline's target budget); '' for DuckDB's default",
    )
    args = parser.parse_args()

    sizes = curve_sizes(args.workers) if args.scale_curve else [args.workers]
    results = []
    try:
        for workers in sizes:
            if args.scale_curve or args.out is None:
                landing = (args.out or DEFAULT_ROOT) / f"{workers}x{args.months}" / "landing"
            else:
                landing = args.out
            result = run_size(workers, args.months, args.seed, landing, args.floor_memory_limit)
            results.append(result)
            print_size(result)
    except BenchmarkError as crash:
        console.print(f"[bold red]Benchmark crashed:[/] {crash}", highlight=False)
        return 2
    if args.scale_curve:
        print_curve(results)
        report: dict[str, Any] = {"machine": machine(), "runs": results}
        default_json = (args.out or DEFAULT_ROOT) / f"scale_curve_{args.workers}x{args.months}.json"
    else:
        report = {"machine": machine(), **results[0]}
        default_json = Path(results[0]["landing"]).parent / "benchmark.json"
    path = args.json or default_json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"Figures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
