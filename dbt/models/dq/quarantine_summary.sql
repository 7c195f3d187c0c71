{#- Quarantined rows by source, reason and platform (the platform folder the file
    was delivered in), with the files they came from. -#}
with

quarantined as (

    select * from {{ ref('stg_quarantine__rows') }}

),

ledger as (

    select
        file_path,
        platform_id as delivery_platform_id
    from {{ ref('stg_audit__load_ledger') }}

),

final as (

    select
        quarantined.source,
        quarantined.reason_code,
        ledger.delivery_platform_id as platform_id,
        count(*) as rows_quarantined,
        count(distinct quarantined.file_path) as files,
        min(quarantined.delivery_date) as first_delivery_date,
        max(quarantined.delivery_date) as last_delivery_date

    from quarantined
    inner join ledger on quarantined.file_path = ledger.file_path
    group by quarantined.source, quarantined.reason_code, ledger.delivery_platform_id

)

select * from final
