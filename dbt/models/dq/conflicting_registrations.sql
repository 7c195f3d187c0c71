{#- Persons whose registrations (newest version of each, across platforms)
    disagree on birth_year or gender. Their attributes still come from the newest
    registration; this table shows how many and which. Only persons with more
    than one registration (~18%) reach the distinct counts and lists: grouping
    every registration with them took three times as long. -#}
with

registered_more_than_once as (

    select person_key
    from {{ ref('stg_platforms__gig_registrations') }}
    group by person_key
    having count(*) > 1

),

registrations as (

    select registrations.*
    from {{ ref('stg_platforms__gig_registrations') }} as registrations
    inner join registered_more_than_once
        on registrations.person_key = registered_more_than_once.person_key

),

conflicts as (

    select
        person_key,
        count(*) as registrations,
        count(distinct platform_id) as platforms,
        count(distinct birth_year) > 1 as birth_year_disagrees,
        count(distinct gender) > 1 as gender_disagrees,
        {{ dbt.listagg("distinct " ~ dbt.cast("birth_year", api.Column.translate_type("string")), "', '") }}
            as birth_years,
        {{ dbt.listagg("distinct gender", "', '") }} as genders

    from registrations
    group by person_key
    having count(distinct birth_year) > 1 or count(distinct gender) > 1

),

final as (

    select
        {{ person_key_text('person_key') }} as person_key,
        registrations,
        platforms,
        birth_year_disagrees,
        gender_disagrees,
        birth_years,
        genders
    from conflicts

)

select * from final
