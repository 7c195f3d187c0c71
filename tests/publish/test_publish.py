"""The publish step on a small real warehouse: generated deliveries -> ingest -> dbt -> publish.

No Airflow: the task functions are called directly. The rules are checked on
the real tables; releases are checked by publishing again, unchanged and changed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipelines import tasks
from pipelines.contract import SOURCES
from pipelines.generate import generate_landing
from pipelines.publish.audit import audit
from pipelines.publish.suppression import DEMAND, TABLES, WORKERS, TableRules, build_cells
from pipelines.query.analyst_db import analyst_db_path


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A warehouse built from a small generated tree and published once (release R0001)."""
    work = tmp_path_factory.mktemp("publish")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLEXEMP_WORK_DIR", str(work))
        landing = work / "landing"
        generate_landing(landing, workers=400, months=4)
        path = work / "warehouse.duckdb"
        run_id = tasks.prepare_run(str(landing), str(path))
        for source in SOURCES:
            tasks.ingest(source, str(landing), str(path), run_id)
        tasks.transform(str(path), run_id)
        first = tasks.publish(str(path), run_id)
        assert first["new_release"] and first["release_id"] == "R0001"
        yield path


def rows(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("rules", TABLES, ids=lambda r: r.name)
def test_primary_rows_are_exactly_those_below_the_threshold(warehouse: Path, rules: TableRules) -> None:
    on = " AND ".join(f"p.{k} = m.{k}" for k in rules.key)
    wrong = rows(
        warehouse,
        f"""SELECT count(*) FROM pub.{rules.name} p JOIN marts.{rules.name} m ON {on}
            WHERE (p.conf_status = 'C') <> (m.{rules.contributors} < {rules.threshold})""",
    )[0][0]
    assert wrong == 0
    assert rows(warehouse, f"SELECT count(*) FROM pub.{rules.name}") == rows(
        warehouse, f"SELECT count(*) FROM marts.{rules.name}"
    )


@pytest.mark.parametrize("rules", TABLES, ids=lambda r: r.name)
def test_confidential_rows_keep_their_key_and_have_no_measure(warehouse: Path, rules: TableRules) -> None:
    any_measure = " OR ".join(f"{m} IS NOT NULL" for m in rules.measures)
    assert rows(warehouse, f"SELECT count(*) FROM pub.{rules.name} WHERE conf_status <> 'F' AND ({any_measure})") == [
        (0,)
    ]
    statuses = {r[0] for r in rows(warehouse, f"SELECT DISTINCT conf_status FROM pub.{rules.name}")}
    assert statuses <= {"F", "C", "D"} and "F" in statuses and "C" in statuses


@pytest.mark.parametrize("rules", TABLES, ids=lambda r: r.name)
def test_every_relation_with_a_confidential_cell_has_two_unpublished_and_nothing_is_derivable(
    warehouse: Path, rules: TableRules
) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        parents = con.sql(
            """SELECT region_code, parent_region_code FROM pub.dim_region
               WHERE region_level IN ('macro_region', 'province', 'prefecture')"""
        ).pl()
        key = ", ".join(f"m.{k}" for k in rules.key)
        on = " AND ".join(f"p.{k} = m.{k}" for k in rules.key)
        columns = ", ".join(f"m.{c}" for c in dict.fromkeys([*rules.counts, rules.contributors]))
        table = con.sql(
            f"""SELECT {key}, {columns}, p.conf_status FROM marts.{rules.name} m
                JOIN pub.{rules.name} p ON {on} ORDER BY m.period"""
        ).pl()
    for _, period in table.group_by("period", maintain_order=True):
        system = build_cells(period, parents, rules)
        status = np.array(period.get_column("conf_status").to_list())
        residual_confidential = system.is_residual & (system.contributors < rules.threshold)
        confidential = np.concatenate([status != "F", np.zeros(system.n_cells - system.n_rows, bool)])
        confidential |= residual_confidential
        unpublished = confidential | system.is_residual
        c = system.constraints
        n_unpublished = np.bincount(c.rel, weights=unpublished[c.cell], minlength=c.n_relations)
        n_confidential = np.bincount(c.rel, weights=confidential[c.cell], minlength=c.n_relations)
        assert not ((n_confidential > 0) & (n_unpublished < 2)).any()
        assert not audit(c, unpublished).leaks(confidential).size


def test_derived_measures_only_where_their_inputs_are_safe(warehouse: Path) -> None:
    gap_leaks = rows(
        warehouse,
        """SELECT count(*) FROM pub.flex_indicators_monthly a
           JOIN pub.flex_indicators_monthly f USING (period, region_level, region_code, age_cohort)
           JOIN pub.flex_indicators_monthly m USING (period, region_level, region_code, age_cohort)
           WHERE a.gender = 'ALL' AND f.gender = 'F' AND m.gender = 'M' AND a.gender_pay_gap IS NOT NULL
             AND (f.conf_status <> 'F' OR m.conf_status <> 'F')""",
    )[0][0]
    missing_side = rows(
        warehouse,
        """SELECT count(*) FROM pub.flex_indicators_monthly a
           WHERE a.gender_pay_gap IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pub.flex_indicators_monthly f
               WHERE f.gender = 'F' AND f.conf_status = 'F' AND f.period = a.period
                 AND f.region_code = a.region_code AND f.age_cohort = a.age_cohort)""",
    )[0][0]
    tightness_leaks = rows(
        warehouse,
        """SELECT count(*) FROM pub.labor_demand_monthly d
           LEFT JOIN intermediate.int_active_workers_by_occupation w
             USING (period, region_level, region_code, occupation_code)
           WHERE d.tightness IS NOT NULL AND coalesce(w.active_workers, 0) < 10""",
    )[0][0]
    assert (gap_leaks, missing_side, tightness_leaks) == (0, 0, 0)
    assert rows(warehouse, "SELECT count(*) FROM pub.flex_indicators_monthly WHERE gender_pay_gap IS NOT NULL")[0][0]


@pytest.mark.parametrize("rules", [WORKERS, DEMAND], ids=lambda r: r.name)
def test_status_vintage_and_release(warehouse: Path, rules: TableRules) -> None:
    periods = [r[0] for r in rows(warehouse, f"SELECT DISTINCT period FROM marts.{rules.name} ORDER BY period")]
    by_status = dict(
        rows(warehouse, f"SELECT status, list(DISTINCT period ORDER BY period) FROM pub.{rules.name} GROUP BY 1")
    )
    assert by_status["P"] == periods[-3:] and by_status.get("F", []) == periods[:-3]
    vintage = rows(warehouse, "SELECT max(delivery_date) FROM audit.load_ledger WHERE status = 'loaded'")[0][0]
    assert rows(warehouse, f"SELECT DISTINCT vintage, release_id FROM pub.{rules.name}") == [(vintage, "R0001")]
    assert rows(warehouse, "SELECT release_id, vintage, audit_passed FROM pub.releases") == [("R0001", vintage, True)]


def test_publishing_again_without_new_data_changes_nothing(warehouse: Path) -> None:
    before = rows(warehouse, "SELECT * FROM pub.releases")
    again = tasks.publish(str(warehouse), "second-run")
    assert again["new_release"] is False and again["release_id"] == "R0001"
    assert rows(warehouse, "SELECT * FROM pub.releases") == before
    assert rows(warehouse, "SELECT DISTINCT release_id FROM pub.flex_indicators_monthly_history") == [("R0001",)]


def test_a_changed_figure_makes_a_release_a_revision_and_keeps_history(warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "changed.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        period = con.execute("SELECT min(period) FROM pub.flex_indicators_monthly").fetchone()[0]
        con.execute(
            """UPDATE marts.flex_indicators_monthly SET median_net_income = median_net_income + 1
               WHERE period = ? AND region_level = 'country' AND age_cohort = 'ALL' AND gender = 'ALL'""",
            [period],
        )
    result = tasks.publish(str(copy), "correction-run")
    assert result["new_release"] is True and result["release_id"] == "R0002"

    assert [r[0] for r in rows(copy, "SELECT release_id FROM pub.releases ORDER BY release_id")] == ["R0001", "R0002"]
    history = dict(rows(copy, "SELECT release_id, count(*) FROM pub.flex_indicators_monthly_history GROUP BY 1"))
    latest = rows(copy, "SELECT count(*) FROM pub.flex_indicators_monthly")[0][0]
    assert history == {"R0001": latest, "R0002": latest}
    revised = rows(
        copy,
        """SELECT first_release_id, latest_release_id, latest_value - first_value FROM pub.revisions
           WHERE changed""",
    )
    assert revised == [("R0001", "R0002", pytest.approx(1.0))]
    unchanged = rows(copy, "SELECT count(*) FROM pub.revisions WHERE NOT changed AND latest_release_id = 'R0002'")
    assert unchanged[0][0] > 0
    dims = {r[0] for r in rows(copy, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'pub'")}
    assert {"dim_region", "dim_occupation", "dim_platform", "dim_period", "revisions", "releases"} <= dims


def revisions_from_history(path: Path) -> list[tuple]:
    """pub.revisions as the history tables define it: per key and measure, the value in the first and in the
    latest release that published the key."""
    keys = ("period", "region_level", "region_code", "age_cohort", "gender", "occupation_code")
    parts = []
    for rules in TABLES:
        columns = [c for (c,) in rows(path, f"SELECT column_name FROM (DESCRIBE pub.{rules.name}_history)")]
        measures = [
            c for c in columns
            if c not in keys and c not in ("conf_status", "status", "vintage", "pipeline_version", "release_id")
        ]
        parts.append(
            f"""SELECT '{rules.name}' AS table_name,
                       {", ".join(k if k in columns else f"CAST(NULL AS VARCHAR) AS {k}" for k in keys)},
                       unnest([{", ".join(f"'{m}'" for m in measures)}]) AS measure,
                       unnest([{", ".join(f"CAST({m} AS DOUBLE)" for m in measures)}]) AS value,
                       conf_status, release_id, CAST(substr(release_id, 2) AS INTEGER) AS release_number
                FROM pub.{rules.name}_history"""
        )
    grouping = ", ".join(("table_name", *keys, "measure"))
    return rows(
        path,
        f"""SELECT {grouping},
                   arg_min(value, release_number) AS first_value, arg_min(conf_status, release_number),
                   arg_min(release_id, release_number),
                   arg_max(value, release_number) AS latest_value, arg_max(conf_status, release_number),
                   arg_max(release_id, release_number),
                   arg_min(value, release_number) IS DISTINCT FROM arg_max(value, release_number)
                   OR arg_min(conf_status, release_number) IS DISTINCT FROM arg_max(conf_status, release_number)
            FROM ({" UNION ALL ".join(parts)}) GROUP BY {grouping} ORDER BY ALL""",
    )


def test_revisions_follow_the_history_when_figures_change_vanish_and_come_back(
    warehouse: Path, tmp_path: Path
) -> None:
    """pub.revisions is updated, not rewritten: after a changed figure, a key that vanished (it keeps its last
    release) and the same key back (its first value kept), it still equals what the history tables say."""
    copy = tmp_path / "revised.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        leaf = con.execute(
            """SELECT period, region_code, occupation_code FROM marts.labor_demand_monthly
               WHERE region_level = 'prefecture' AND occupation_code <> 'ALL' ORDER BY ALL LIMIT 1"""
        ).fetchone()
        key = "period = '{}' AND region_level = 'prefecture' AND region_code = '{}' AND occupation_code = '{}'".format(
            *leaf
        )
        con.execute(
            """UPDATE marts.flex_indicators_monthly SET median_net_income = median_net_income + 1
               WHERE region_level = 'country' AND age_cohort = 'ALL' AND gender = 'ALL'"""
        )
        con.execute(f"CREATE TABLE main.kept_row AS SELECT * FROM marts.labor_demand_monthly WHERE {key}")
        con.execute(f"DELETE FROM marts.labor_demand_monthly WHERE {key}")
    assert tasks.publish(str(copy), "vanish-run")["release_id"] == "R0002"
    with duckdb.connect(str(copy)) as con:
        con.execute("INSERT INTO marts.labor_demand_monthly SELECT * FROM main.kept_row")
    assert tasks.publish(str(copy), "back-run")["release_id"] == "R0003"

    revisions = rows(copy, "SELECT * FROM pub.revisions ORDER BY ALL")
    assert revisions == revisions_from_history(copy)
    # the analyst database's copy, brought forward from the build of R0002 rather than copied, is the same
    assert rows(analyst_db_path(copy), "SELECT * FROM pub.revisions ORDER BY ALL") == revisions
    # ...and kept as it is by a refresh with no new release
    assert tasks.publish(str(copy), "no-change-run")["new_release"] is False
    assert rows(analyst_db_path(copy), "SELECT * FROM pub.revisions ORDER BY ALL") == revisions
    came_back = rows(
        copy,
        f"""SELECT DISTINCT first_release_id, latest_release_id FROM pub.revisions
            WHERE table_name = 'labor_demand_monthly' AND {key}""",
    )
    assert came_back == [("R0001", "R0003")]
    assert rows(copy, "SELECT DISTINCT latest_release_id FROM pub.revisions") == [("R0003",)]


def test_only_periods_whose_rows_changed_are_protected_again(warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "rescaled.duckdb"
    shutil.copy(warehouse, copy)
    before = dict(rows(copy, "SELECT table_name || ' ' || period, run_id FROM audit.disclosure_periods"))
    assert len(before) == len(rows(copy, "SELECT DISTINCT period FROM marts.flex_indicators_monthly")) + len(
        rows(copy, "SELECT DISTINCT period FROM marts.labor_demand_monthly")
    )
    with duckdb.connect(str(copy)) as con:
        period = con.execute("SELECT min(period) FROM marts.flex_indicators_monthly").fetchone()[0]
        # every count of one period doubled: still additive, fewer cells below the threshold
        con.execute(
            """UPDATE marts.flex_indicators_monthly
               SET active_workers = 2 * active_workers, active_jobs = 2 * active_jobs, new_workers = 2 * new_workers
               WHERE period = ?""",
            [period],
        )
    tasks.publish(str(copy), "rescale-run")

    after = dict(rows(copy, "SELECT table_name || ' ' || period, run_id FROM audit.disclosure_periods"))
    assert after == {**before, f"flex_indicators_monthly {period}": "rescale-run"}
    # the kept statuses of the re-protected period are what protecting it from scratch gives
    assert rows(
        copy,
        """SELECT count(*) FROM pub.flex_indicators_monthly p JOIN marts.flex_indicators_monthly m
               USING (period, region_level, region_code, age_cohort, gender)
           WHERE period = ? AND (p.conf_status = 'C') <> (m.active_workers < 10)""",
        [period],
    ) == [(0,)]


def test_a_period_protected_again_with_the_same_pattern_reuses_its_audits(warehouse: Path, tmp_path: Path) -> None:
    """A period whose rows changed but whose suppression comes out as before is not audited again."""
    copy = tmp_path / "kept.duckdb"
    shutil.copy(warehouse, copy)
    query = """SELECT p.period, p.region_level, p.region_code, p.age_cohort, p.gender, p.conf_status
               FROM pub.flex_indicators_monthly p ORDER BY ALL"""
    published = rows(copy, query)
    with duckdb.connect(str(copy)) as con:
        # as if every period's rows had changed (the fingerprint differs), its audits kept
        con.execute("UPDATE audit.disclosure_periods SET fingerprint = 'changed' WHERE table_name = ?",
                    [WORKERS.name])
    tasks.publish(str(copy), "kept-run")

    summaries = [
        json.loads(s)
        for (s,) in rows(copy, "SELECT summary FROM audit.disclosure_periods WHERE table_name = ? AND run_id = ?",
                         [WORKERS.name, "kept-run"])
    ]
    assert len(summaries) == len(rows(copy, "SELECT DISTINCT period FROM marts.flex_indicators_monthly"))
    assert {s["audit_method"] for s in summaries} == {"kept: this input was audited before"}
    assert all(s["audit_passed"] and s["audit_log"] for s in summaries)
    assert rows(copy, query) == published
    releases = rows(copy, "SELECT audit_detail FROM pub.releases")
    assert releases and all("audit_log" not in detail for (detail,) in releases)
