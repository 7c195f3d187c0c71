{#- The months whose indicators must be recomputed after the loads since the
    last build: every month from the earliest month whose income changed
    onwards (new workers and volatility look back), the month three months
    before each changed month (retention looks 3 months ahead), and the months
    in which a person's attributes changed (their cell moved). Only the first
    two need every person's history again (rebuilds_every_person); in the
    last, the history of the persons who changed is enough. -#}
with

changes as (

    select * from {{ ref('int_changes_since_last_build') }}

),

changed_months as (

    select changes.period
    from changes
    where changes.change_kind = 'period'

),

from_changed_months as (

    select periods.period
    from {{ ref('dim_period') }} as periods
    where
        periods.period >= (select min(changed_months.period) from changed_months)
        or periods.period in (select {{ period_add('changed_months.period', -3) }} from changed_months)

),

of_changed_attributes as (

    select distinct attributes.period
    from {{ ref('int_person_attributes_by_period') }} as attributes
    where {{ changed_since_last_build('attributes.loaded_through') }}

),

rebuild_reasons as (

    select
        period,
        1 as rebuilds_every_person
    from from_changed_months
    union all
    select
        period,
        0 as rebuilds_every_person
    from of_changed_attributes

),

final as (

    select
        period,
        max(rebuilds_every_person) = 1 as rebuilds_every_person
    from rebuild_reasons
    group by period

)

select * from final
