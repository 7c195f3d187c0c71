{#- The person-month panel: one row per person and month with income on any
    platform, income summed across platforms, with the person's attributes as of
    that month and the regional roll-up of their residence. Persons without a
    registration by the end of the month are kept (is_registered = false): they
    count in platform totals and data-quality tables, not in person-level
    indicators. Incremental: a build after new loads deletes and recomputes the
    person-months whose income changed (income_changed()) and those whose
    attributes changed (int_person_attributes_by_period rows stamped since the
    last build). -#}
-- depends_on: {{ ref('int_changes_since_last_build') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{% if is_incremental() %}delete from {{ this }} as kept "
        ~ "where {{ income_changed('kept.person_key', 'kept.period') }}{% endif %}",
        "{% if is_incremental() %}{{ delete_changed_person_months(this) }}{% endif %}",
    ],
) }}

with

{% if is_incremental() %}

    changed_person_months as (

        {{ changed_person_months() }}

    ),

{% endif %}

platform_months as (

    select platform_months.*
    from {{ ref('int_income_person_platform_months') }} as platform_months
    {% if is_incremental() %}
        left join changed_person_months
            on
                platform_months.person_key = changed_person_months.person_key
                and platform_months.period = changed_person_months.period
        where
            {{ income_changed('platform_months.person_key', 'platform_months.period') }}
            or changed_person_months.person_key is not null
    {% endif %}

),

attributes as (

    select * from {{ ref('int_person_attributes_by_period') }}

),

regions as (

    select * from {{ ref('regions') }}

),

minimum_wages as (

    select * from {{ ref('minimum_wages') }}
    where tier = 1

),

person_months as (

    select
        person_key,
        period,
        sum(records) as records,
        sum(gross_income) as gross_income,
        sum(net_income) as net_income,
        sum(hours_worked) as hours_worked,
        sum(net_income_with_hours) as net_income_with_hours,
        {{ count_true('gross_income > 0') }} as active_platforms,
        max(social_insurance_flag) as social_insurance_flag

    from platform_months
    group by person_key, period

),

with_attributes as (

    select
        person_months.*,
        coalesce(attributes.is_registered, false) as is_registered,
        attributes.birth_year,
        attributes.gender,
        attributes.residence_region_code,
        attributes.hukou_region_code,
        attributes.occupation_code,
        attributes.has_other_job,
        {{ dbt.cast("left(person_months.period, 4)", api.Column.translate_type('integer')) }}
        - attributes.birth_year as age

    from person_months
    left join attributes
        on
            person_months.person_key = attributes.person_key
            and person_months.period = attributes.period

),

with_regions as (

    select
        with_attributes.*,
        residence.province_code as residence_province_code,
        case when residence.region_level <> 'province' then residence.prefecture_code end
            as residence_prefecture_code,
        residence.macro_region,
        hukou.province_code as hukou_province_code

    from with_attributes
    left join regions as residence on with_attributes.residence_region_code = residence.region_code
    left join regions as hukou on with_attributes.hukou_region_code = hukou.region_code

),

{#- From the model, not the platform_months CTE: a second reference to that CTE
    would make DuckDB materialise it. #}

periods as (

    select distinct period from {{ ref('int_income_person_platform_months') }}

),

{#- The tier-1 minimum wage in force at each month's end, per province: a small
    table (provinces x months), so the panel needs only an equality join. #}

minimum_wage_by_period as (

    select
        periods.period,
        minimum_wages.province_code,
        minimum_wages.hourly_min_wage,
        row_number() over (
            partition by periods.period, minimum_wages.province_code
            order by minimum_wages.effective_from desc
        ) as newest_wage_first

    from periods
    inner join minimum_wages
        on minimum_wages.effective_from <= {{ period_end('periods.period') }}

),

with_minimum_wage as (

    select
        with_regions.*,
        minimum_wage_by_period.hourly_min_wage

    from with_regions
    left join minimum_wage_by_period
        on
            with_regions.residence_province_code = minimum_wage_by_period.province_code
            and with_regions.period = minimum_wage_by_period.period
            and minimum_wage_by_period.newest_wage_first = 1

),

final as (

    select
        person_key,
        period,
        is_registered,
        records,
        gross_income,
        net_income,
        gross_income > 0 as is_active,
        active_platforms,
        hours_worked,
        net_income_with_hours,
        case when hours_worked > 0 then net_income_with_hours / hours_worked end as hourly_earnings,
        hourly_min_wage,
        case
            when hours_worked > 0 and hourly_min_wage is not null
                then net_income_with_hours / hours_worked < hourly_min_wage
        end as is_below_min_wage,
        case social_insurance_flag when 1 then true when 0 then false end as has_social_insurance,
        birth_year,
        age,
        case
            when age between 16 and 24 then '16-24'
            when age between 25 and 34 then '25-34'
            when age between 35 and 44 then '35-44'
            when age between 45 and 54 then '45-54'
            when age between 55 and 64 then '55-64'
            when age >= 65 then '65+'
        end as age_cohort,
        gender,
        residence_region_code,
        residence_province_code,
        residence_prefecture_code,
        macro_region,
        hukou_region_code,
        hukou_province_code,
        case
            when hukou_province_code is not null then hukou_province_code <> residence_province_code
        end as is_migrant,
        occupation_code,
        has_other_job

    from with_minimum_wage

)

select * from final
