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

    {{ rows_at_every_region_level(
        'active_workers', province='residence_province_code', prefecture='residence_prefecture_code'
    ) }}

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
