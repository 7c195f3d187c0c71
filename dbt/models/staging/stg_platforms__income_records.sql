{#- Newest version per natural key: every delivered version but those a newer
    version of the same record replaced (stg_platforms__income_record_superseded_versions,
    where the ranking is). A view, not a table: income is most of the data, and
    writing a copy of it cost more than its readers pay for the anti-join against
    the small table of superseded versions (at national scale: 30-48 s against
    4-5 s, the longest step of a full build), and incremental builds read only a
    few person-months of it. -#}
with

source as (

    select * from {{ source('platforms', 'income_records') }}

),

superseded as (

    select * from {{ ref('stg_platforms__income_record_superseded_versions') }}

),

newest_versions as (

    select source.*
    from source
    where not exists (
        select 1 from superseded
        where
            superseded.platform_id = source.platform_id
            and superseded.record_id = source.record_id
            and superseded.load_id = source.load_id
            and superseded.source_row = source.source_row
    )

),

renamed as (

    select
        platform_id,
        record_id,
        {{ compact_person_key('person_key') }} as person_key,
        period,
        gross_income,
        platform_fee,
        hours_worked,
        tasks_completed,
        social_insurance,
        coalesce(currency, 'CNY') as currency,
        updated_at,
        delivery_date,
        load_id,
        file_path,
        source_row

    from newest_versions

)

select * from renamed
