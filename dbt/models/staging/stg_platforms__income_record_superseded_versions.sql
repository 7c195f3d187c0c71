{#- The delivered income versions that lost to a newer version of the same record
    (the newest updated_at wins, ties go to the later delivery): what
    stg_platforms__income_records leaves out. Only records delivered in more than
    one version (corrections, ~1%) are ranked, so this table is small and the
    deduplicated income can stay a view over the raw table instead of a copy of
    it (writing that copy was the longest step of a full build at national scale).
    Incremental: raw income is append-only, so a version that lost once stays
    lost; a build after new loads re-ranks only the records those loads delivered
    a version of (all their versions, as a late-delivered older version must not
    win) and replaces their rows. -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['platform_id', 'record_id'],
) }}

{#- The versions to rank: all of them on a full build, else those of the delivered records. -#}
{%- set versions = 'in_scope' if is_incremental() else source('platforms', 'income_records') -%}

with

{% if is_incremental() %}

    in_scope as (

        {{ versions_of_delivered_records(source('platforms', 'income_records'), ['platform_id', 'record_id']) }}

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

ranked_versions as (

    select
        income.platform_id,
        income.record_id,
        income.load_id,
        income.source_row,
        row_number() over (
            partition by income.platform_id, income.record_id
            order by income.updated_at desc, income.delivery_date desc, income.file_path desc, income.source_row desc
        ) as version_rank
    from {{ versions }} as income
    where exists (
        select 1 from versioned_records as versioned
        where versioned.platform_id = income.platform_id and versioned.record_id = income.record_id
    )

),

superseded_versions as (

    select
        platform_id,
        record_id,
        load_id,
        source_row
    from ranked_versions
    where version_rank > 1

)

select * from superseded_versions
