{#- Who a person is in a month: the registration with the newest updated_at
    among those registered by the end of the month, across all platforms
    (indicators.md, "The person behind the records"). Only person-months with
    income are needed, so the join is bounded by the panel's size. -#}
with

person_periods as (

    select distinct
        person_key,
        period
    from {{ ref('int_income_person_platform_months') }}

),

registrations as (

    select * from {{ ref('stg_platforms__gig_registrations') }}

),

candidates as (

    select
        person_periods.person_key,
        person_periods.period,
        registrations.platform_id,
        registrations.registration_id,
        registrations.birth_year,
        registrations.gender,
        registrations.residence_region_code,
        registrations.hukou_region_code,
        registrations.occupation_code,
        registrations.has_other_job,
        row_number() over (
            partition by person_periods.person_key, person_periods.period
            order by
                registrations.updated_at desc, registrations.delivery_date desc,
                registrations.platform_id desc, registrations.registration_id desc
        ) as newest_first

    from person_periods
    inner join registrations
        on
            person_periods.person_key = registrations.person_key
            and registrations.registered_at < {{ dbt.cast(
                dbt.dateadd('month', 1, period_start('person_periods.period')),
                api.Column.translate_type('timestamp')
            ) }}

),

final as (

    select
        person_key,
        period,
        platform_id as attributes_platform_id,
        registration_id as attributes_registration_id,
        birth_year,
        gender,
        residence_region_code,
        hukou_region_code,
        occupation_code,
        has_other_job

    from candidates
    where newest_first = 1

)

select * from final
