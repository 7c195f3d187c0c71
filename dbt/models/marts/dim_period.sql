{#- The calendar of loaded history: every month from the first month seen in the
    data (income period or posting month) to the month of the newest delivery.
    Income months come from every delivered version (a plain scan, where the
    current versions would need the dedupe's window over all income rows). -#}
with

bounds as (

    select
        least(
            (select min(period) from {{ ref('stg_platforms__income_record_versions') }}),
            (select min({{ period_of('posted_at') }}) from {{ ref('stg_platforms__job_postings') }})
        ) as first_period,
        greatest(
            (select max(period) from {{ ref('stg_platforms__income_record_versions') }}),
            (
                select max({{ period_of('delivery_date') }}) from {{ ref('stg_audit__load_ledger') }}
                where status = 'loaded'
            )
        ) as last_period

),

months as (

    select
        {{ period_of(dbt.dateadd('month', 'month_offsets.offset_months', period_start('bounds.first_period'))) }}
            as period
    from bounds
    cross join generate_series(0, 1200) as month_offsets (offset_months)
    where month_offsets.offset_months <= {{ period_diff('bounds.first_period', 'bounds.last_period') }}

),

final as (

    select
        period,
        {#- year, month and quarter are keywords, but they are the documented column names. #}
        {{ dbt.cast("left(period, 4)", api.Column.translate_type('integer')) }} as year,  -- noqa: RF04
        {{ dbt.cast("right(period, 2)", api.Column.translate_type('integer')) }} as month,  -- noqa: RF04
        {{ dbt.cast(
            "floor((" ~ dbt.cast("right(period, 2)", api.Column.translate_type('integer')) ~ " + 2) / 3)",
            api.Column.translate_type('integer')
        ) }} as quarter,  -- noqa: RF04
        {{ period_start('period') }} as month_start,
        {{ period_end('period') }} as month_end,
        row_number() over (order by period) as period_index
    from months

)

select * from final
