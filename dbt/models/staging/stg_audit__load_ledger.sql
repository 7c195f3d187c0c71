with

source as (

    select * from {{ source('audit', 'load_ledger') }}

),

renamed as (

    select
        source,
        platform_id,
        delivery_date,
        file_path,
        sha256,
        status,
        rows_delivered,
        rows_loaded,
        rows_quarantined,
        error,
        duplicate_of,
        load_id,
        loaded_at

    from source

)

select * from renamed
