{#- Flexible-employment indicators by month, region, age cohort and gender
    (indicators.md, "flex_indicators_monthly"). Every measure is computed from
    person-months, ALL rows included: nothing is summed from other cells.
    Built one month at a time (each month's cells depend on that month's
    person-months only; the medians and percentiles hold every value of the
    month in memory): all months on a full refresh, int_periods_to_rebuild on
    an incremental build (macros/materializations/incremental_by_period.sql),
    and in a month where only a few persons changed (moved between cells, or
    their income changed), the cells of the regions of int_regions_to_rebuild
    (a region's cells depend on its persons only). -#}
-- depends_on: {{ ref('int_periods_to_rebuild') }}
-- depends_on: {{ ref('int_regions_to_rebuild') }}
-- depends_on: {{ ref('dim_period') }}
{{ config(
    materialized='incremental_by_period',
    all_periods='dim_period',
    periods_to_rebuild='int_periods_to_rebuild',
    regions_to_rebuild='int_regions_to_rebuild',
) }}

with

active_persons as (

    select * from {{ ref('int_person_month_history') }}
    where
        {{ period_filter() }}
        and is_active
        and is_registered
        and age_cohort is not null
        and residence_province_code is not null

),

by_region as (

    {{ rows_at_every_region_level(
        'active_persons', province='residence_province_code', prefecture='residence_prefecture_code'
    ) }}

),

aggregated as (

    select
        period,
        region_level,
        region_code,
        case when grouping(age_cohort) = 1 then 'ALL' else age_cohort end as age_cohort,
        case when grouping(gender) = 1 then 'ALL' else gender end as gender,
        count(*) as active_workers,
        sum(active_platforms) as active_jobs,
        {{ count_true('is_new') }} as new_workers,
        {{ share(count_true('active_platforms >= 2'), 'count(*)') }} as multi_platform_share,
        {{ share(count_true('has_other_job'), 'count(has_other_job)') }} as side_job_share,
        {#- DuckDB interpolates a DECIMAL median in the input's scale and truncates: use doubles.
            Median, p10 and p90 in one aggregate (one sort per cell): -#}
        {{ percentiles_cont(dbt.cast('net_income', 'double'), [0.5, 0.1, 0.9]) }} as net_income_percentiles,
        {#- exact decimal sum, one division: the same figure on every build (a float avg is not) -#}
        sum(hours_worked) / nullif(count(hours_worked), 0) as mean_hours,
        {{ percentile_cont('hourly_earnings', 0.5) }} as median_hourly_earnings,
        {{ share(count_true('is_below_min_wage'), 'count(is_below_min_wage)') }} as below_min_wage_share,
        {{ share(count_true('has_social_insurance'), 'count(has_social_insurance)') }} as social_insurance_share,
        {{ share(count_true('is_migrant'), 'count(is_migrant)') }} as migrant_share,
        {{ share(count_true('is_new and is_active_three_months_later'),
                 count_true('is_new and is_active_three_months_later is not null')) }} as retention_3m,
        {{ percentile_cont('income_cv', 0.5) }} as income_volatility

    from by_region
    where {{ region_filter() }}
    group by grouping sets (
        (period, region_level, region_code, age_cohort, gender),
        (period, region_level, region_code, age_cohort),
        (period, region_level, region_code, gender),
        (period, region_level, region_code)
    )

),

final as (

    select
        cells.period,
        cells.region_level,
        cells.region_code,
        cells.age_cohort,
        cells.gender,
        cells.active_workers,
        cells.active_jobs,
        cells.new_workers,
        cells.multi_platform_share,
        cells.side_job_share,
        round({{ list_element('cells.net_income_percentiles', 1) }}, 2) as median_net_income,
        round({{ list_element('cells.net_income_percentiles', 2) }}, 2) as p10_net_income,
        round({{ list_element('cells.net_income_percentiles', 3) }}, 2) as p90_net_income,
        round(cells.mean_hours, 2) as mean_hours,
        round(cells.median_hourly_earnings, 2) as median_hourly_earnings,
        cells.below_min_wage_share,
        cells.social_insurance_share,
        cells.migrant_share,
        cells.retention_3m,
        cells.income_volatility,
        case
            when cells.gender = 'ALL'
                then
                    (
                        {{ list_element('men.net_income_percentiles', 1) }}
                        - {{ list_element('women.net_income_percentiles', 1) }}
                    )
                    / nullif({{ list_element('men.net_income_percentiles', 1) }}, 0)
        end as gender_pay_gap

    from aggregated as cells
    left join aggregated as men
        on
            cells.gender = 'ALL' and men.gender = 'M'
            and cells.period = men.period and cells.region_level = men.region_level
            and cells.region_code = men.region_code and cells.age_cohort = men.age_cohort
    left join aggregated as women
        on
            cells.gender = 'ALL' and women.gender = 'F'
            and cells.period = women.period and cells.region_level = women.region_level
            and cells.region_code = women.region_code and cells.age_cohort = women.age_cohort

)

select * from final
