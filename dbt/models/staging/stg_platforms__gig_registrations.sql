{#- Newest version per natural key: the newest updated_at wins, ties go to the later delivery.
    A table, not a view: the person attributes, the data-quality tables and ten
    tests read it, and as a view each of them would rank every version again. -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('platforms', 'gig_registrations') }}

),

renamed as (

    select
        platform_id,
        registration_id,
        person_key,
        registered_at,
        updated_at,
        birth_year,
        gender,
        residence_region_code,
        hukou_region_code,
        occupation_code,
        education_level,
        has_other_job,
        status,
        deregistered_at,
        delivery_date,
        load_id,
        row_number() over (
            partition by platform_id, registration_id
            order by updated_at desc, delivery_date desc, file_path desc, source_row desc
        ) as version_rank

    from source

)

select
    platform_id,
    registration_id,
    person_key,
    registered_at,
    updated_at,
    birth_year,
    gender,
    residence_region_code,
    hukou_region_code,
    occupation_code,
    education_level,
    has_other_job,
    status,
    deregistered_at,
    delivery_date,
    load_id

from renamed
where version_rank = 1
