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
        {{ compact_person_key('person_key') }} as person_key,
        registered_at,
        load_id

    from source

)

select * from renamed
