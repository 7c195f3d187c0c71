"""Synthetic landing tree (`flexemp generate`): realistic deliveries with known faults.

Why synthetic: real platform microdata cannot leave the platforms, yet ingestion,
the marts and disclosure control must be exercised at full scale and against every
way a delivery can break the contract. The generator therefore writes a landing
tree that looks like what platforms send (mixed formats, encodings, spellings,
corrections in later folders) and injects a known number of bad rows per reason
code and a known list of file-level faults, recorded in `<out>/_manifest.json`, so
tests can compare what the loader quarantined and rejected with what was injected.

Everything is drawn from seeded numpy generators (one stream per component) and
written in a fixed order, so the same arguments give the same bytes. Rows are
built set-wise with numpy/Polars; Python loops only run over files, platforms,
months and reason codes.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipelines import contract, reference
from pipelines.contract import FileError, Reason

DAY = 86_400
SHANGHAI_OFFSET = 8 * 3600
MANIFEST_NAME = "_manifest.json"
UNKNOWN_PLATFORM = "unknown_shop"
BAD_ROW_SHARE = 0.005  # of delivered rows, spread over the reason codes that apply to a source
MIN_BAD_PER_REASON = 2  # so that every reason shows up even in a tiny tree
GZIP_LEVEL = 1  # the fastest level: synthetic files need not be small, and zlib is a large share of writing
BATCH_ROWS = 250_000  # rows rendered together: few Polars queries and writer calls, bounded memory
THREADS = 3  # file rendering: Polars and zlib release the GIL; a third thread fills the gaps (Python, syscalls)

# Which row-level reasons can occur in which source (a rule the source has no column for cannot fail).
APPLICABLE_REASONS: dict[str, tuple[Reason, ...]] = {
    "job_postings": tuple(
        r for r in Reason
        if r not in (Reason.PII_NATIONAL_ID, Reason.INVALID_PERSON_KEY, Reason.FEE_EXCEEDS_GROSS,
                     Reason.NON_CNY_CURRENCY, Reason.MISSING_DEREGISTERED_AT)
    ),
    "gig_registrations": tuple(
        r for r in Reason
        if r not in (Reason.FEE_EXCEEDS_GROSS, Reason.WAGE_RANGE_INVERTED, Reason.CLOSED_BEFORE_POSTED,
                     Reason.FUTURE_DATE, Reason.NON_CNY_CURRENCY)
    ),
    "income_records": tuple(
        r for r in Reason
        if r not in (Reason.INVALID_ENUM, Reason.UNKNOWN_REGION, Reason.UNKNOWN_OCCUPATION,
                     Reason.WAGE_RANGE_INVERTED, Reason.CLOSED_BEFORE_POSTED, Reason.MISSING_DEREGISTERED_AT)
    ),
}

# --------------------------------------------------------------------------------------------
# Domain knowledge of the synthetic world (what the platforms look like). Only the generator
# needs it: validation reads the contract and the seeds, never these numbers.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformProfile:
    """How one platform's workers look: share of registrations, occupation mix, fees, pay cycle."""

    weight: float
    occupations: dict[str, float]
    fee: tuple[float, float]  # platform_fee as a share of gross, drawn per registration
    weekly_pay: float  # share of workers paid weekly (the rest bi-weekly or monthly)
    hours_reported: float  # share of income records that carry hours_worked
    remote: float  # share of postings that are remote
    sibling: str | None = None  # the platform its workers most often also work on
    location_based: bool = False


PROFILES: dict[str, PlatformProfile] = {
    "meituan": PlatformProfile(0.17, {"online_delivery_rider": 0.88, "online_customer_service": 0.04,
                                      "home_service_worker": 0.05, "other": 0.03},
                               (0.0, 0.06), 0.45, 0.95, 0.0, "eleme", True),
    "eleme": PlatformProfile(0.10, {"online_delivery_rider": 0.92, "online_customer_service": 0.04,
                                    "other": 0.04}, (0.0, 0.06), 0.45, 0.93, 0.0, "meituan", True),
    "didi": PlatformProfile(0.12, {"ride_hailing_driver": 0.93, "freight_driver": 0.03, "other": 0.04},
                            (0.12, 0.3), 0.4, 0.95, 0.0, "huolala", True),
    "huolala": PlatformProfile(0.05, {"freight_driver": 0.92, "other": 0.08}, (0.08, 0.2), 0.3, 0.9, 0.0,
                               "didi", True),
    "douyin": PlatformProfile(0.12, {"live_streaming_seller": 0.5, "social_media_influencer": 0.3,
                                     "ecommerce_model": 0.08, "online_store_owner": 0.07, "other": 0.05},
                              (0.05, 0.3), 0.05, 0.45, 0.5, "kuaishou"),
    "kuaishou": PlatformProfile(0.08, {"live_streaming_seller": 0.55, "social_media_influencer": 0.3,
                                       "handicraft_home_worker": 0.05, "online_store_owner": 0.05,
                                       "other": 0.05}, (0.05, 0.3), 0.05, 0.45, 0.5, "douyin"),
    "wechat_channels": PlatformProfile(0.04, {"live_streaming_seller": 0.45, "social_media_influencer": 0.35,
                                              "online_store_owner": 0.1, "other": 0.1},
                                       (0.02, 0.2), 0.05, 0.4, 0.5, "douyin"),
    "taobao": PlatformProfile(0.08, {"online_store_owner": 0.6, "online_customer_service": 0.15,
                                     "ecommerce_model": 0.08, "sourcing_buyer": 0.07,
                                     "live_streaming_seller": 0.05, "handicraft_home_worker": 0.05},
                              (0.02, 0.1), 0.05, 0.5, 0.6, "pinduoduo"),
    "jd": PlatformProfile(0.03, {"online_store_owner": 0.6, "online_customer_service": 0.25,
                                 "sourcing_buyer": 0.1, "other": 0.05}, (0.02, 0.1), 0.05, 0.55, 0.5, "taobao"),
    "pinduoduo": PlatformProfile(0.05, {"online_store_owner": 0.6, "online_customer_service": 0.15,
                                        "handicraft_home_worker": 0.1, "sourcing_buyer": 0.1, "other": 0.05},
                                 (0.02, 0.08), 0.05, 0.45, 0.6, "taobao"),
    "alibaba1688": PlatformProfile(0.02, {"sourcing_buyer": 0.45, "online_store_owner": 0.3,
                                          "handicraft_home_worker": 0.2, "other": 0.05},
                                   (0.02, 0.06), 0.05, 0.4, 0.6, "taobao"),
    "xiaohongshu": PlatformProfile(0.05, {"social_media_influencer": 0.6, "sourcing_buyer": 0.15,
                                          "online_store_owner": 0.1, "ecommerce_model": 0.1, "other": 0.05},
                                   (0.05, 0.2), 0.05, 0.35, 0.7, "douyin"),
    "xingsheng": PlatformProfile(0.03, {"community_group_buying_leader": 0.9, "other": 0.1},
                                 (0.0, 0.05), 0.2, 0.5, 0.0, "meituan", True),
    "zbj": PlatformProfile(0.03, {"freelance_designer": 0.35, "freelance_developer": 0.3, "online_tutor": 0.1,
                                  "online_customer_service": 0.1, "other": 0.15},
                           (0.1, 0.2), 0.05, 0.6, 0.9, "xiaohongshu"),
}
GENERIC_PROFILE = PlatformProfile(0.02, {"other": 1.0}, (0.0, 0.2), 0.1, 0.6, 0.3)


@dataclass(frozen=True)
class OccupationProfile:
    """Pay and work pattern of an occupation: the medians the synthetic incomes scatter around."""

    hourly: float  # CNY per hour (median)
    hours: float  # hours per month on one platform (median)
    female: float  # share of women
    tasks_per_hour: float
    insured: float  # share of known social_insurance that is true
    educated: bool  # draws from the higher education mix
    titles: tuple[str, ...]
    wage_period: str  # how postings for it state the wage
    wage: float  # typical wage per that period (CNY)


OCCUPATIONS: dict[str, OccupationProfile] = {
    "online_delivery_rider": OccupationProfile(24, 170, 0.1, 2.3, 0.35, False,
                                               ("外卖骑手", "众包骑手", "专送骑手", "跑腿配送员"), "piece", 6.5),
    "ride_hailing_driver": OccupationProfile(30, 190, 0.05, 1.2, 0.25, False,
                                             ("网约车司机", "快车司机", "专车司机"), "month", 9000),
    "freight_driver": OccupationProfile(40, 160, 0.03, 0.6, 0.2, False,
                                        ("货车司机", "搬家司机", "同城货运司机"), "day", 380),
    "live_streaming_seller": OccupationProfile(35, 90, 0.6, 3.0, 0.1, False,
                                               ("带货主播", "直播销售员", "直播间运营主播"), "month", 7000),
    "social_media_influencer": OccupationProfile(30, 50, 0.6, 0.5, 0.05, True,
                                                 ("短视频达人", "自媒体博主", "种草达人"), "piece", 800),
    "ecommerce_model": OccupationProfile(80, 30, 0.8, 0.3, 0.05, False,
                                         ("电商模特", "服装试穿模特", "平面模特"), "hour", 150),
    "online_store_owner": OccupationProfile(25, 120, 0.5, 2.0, 0.15, False,
                                            ("网店运营", "店铺合伙人", "网店店长"), "month", 6000),
    "sourcing_buyer": OccupationProfile(35, 80, 0.6, 0.5, 0.1, True,
                                        ("采购买手", "选品买手", "供应链采购"), "month", 7500),
    "community_group_buying_leader": OccupationProfile(20, 60, 0.75, 3.0, 0.05, False,
                                                       ("社区团长", "团购团长", "自提点团长"), "month", 3000),
    "online_customer_service": OccupationProfile(20, 150, 0.7, 6.0, 0.4, False,
                                                 ("网络客服", "在线客服", "售后客服"), "hour", 20),
    "home_service_worker": OccupationProfile(30, 120, 0.85, 0.5, 0.2, False,
                                             ("家政保洁", "育儿嫂", "钟点工"), "hour", 40),
    "handicraft_home_worker": OccupationProfile(12, 80, 0.9, 10.0, 0.02, False,
                                                ("居家手工", "宝妈手工活", "来料加工"), "piece", 0.8),
    "freelance_designer": OccupationProfile(60, 50, 0.5, 0.1, 0.05, True,
                                            ("平面设计", "LOGO设计", "UI设计师"), "piece", 1500),
    "freelance_developer": OccupationProfile(90, 50, 0.2, 0.05, 0.05, True,
                                             ("小程序开发", "前端开发", "Python开发"), "piece", 5000),
    "online_tutor": OccupationProfile(70, 40, 0.65, 0.8, 0.05, True,
                                      ("在线家教", "网课老师", "英语陪练"), "hour", 120),
    "other": OccupationProfile(22, 80, 0.5, 1.0, 0.1, False, ("兼职", "临时工", "杂工"), "day", 200),
}
TITLE_SUFFIXES = ("", "", "", "（急招）", "（日结）", "（包吃住）", "（可兼职）", "（多劳多得）", "（新手可做）")

# Population (2020 census, millions) by province code: residence is drawn in proportion, with the
# coastal magnets of platform work boosted; hukou of migrants is drawn towards the sending provinces.
PROVINCE_POPULATION: dict[str, float] = {
    "11": 21.9, "12": 13.9, "13": 74.6, "14": 34.9, "15": 24.0, "21": 42.6, "22": 24.1, "23": 31.9,
    "31": 24.9, "32": 84.7, "33": 64.6, "34": 61.0, "35": 41.5, "36": 45.2, "37": 101.5, "41": 99.4,
    "42": 57.8, "43": 66.4, "44": 126.0, "45": 50.1, "46": 10.1, "50": 32.1, "51": 83.7, "52": 38.6,
    "53": 47.2, "54": 3.6, "61": 39.5, "62": 25.0, "63": 5.9, "64": 7.2, "65": 25.9,
}
DESTINATION_BOOST = {"11": 1.5, "31": 1.6, "44": 1.4, "33": 1.3, "32": 1.2, "35": 1.1}
SENDING_BOOST = {"41": 2.0, "51": 1.8, "34": 1.8, "43": 1.6, "52": 1.5, "36": 1.5, "45": 1.3, "42": 1.3,
                 "50": 1.2, "13": 1.1, "37": 1.0, "62": 1.0}
AGE_BANDS = ((18, 24, 0.22), (25, 34, 0.38), (35, 44, 0.22), (45, 54, 0.12), (55, 64, 0.05), (65, 70, 0.01))
EDUCATION_MIX = {"junior_high": 0.30, "senior_high": 0.25, "vocational": 0.15, "associate": 0.15,
                 "bachelor": 0.12, "master": 0.02, "none": 0.01}
EDUCATION_MIX_HIGH = {"senior_high": 0.08, "vocational": 0.07, "associate": 0.25, "bachelor": 0.45,
                      "master": 0.13, "doctorate": 0.02}
GENDER_CODE = {g: i for i, g in enumerate(contract.GENDERS)}
DRIFT_COLUMNS = ("app_version", "city_name", "rider_level", "remark", "channel")
UNREADABLE_BYTES = b"\xff\xfe\xfd\x80\x80"  # invalid in UTF-8 and in GB18030 alike
DATE_BASE = date(1900, 1, 1)  # first date ts_text() can write


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateSummary:
    """What a run wrote: the same figures as the manifest, for the CLI and tests."""

    out: Path
    files: dict[str, int]  # files written per source (including faulty files)
    rows: dict[str, int]  # rows delivered per source in files that load (loaded + quarantined)
    bad_rows: dict[str, dict[str, int]]  # source -> reason code -> rows injected
    file_faults: dict[str, dict[str, str]]  # source -> path -> expected error code or "duplicate"
    manifest: Path
    seconds: float = 0.0


def generate_landing(
    out: Path,
    workers: int = 2000,
    months: int = 3,
    seed: int = 42,
    start_period: str = "2025-01",
    progress: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """Write a synthetic landing tree under `out` and its manifest; same arguments, same bytes.

    `workers` is the number of distinct persons, `months` the number of periods from
    `start_period`. `progress(done, total)` is called after each file is written.
    """
    started = datetime.now()
    out = Path(out)
    if workers < 1 or months < 1:
        raise ValueError("workers and months must be at least 1")
    cal = Calendar.from_period(start_period, months)
    ref = Reference.load()
    world = World(ref, cal, workers, seed)

    draw = {"gig_registrations": world.registrations, "income_records": world.income,
            "job_postings": world.postings}
    # until a source is planned, count a file per platform and day (the progress bar's total)
    writer = TreeWriter(out, progress, len(contract.SOURCES) * len(ref.platforms) * cal.n_days)
    # Each source has its own random streams, so the next one can be drawn (numpy, mostly single-threaded)
    # while the previous one is written; the largest source comes last and overlaps the most. Postings come
    # first: they need no persons, which are drawn (World.populate) while the postings are written.
    with ThreadPoolExecutor(max_workers=1) as writing:
        pending = {}
        for src in contract.SOURCES:
            plan = plan_source(src, draw[src](), world)
            writer.planned(len(plan.files), len(ref.platforms) * cal.n_days)
            pending[src] = writing.submit(writer.write_source, plan, world)
            del plan  # the writer holds it until the source is written
        manifest_sources = {src: job.result() for src, job in pending.items()}

    manifest = {
        "generator": "pipelines.generate",
        "parameters": {"workers": workers, "months": months, "seed": seed, "start_period": start_period,
                       "periods": [cal.period_label(m) for m in range(months)],
                       "first_delivery_date": cal.day_date(0).isoformat(),
                       "last_delivery_date": cal.day_date(cal.n_days - 1).isoformat()},
        "persons": world.person_facts(),
        "sources": {src: m["summary"] for src, m in manifest_sources.items()},
        "files": {path: entry for m in manifest_sources.values() for path, entry in m["files"].items()},
    }
    manifest_path = out / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")
    srcs = manifest["sources"]
    return GenerateSummary(
        out=out,
        files={s: srcs[s]["files"] for s in contract.SOURCES},
        rows={s: srcs[s]["rows"] for s in contract.SOURCES},
        bad_rows={s: dict(srcs[s]["bad_rows"]) for s in contract.SOURCES},
        file_faults={s: dict(srcs[s]["file_faults"]) for s in contract.SOURCES},
        manifest=manifest_path,
        seconds=(datetime.now() - started).total_seconds(),
    )


# --------------------------------------------------------------------------------------------
# Calendar and reference data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """Days are integers from the first day of the first period; times are seconds from its midnight.

    All times are Shanghai wall-clock time (what naive timestamps mean in the contract).
    """

    start: date
    months: int
    month_start: np.ndarray  # day index of the first day of months 0..months+2 (may exceed the window)

    @classmethod
    def from_period(cls, period: str, months: int) -> Calendar:
        start = datetime.strptime(period, "%Y-%m").date()
        starts = []
        y, m = start.year, start.month
        for _ in range(months + 3):
            starts.append((date(y, m, 1) - start).days)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return cls(start, months, np.array(starts, dtype=np.int64))

    @property
    def n_days(self) -> int:
        return int(self.month_start[self.months])

    def day_date(self, day: int) -> date:
        return self.start + timedelta(days=int(day))

    def period_label(self, month: int) -> str:
        y, m = divmod(self.start.year * 12 + self.start.month - 1 + month, 12)
        return f"{y:04d}-{m + 1:02d}"

    def month_of_day(self, day: np.ndarray) -> np.ndarray:
        """Month index of each day (negative days give -1: before the window)."""
        return np.searchsorted(self.month_start, day, side="right").astype(np.int64) - 1

    @property
    def epoch(self) -> int:
        """Unix seconds of the window's first midnight read as UTC (Polars then shows the wall clock)."""
        return int(datetime(self.start.year, self.start.month, 1).replace(tzinfo=None).timestamp()
                   - datetime(1970, 1, 1).timestamp())


@dataclass(frozen=True)
class Reference:
    """The codes rows may carry (from the seeds) and the sampling structures built on them."""

    platforms: tuple[str, ...]
    occupations: tuple[str, ...]
    regions: pl.DataFrame  # region_code, region_level, province_code

    @classmethod
    def load(cls) -> Reference:
        regions = reference.seed("regions")
        if "province_code" not in regions.columns:
            regions = regions.with_columns(province_code=pl.col("region_code").str.slice(0, 2) + "0000")
        return cls(
            platforms=tuple(sorted(reference.known_platforms())),
            occupations=tuple(sorted(reference.known_occupations())),
            regions=regions.select("region_code", "region_level", "province_code").sort("region_code"),
        )

    def not_a_region(self) -> list[str]:
        """Six-digit codes that look plausible but are not in the table (HK, Macao, Taiwan, abolished)."""
        known = set(self.regions["region_code"].to_list())
        candidates = ["810000", "820000", "710000", "110199", "320199", "440399", "990100", "510899"]
        return [c for c in candidates if c not in known]

    def not_an_occupation(self) -> list[str]:
        known = set(self.occupations)
        return [c for c in ("courier", "主播", "rider", "driver_ride", "anchor") if c not in known]


def rng_for(seed: int, *stream: int | str) -> np.random.Generator:
    """An independent stream per component, so changing one part does not shift the others."""
    words = [seed] + [s if isinstance(s, int) else int.from_bytes(s.encode()[:8].ljust(8, b"\0"), "little")
                      for s in stream]
    return np.random.default_rng(words)


def choose(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n draws of category indices with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


def hex_keys(rng: np.random.Generator, n: int, width: int = 64) -> np.ndarray:
    """n random lowercase hex strings as a numpy bytes array (the shape of a salted sha256)."""
    raw = rng.integers(0, 256, size=(n, width // 2), dtype=np.uint8)
    lut = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, 0::2] = lut[raw >> 4]
    chars[:, 1::2] = lut[raw & 15]
    return chars.view(f"S{width}").ravel()


def national_ids(rng: np.random.Generator, regions: np.ndarray, birth_years: np.ndarray) -> list[str]:
    """Values that look like 18-character resident ID numbers (with a valid check character)."""
    n = len(regions)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    seq = rng.integers(0, 1000, n)
    body = np.array([f"{r}{y:04d}{m:02d}{d:02d}{s:03d}" for r, y, m, d, s
                     in zip(regions, birth_years, month, day, seq, strict=True)])
    digits = np.array([list(b) for b in body], dtype=np.int64) if n else np.zeros((0, 17), np.int64)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"))[(digits * weights).sum(axis=1) % 11] if n else np.array([])
    return [b + c for b, c in zip(body, check, strict=True)]


def fmt_ids(prefix: str, ids: pl.Expr, width: int = 10) -> pl.Expr:
    """Fixed-width ids (PREFIX1000000042): an offset instead of zfill, which is slow on 16M rows."""
    return pl.lit(prefix) + (ids.cast(pl.Int64) + 10 ** (width - 1)).cast(pl.String)


# --------------------------------------------------------------------------------------------
# The synthetic world: persons, registrations, income, postings
# --------------------------------------------------------------------------------------------


class World:
    """Persons and their platform registrations, from which the three sources are drawn.

    Persons and registrations (pairs) are drawn on first use (populate()): postings need neither, so
    the generator draws them while the postings are being written.
    """

    def __init__(self, ref: Reference, cal: Calendar, workers: int, seed: int) -> None:
        self.ref, self.cal, self.n, self.seed = ref, cal, workers, seed
        self.profiles = [PROFILES.get(p, GENERIC_PROFILE) for p in ref.platforms]
        self.occ_codes = list(ref.occupations)
        fallback = "other" if "other" in self.occ_codes else self.occ_codes[0]
        self.occ_profiles = [OCCUPATIONS.get(o, OCCUPATIONS["other"]) for o in self.occ_codes]
        # platform x occupation mix over the seed's occupation codes
        mix = np.zeros((len(self.profiles), len(self.occ_codes)))
        for i, prof in enumerate(self.profiles):
            for code, w in prof.occupations.items():
                mix[i, self.occ_codes.index(code if code in self.occ_codes else fallback)] += w
        self.occ_mix = mix / mix.sum(axis=1, keepdims=True)
        self._regions()
        self.populated = False

    def populate(self) -> None:
        """Draw the persons and their registrations, once (each from its own random stream)."""
        if not self.populated:
            self._persons()
            self._pairs()
            self.populated = True

    # -- regions ---------------------------------------------------------------------------

    def _regions(self) -> None:
        reg = self.ref.regions
        self.region_codes = np.array(reg["region_code"].to_list())
        prov_codes = sorted(set(reg["province_code"].to_list()))
        self.province_codes = np.array(prov_codes)
        prov_index = {c: i for i, c in enumerate(prov_codes)}
        self.region_prov = np.array([prov_index[p] for p in reg["province_code"].to_list()])
        level = np.array(reg["region_level"].to_list())
        pop = np.array([PROVINCE_POPULATION.get(c[:2], 5.0) for c in prov_codes])
        self.dest_w = pop * np.array([DESTINATION_BOOST.get(c[:2], 1.0) for c in prov_codes])
        self.send_w = pop * np.array([SENDING_BOOST.get(c[:2], 0.6) for c in prov_codes])
        # Within a province: urban districts (county code suffix < 20) weigh three times a rural county.
        suffix = np.array([int(c[4:]) for c in self.region_codes])
        w_local = np.where(level == "county", np.where(suffix < 20, 3.0, 1.0), 0.0)
        self.county_w = w_local
        self.prefecture_mask = level == "prefecture"
        self.province_row = {prov_index[p]: i for i, (p, c) in
                             enumerate(zip(reg["province_code"].to_list(), self.region_codes, strict=True))
                             if p == c}

    def _local_regions(self, rng: np.random.Generator, prov: np.ndarray, county_share: float) -> np.ndarray:
        """A county (or, with 1 - county_share, a prefecture) inside each given province: its row in region_codes.

        Rows, not codes: columns of codes are built from them in Polars (numpy strings convert slowly).
        """
        out = np.empty(len(prov), dtype=np.int32)
        use_county = rng.random(len(prov)) < county_share
        for p in np.unique(prov):
            rows = np.flatnonzero(self.region_prov == p)
            for mask, w in ((use_county, self.county_w[rows]), (~use_county, self.prefecture_mask[rows] * 1.0)):
                sel = np.flatnonzero((prov == p) & mask)
                if len(sel) == 0:
                    continue
                if w.sum() == 0:  # no prefectures/counties (never in GB/T 2260, but stay defined)
                    w = np.ones(len(rows))
                out[sel] = rows[choose(rng, w, len(sel))]
        return out

    # -- persons -----------------------------------------------------------------------------

    def _persons(self) -> None:
        rng = rng_for(self.seed, "persons")
        n = self.n
        self.person_keys = pl.Series("person_key", hex_keys(rng, n)).cast(pl.String)
        band = choose(rng, np.array([b[2] for b in AGE_BANDS]), n)
        lo = np.array([b[0] for b in AGE_BANDS])[band]
        hi = np.array([b[1] for b in AGE_BANDS])[band]
        age = rng.integers(lo, hi + 1)
        self.birth_year = self.cal.start.year - age
        self.res_prov = choose(rng, self.dest_w, n)
        self.residence_row = self._local_regions(rng, self.res_prov, 0.85)
        self.residence = self.region_codes[self.residence_row]
        kind = choose(rng, np.array([0.55, 0.15, 0.25, 0.05]), n)  # same place / same province / migrant / missing
        hukou = self.residence_row.copy()
        same_prov = kind == 1
        hukou[same_prov] = self._local_regions(rng, self.res_prov[same_prov], 1.0)
        migrant = np.flatnonzero(kind == 2)
        src = choose(rng, self.send_w, len(migrant))
        clash = src == self.res_prov[migrant]
        src[clash] = (src[clash] + 1) % len(self.province_codes)
        hukou[migrant] = self._local_regions(rng, src, 0.95)
        hukou[kind == 3] = -1
        self.hukou_row = hukou
        other = rng.random(n)
        self.has_other_job = np.where(other < 0.1, -1, (rng.random(n) < 0.35).astype(np.int64))
        self.edu_draw = rng.random(n)
        self.gender_draw = rng.random(n)
        # a few persons whose registrations never arrive: income without registration (dq table)
        self.unregistered = rng.random(n) < 0.003

    # -- registrations (person x platform pairs) ---------------------------------------------

    def _pairs(self) -> None:
        rng = rng_for(self.seed, "pairs")
        n, n_plat = self.n, len(self.profiles)
        count = 1 + choose(rng, np.array([0.82, 0.14, 0.04]), n)  # 18 % on two or more platforms
        person = np.repeat(np.arange(n), count)
        rank = np.arange(len(person)) - np.repeat(np.cumsum(count) - count, count)
        weights = np.array([p.weight for p in self.profiles])
        plat = choose(rng, weights, len(person))
        sibling = np.array([self.ref.platforms.index(p.sibling) if p.sibling in self.ref.platforms else -1
                            for p in self.profiles])
        # second and third registrations: half of them on the sibling of the first platform
        first = np.repeat(plat[rank == 0], count)
        use_sib = (rank > 0) & (rng.random(len(person)) < 0.5) & (sibling[first] >= 0)
        plat[use_sib] = sibling[first[use_sib]]
        for _ in range(3):  # make platforms distinct within a person
            prev1 = np.where(rank >= 1, np.roll(plat, 1), -1)
            prev2 = np.where(rank >= 2, np.roll(plat, 2), -1)
            clash = (plat == prev1) | (plat == prev2)
            plat[clash] = (plat[clash] + 1 + rank[clash]) % n_plat
        # occupation: keep the person's first occupation where the platform has it, else the platform's mix
        cum = np.cumsum(self.occ_mix, axis=1)
        occ = (rng.random(len(person))[:, None] > cum[plat]).sum(axis=1).clip(0, len(self.occ_codes) - 1)
        first_occ = np.repeat(occ[rank == 0], count)
        keep = (rank > 0) & (self.occ_mix[plat, first_occ] > 0)
        occ[keep] = first_occ[keep]
        # persons: gender and education follow the first occupation
        female = np.array([o.female for o in self.occ_profiles])[occ[rank == 0]]
        g = self.gender_draw
        self.gender = np.where(g < 0.01, GENDER_CODE["U"], np.where(g < 0.01 + 0.99 * female, GENDER_CODE["F"],
                                                                   GENDER_CODE["M"])).astype(np.int8)
        educated = np.array([o.educated for o in self.occ_profiles])[occ[rank == 0]]
        self.education = self._education(rng, educated)

        # registration time: 60 % before the window (up to 3 years), the rest inside it
        first_reg = np.where(
            rng.random(n) < 0.6,
            -rng.integers(1, 3 * 365, n) * DAY,
            rng.integers(0, self.cal.n_days, n) * DAY,
        ) + rng.integers(7 * 3600, 23 * 3600, n)
        # nobody registers before the year they turn 17 (contract: age >= 16 by year)
        earliest = self._earliest_registration()
        first_reg = np.maximum(first_reg, earliest + 9 * 3600)
        end = self.cal.n_days * DAY
        later = rank > 0
        base = np.repeat(first_reg, count)
        reg = base.copy()
        reg[later] = base[later] + (rng.random(later.sum()) * (end - np.maximum(base[later], 0))).astype(np.int64)
        reg = np.minimum(reg, end - 3600)

        order = np.lexsort((rank, person, plat))  # pairs grouped by platform: cheaper gathers later
        self.pair_person = person[order]
        self.pair_platform = plat[order]
        self.pair_occ = occ[order]
        self.pair_reg = reg[order]
        self.pair_rank = rank[order]
        self.n_pairs = len(order)
        p = self.n_pairs
        # status changes after registration (delivered later as corrections)
        reg_day = self.pair_reg // DAY
        room = self.cal.n_days - 1 - np.maximum(reg_day, 0)
        change = choose(rng, np.array([0.91, 0.03, 0.06]), p)  # none / suspended / deregistered
        change[room < 2] = 0
        change_day = np.maximum(reg_day, 0) + 1 + (rng.random(p) * np.maximum(room - 1, 1)).astype(np.int64)
        self.pair_change = change
        self.pair_change_t = change_day * DAY + rng.integers(8 * 3600, 22 * 3600, p)
        # conflicting registrations of a few multi-platform persons: later registration disagrees
        self.pair_conflict = np.where((self.pair_rank > 0) & (rng.random(p) < 0.03),
                                      1 + (rng.random(p) < 0.5), 0)  # 1 birth_year, 2 gender
        # pay pattern and intensity per pair
        prof = self.profiles
        weekly = np.array([pr.weekly_pay for pr in prof])[self.pair_platform]
        u = rng.random(p)
        self.pair_schedule = np.where(u < weekly, 2, np.where(u < weekly + 0.2, 1, 0))  # weekly/biweekly/monthly
        self.pair_payday = rng.integers(0, 14, p)
        occp = self.occ_profiles
        self.pair_hours = np.clip(np.array([o.hours for o in occp])[self.pair_occ]
                                  * rng.lognormal(0, 0.6, p), 3, 300)
        self.pair_rate = np.array([o.hourly for o in occp])[self.pair_occ] * rng.lognormal(0, 0.35, p)
        fee_lo = np.array([pr.fee[0] for pr in prof])[self.pair_platform]
        fee_hi = np.array([pr.fee[1] for pr in prof])[self.pair_platform]
        self.pair_fee = fee_lo + rng.random(p) * (fee_hi - fee_lo)

    def _earliest_registration(self) -> np.ndarray:
        years = self.birth_year + 17
        start = np.datetime64(self.cal.start.isoformat(), "D")
        jan1 = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        return (jan1 - start).astype(np.int64) * DAY

    def _education(self, rng: np.random.Generator, educated: np.ndarray) -> np.ndarray:
        """Each person's education as its index in contract.EDUCATION (-1: not reported)."""
        n = len(educated)
        out = np.full(n, -1, dtype=np.int8)
        for mask, mix in ((~educated, EDUCATION_MIX), (educated, EDUCATION_MIX_HIGH)):
            idx = np.flatnonzero(mask)
            levels = np.array([contract.EDUCATION.index(level) for level in mix], dtype=np.int8)
            out[idx] = levels[choose(rng, np.array(list(mix.values())), len(idx))]
        out[rng.random(n) < 0.1] = -1
        return out

    def person_facts(self) -> dict[str, int]:
        """Counts the dq tables can be checked against."""
        self.populate()
        multi = np.bincount(self.pair_person, minlength=self.n) >= 2
        conflicted = np.zeros(self.n, bool)
        regd = ~self.unregistered[self.pair_person]
        conflicted[self.pair_person[(self.pair_conflict > 0) & regd]] = True
        return {
            "persons": int(self.n),
            "registrations_pairs": int(self.n_pairs),
            "multi_platform_persons": int(multi.sum()),
            "persons_without_registration": int(self.unregistered.sum()),
            "persons_with_conflicting_registrations": int((conflicted & ~self.unregistered).sum()),
        }

    # -- gig_registrations -------------------------------------------------------------------

    def registrations(self) -> pl.DataFrame:
        """One row per registration on the registration day, plus a later row per status change."""
        self.populate()
        rng = rng_for(self.seed, "registrations")
        keep = ~self.unregistered[self.pair_person]
        idx = np.flatnonzero(keep)
        person = self.pair_person[idx]
        reg_t = self.pair_reg[idx]
        # registrations from before the window arrive in the first folder (the platform's initial load)
        deliver = np.maximum(reg_t // DAY, 0)
        birth = self.birth_year[person].copy()
        gender = self.gender[person].copy()
        conflict = self.pair_conflict[idx]
        birth[conflict == 1] -= 1
        flip = conflict == 2
        gender[flip] = np.where(gender[flip] == GENDER_CODE["M"], GENDER_CODE["F"], GENDER_CODE["M"])
        # text columns as codes here (-1: null) and as text at the end, via lookups in Polars
        base = pl.DataFrame({
            "registration_id": idx.astype(np.int64),
            "platform": self.pair_platform[idx].astype(np.int32),
            "person": person.astype(np.int64),
            "registered_at": reg_t,
            "updated_at": reg_t + rng.integers(0, 120, len(idx)),
            "birth_year": birth,
            "gender": gender,
            "residence_region_code": self.residence_row[person],
            "hukou_region_code": self.hukou_row[person],
            "occupation_code": self.pair_occ[idx].astype(np.int16),
            "education_level": self.education[person],
            "has_other_job": self.has_other_job[person],
            "status": np.zeros(len(idx), dtype=np.int8),
            "deregistered_at": np.full(len(idx), -1, dtype=np.int64),
            "day": deliver,
        })
        ch = self.pair_change[idx]
        sel = np.flatnonzero(ch > 0)
        t = self.pair_change_t[idx][sel]
        corr = base[sel].with_columns(
            updated_at=pl.Series(t),
            status=pl.Series(ch[sel].astype(np.int8)),  # 1 suspended, 2 deregistered
            deregistered_at=pl.Series(np.where(ch[sel] == 2, t, -1)),
            day=pl.Series(t // DAY),
        )
        df = pl.concat([base, corr])
        regions = pl.Series(self.region_codes)
        text = {"gender": contract.GENDERS, "residence_region_code": regions, "hukou_region_code": regions,
                "occupation_code": self.occ_codes, "education_level": contract.EDUCATION,
                "status": contract.REGISTRATION_STATUSES}  # active, suspended, deregistered: pair_change 0, 1, 2
        return df.with_columns(
            *[lookup(values, pl.when(pl.col(c) >= 0).then(pl.col(c))).alias(c) for c, values in text.items()],
            pl.when(pl.col("has_other_job") >= 0).then(pl.col("has_other_job") == 1).alias("has_other_job"),
            pl.when(pl.col("deregistered_at") >= 0).then(pl.col("deregistered_at")).alias("deregistered_at"),
        )

    # -- income_records ----------------------------------------------------------------------

    def activity(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(pair, month) of active pair-months: churn by tenure, new entrants, some returns.

        Compact dtypes (int32 pairs, int16 months): income repeats these per payout, ~16M rows at 1M workers.
        """
        cal = self.cal
        reg_month = cal.month_of_day(self.pair_reg // DAY)
        pre = self.pair_reg < 0
        reg_month_approx = np.where(pre, np.floor(self.pair_reg / DAY / 30.44).astype(np.int64), reg_month)
        stop_month = np.where(self.pair_change > 0, cal.month_of_day(self.pair_change_t // DAY), 10**6)
        prev = rng.random(self.n_pairs, dtype=np.float32) < 0.75
        pairs, months = [], []
        for m in range(cal.months):
            tenure = np.clip(m - reg_month_approx, 0, 12)
            p = np.where(prev, 0.80 + 0.15 * tenure / 12, 0.15)
            p = np.where(reg_month == m, 0.9, p)
            registered = (reg_month <= m) | pre
            alive = stop_month >= m
            act = registered & alive & (rng.random(self.n_pairs, dtype=np.float32) < p)
            prev = np.where(registered, act, prev)
            sel = np.flatnonzero(act).astype(np.int32)
            pairs.append(sel)
            months.append(np.full(len(sel), m, dtype=np.int16))
        return np.concatenate(pairs), np.concatenate(months)

    def income(self) -> pl.DataFrame:
        """Income records: payouts per active pair-month (weekly, bi-weekly or monthly), bonuses, corrections.

        Rows come sorted into their files (platform x delivery day): sorting small numpy columns without
        nulls here is cheaper than plan_source() gathering the frame, and each column is sorted and its
        unsorted copy dropped in turn, so the ~16M rows of 1M workers exist about once in memory.
        """
        self.populate()
        columns, corrections = self._payouts(rng_for(self.seed, "income"))
        order = file_order(np.concatenate([columns["platform"], columns["platform"][corrections["row"]]]),
                           np.concatenate([columns["day"], corrections["day"]]), self.cal.n_days)
        rows = {}
        for name in list(columns):
            payouts = columns.pop(name)
            corrected = corrections.get(name, payouts[corrections["row"]])
            rows[name] = np.take(np.concatenate([payouts, corrected]), order)
            del payouts, corrected
        return pl.DataFrame(rows).with_columns(
            pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c) for c in ("fee_c", "hours_t", "tasks", "si", "currency")
        )

    def _payouts(self, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Payout columns (-1 where null) and corrections (`row`: the payout corrected, and its new values).

        Drawn lean, as the largest source: float32 uniforms and normals (probabilities and spreads need no
        more), small integer dtypes, values computed once per pair-month and gathered per payout (np.take
        with intp indices: fancy indexing is slower), in place where possible, and temporaries dropped as
        soon as they are used (each payout-length array is 16-128 MB, and fresh memory costs page faults).
        """
        cal = self.cal
        f32 = np.float32
        pair, month = self.activity(rng)  # one entry per active pair-month
        # grouped by platform (pairs are sorted by platform), then month: payouts then come out close to
        # their files' order (platform x delivery day), and sorting them into files is a gather with locality
        by_platform = np.argsort(np.take(self.pair_platform.astype(np.int8), pair), kind="stable")
        pair, month = np.take(pair, by_platform).astype(np.intp), np.take(month, by_platform)
        del by_platform
        n_pm = len(pair)
        sched = np.take(self.pair_schedule.astype(np.int8), pair)  # 0 monthly, 1 bi-weekly, 2 weekly
        base_n = np.take(np.array([1, 2, 4], dtype=np.int8), sched)
        n_rec = base_n + (rng.random(n_pm, dtype=f32) < 0.12)  # a bonus on top of 12 % of pair-months
        pm = np.repeat(np.arange(n_pm), n_rec)  # payout -> its pair-month
        n = len(pm)
        group_start = np.cumsum(n_rec, dtype=np.intp) - n_rec
        k = np.ones(n, dtype=np.int8)  # payout number inside the pair-month: a running count reset per group
        k[group_start] = 1 - np.concatenate([[1], n_rec[:-1]])
        k = np.cumsum(k, dtype=np.int8)
        is_bonus = k >= np.take(base_n, pm)

        def per_payout(values: np.ndarray, pair: np.ndarray = pair, pm: np.ndarray = pm) -> np.ndarray:
            """A per-pair value for each payout (via the pair-months: no payout-length index of pairs)."""
            return np.take(np.take(values, pair), pm)

        out = {
            "record_id": np.arange(n, dtype=np.int32 if n < 2**31 else np.int64),
            "platform": per_payout(self.pair_platform.astype(np.int8)),
            "person": per_payout(self.pair_person.astype(np.int32)),
            "month": np.take(month, pm),
        }
        occ = per_payout(self.pair_occ.astype(np.int8))
        fee_rate = per_payout(self.pair_fee.astype(f32))
        # monthly hours and gross of the pair-month, split over its payouts by random weights; bonuses on top
        z = rng.standard_normal((2, n_pm), dtype=f32)
        month_hours = np.take(self.pair_hours, pair) * np.exp(f32(0.25) * z[0])
        np.minimum(month_hours, contract.HOURS_LIMITS[1], out=month_hours)  # more would be out_of_range
        month_gross = month_hours * np.take(self.pair_rate, pair) * np.exp(f32(0.15) * z[1])
        del z
        u = rng.random(n, dtype=f32)
        share = f32(1.5) * u
        share += f32(0.25)
        share[is_bonus] = 0
        share /= np.take(np.add.reduceat(share, group_start), pm) if n else share
        amount = np.take(month_gross * 100, pm)
        amount *= np.where(is_bonus, f32(0.03) + f32(0.12) * u, share)  # the same uniform: bonuses weigh 0
        zero = rng.random(n, dtype=f32) < 0.015
        amount[zero] = 0
        gross_c = out["gross_c"] = np.rint(amount, out=amount).astype(np.int32)
        amount = np.take(month_hours * 10, pm)
        amount *= share
        hours_t = np.rint(amount, out=amount).astype(np.int32)
        del amount, share, u
        reported = np.take(np.array([p.hours_reported for p in self.profiles], dtype=f32), out["platform"])
        hours_t[is_bonus | (rng.random(n, dtype=f32) >= reported)] = -1
        del reported
        tasks = np.exp(f32(0.2) * rng.standard_normal(n, dtype=f32))
        tasks *= np.take(np.array([o.tasks_per_hour / 10 for o in self.occ_profiles], dtype=f32), occ)
        tasks *= np.maximum(hours_t, 0)
        tasks = np.rint(tasks, out=tasks).astype(np.int32)
        tasks[zero] = 0
        tasks[is_bonus | (rng.random(n, dtype=f32) < 0.3)] = -1
        out["hours_t"], out["tasks"] = hours_t, tasks
        fee = fee_rate * gross_c
        fee_c = out["fee_c"] = np.rint(fee, out=fee).astype(np.int32)
        del fee
        fee_c[rng.random(n, dtype=f32) < 0.15] = -1
        # social insurance unknown for 55 %, else true with the occupation's share (one uniform for both)
        insured = np.take(np.array([o.insured for o in self.occ_profiles], dtype=f32), occ)
        insured *= f32(0.45)
        insured += f32(0.55)
        u = rng.random(n, dtype=f32)
        si = out["si"] = (u < insured).astype(np.int8)
        si[u < 0.55] = -1
        out["currency"] = -(rng.random(n, dtype=f32) < 0.7).astype(np.int8)  # -1: not stated, 0: CNY
        del insured, u, occ
        # pay day: weekly/bi-weekly inside the month, monthly settlement and bonuses early next month
        m0 = np.take(cal.month_start.astype(np.int32), month)
        m1 = np.take(cal.month_start.astype(np.int32), month + 1)
        payday = np.take(self.pair_payday.astype(np.int32), pair)
        first = np.where(sched == 2, m0 + payday % 7, np.where(sched == 1, m0 + payday, m1 + payday))
        day = np.take(np.array([0, 14, 7], dtype=np.int32), sched)
        day = np.take(day, pm) * k
        day += np.take(first, pm)
        del k, first
        bonus_rows = np.flatnonzero(is_bonus)
        day[bonus_rows] = np.take(m1, np.take(pm, bonus_rows)) + rng.integers(0, 20, len(bonus_rows), dtype=np.int32)
        last = cal.n_days - 1
        np.maximum(day, np.take(m0, pm), out=day)
        np.minimum(day, last, out=day)
        del pm, bonus_rows
        updated = day * DAY  # seconds from the window's first midnight: int32 holds them for decades
        updated += rng.integers(6 * 3600, 23 * 3600, n, dtype=np.int32)
        out["updated_at"] = updated
        u = rng.random(n, dtype=f32)
        day += u < 0.46  # delivered the same day, a day later or (4 %) two days later
        day += u < 0.04
        deliver = out["day"] = np.minimum(day, last).astype(np.int16)
        del day, u
        # corrections: same record_id, changed amount, newer updated_at, a later folder
        room = last - deliver
        sel = np.flatnonzero((rng.random(n, dtype=f32) < 0.01) & (room >= 3))
        cday = deliver[sel] + 3 + (rng.random(len(sel)) * (np.minimum(room[sel], 40) - 2)).astype(np.int16)
        new_gross = np.round(gross_c[sel] * rng.uniform(0.7, 1.2, len(sel))).astype(np.int32)
        new_fee = np.where(fee_c[sel] >= 0, np.round(new_gross * fee_rate[sel]), -1).astype(np.int32)
        new_t = (cday.astype(np.int32) * DAY + rng.integers(9 * 3600, 20 * 3600, len(sel))).astype(np.int32)
        return out, {"row": sel, "gross_c": new_gross, "fee_c": new_fee, "updated_at": new_t, "day": cday}

    # -- job_postings ------------------------------------------------------------------------

    def postings(self) -> pl.DataFrame:
        """Postings by employers of each platform, delivered on the posting day; closings come later."""
        rng = rng_for(self.seed, "postings")
        cal = self.cal
        n = round(cal.months * (30 + 0.02 * self.n))
        plat_w = np.array([p.weight for p in self.profiles])
        n_plat = len(self.profiles)
        plat = np.sort(choose(rng, plat_w, n))
        # employers: a Zipf-like size distribution inside each platform, each with a home region
        emp = np.empty(n, dtype=np.int64)
        emp_offset = 0
        counts = np.bincount(plat, minlength=n_plat)
        for i in range(n_plat):
            k = counts[i]
            n_emp = max(5, k // 8)
            size_w = 1.0 / np.arange(1, n_emp + 1) ** 1.1
            emp[plat == i] = emp_offset + choose(rng, size_w, k)
            emp_offset += n_emp
        emp_keys = pl.Series(hex_keys(rng, emp_offset, 16)).cast(pl.String)
        emp_prov = choose(rng, self.dest_w, emp_offset)
        emp_region = self.region_codes[self._local_regions(rng, emp_prov, 0.7)]
        level = rng.random(n)
        region = emp_region[emp].copy()
        prefecture = level < 0.25
        region[prefecture] = np.char.add(np.char.ljust(np.char.array(region[prefecture]).astype("<U4"), 4),
                                         "00") if prefecture.any() else region[prefecture]
        province = level > 0.9
        region[province] = self.province_codes[emp_prov[emp[province]]]
        known = set(self.region_codes.tolist())
        region = np.where(np.isin(region, list(known)), region, self.province_codes[emp_prov[emp]])
        cum = np.cumsum(self.occ_mix, axis=1)
        occ = (rng.random(n)[:, None] > cum[plat]).sum(axis=1).clip(0, len(self.occ_codes) - 1)
        occp = [self.occ_profiles[o] for o in range(len(self.occ_codes))]
        t_alt = rng.integers(0, 3, n)
        title_tab = np.array([[p.titles[min(j, len(p.titles) - 1)] for j in range(3)] for p in occp])
        titles = np.char.add(title_tab[occ, t_alt], np.array(TITLE_SUFFIXES)[rng.integers(0, len(TITLE_SUFFIXES), n)])
        loc = np.array([p.location_based for p in self.profiles])[plat]
        etype_p = np.where(loc[:, None], [[0.15, 0.25, 0.55, 0.04, 0.01]], [[0.25, 0.25, 0.15, 0.3, 0.05]])
        etype = (rng.random(n)[:, None] > np.cumsum(etype_p, axis=1)).sum(axis=1).clip(0, 4)
        remote_p = np.array([p.remote for p in self.profiles])[plat]
        is_remote = np.where(rng.random(n) < 0.2, -1, (rng.random(n) < remote_p).astype(np.int64))
        period = np.array([p.wage_period for p in occp])[occ]
        typical = np.array([p.wage for p in occp])[occ] * rng.lognormal(0, 0.25, n)
        has_wage = rng.random(n) < 0.85
        wmin = np.round(typical * 100).astype(np.int64)
        wmax = np.round(typical * rng.uniform(1.0, 1.6, n) * 100).astype(np.int64)
        form = rng.random(n)
        wmin = np.where(has_wage & (form < 0.9), wmin, -1)
        wmax = np.where(has_wage & ((form < 0.8) | (form >= 0.9)), np.maximum(wmax, wmin), -1)
        period = np.where(has_wage, period, "")
        headcount = np.where(rng.random(n) < 0.2, -1, np.minimum(1 + rng.geometric(0.3, n) - 1 +
                                                                 (rng.random(n) < 0.1) * rng.integers(5, 50, n), 200))
        has_age = rng.random(n) < 0.45
        age_min = np.where(has_age, np.array([16, 18, 18, 20, 22])[rng.integers(0, 5, n)], -1)
        age_max = np.where(has_age, np.array([30, 35, 35, 40, 45, 50, 55, 60])[rng.integers(0, 8, n)], -1)
        g = rng.random(n)
        gender_req = np.where(g < 0.55, "", np.where(g < 0.95, "none", np.where(g < 0.98, "female", "male")))
        edu = np.array(contract.EDUCATION)[choose(rng, np.array([0.1, 0.2, 0.25, 0.1, 0.15, 0.17, 0.02, 0.01]), n)]
        edu = np.where(rng.random(n) < 0.4, "", edu)
        posted_day = rng.integers(0, cal.n_days, n)
        posted_t = posted_day * DAY + rng.integers(7 * 3600, 24 * 3600 - 60, n)
        deliver = np.minimum(posted_day + (rng.random(n) < 0.15), cal.n_days - 1)
        close_kind = rng.random(n)
        dur = (rng.exponential(12, n) * DAY).astype(np.int64) + 3600
        closed = np.where(close_kind < 0.25, posted_t + dur, -1)  # deadline stated up front
        occ_code = np.array(self.occ_codes)[occ]
        occ_code = np.where(rng.random(n) < 0.15, "", occ_code)
        df = pl.DataFrame({
            "posting_id": np.arange(n, dtype=np.int64),
            "platform": plat.astype(np.int32),
            "posted_at": posted_t,
            "closed_at": closed,
            "updated_at": posted_t,
            "employer_id": emp_keys.gather(emp),
            "title": titles,
            "occupation_code": occ_code,
            "region_code": region,
            "employment_type": np.array(contract.EMPLOYMENT_TYPES)[etype],
            "is_remote": is_remote,
            "wage_min_c": wmin,
            "wage_max_c": wmax,
            "wage_period": period,
            "headcount": headcount,
            "age_min": age_min,
            "age_max": age_max,
            "gender_requirement": gender_req,
            "education_min": edu,
            "day": deliver,
        })
        # closings delivered later as a newer version of the posting
        close_t = posted_t + dur
        close_day = np.maximum(close_t // DAY, deliver + 1)
        sel = np.flatnonzero((close_kind >= 0.25) & (close_kind < 0.65) & (close_day <= cal.n_days - 1))
        corr = df[sel].with_columns(
            closed_at=pl.Series(close_t[sel]),
            updated_at=pl.Series(np.maximum(close_t[sel], posted_t[sel] + 60)),
            day=pl.Series(close_day[sel]),
        )
        df = pl.concat([df, corr])
        return df.with_columns(
            pl.col("occupation_code", "wage_period", "gender_requirement", "education_min").replace("", None),
            *[pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c)
              for c in ("closed_at", "wage_min_c", "wage_max_c", "headcount", "age_min", "age_max")],
            pl.when(pl.col("is_remote") >= 0).then(pl.col("is_remote") == 1).alias("is_remote"),
        )


# --------------------------------------------------------------------------------------------
# Files: which rows go where, in which format, with which faults
# --------------------------------------------------------------------------------------------

TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S+08:00", "%Y-%m-%dT%H:%M:%SZ")
BOOL_SPELLINGS: tuple[tuple[str, str], ...] = tuple(
    (case(t), case(f)) for t, f in zip(contract.TRUE_VALUES, contract.FALSE_VALUES, strict=True)
    for case in (str.lower, str.upper, str.title) if case is str.lower or t.isascii()
)
CHINESE_BOOL = next(i for i, (t, _) in enumerate(BOOL_SPELLINGS) if not t.isascii())
GENDER_SPELLINGS: tuple[dict[str, str], ...] = (
    {g: g for g in contract.GENDERS},
    {g: next((a for a, v in contract.GENDER_ALIASES.items() if v == g and len(a) > 1 and a.isascii()), g)
     for g in contract.GENDERS},
    {g: next((a for a, v in contract.GENDER_ALIASES.items() if v == g and not a.isascii()), g)
     for g in contract.GENDERS},
    {g: g.lower() for g in contract.GENDERS},
)
CHINESE_GENDER = 2
BOOL_TEXT = tuple(text for pair in BOOL_SPELLINGS for text in pair)  # true and false of spelling k: 2k, 2k + 1
GENDER_TEXT = tuple(spelling[g] for spelling in GENDER_SPELLINGS for g in contract.GENDERS)  # k * 3 + code
ID_PREFIX = {"job_postings": "JP", "gig_registrations": "GR", "income_records": "IR"}
ID_COLUMN = {"job_postings": "posting_id", "gig_registrations": "registration_id", "income_records": "record_id"}
TIMESTAMPS = {"job_postings": ("posted_at", "closed_at", "updated_at"),
              "gig_registrations": ("registered_at", "updated_at", "deregistered_at"),
              "income_records": ("updated_at",)}


@dataclass
class FileStyle:
    """How one delivered file is written: the platform's export habits for that day."""

    fmt: str  # csv / jsonl / parquet
    gz: bool
    encoding: str  # utf-8 / utf-8-sig / gb18030 (csv only)
    ts: int  # index into TS_FORMATS
    bools: int  # index into BOOL_SPELLINGS
    gender: int  # index into GENDER_SPELLINGS
    native: bool  # parquet with native types / jsonl with JSON numbers and booleans
    drop_nulls: bool  # jsonl: absent key instead of null
    shuffle: np.ndarray | None  # column permutation
    drift: str | None = None  # unknown extra column
    malformed: int = 0  # broken lines to insert
    cut_short: bool = False  # the file ends mid-line

    @property
    def suffix(self) -> str:
        return {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}[self.fmt] + (".gz" if self.gz else "")

    @property
    def text(self) -> bool:
        """Can carry any text in any column (bad rows of every kind)."""
        return not (self.fmt == "parquet" and self.native)


@dataclass
class SourcePlan:
    source: str
    rows: pl.DataFrame  # internal rows, sorted by file
    files: list[tuple[int, int, int, int]]  # (platform, day, offset, length)
    styles: list[FileStyle]
    bad: dict[int, pl.DataFrame] = field(default_factory=dict)  # file index -> bad rows
    next_id: int = 0
    delivered: DeliveredRows | None = None  # good and bad rows as the files hold them


def file_order(platform: np.ndarray, day: np.ndarray, n_days: int) -> np.ndarray:
    """The stable order that sorts rows into files (platform x delivery day)."""
    key = platform.astype(np.int64) * n_days + day
    return np.argsort(key.astype(np.uint16 if key.max(initial=0) < 65536 else np.int64), kind="stable")


def plan_source(source: str, df: pl.DataFrame, world: World) -> SourcePlan:
    """Sort rows into files (platform x delivery day), pick each file's style, inject bad rows."""
    rng = rng_for(world.seed, "files", source)
    n_days = world.cal.n_days
    file_key = df["platform"].to_numpy().astype(np.int64) * n_days + df["day"].to_numpy()
    if (np.diff(file_key) < 0).any():  # income comes sorted already: gathering 16M rows costs seconds
        order = file_order(df["platform"].to_numpy(), df["day"].to_numpy(), n_days)
        df, file_key = df[order], file_key[order]
    offsets = np.flatnonzero(np.diff(file_key, prepend=-1))  # sorted: a file starts where the key changes
    keys, counts = file_key[offsets], np.diff(offsets, append=len(file_key))
    files = [(int(k // n_days), int(k % n_days), int(o), int(c)) for k, o, c in zip(keys, offsets, counts,
                                                                                       strict=True)]
    styles = random_styles(rng, len(files), len(contract.COLUMNS[source]))
    plan = SourcePlan(source, df, files, styles, next_id=int(df[ID_COLUMN[source]].max() or 0) + 1)
    inject_bad_rows(plan, world, rng)
    # a few files with an unknown extra column (schema drift)
    regular = [i for i, s in enumerate(styles) if s.fmt != "parquet" or not s.native]
    for i in rng.choice(regular, size=min(len(regular), max(2, len(files) // 150)), replace=False):
        styles[int(i)].drift = DRIFT_COLUMNS[int(rng.integers(len(DRIFT_COLUMNS)))]
    # one CSV that ends mid-line (its broken last line is a malformed row)
    cut = [i for i, s in enumerate(styles) if s.fmt == "csv" and not s.gz and s.encoding == "utf-8"
           and i not in plan.bad and s.malformed == 0 and files[i][3] >= 2]
    if cut:
        styles[cut[int(rng.integers(len(cut)))]].cut_short = True
    # here, while the previous source is being written, rather than on the writer's critical path
    plan.delivered = delivered_rows(source, plan, world)
    return plan


def random_styles(rng: np.random.Generator, n: int, n_columns: int) -> list[FileStyle]:
    """Each file's export habits: mostly CSV, some JSONL and Parquet, some gzip, GBK, BOM, shuffled."""
    u = rng.random((n, 8))
    bools = rng.integers(len(BOOL_SPELLINGS), size=n)
    genders = np.searchsorted(np.cumsum([0.6, 0.15, 0.15, 0.1]), u[:, 6] * 0.9999, side="right")
    ts = np.searchsorted(np.cumsum([0.4, 0.2, 0.25, 0.15]), u[:, 7] * 0.9999, side="right")
    perms = [rng.permutation(n_columns + 1) for _ in range(n)]
    styles = []
    for k in range(n):
        fmt = "csv" if u[k, 0] < 0.65 else "jsonl" if u[k, 0] < 0.8 else "parquet"
        gz = bool((fmt == "csv" and u[k, 1] < 0.12) or (fmt == "jsonl" and u[k, 1] < 0.25))
        encoding = "utf-8"
        if fmt == "csv":
            encoding = "gb18030" if u[k, 2] < 0.1 else "utf-8-sig" if u[k, 2] < 0.22 else "utf-8"
        b, g = int(bools[k]), int(genders[k])
        if encoding == "gb18030":  # GBK exports are the ones written by Chinese-language tooling
            b, g = CHINESE_BOOL, CHINESE_GENDER
        styles.append(FileStyle(
            fmt=fmt, gz=gz, encoding=encoding, ts=int(ts[k]), bools=b, gender=g,
            native=bool(u[k, 4] < 0.5), drop_nulls=bool(u[k, 5] < 0.5),
            shuffle=perms[k] if u[k, 3] < 0.25 else None,
        ))
    return styles


# --------------------------------------------------------------------------------------------
# Bad rows: each a copy of a good row with a fresh id and exactly one contract rule broken,
# chosen so that the rule it breaks is the first failing rule in contract.Reason order.
# --------------------------------------------------------------------------------------------


def inject_bad_rows(plan: SourcePlan, world: World, rng: np.random.Generator) -> None:
    src, df = plan.source, plan.rows
    # bad rows come from a minority of deliveries (a buggy export day), not from every file
    n_files = max(20, len(plan.files) // 25)
    text_files = [i for i, s in enumerate(plan.styles) if s.text]
    text_files = sorted(rng.choice(text_files, size=min(n_files, len(text_files)), replace=False).tolist()) \
        if text_files else []
    line_files = [i for i, s in enumerate(plan.styles) if s.fmt in ("csv", "jsonl")]
    line_files = sorted(rng.choice(line_files, size=min(n_files, len(line_files)), replace=False).tolist()) \
        if line_files else []
    if not text_files:
        return
    lengths = np.array([plan.files[i][3] for i in text_files])
    reasons = APPLICABLE_REASONS[src]
    n_bad = max(MIN_BAD_PER_REASON, round(BAD_ROW_SHARE * len(df) / len(reasons)))
    if line_files:
        w = np.array([plan.files[i][3] for i in line_files], dtype=np.float64)
        per_file = rng.multinomial(n_bad, w / w.sum())
        for i, k in zip(line_files, per_file, strict=True):
            plan.styles[i].malformed = int(k)
    # base rows: uniform over rows of text-capable files
    starts = np.array([plan.files[i][2] for i in text_files])
    chunks = []
    for reason in reasons:
        if reason is Reason.MALFORMED_ROW:
            continue
        fi = choose(rng, lengths.astype(np.float64), n_bad)
        pos = (rng.random(n_bad) * lengths[fi]).astype(np.int64)
        rows = df[starts[fi] + pos].with_columns(
            _file=pl.Series(np.array(text_files)[fi]), _pos=pl.Series(pos),
            _reason=pl.lit(reason.value), _v=pl.Series(rng.integers(0, 1_000_000, n_bad)),
        )
        chunks.append(BREAKERS[src](reason, rows, world, rng))
    bad = pl.concat(chunks, how="diagonal_relaxed")
    bad = bad.with_columns(pl.Series(ID_COLUMN[src], np.arange(plan.next_id, plan.next_id + len(bad))))
    plan.next_id += len(bad)
    for (i,), part in bad.sort("_file", "_pos", maintain_order=True).partition_by(
            "_file", as_dict=True, maintain_order=True).items():
        plan.bad[int(i)] = part


def _pick(v: pl.Expr, options: list) -> pl.Expr:
    """One of the options per row, by the row's random number (vectorised choice)."""
    expr = pl.lit(options[-1])
    for k in range(len(options) - 2, -1, -1):
        expr = pl.when(v % len(options) == k).then(pl.lit(options[k])).otherwise(expr)
    return expr


def _other_platform(world: World) -> pl.Expr:
    n = len(world.ref.platforms)
    return ((pl.col("platform") + 1 + pl.col("_v") % max(n - 1, 1)) % n).cast(pl.Int32) if n > 1 \
        else pl.col("platform")


def _pii(rows: pl.DataFrame, world: World, rng: np.random.Generator) -> pl.DataFrame:
    person = rows["person"].to_numpy()
    ids = national_ids(rng, world.residence[person], world.birth_year[person])
    return rows.with_columns(_pk=pl.Series(ids, dtype=pl.String))


def _bad_key(rows: pl.DataFrame, world: World) -> pl.DataFrame:
    keys = world.person_keys.gather(rows["person"])
    short = keys.str.slice(0, 40)  # a sha1-length hex value: not 64 hex, not ID-like
    return rows.with_columns(_pk=pl.when(pl.col("_v") % 3 == 0).then(pl.lit("user_") + pl.col("_v").cast(
        pl.String)).otherwise(short))


def _null_one_of(v: pl.Expr, columns: list[str]) -> dict[str, pl.Expr]:
    """Blank exactly one of `columns` per row, chosen by the row's random number."""
    n = len(columns)
    return {c: pl.when(v % n == k).then(None).otherwise(pl.col(c)) for k, c in enumerate(columns)}


def _common(reason: Reason, rows: pl.DataFrame, world: World, rng: np.random.Generator) -> pl.DataFrame | None:
    """The breakages that look the same in every source that has the column."""
    if reason is Reason.PII_NATIONAL_ID:
        return _pii(rows, world, rng)
    if reason is Reason.INVALID_PERSON_KEY:
        return _bad_key(rows, world)
    if reason is Reason.PLATFORM_MISMATCH:
        return rows.with_columns(platform_id_override=_other_platform(world))
    return None


def break_income(reason: Reason, rows: pl.DataFrame, world: World, rng: np.random.Generator) -> pl.DataFrame:
    common = _common(reason, rows, world, rng)
    if common is not None:
        return common
    v = pl.col("_v")
    if reason is Reason.MISSING_REQUIRED:
        return rows.with_columns(
            **_null_one_of(v, ["gross_c", "updated_at", "month"])
        )
    if reason is Reason.INVALID_TYPE:
        col = _pick(v, ["gross_income", "gross_income", "updated_at", "period", "tasks_completed"])
        val = (pl.when(col == "gross_income").then(_pick(v // 7, ["abc", "12.3.4", "一百"]))
               .when(col == "updated_at").then(_pick(v // 7, ["2025-02-30 10:00:00", "31/01/2025 10:00"]))
               .when(col == "period").then(pl.lit("三月"))
               .otherwise(pl.lit("十二")))
        return rows.with_columns(_col=col, _val=val)
    if reason is Reason.OUT_OF_RANGE:
        return rows.with_columns(
            hours_t=pl.when(v % 3 == 0).then(pl.lit(8000, pl.Int64)).otherwise(pl.col("hours_t")),
            gross_c=pl.when(v % 3 == 1).then(-(pl.col("gross_c").abs() + 100)).otherwise(pl.col("gross_c")),
            fee_c=pl.when(v % 3 == 1).then(None).otherwise(pl.col("fee_c")),
            tasks=pl.when(v % 3 == 2).then(pl.lit(-3, pl.Int64)).otherwise(pl.col("tasks")),
        )
    if reason is Reason.FEE_EXCEEDS_GROSS:
        return rows.with_columns(fee_c=pl.col("gross_c") + 100 + v % 5000)
    if reason is Reason.FUTURE_DATE:
        month = pl.Series(world.cal.month_of_day(rows["day"].to_numpy()))
        return rows.with_columns(month=month + 1 + (pl.col("_v") % 2))
    if reason is Reason.NON_CNY_CURRENCY:
        return rows.with_columns(currency=(1 + v % 3).cast(pl.Int64))
    raise ValueError(f"income_records: no way to break {reason}")


def break_registration(reason: Reason, rows: pl.DataFrame, world: World,
                       rng: np.random.Generator) -> pl.DataFrame:
    common = _common(reason, rows, world, rng)
    if common is not None:
        return common
    v = pl.col("_v")
    if reason is Reason.MISSING_REQUIRED:
        return rows.with_columns(
            **_null_one_of(v, ["birth_year", "residence_region_code", "occupation_code", "registered_at"])
        )
    if reason is Reason.INVALID_TYPE:
        col = _pick(v, ["birth_year", "birth_year", "registered_at"])
        val = pl.when(col == "birth_year").then(_pick(v // 7, ["19八五", "abc", "1985.5"])).otherwise(
            pl.lit("2025-02-30 09:00:00"))
        return rows.with_columns(_col=col, _val=val)
    if reason is Reason.INVALID_ENUM:
        return rows.with_columns(
            gender=pl.when(v % 3 == 0).then(pl.lit("X")).otherwise(pl.col("gender")),
            status=pl.when(v % 3 == 1).then(pl.lit("pending")).otherwise(pl.col("status")),
            education_level=pl.when(v % 3 == 2).then(pl.lit("大学")).otherwise(pl.col("education_level")),
        )
    if reason is Reason.UNKNOWN_REGION:
        bad = _pick(v // 5, world.ref.not_a_region())
        return rows.with_columns(
            residence_region_code=pl.when(v % 2 == 0).then(bad).otherwise(pl.col("residence_region_code")),
            hukou_region_code=pl.when(v % 2 == 1).then(bad).otherwise(pl.col("hukou_region_code")),
        )
    if reason is Reason.UNKNOWN_OCCUPATION:
        return rows.with_columns(occupation_code=_pick(v, world.ref.not_an_occupation()))
    if reason is Reason.OUT_OF_RANGE:
        reg_year = pl.from_epoch(pl.col("registered_at") + world.cal.epoch, time_unit="s").dt.year()
        return rows.with_columns(birth_year=pl.when(v % 2 == 0).then(pl.lit(1920, pl.Int64))
                                 .otherwise((reg_year - 10).cast(pl.Int64)))
    if reason is Reason.MISSING_DEREGISTERED_AT:
        return rows.with_columns(status=pl.lit("deregistered"), deregistered_at=pl.lit(None, pl.Int64))
    raise ValueError(f"gig_registrations: no way to break {reason}")


def break_posting(reason: Reason, rows: pl.DataFrame, world: World, rng: np.random.Generator) -> pl.DataFrame:
    common = _common(reason, rows, world, rng)
    if common is not None:
        return common
    v = pl.col("_v")
    if reason is Reason.MISSING_REQUIRED:
        return rows.with_columns(
            **_null_one_of(v, ["title", "employer_id", "region_code", "employment_type"])
        )
    if reason is Reason.INVALID_TYPE:
        col = _pick(v, ["headcount", "headcount", "age_min", "posted_at"])
        val = (pl.when(col == "headcount").then(_pick(v // 7, ["若干", "3人", "several"]))
               .when(col == "age_min").then(pl.lit("十八")).otherwise(pl.lit("2025/13/45 09:00")))
        return rows.with_columns(_col=col, _val=val)
    if reason is Reason.INVALID_ENUM:
        return rows.with_columns(
            employment_type=pl.when(v % 3 == 0).then(pl.lit("contract")).when(v % 3 == 1).then(pl.lit("兼职"))
            .otherwise(pl.col("employment_type")),
            gender_requirement=pl.when(v % 3 == 2).then(pl.lit("女性优先")).otherwise(pl.col("gender_requirement")),
        )
    if reason is Reason.UNKNOWN_REGION:
        return rows.with_columns(region_code=_pick(v, world.ref.not_a_region()))
    if reason is Reason.UNKNOWN_OCCUPATION:
        return rows.with_columns(occupation_code=_pick(v, world.ref.not_an_occupation()))
    if reason is Reason.OUT_OF_RANGE:
        return rows.with_columns(
            age_min=pl.when(v % 3 == 0).then(pl.lit(12, pl.Int64)).otherwise(pl.col("age_min")),
            age_max=pl.when(v % 3 == 0).then(pl.max_horizontal(pl.col("age_max"), pl.lit(35)))
            .when(v % 3 == 1).then(pl.lit(80, pl.Int64)).otherwise(pl.col("age_max")),
            headcount=pl.when(v % 3 == 2).then(pl.lit(0, pl.Int64)).otherwise(pl.col("headcount")),
        ).with_columns(age_min=pl.when(v % 3 == 1).then(pl.min_horizontal(pl.col("age_min"), pl.lit(18)))
                       .otherwise(pl.col("age_min")))
    if reason is Reason.WAGE_RANGE_INVERTED:
        hi = pl.coalesce("wage_max_c", "wage_min_c", pl.lit(300_000))
        return rows.with_columns(wage_min_c=hi + 100 * (1 + v % 1000), wage_max_c=hi,
                                 wage_period=pl.coalesce("wage_period", pl.lit("month")))
    if reason is Reason.CLOSED_BEFORE_POSTED:
        return rows.with_columns(closed_at=pl.col("posted_at") - 3600 - v % (10 * DAY))
    if reason is Reason.FUTURE_DATE:
        posted = (pl.col("day") + 3 + v % 20) * DAY + 9 * 3600 + v % 36_000
        return rows.with_columns(posted_at=posted, updated_at=posted, closed_at=pl.lit(None, pl.Int64))
    raise ValueError(f"job_postings: no way to break {reason}")


BREAKERS: dict[str, Callable[[Reason, pl.DataFrame, World, np.random.Generator], pl.DataFrame]] = {
    "income_records": break_income,
    "gig_registrations": break_registration,
    "job_postings": break_posting,
}


# --------------------------------------------------------------------------------------------
# Rendering: internal rows -> the columns, spellings and bytes of one delivered file
# --------------------------------------------------------------------------------------------

CURRENCIES = (contract.DEFAULT_CURRENCY, "USD", "HKD", "EUR")  # internal currency code -> ISO code


def lookup(values: tuple[str, ...] | list[str] | pl.Series, codes: pl.Expr) -> pl.Expr:
    """values[code] per row (null codes give null): a gather, cheaper than replace_strict's hash join."""
    return pl.lit(values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.String)).gather(codes)


def contract_columns(source: str, part: pl.DataFrame, world: World, keys: pl.Series | None = None) -> pl.LazyFrame:
    """Internal rows (indices, cents, seconds) -> the contract's columns with natural types.

    A lazy query: styled() adds the file's spellings to it, so a batch's contract columns are
    computed in one pass and never materialised on their own. Integer columns are cast back to
    Int64 (the internal frames use small dtypes), so native Parquet files keep their schema.
    Timestamps stay Unix seconds (of the Shanghai wall clock read as UTC) for styled() to write.
    `keys`: person_key by `person` (default: the world's persons; bad rows may add their own).
    """
    epoch = world.cal.epoch

    def ts(c: str) -> pl.Expr:
        return (pl.col(c).cast(pl.Int64) + epoch).alias(c)

    def int64(c: str, name: str | None = None) -> pl.Expr:
        return pl.col(c).cast(pl.Int64).alias(name or c)

    lf = part.lazy()
    platform = pl.col("platform")  # styled() writes its name
    extra = [c for c in ("_col", "_val") if c in part.columns]
    if "person" in part.columns:
        lf = lf.with_columns(person_key=(world.person_keys if keys is None else keys).gather(part["person"]))
    idc = ID_COLUMN[source]
    ident = fmt_ids(ID_PREFIX[source], pl.col(idc), 12 if source == "income_records" else 10).alias(idc)
    if source == "income_records":
        labels = [world.cal.period_label(m) for m in range(world.cal.months + 3)]
        cols = [
            ident, platform.alias("platform_id"), pl.col("person_key"),
            lookup(labels, pl.col("month")).alias("period"),
            (pl.col("gross_c") / 100).alias("gross_income"), (pl.col("fee_c") / 100).alias("platform_fee"),
            (pl.col("hours_t") / 10).alias("hours_worked"), int64("tasks", "tasks_completed"),
            (pl.col("si") == 1).alias("social_insurance"),
            lookup(CURRENCIES, pl.col("currency")).alias("currency"),
            ts("updated_at"),
        ]
    elif source == "gig_registrations":
        cols = [ident, platform.alias("platform_id"), pl.col("person_key"), ts("registered_at"), ts("updated_at"),
                int64("birth_year"), pl.col("gender"), pl.col("residence_region_code"),
                pl.col("hukou_region_code"), pl.col("occupation_code"), pl.col("education_level"),
                pl.col("has_other_job"), pl.col("status"), ts("deregistered_at")]
    else:
        cols = [ident, platform.alias("platform_id"), ts("posted_at"), ts("closed_at"), ts("updated_at"),
                pl.col("employer_id"), pl.col("title"), pl.col("occupation_code"), pl.col("region_code"),
                pl.col("employment_type"), pl.col("is_remote"), (pl.col("wage_min_c") / 100).alias("wage_min"),
                (pl.col("wage_max_c") / 100).alias("wage_max"), pl.col("wage_period"), int64("headcount"),
                int64("age_min"), int64("age_max"), pl.col("gender_requirement"), pl.col("education_min")]
    return lf.select(*cols, *extra)


def styled(source: str, df: pl.LazyFrame, style: FileStyle, platform: pl.Expr,
           broken: frozenset[str] = frozenset()) -> pl.LazyFrame:
    """The file's columns in one select: spellings (booleans, gender, timestamps), types, drift, order.

    `df` is contract_columns()' query. Timestamp formats and boolean and gender spellings are taken per
    row from its `_ts`, `_bools` and `_gender` columns if it has them (a batch of files, each spelt its
    own way; see spelling_columns()), else from `style`. `platform` gives platform_id (the folder's
    name; a literal for one file, a lookup for a batch). `broken`: columns in which invalid_type rows
    carry `_val` text instead of a value.
    """
    schema = df.collect_schema()

    def spelling(name: str, value: int) -> pl.Expr:
        return pl.col(name).cast(pl.Int64) if name in schema else pl.lit(value, pl.Int64)

    native_parquet = style.fmt == "parquet" and style.native
    all_text = (style.fmt == "jsonl" and not style.native) or (style.fmt == "parquet" and not style.native)
    exprs: dict[str, pl.Expr] = {}
    for c in contract.column_names(source):
        if c == "platform_id":
            exprs[c] = platform.alias(c)
            continue
        dtype = schema[c]
        e = pl.col(c).round(2) if dtype == pl.Float64 else pl.col(c)  # 2-decimal amounts, never float noise
        if c in TIMESTAMPS[source]:  # Unix seconds
            if native_parquet:
                e = pl.from_epoch(e, time_unit="s").dt.replace_time_zone(contract.SOURCE_TIMEZONE)
            else:
                e = ts_text(e, spelling("_ts", style.ts))
        elif dtype == pl.Boolean:
            if not (style.native and style.fmt != "csv"):  # true, false as [t0, f0, t1, f1, ...][2 * style + ~e]
                e = lookup(BOOL_TEXT, spelling("_bools", style.bools) * 2 + (~e).cast(pl.Int64))
        elif c == "gender":  # F, M, U as spelt; other (broken) values as they are
            code = e.replace_strict(GENDER_CODE, default=None, return_dtype=pl.Int64)
            e = pl.coalesce(lookup(GENDER_TEXT, spelling("_gender", style.gender) * len(GENDER_CODE) + code), e)
        elif dtype == pl.Float64 and native_parquet and c != "hours_worked":
            e = e.cast(pl.Decimal(18, 2))
        if c in broken:
            e = pl.when(pl.col("_col") == c).then(pl.col("_val")).otherwise(e.cast(pl.String))
        elif all_text:
            e = e.cast(pl.String)
        exprs[c] = e.alias(c)
    if style.drift:
        exprs[style.drift] = pl.lit(DRIFT_VALUES[style.drift]).alias(style.drift)
    return df.select([exprs[c] for c in column_order(list(exprs), style)])


def spelling_columns(styles: list[FileStyle], sizes: list[int]) -> dict[str, pl.Series]:
    """Per row of a batch (its files' rows, one file after the other): the file's spellings, for styled()."""
    return {name: pl.Series(np.repeat(np.array([getattr(s, attr) for s in styles], dtype=np.int8), sizes))
            for name, attr in (("_ts", "ts"), ("_bools", "bools"), ("_gender", "gender"))}


def ts_parts(fmt: str) -> tuple[str, str]:
    """What one of TS_FORMATS puts between date and time of day, and after the time (the UTC ones: Z)."""
    head, clock, tail = fmt.partition("%H:%M:%S")
    if not (clock and head.startswith("%Y-%m-%d")):
        raise ValueError(f"not a timestamp format ts_text can write: {fmt}")
    return head.removeprefix("%Y-%m-%d"), tail


@functools.cache
def clock_texts() -> tuple[pl.Series, pl.Series, pl.Series]:
    """Lookup tables for ts_text(): dates, times of day by format, UTC offsets by format.

    Row d of the first: the date d days after DATE_BASE (to 2199); row k * DAY + s of the second:
    second s of the day as format k of TS_FORMATS writes it, with what comes between date and time.
    """
    dates = pl.date_range(DATE_BASE, date(2199, 12, 31), eager=True).dt.strftime("%Y-%m-%d")
    times = pl.Series([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])
    parts = [ts_parts(fmt) for fmt in TS_FORMATS]
    return (dates, pl.concat([sep + times + tail for sep, tail in parts], rechunk=True),
            pl.Series([8 * 3600 if tail == "Z" else 0 for _, tail in parts]))


def ts_text(e: pl.Expr, fmt: pl.Expr) -> pl.Expr:
    """Timestamps (Unix seconds of the Shanghai wall clock) as text, in TS_FORMATS[fmt] (...Z ones in UTC).

    Date and time of day are looked up and joined rather than formatted: both are short enough to be
    stored inline, so this costs a third of strftime or the CSV writer's datetime_format, and the
    timestamps are the largest share of writing a text file. Outside 1900-2199 the lookup fails loudly.
    """
    dates, times, offsets = clock_texts()
    secs = e - pl.lit(offsets).gather(fmt)
    day = secs // DAY
    base = (DATE_BASE - date(1970, 1, 1)).days
    return pl.concat_str([lookup(dates, day - base), lookup(times, fmt * DAY + secs - day * DAY)])


def column_order(columns: list[str], style: FileStyle) -> list[str]:
    """The file's column order: the contract's (drift column last), or the file's permutation of it."""
    if style.shuffle is None:
        return columns
    return [columns[i] for i in style.shuffle if i < len(columns)]


DRIFT_VALUES = {"app_version": "8.3.1", "city_name": "杭州", "rider_level": "gold", "remark": "",
                "channel": "app"}


def to_utf8(df: pl.DataFrame, style: FileStyle, header: bool = True) -> bytes:
    """CSV or JSONL of a styled frame as UTF-8 (one file's or a whole batch's: a line depends on its row only).

    Written to a buffer: a Python str of a large batch costs more to build than the bytes.
    """
    buf = io.BytesIO()
    if style.fmt == "csv":  # amounts as the shortest text of their (2-decimal) value: 12.3, not 12.30
        df.write_csv(buf, include_header=header)
        return buf.getvalue()
    df.write_ndjson(buf)
    data = buf.getvalue()
    if style.drop_nulls:
        data = drop_null_keys(data, df)
    return data


def drop_null_keys(data: bytes, df: pl.DataFrame) -> bytes:
    """JSON Lines without their null members (`"key":null`), as exports that skip absent values write them.

    Plain byte replacements, one per column that has nulls: a regex over every key of every line
    costs several times more. Values cannot fake a member: a quote inside a string is escaped.
    """
    nullable = [c for c in df.columns if df[c].null_count()]
    for c in nullable:
        data = data.replace(b',"' + c.encode() + b'":null', b"")
    if df.columns and df.columns[0] in nullable:  # the first member has no comma before it
        data = data.replace(b'{"' + df.columns[0].encode() + b'":null,', b"{")
    return data


def to_parquet(df: pl.DataFrame) -> bytes:
    """A Parquet file's bytes. Snappy, not the zstd default: half the CPU time for the same rows."""
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False, compression="snappy")
    return buf.getvalue()


def text_encoding(style: FileStyle) -> str:
    return "gb18030" if style.encoding == "gb18030" else "utf-8"


def needs_text(style: FileStyle) -> bool:
    """Line-level faults are made on text; clean files go from encoded bytes straight to disk."""
    return bool(style.malformed or style.cut_short)


def finish_bytes(data: bytes, style: FileStyle) -> bytes:
    """Encoded clean text -> the file's bytes: byte-order mark and gzip as the file's style says."""
    if style.encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    if style.gz:
        data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    return data


def finish_text(text: str, style: FileStyle, rng: Callable[[], np.random.Generator]) -> tuple[bytes, int]:
    """A file's text -> its bytes and the number of malformed lines it carries (inserted or cut short).

    `rng` is only called when the file gets broken lines, since a generator costs more than a clean file.
    """
    malformed = style.malformed
    if malformed or style.cut_short:
        lines = text.split("\n")
        header, body = (lines[:1], lines[1:-1]) if style.fmt == "csv" else ([], lines[:-1])
        if malformed:
            body = insert_malformed(body, malformed, style.fmt, rng())
        if style.cut_short and body and '"' not in body[-1]:
            fields = body[-1].split(",")
            keep = max(2, len(fields) // 3)
            body[-1] = ",".join(fields[:keep]) + "," + fields[keep][: max(1, len(fields[keep]) // 2)]
            text = "\n".join(header + body)
            malformed += 1
        else:
            text = "\n".join(header + body) + "\n"
    return finish_bytes(text.encode(text_encoding(style)), style), malformed


def insert_malformed(body: list[str], n: int, fmt: str, rng: np.random.Generator) -> list[str]:
    """n broken lines at random places: wrong field count / not JSON, each one malformed_row."""
    out = list(body)
    for k in range(n):
        src = body[int(rng.integers(len(body)))] if body else ""
        kind = (k + int(rng.integers(3))) % 3
        if fmt == "csv":
            if kind == 0 or '"' in src:
                bad = src + ",1"
            elif kind == 1:
                fields = src.split(",")
                bad = ",".join(fields[: max(1, len(fields) // 2)])
            else:
                bad = "---- export interrupted, resuming ----"
            if bad.count(",") == src.count(","):  # single-column edge case: force a wrong count
                bad = src + ",1"
        else:
            bad = src[: max(1, len(src) // 2)] if kind != 1 else src[:-1]
            if kind == 2 or not bad:
                bad = "undefined"
        out.insert(int(rng.integers(len(out) + 1)), bad)
    return out


# --------------------------------------------------------------------------------------------
# Writing the tree and the manifest
# --------------------------------------------------------------------------------------------


class TreeWriter:
    """Writes the files of each source, then the file-level faults, and accounts for every row."""

    def __init__(self, out: Path, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.out, self.progress, self.total, self.done = out, progress, total, 0
        self.lock = threading.Lock()

    def path(self, source: str, platform: str, day: date, name: str) -> str:
        return f"{source}/{platform}/{day.isoformat()}/{name}"

    def file_path(self, plan: SourcePlan, world: World, i: int) -> str:
        plat, day, _, _ = plan.files[i]
        platform, d = world.ref.platforms[plat], world.cal.day_date(day)
        return self.path(plan.source, platform, d, f"{plan.source}_{platform}_{d:%Y%m%d}{plan.styles[i].suffix}")

    def put(self, rel: str, data: bytes) -> None:
        p = self.out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def write_source(self, plan: SourcePlan, world: World) -> dict:
        src = plan.source
        files: dict[str, dict] = {}
        rows = plan.delivered or delivered_rows(src, plan, world)
        rels = [self.file_path(plan, world, i) for i in range(len(plan.files))]
        for platform in sorted({rel.split("/")[1] for rel in rels}):
            (self.out / src / platform).mkdir(parents=True, exist_ok=True)
        names = lookup(world.ref.platforms, pl.col("platform_id"))

        def render(batch: list[int]) -> list[int]:
            malformed = {}
            for i, data, n_bad in render_batch(src, rows, plan, batch, names, world):
                path = self.out / rels[i]
                path.parent.mkdir(exist_ok=True)  # a file's own day folder, made by the thread that writes it
                path.write_bytes(data)
                malformed[i] = n_bad
                self.tick()
            return [malformed[i] for i in batch]

        # largest first, so that the threads run out of work at about the same time
        batches = sorted(style_batches(plan, rows), key=lambda b: -sum(int(rows.starts[i + 1] - rows.starts[i])
                                                                       for i in b))
        malformed_of: dict[int, int] = {}
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            done = pool.map(render, batches) if THREADS > 1 else map(render, batches)
            for batch, counts in zip(batches, done, strict=True):
                malformed_of.update(zip(batch, counts, strict=True))
        results = [(rels[i], int(rows.starts[i + 1] - rows.starts[i]), malformed_of[i])
                   for i in range(len(plan.files))]
        for i, (rel, n_rows, malformed) in enumerate(results):
            style = plan.styles[i]
            d = world.cal.day_date(plan.files[i][1])
            platform = world.ref.platforms[plan.files[i][0]]
            reasons: dict[str, int] = {}
            if i in plan.bad:
                reasons = {r: int(c) for r, c in plan.bad[i]["_reason"].value_counts(sort=True).iter_rows()}
            if malformed:
                reasons[Reason.MALFORMED_ROW.value] = malformed
            files[rel] = {
                "source": src, "platform_id": platform, "delivery_date": d.isoformat(),
                "format": style.fmt, "compression": "gzip" if style.gz else None,
                "encoding": style.encoding if style.fmt == "csv" else "utf-8" if style.fmt == "jsonl" else None,
                "native_types": style.native if style.fmt != "csv" else False,
                # inserted broken lines add rows; cutting the last line short turns a row into one
                "rows": n_rows + style.malformed,
                "status": contract.LedgerStatus.LOADED.value,
                "bad_rows": dict(sorted(reasons.items())),
                **({"schema_drift": [style.drift]} if style.drift else {}),
                **({"cut_short": True} if malformed > style.malformed else {}),
            }
        self.faults(plan, world, files)
        return {"summary": summarize(src, files, plan), "files": files}

    def planned(self, files: int, estimate: int) -> None:
        """A source's real file count replaces the estimate the progress total carried for it."""
        with self.lock:
            self.total += files - estimate

    def tick(self) -> None:
        with self.lock:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)

    def faults(self, plan: SourcePlan, world: World, files: dict[str, dict]) -> None:
        """File-level faults: unknown platform, missing column, unreadable, duplicate, empty files."""
        src = plan.source
        rng = rng_for(world.seed, "faults", src)
        plain = FileStyle("csv", False, "utf-8", 0, 0, 0, False, False, None)
        regular = sorted(files)
        eligible = [i for i, (_, _, _, n) in enumerate(plan.files) if n >= 1]
        if not eligible:
            return
        picks = [eligible[int(j)] for j in rng.integers(0, len(eligible), 8)]

        def rows_of(i: int, limit: int = 200) -> tuple[pl.DataFrame, str, date]:
            plat, day, off, length = plan.files[i]
            part = plan.rows.slice(off, min(length, limit))
            platform = world.ref.platforms[plat]
            return (styled(src, contract_columns(src, part, world), plain, pl.lit(platform))
                    .collect(engine="in-memory"),
                    platform,
                    world.cal.day_date(day))

        def add(rel: str, data: bytes, rows: int, status: str, error: str | None = None, **extra: object) -> None:
            self.put(rel, data)
            files[rel] = {"source": src, "platform_id": rel.split("/")[1], "delivery_date": rel.split("/")[2],
                          "format": "parquet" if rel.endswith(".parquet") else "csv",
                          "compression": "gzip" if rel.endswith(".gz") else None, "encoding": "utf-8",
                          "rows": rows, "status": status, "error": error, "bad_rows": {}, **extra}
            self.tick()

        rejected = contract.LedgerStatus.REJECTED.value
        # 1. a folder for a platform nobody knows: every file in it is rejected
        for k in range(2):
            df, _, d = rows_of(picks[k])
            d = d + timedelta(days=k)
            name = f"{src}_{UNKNOWN_PLATFORM}_{d:%Y%m%d}.csv"
            text = df.with_columns(platform_id=pl.lit(UNKNOWN_PLATFORM)).write_csv(float_precision=2)
            add(self.path(src, UNKNOWN_PLATFORM, d, name), text.encode(), len(df), rejected,
                FileError.UNKNOWN_PLATFORM.value)
        # 2. a required column missing: the whole file is rejected
        df, plat, d = rows_of(picks[2])
        dropped = contract.required_columns(src)[-1]
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part2.csv"),
            df.drop(dropped).write_csv(float_precision=2).encode(), len(df), rejected,
            FileError.MISSING_REQUIRED_COLUMN.value, missing_column=dropped)
        # 3. unreadable: a truncated gzip, undecodable bytes, CSV text under a .parquet name
        df, plat, d = rows_of(picks[3])
        gz = gzip.compress(df.write_csv(float_precision=2).encode(), compresslevel=GZIP_LEVEL, mtime=0)
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part3.csv.gz"), gz[: max(20, len(gz) * 3 // 5)],
            len(df), rejected, FileError.UNREADABLE_FILE.value)
        df, plat, d = rows_of(picks[4])
        raw = df.write_csv(float_precision=2).encode()
        cut = raw.find(b"\n") + 1 + (len(raw) - raw.find(b"\n")) // 2
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part4.csv"),
            raw[:cut] + UNREADABLE_BYTES + raw[cut:], len(df), rejected, FileError.UNREADABLE_FILE.value)
        df, plat, d = rows_of(picks[5])
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part5.parquet"),
            df.write_csv(float_precision=2).encode(), len(df), rejected, FileError.UNREADABLE_FILE.value)
        # 4. the same bytes again, under another name in a later folder: a no-op duplicate
        early = [r for r in regular if files[r]["rows"] > 0 and files[r]["delivery_date"]
                 < world.cal.day_date(world.cal.n_days - 1).isoformat()]
        if early:
            orig = early[int(rng.integers(len(early)))]
            _, _, day_s, name = orig.split("/")
            later = date.fromisoformat(day_s) + timedelta(days=int(rng.integers(1, 8)))
            later = min(later, world.cal.day_date(world.cal.n_days - 1))
            stem, dot, ext = name.partition(".")
            rel = self.path(src, files[orig]["platform_id"], later, f"{stem}_resend{dot}{ext}")
            add(rel, (self.out / orig).read_bytes(), files[orig]["rows"], contract.LedgerStatus.DUPLICATE.value,
                None, duplicate_of=orig)
            files[rel]["format"] = files[orig]["format"]
        # 5. empty deliveries: a header without rows and a 0-byte file, both loaded with 0 rows
        df, plat, d = rows_of(picks[6], 0)
        loaded = contract.LedgerStatus.LOADED.value
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part6.csv"), df.write_csv().encode(), 0, loaded)
        df, plat, d = rows_of(picks[7], 0)
        add(self.path(src, plat, d, f"{src}_{plat}_{d:%Y%m%d}_part7.csv"), b"", 0, loaded)


# --------------------------------------------------------------------------------------------
# Rendering in batches: with ~15,000 files, a Polars query, a writer call and a folder per file
# cost more than the rows. Files that share a style are therefore styled and serialised together,
# and each file's bytes are cut out of the batch's (header + its lines); lines do not depend on
# their neighbours, so the bytes are those of rendering each file on its own.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveredRows:
    """Every row of a source's regular files (internal columns), with the bad rows in place.

    File i's rows are `frame[order[starts[i]:starts[i + 1]]]`: its good rows in order, each bad row
    right after the good row it was copied from. Rows stay internal (small integers, mostly) until a
    batch takes them: gathering those is cheap, and the contract's text columns never exist for a whole
    source. What bad rows carry beyond the internal columns is folded into them where it can be (their
    own person_key is a row of `keys`, a platform_mismatch is their `platform`); only the invalid_type
    text (`_col`, `_val`) lives in `extras`, joined to the few batches whose files have such rows.
    """

    source: str
    frame: pl.DataFrame  # good rows, then bad rows: one chunk, the good rows' dtypes
    n_good: int
    keys: pl.Series | None  # person_key by `person`: the world's persons, then bad rows' own values
    extras: pl.DataFrame  # a null row, then bad row k's `_col`/`_val` at row k + 1
    order: np.ndarray  # uint32 row numbers into `frame`, file after file
    starts: np.ndarray
    broken: dict[int, frozenset[str]]  # file -> columns whose invalid_type rows carry `_val` text

    def take(self, files: list[int], world: World) -> pl.LazyFrame:
        """The files' rows, one file after the other, in contract columns."""
        idx = np.concatenate([self.order[self.starts[i]:self.starts[i + 1]] for i in files])
        part = self.frame[idx]
        if any(i in self.broken for i in files):
            bad = idx >= self.n_good
            part = part.hstack(self.extras[np.where(bad, idx - (self.n_good - 1), 0).astype(np.uint32)])
        return contract_columns(self.source, part, world, self.keys)


def delivered_rows(src: str, plan: SourcePlan, world: World) -> DeliveredRows:
    """Good and bad rows in one frame, and the order that puts each bad row after its good row."""
    offsets = np.array([f[2] for f in plan.files], dtype=np.int64)
    counts = np.array([f[3] for f in plan.files], dtype=np.int64)
    broken: dict[int, frozenset[str]] = {}
    keys = np.arange(len(plan.rows), dtype=np.int64) * 2
    person_keys = world.person_keys if "person" in plan.rows.columns else None  # postings have no persons
    frame, extras = plan.rows, pl.DataFrame()
    if plan.bad:
        bad = pl.concat([b.with_columns(_file=pl.lit(i, pl.Int64)) for i, b in sorted(plan.bad.items())],
                        how="diagonal_relaxed")
        file_of = bad["_file"].to_numpy()
        keys = np.concatenate([keys, (offsets[file_of] + bad["_pos"].to_numpy()) * 2 + 1])
        counts = counts + np.bincount(file_of, minlength=len(plan.files))
        if "platform_id_override" in bad.columns:
            bad = bad.with_columns(platform=pl.coalesce("platform_id_override", "platform"))
        if "_pk" in bad.columns:  # a row of their own in the person_key table
            own = bad["_pk"].is_not_null()
            person_keys = pl.concat([person_keys, bad["_pk"].filter(own)], rechunk=True)  # one chunk: fast gathers
            bad = bad.with_columns(person=pl.when(own).then(len(world.person_keys) + own.cum_sum() - 1)
                                   .otherwise(pl.col("person")))
        # the breakers may widen a column (an Int64 literal); the values still fit the good rows' dtypes
        frame = pl.concat([plan.rows, bad.select(plan.rows.columns).cast(dict(plan.rows.schema))], rechunk=True)
        if "_col" in bad.columns:
            extra = bad.select("_col", "_val")
            extras = pl.concat([extra.clear(1), extra])
            for i, cols in bad.select("_file", "_col").drop_nulls().group_by("_file").agg(
                    pl.col("_col").unique()).iter_rows():
                broken[int(i)] = frozenset(cols)
    order = np.argsort(keys, kind="stable").astype(np.uint32)
    return DeliveredRows(src, frame, len(plan.rows), person_keys, extras, order,
                         np.concatenate([[0], np.cumsum(counts)]), broken)


def style_key(source: str, style: FileStyle, broken: frozenset[str]) -> tuple:
    """What the batch's query and text depend on; settings a format ignores are left out, so batches are few.

    Spellings are per row (styled()); column order, gzip, byte-order mark and line faults are per file
    and applied after the split.
    """
    return (
        style.fmt,
        style.native and style.fmt != "csv",  # native JSON/Parquet booleans; Parquet also timestamps
        style.drop_nulls if style.fmt == "jsonl" else None,
        text_encoding(style) if style.fmt == "csv" else None,
        style.drift,
        tuple(sorted(broken)),
    )


def style_batches(plan: SourcePlan, rows: DeliveredRows) -> list[list[int]]:
    """Files grouped by style key, in order of their first file (so the work order is fixed).

    A group is cut into batches of up to BATCH_ROWS rows: a batch's frame and text are in memory at once.
    """
    groups: dict[tuple, list[int]] = {}
    for i, style in enumerate(plan.styles):
        groups.setdefault(style_key(plan.source, style, rows.broken.get(i, frozenset())), []).append(i)
    batches = []
    for files in groups.values():
        batch, n = [], 0
        for i in files:
            if batch and n + rows.starts[i + 1] - rows.starts[i] > BATCH_ROWS:
                batches.append(batch)
                batch, n = [], 0
            batch.append(i)
            n += rows.starts[i + 1] - rows.starts[i]
        batches.append(batch)
    return batches


def render_batch(src: str, rows: DeliveredRows, plan: SourcePlan, batch: list[int], platform: pl.Expr,
                 world: World) -> list[tuple[int, bytes, int]]:
    """(file, bytes, malformed lines) for each file of a batch of files that share a style key.

    Files in the contract's column order are cut from one text of their rows. CSV files with their
    own column order are cut from a second one: their rows with each file's columns in its order, as
    text (the text of a value does not change) renamed position by position, so that one frame holds
    them all. Only JSONL files with their own order and Parquet files are serialised one by one.
    """
    batch = sorted(batch, key=lambda i: plan.styles[i].shuffle is not None)
    first = plan.styles[batch[0]]
    sizes = [int(rows.starts[i + 1] - rows.starts[i]) for i in batch]
    part = rows.take(batch, world).with_columns(**spelling_columns([plan.styles[i] for i in batch], sizes))
    df = styled(src, part, replace(first, shuffle=None), platform,
                rows.broken.get(batch[0], frozenset())).collect(engine="in-memory")
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    columns = df.columns
    plain = sum(plan.styles[i].shuffle is None for i in batch)
    cuts: dict[int, Callable[[], bytes]] = {}
    if first.fmt != "parquet":
        cut = line_cutter(df.slice(0, int(bounds[plain])), first)
        head = csv_header(columns, first)
        for k in range(plain if cut else 0):
            cuts[batch[k]] = functools.partial(cut, int(bounds[k]), sizes[k], head)
    if first.fmt == "csv" and plain < len(batch):
        orders = [column_order(columns, plan.styles[i]) for i in batch[plain:]]
        text = df.slice(int(bounds[plain])).cast(pl.String)
        own = pl.concat([text.slice(int(bounds[k] - bounds[plain]), sizes[k]).select(order)
                         .rename(dict(zip(order, columns, strict=True)))
                         for k, order in zip(range(plain, len(batch)), orders, strict=True)])
        cut = line_cutter(own, first)
        for k, order in zip(range(plain, len(batch)) if cut else (), orders, strict=True):
            cuts[batch[k]] = functools.partial(cut, int(bounds[k] - bounds[plain]), sizes[k], csv_header(order, first))
    out = []
    for k, i in enumerate(batch):
        style = plan.styles[i]

        def rng(i: int = i) -> np.random.Generator:
            return rng_for(world.seed, "render", src, i)

        if i in cuts:
            data = cuts[i]()
        else:  # serialise the file on its own
            part = df.slice(int(bounds[k]), sizes[k]).select(column_order(columns, style))
            if style.fmt == "parquet":
                out.append((i, to_parquet(part), 0))
                continue
            data = to_utf8(part, style)
            if text_encoding(style) != "utf-8":
                data = data.decode().encode(text_encoding(style))
        if needs_text(style):
            out.append((i, *finish_text(data.decode(text_encoding(style)), style, rng)))
        else:
            out.append((i, finish_bytes(data, style), 0))
    return out


def csv_header(columns: list[str], style: FileStyle) -> bytes:
    """A CSV file's header line (column names are plain identifiers: nothing to quote); JSONL has none."""
    return (",".join(columns) + "\n").encode() if style.fmt == "csv" else b""


def line_cutter(df: pl.DataFrame, style: FileStyle) -> Callable[[int, int, bytes], bytes] | None:
    """Encode the rows' text once (no header); cut(a, n, head) gives head plus the lines of rows a..a+n-1.

    None if the text has a line break inside a value (then lines are not rows and files are written alone).
    """
    data = to_utf8(df, style, header=False)
    if text_encoding(style) != "utf-8":
        data = data.decode().encode(text_encoding(style))
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1  # \n is never inside a GB18030 char
    if len(ends) != len(df):
        return None
    starts = np.concatenate([[0], ends])
    mv = memoryview(data)

    def cut(a: int, n: int, head: bytes) -> bytes:
        return head + mv[starts[a]:starts[a + n]]

    return cut


def summarize(source: str, files: dict[str, dict], plan: SourcePlan) -> dict:
    """Per-source totals of the manifest (what the loader's ledger and quarantine must show)."""
    loaded = [f for f in files.values() if f["status"] == contract.LedgerStatus.LOADED.value]
    bad = dict.fromkeys((r.value for r in APPLICABLE_REASONS[source]), 0)
    for f in loaded:
        for r, c in f["bad_rows"].items():
            bad[r] += c
    rows = sum(f["rows"] for f in loaded)
    ids = plan.rows[ID_COLUMN[source]].to_numpy()  # small non-negative integers: counted, not hashed
    distinct = np.count_nonzero(np.bincount(ids - ids.min())) if len(ids) else 0
    formats: dict[str, int] = {}
    for f in files.values():
        key = f["format"] + (".gz" if f.get("compression") else "") + (
            f"/{f['encoding']}" if f["format"] == "csv" else "")
        formats[key] = formats.get(key, 0) + 1
    return {
        "files": len(files),
        "rows": rows,
        "rows_valid": rows - sum(bad.values()),
        "bad_rows": bad,
        "corrections": int(len(ids) - distinct),
        "file_faults": {p: (f["error"] or f["status"]) for p, f in sorted(files.items())
                        if f["status"] != contract.LedgerStatus.LOADED.value},
        "empty_files": sorted(p for p, f in files.items() if f["status"] == "loaded" and f["rows"] == 0),
        "schema_drift": {p: f["schema_drift"] for p, f in sorted(files.items()) if "schema_drift" in f},
        "formats": dict(sorted(formats.items())),
    }
