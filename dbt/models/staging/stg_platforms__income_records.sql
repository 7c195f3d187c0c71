{#- Newest version per natural key: the newest updated_at wins, ties go to the later delivery.
    The one staging table (the others are views): income is most of the data, and
    every incremental build reads a few months of it. A build after new loads
    re-ranks only the records those loads delivered a version of (all their
    versions, as a late-delivered older version must not win) and replaces them. -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['platform_id', 'record_id'],
) }}

with

source as (

    select * from {{ source('platforms', 'income_records') }}

),

{% if is_incremental() %}

    {#- reads the source table itself: a second reference to the `source` CTE
        would make DuckDB materialise all of it #}

    delivered_records as (

        select distinct
            delivered.platform_id,
            delivered.record_id
        from {{ source('platforms', 'income_records') }} as delivered
        where delivered.load_id in (
            select ledger.load_id from {{ ref('stg_audit__load_ledger') }} as ledger
            where {{ changed_since_last_build('ledger.loaded_at') }}
        )

    ),

{% endif %}

renamed as (

    select
        source.platform_id,
        source.record_id,
        source.person_key,
        source.period,
        source.gross_income,
        source.platform_fee,
        source.hours_worked,
        source.tasks_completed,
        source.social_insurance,
        coalesce(source.currency, 'CNY') as currency,
        source.updated_at,
        source.delivery_date,
        source.load_id,
        source.file_path,
        source.source_row,
        row_number() over (
            partition by source.platform_id, source.record_id
            order by source.updated_at desc, source.delivery_date desc, source.file_path desc, source.source_row desc
        ) as version_rank

    from source
    {% if is_incremental() %}
        inner join delivered_records
            on source.platform_id = delivered_records.platform_id and source.record_id = delivered_records.record_id
    {% endif %}

)

select
    platform_id,
    record_id,
    person_key,
    period,
    gross_income,
    platform_fee,
    hours_worked,
    tasks_completed,
    social_insurance,
    currency,
    updated_at,
    delivery_date,
    load_id,
    file_path,
    source_row

from renamed
where version_rank = 1
