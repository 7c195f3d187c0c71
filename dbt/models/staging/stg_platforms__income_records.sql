{#- Newest version per natural key: the newest updated_at wins, ties go to the later delivery. -#}
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
        source_row,
        row_number() over (
            partition by platform_id, record_id
            order by updated_at desc, delivery_date desc, file_path desc, source_row desc
        ) as version_rank

    from source

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
