{#- The months whose indicators must be recomputed after the loads since the
    last build: from three months before the earliest changed month onwards
    (retention looks 3 months ahead; new workers and volatility look back), and
    every month of a person whose registration changed. -#}
with

changes as (

    select * from {{ ref('int_changes_since_last_build') }}

),

from_changed_months as (

    select periods.period
    from {{ ref('dim_period') }} as periods
    where periods.period >= (
        select {{ period_add('min(changes.period)', -3) }} from changes
        where changes.change_kind = 'period'
    )

),

of_changed_persons as (

    select distinct panel.period
    from {{ ref('int_person_months') }} as panel
    inner join changes on changes.change_kind = 'person' and panel.person_key = changes.person_key

),

final as (

    select period from from_changed_months
    union
    select period from of_changed_persons

)

select * from final
