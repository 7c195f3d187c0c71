{#- A person's income on one platform in one month: all records summed
    (weekly payouts, bonuses). Net income of a record = gross - fee (null fee = 0).
    Incremental: a build after new loads deletes and recomputes only the
    person-months those loads changed (income_changed()). -#}
-- depends_on: {{ ref('int_changes_since_last_build') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} as kept "
        ~ "where {{ income_changed('kept.person_key', 'kept.period') }}{% endif %}",
) }}

with

income as (

    select * from {{ ref('stg_platforms__income_records') }} as income
    {% if is_incremental() %}
        where {{ income_changed('income.person_key', 'income.period') }}
    {% endif %}

),

final as (

    select
        person_key,
        platform_id,
        period,
        count(*) as records,
        sum(gross_income) as gross_income,
        sum(gross_income - coalesce(platform_fee, 0)) as net_income,
        sum(hours_worked) as hours_worked,
        sum(case when hours_worked is not null then gross_income - coalesce(platform_fee, 0) end)
            as net_income_with_hours,
        max(case when social_insurance then 1 when social_insurance is not null then 0 end)
            as social_insurance_flag

    from income
    group by person_key, platform_id, period

)

select * from final
