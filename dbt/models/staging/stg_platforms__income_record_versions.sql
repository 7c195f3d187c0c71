{#- Every delivered version of every income record (no dedupe): which loads
    touched which months, so incremental models recompute only those. -#}
with

source as (

    select * from {{ source('platforms', 'income_records') }}

),

renamed as (

    select
        platform_id,
        record_id,
        person_key,
        period,
        load_id

    from source

)

select * from renamed
