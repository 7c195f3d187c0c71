"""The shipped reference data: reproducible from its sources, and consistent where the pipeline relies on it.

Ingestion validates region, platform and occupation codes against these seeds
and the marts roll regions up by prefix, so a gap here (a county without a
prefecture, a province without a macro-region or a minimum wage) would turn into
silently missing cells downstream.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from pipelines import refdata
from pipelines.settings import PROJECT_ROOT, SEEDS_DIR

CONTRACT = PROJECT_ROOT.parent / "shared" / "spec" / "data-contract.md"

# The contract's platform table (data-contract.md, "Platforms"), restated so the
# test runs without the shared spec; when the spec is present it is compared too.
CONTRACT_PLATFORMS = {
    "taobao": ("淘宝", "ecommerce", "", "online_web_based"),
    "jd": ("京东", "ecommerce", "", "online_web_based"),
    "pinduoduo": ("拼多多", "ecommerce", "", "online_web_based"),
    "alibaba1688": ("1688", "wholesale_sourcing", "", "online_web_based"),
    "douyin": ("抖音", "livestream", "", "online_web_based"),
    "kuaishou": ("快手", "livestream", "", "online_web_based"),
    "wechat_channels": ("微信视频号", "livestream", "", "online_web_based"),
    "xiaohongshu": ("小红书", "social_commerce", "", "online_web_based"),
    "xingsheng": ("兴盛优选", "social_commerce", "community_group_buying", "location_based"),
    "meituan": ("美团", "delivery", "", "location_based"),
    "eleme": ("饿了么", "delivery", "", "location_based"),
    "didi": ("滴滴出行", "ride_hailing", "", "location_based"),
    "huolala": ("货拉拉", "delivery", "freight", "location_based"),
    "zbj": ("猪八戒网", "freelance", "", "online_web_based"),
}

CONTRACT_OCCUPATIONS = {
    "live_streaming_seller", "online_store_owner", "social_media_influencer",
    "community_group_buying_leader", "ecommerce_model", "sourcing_buyer", "online_delivery_rider",
    "ride_hailing_driver", "freight_driver", "online_customer_service", "home_service_worker",
    "handicraft_home_worker", "freelance_designer", "freelance_developer", "online_tutor", "other",
}


def read_seed(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def regions() -> dict[str, dict[str, str]]:
    return {r["region_code"]: r for r in read_seed("regions")}


def test_generator_reproduces_committed_seeds(tmp_path: Path) -> None:
    written = refdata.write(tmp_path)
    assert {p.name for p in written} == {"regions.csv", "platforms.csv", "occupations.csv", "minimum_wages.csv"}
    for path in written:
        assert path.read_bytes() == (SEEDS_DIR / path.name).read_bytes(), f"{path.name} is stale"
    assert refdata.stale() == []
    # A second run writes nothing: the output depends on the sources only.
    assert refdata.write(tmp_path) == []


def test_codes_are_six_digits_and_levels_follow_the_code(regions: dict[str, dict[str, str]]) -> None:
    assert 3000 < len(regions) < 3500
    for code, row in regions.items():
        assert re.fullmatch(r"\d{6}", code), code
        assert row["region_level"] == refdata.region_level(code)
        assert code[:2] not in refdata.EXCLUDED_PROVINCES


def test_31_mainland_provinces(regions: dict[str, dict[str, str]]) -> None:
    provinces = [r for r in regions.values() if r["region_level"] == "province"]
    assert len(provinces) == 31
    assert {"110000", "650000", "540000"} <= {r["region_code"] for r in provinces}
    assert not {"710000", "810000", "820000"} & set(regions)


def test_every_county_rolls_up_to_a_prefecture_and_province(regions: dict[str, dict[str, str]]) -> None:
    for code, row in regions.items():
        province = regions[row["province_code"]]
        assert row["province_code"] == code[:2] + "0000"
        assert province["region_level"] == "province"
        if row["region_level"] == "province":
            assert row["prefecture_code"] == ""
            continue
        prefecture = regions[row["prefecture_code"]]
        assert row["prefecture_code"] == code[:4] + "00"
        assert prefecture["region_level"] == "prefecture"
        assert prefecture["province_code"] == row["province_code"]
        assert row["macro_region"] == province["macro_region"]
        assert row["province_name"] == province["region_name"]


def test_statistical_groupings_complete_the_roll_up(regions: dict[str, dict[str, str]]) -> None:
    flagged = {c for c, r in regions.items() if r["is_statistical_grouping"] == "true"}
    assert flagged == set(refdata.STATISTICAL_GROUPINGS)
    assert regions["110101"]["prefecture_code"] == "110100"
    assert regions["110100"]["region_name"] == "北京市市辖区"
    assert regions["419001"]["prefecture_code"] == "419000"
    assert regions["659001"]["prefecture_code"] == "659000"
    assert {r["is_statistical_grouping"] for r in regions.values()} == {"true", "false"}


def test_every_province_in_exactly_one_macro_region(regions: dict[str, dict[str, str]]) -> None:
    prefixes = [p for group in refdata.MACRO_REGIONS.values() for p in group]
    assert len(prefixes) == len(set(prefixes)) == 31
    provinces = {c[:2] for c, r in regions.items() if r["region_level"] == "province"}
    assert set(prefixes) == provinces
    sizes = {m: len(p) for m, p in refdata.MACRO_REGIONS.items()}
    assert sizes == {"east": 10, "central": 6, "west": 12, "northeast": 3}
    assert regions["150000"]["macro_region"] == "west"  # Inner Mongolia: west, not north
    assert regions["210000"]["macro_region"] == "northeast"


def test_every_province_has_a_tier1_minimum_wage(regions: dict[str, dict[str, str]]) -> None:
    wages = read_seed("minimum_wages")
    provinces = {c for c, r in regions.items() if r["region_level"] == "province"}
    with_tier1 = {w["province_code"] for w in wages if w["tier"] == "1"}
    assert {w["province_code"] for w in wages} <= provinces
    assert provinces - with_tier1 == set(refdata.MINIMUM_WAGE_EXCEPTIONS), "undocumented gap"
    assert all(reason.strip() for reason in refdata.MINIMUM_WAGE_EXCEPTIONS.values())
    for w in wages:
        assert re.fullmatch(r"\d+\.\d{2}", w["monthly_min_wage"]) and re.fullmatch(r"\d+\.\d{2}", w["hourly_min_wage"])
        assert 1000 < float(w["monthly_min_wage"]) < 5000 and 5 < float(w["hourly_min_wage"]) < 50
        assert w["source"].strip()


def test_platforms_match_the_contract() -> None:
    rows = read_seed("platforms")
    got = {r["platform_id"]: (r["platform_name"], r["platform_type"], r["platform_subtype"], r["ilo_typology"])
           for r in rows}
    assert len(rows) == len(got) == 14
    assert got == CONTRACT_PLATFORMS


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared spec not checked out beside the repo")
def test_platforms_match_the_spec_file() -> None:
    table = CONTRACT.read_text(encoding="utf-8").split("### Platforms", 1)[1].split("###", 1)[0]
    spec = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[a-z0-9_]+", cells[0]) and cells[0] != "platform_id":
            spec[cells[0]] = (cells[1], cells[2].split(" ")[0], cells[3].replace("-", "_").replace(" ", "_"))
    got = {r["platform_id"]: (r["platform_name"], r["platform_type"], r["ilo_typology"])
           for r in read_seed("platforms")}
    assert got == spec


def test_occupations_match_the_contract() -> None:
    rows = read_seed("occupations")
    assert {r["occupation_code"] for r in rows} == CONTRACT_OCCUPATIONS
    assert len(rows) == 16
    by_code = {r["occupation_code"]: r for r in rows}
    assert by_code["live_streaming_seller"]["cocc_2022_code"] == "4-01-02-07"
    for r in rows:
        assert bool(r["cocc_2022_code"]) == bool(r["cocc_2022_name"]), r["occupation_code"]
        assert r["cocc_2022_code"] == "" or re.fullmatch(r"\d-\d{2}-\d{2}-\d{2}", r["cocc_2022_code"])
