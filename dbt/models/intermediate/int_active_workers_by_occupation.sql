{#- Active registered workers by month, region of residence and occupation (of
    their registration), at the same region levels and occupation codes as
    labor_demand_monthly: the denominator of its tightness. Counted from the
    person-months (one row per person and month), ALL included, never summed
    from cells. A residence with a province-level code counts in its province,
    macro-region and country, and in no prefecture. -#}
with

person_months as (

    select * from {{ ref('int_person_months') }}

),

active_workers as (

    select
        period,
        occupation_code,
        residence_province_code,
        residence_prefecture_code,
        macro_region

    from person_months
    where is_active and is_registered

),

{# Each worker once at each region level that contains their residence. #}
workers_by_region as (

    select
        period,
        'country' as region_level,
        'CN' as region_code,
        occupation_code
    from active_workers

    union all

    select
        period,
        'macro_region' as region_level,
        macro_region as region_code,
        occupation_code
    from active_workers
    where macro_region is not null

    union all

    select
        period,
        'province' as region_level,
        residence_province_code as region_code,
        occupation_code
    from active_workers
    where residence_province_code is not null

    union all

    select
        period,
        'prefecture' as region_level,
        residence_prefecture_code as region_code,
        occupation_code
    from active_workers
    where residence_prefecture_code is not null

),

{# ...and once in their occupation and once in ALL. #}
workers_by_region_and_occupation as (

    select
        period,
        region_level,
        region_code,
        occupation_code
    from workers_by_region
    where occupation_code is not null

    union all

    select
        period,
        region_level,
        region_code,
        'ALL' as occupation_code
    from workers_by_region

),

final as (

    select
        period,
        region_level,
        region_code,
        occupation_code,
        count(*) as active_workers

    from workers_by_region_and_occupation
    group by period, region_level, region_code, occupation_code

)

select * from final
