{#- Labour demand by month, region of the place of work and occupation
    (indicators.md, "labor_demand_monthly"). Every measure is computed from the
    posting spells, the ALL occupation and every region level included: nothing
    is summed from other cells (distinct employers are not additive). A cell
    exists when it has at least one open posting (a new posting is open too).
    Each measure is a function of one month's spells, so filtering `spells` to
    some periods rebuilds exactly those periods. -#}
{#- What the measures read from each spell. -#}
{% set spell_measures = [
    'employer_id', 'is_new', 'is_closed_in_month', 'headcount', 'offered_monthly_wage',
    'age_max', 'gender_requirement', 'is_remote', 'days_to_close',
] %}
with

{# The place of work by its region levels; the spell's own region_code would
    collide with the cells' region_code. #}
spells as (

    select
        period,
        occupation_code,
        macro_region,
        province_code,
        prefecture_code,
        {{ spell_measures | join(', ') }}

    from {{ ref('int_job_posting_months') }}

),

active_workers as (

    select * from {{ ref('int_active_workers_by_occupation') }}

),

{# Each spell once at each region level that contains its place of work. #}
spells_by_region as (

    {{ rows_at_every_region_level('spells') }}

),

{# ...and once in its occupation and once in ALL. #}
spells_by_cell as (

    select
        period,
        region_level,
        region_code,
        occupation_code,
        {{ spell_measures | join(', ') }}
    from spells_by_region

    union all

    select
        period,
        region_level,
        region_code,
        'ALL' as occupation_code,
        {{ spell_measures | join(', ') }}
    from spells_by_region

),

cells as (

    select
        period,
        region_level,
        region_code,
        occupation_code,
        count(*) as open_postings,
        {{ dbt.cast(count_true('is_new'), api.Column.translate_type('bigint')) }} as new_postings,
        {{ dbt.cast('sum(headcount)', api.Column.translate_type('bigint')) }} as vacancies,
        count(distinct employer_id) as employers,
        {# DuckDB's median of a DECIMAL keeps its scale and truncates: 4 decimals
           hold the midpoint of two fen amounts exactly, then round to the fen. #}
        {{ dbt.cast(
            "round(" ~ percentile_cont(
                "case when is_new then " ~ dbt.cast("offered_monthly_wage", api.Column.translate_type("decimal(18,4)")) ~ " end",
                0.5
            ) ~ ", 2)",
            api.Column.translate_type("decimal(18,2)")
        ) }} as median_offered_monthly_wage,
        {{ count_true('is_new and age_max <= 35') }} as new_age_capped,
        {{ count_true("is_new and gender_requirement in ('female', 'male')") }} as new_gender_restricted,
        {{ count_true('is_new and is_remote') }} as new_remote,
        {{ count_true('is_new and is_remote is not null') }} as new_remote_known,
        {{ percentile_cont('case when is_closed_in_month then days_to_close end', 0.5) }} as median_days_to_close

    from spells_by_cell
    group by period, region_level, region_code, occupation_code

),

final as (

    select
        cells.period,
        cells.region_level,
        cells.region_code,
        cells.occupation_code,
        cells.open_postings,
        cells.new_postings,
        cells.vacancies,
        cells.employers,
        cells.median_offered_monthly_wage,
        {{ share('cells.new_age_capped', 'cells.new_postings') }} as age_capped_share,
        {{ share('cells.new_gender_restricted', 'cells.new_postings') }} as gender_restricted_share,
        {{ share('cells.new_remote', 'cells.new_remote_known') }} as remote_share,
        cells.median_days_to_close,
        {{ share('cells.vacancies', 'active_workers.active_workers') }} as tightness

    from cells
    left join active_workers
        on
            cells.period = active_workers.period
            and cells.region_level = active_workers.region_level
            and cells.region_code = active_workers.region_code
            and cells.occupation_code = active_workers.occupation_code

)

select * from final
