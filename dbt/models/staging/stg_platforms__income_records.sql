{#- Newest version per natural key: the newest updated_at wins, ties go to the later delivery.
    An incremental table (the other deduplicated sources are rebuilt whole): income
    is most of the data. A build after new loads re-ranks only the records those
    loads delivered a version of (all their versions, as a late-delivered older
    version must not win) and replaces them.
    Only records delivered in more than one version (corrections, ~1%) are ranked:
    a window over every row would sort all of them with their payload (4x slower at
    national scale). Each branch reads the source table itself: a CTE referenced
    twice would make DuckDB materialise all of it. -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['platform_id', 'record_id'],
) }}

{%- set column_names = [
    'platform_id', 'record_id', 'person_key', 'period', 'gross_income', 'platform_fee', 'hours_worked',
    'tasks_completed', 'social_insurance', 'currency', 'updated_at', 'delivery_date', 'load_id', 'file_path',
    'source_row',
] -%}

{%- set columns -%}
    {%- for column in column_names %}
        {{ "coalesce(income.currency, 'CNY') as currency" if column == 'currency' else 'income.' ~ column }}
        {{- ',' if not loop.last }}
    {%- endfor %}
{%- endset -%}

{#- The versions to rank: all of them on a full build, else those of the delivered records. -#}
{%- set versions = 'in_scope' if is_incremental() else source('platforms', 'income_records') -%}

{%- set same_record -%}
    versioned.platform_id = income.platform_id and versioned.record_id = income.record_id
{%- endset %}

with

{% if is_incremental() %}

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

    in_scope as (

        select income.*
        from {{ source('platforms', 'income_records') }} as income
        inner join delivered_records as delivered
            on income.platform_id = delivered.platform_id and income.record_id = delivered.record_id

    ),

{% endif %}

versioned_records as (

    select
        income.platform_id,
        income.record_id
    from {{ versions }} as income
    group by income.platform_id, income.record_id
    having count(*) > 1

),

single_versions as (

    select {{ columns }}
    from {{ versions }} as income
    where not exists (
        select 1 from versioned_records as versioned
        where {{ same_record }}
    )

),

ranked_versions as (

    select
        {{ columns }},
        row_number() over (
            partition by income.platform_id, income.record_id
            order by income.updated_at desc, income.delivery_date desc, income.file_path desc, income.source_row desc
        ) as version_rank
    from {{ versions }} as income
    where exists (
        select 1 from versioned_records as versioned
        where {{ same_record }}
    )

),

newest_versions as (

    select * from single_versions
    union all
    select {{ column_names | join(', ') }}
    from ranked_versions
    where version_rank = 1

)

select * from newest_versions
