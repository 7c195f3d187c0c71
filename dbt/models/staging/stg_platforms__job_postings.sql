{#- Newest version per natural key: the newest updated_at wins, ties go to the later delivery.
    A table, not a view: the posting models, dim_period and fifteen tests read
    it, and as a view each of them would rank every version again.
    Incremental, as the registrations: raw postings are append-only, so a build
    after new loads ranks again only the postings those loads delivered a version
    of (all their versions: a late-delivered older version must not win) and
    replaces their rows. -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['platform_id', 'posting_id'],
) }}

with

source as (

    select * from {{ source('platforms', 'job_postings') }}

),

{% if is_incremental() %}

    in_scope as (

        {{ versions_of_delivered_records('source', ['platform_id', 'posting_id']) }}

    ),

{% endif %}

renamed as (

    select
        platform_id,
        posting_id,
        posted_at,
        closed_at,
        updated_at,
        employer_id,
        title,
        occupation_code,
        region_code,
        employment_type,
        is_remote,
        wage_min,
        wage_max,
        wage_period,
        coalesce(headcount, 1) as headcount,
        age_min,
        age_max,
        gender_requirement,
        education_min,
        delivery_date,
        load_id,
        row_number() over (
            partition by platform_id, posting_id
            order by updated_at desc, delivery_date desc, file_path desc, source_row desc
        ) as version_rank

    from {{ 'in_scope' if is_incremental() else 'source' }}

)

select
    platform_id,
    posting_id,
    posted_at,
    closed_at,
    updated_at,
    employer_id,
    title,
    occupation_code,
    region_code,
    employment_type,
    is_remote,
    wage_min,
    wage_max,
    wage_period,
    headcount,
    age_min,
    age_max,
    gender_requirement,
    education_min,
    delivery_date,
    load_id

from renamed
where version_rank = 1
