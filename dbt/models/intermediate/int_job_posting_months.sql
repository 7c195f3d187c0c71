{#- Posting spells: one row per posting and month in which it was open at any
    time (spec: posted_at <= month end and closed_at null or >= month start).
    Months are Asia/Shanghai calendar months, so comparing the 'YYYY-MM' periods
    of posted_at and closed_at is that same condition, exactly. A posting never
    closed stays open to the last month of dim_period (the newest delivery).
    Each spell carries what labor_demand_monthly aggregates, so the mart reads
    only this model, and a `where period in (...)` here restricts it to those months. -#}
with

postings as (

    select * from {{ ref('int_job_postings_classified') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

final as (

    select
        periods.period,
        postings.platform_id,
        postings.posting_id,
        postings.employer_id,
        postings.occupation_code,
        postings.region_code,
        postings.province_code,
        postings.prefecture_code,
        postings.macro_region,
        postings.posted_period = periods.period as is_new,
        coalesce(postings.closed_period = periods.period, false) as is_closed_in_month,
        postings.headcount,
        postings.offered_monthly_wage,
        postings.age_max,
        postings.gender_requirement,
        postings.is_remote,
        postings.days_to_close

    from postings
    inner join periods
        on
            postings.posted_period <= periods.period
            and (postings.closed_period is null or postings.closed_period >= periods.period)

)

select * from final
