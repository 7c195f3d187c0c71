{#- Every posting (newest version) with what the demand indicators need: an
    occupation for every posting (delivered, or classified from the title), the
    place of work rolled up to prefecture / province / macro-region, its months,
    the offered wage as a monthly amount and the days it took to close.
    Incremental: a build after new loads classifies again only the postings
    whose newest version one of them delivered (a posting is a function of its
    own row and the reference seeds) and replaces their rows: matching every
    title against every keyword cost each daily build ~3 s at national scale. -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['platform_id', 'posting_id'],
) }}

{#- Monthly equivalents (indicators.md): 174 working hours, 21.75 working days,
    52/12 weeks a month. -#}
{%- set monthly_factors = {
    'hour': '* 174',
    'day': '* 21.75',
    'week': '* 52 / 12',
    'month': '* 1',
    'year': '/ 12',
} -%}
with

postings as (

    select * from {{ ref('stg_platforms__job_postings') }}
    {% if is_incremental() %}
        where {{ loaded_since_last_build('load_id') }}
    {% endif %}

),

title_keywords as (

    select * from {{ ref('occupation_title_keywords') }}

),

regions as (

    select * from {{ ref('regions') }}

),

{# Highest priority wins; ties: the longer keyword, then the first code (deterministic). #}
title_matches as (

    select
        postings.platform_id,
        postings.posting_id,
        title_keywords.occupation_code,
        row_number() over (
            partition by postings.platform_id, postings.posting_id
            order by
                title_keywords.priority desc,
                {{ dbt.length('title_keywords.keyword') }} desc,
                title_keywords.occupation_code asc,
                title_keywords.keyword asc
        ) as match_rank

    from postings
    inner join title_keywords
        on {{ dbt.position('lower(title_keywords.keyword)', 'lower(postings.title)') }} > 0
    where postings.occupation_code is null

),

title_occupations as (

    select
        platform_id,
        posting_id,
        occupation_code

    from title_matches
    where match_rank = 1

),

{# The midpoint of the range, or the one bound given, kept DECIMAL
    (x 0.5 rather than / 2: DuckDB divides decimals in floating point). #}
postings_with_wage_midpoint as (

    select
        *,
        case
            when wage_min is not null and wage_max is not null then (wage_min + wage_max) * 0.5
            else coalesce(wage_min, wage_max)
        end as wage_midpoint

    from postings

),

final as (

    select
        postings.platform_id,
        postings.posting_id,
        postings.employer_id,
        postings.title,
        coalesce(postings.occupation_code, title_occupations.occupation_code, 'other') as occupation_code,
        case when postings.occupation_code is not null then 'delivered' else 'title' end as occupation_source,
        postings.region_code,
        regions.region_level,
        regions.province_code,
        case when regions.region_level <> 'province' then regions.prefecture_code end as prefecture_code,
        regions.macro_region,
        postings.posted_at,
        postings.closed_at,
        {{ period_of('postings.posted_at') }} as posted_period,
        {{ period_of('postings.closed_at') }} as closed_period,
        postings.employment_type,
        postings.is_remote,
        postings.headcount,
        postings.wage_min,
        postings.wage_max,
        postings.wage_period,
        {# Each branch is rounded to the fen and cast on its own, so the exact
           branches stay DECIMAL arithmetic; piece rates have no monthly equivalent. #}
        case postings.wage_period
            {%- for wage_period, to_month in monthly_factors.items() %}
                when '{{ wage_period }}' then {{ dbt.cast(
                    "round(postings.wage_midpoint " ~ to_month ~ ", 2)",
                    api.Column.translate_type('decimal(18,2)')
                ) }}
            {%- endfor %}
        end as offered_monthly_wage,
        postings.age_min,
        postings.age_max,
        postings.gender_requirement,
        postings.education_min,
        {{ dbt.datediff('postings.posted_at', 'postings.closed_at', 'second') }} / 86400.0 as days_to_close

    from postings_with_wage_midpoint as postings
    left join title_occupations
        on
            postings.platform_id = title_occupations.platform_id
            and postings.posting_id = title_occupations.posting_id
    left join regions
        on postings.region_code = regions.region_code

)

select * from final
