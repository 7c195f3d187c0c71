{#- Every delivered version of every registration (no dedupe): which loads
    changed which persons, so incremental models recompute only those. -#}
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
        load_id

    from source

)

select * from renamed
