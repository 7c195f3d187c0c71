{#- The months whose indicators must be recomputed after the loads since the
    last build: every month from the earliest month whose income changed
    onwards (new workers and volatility look back), the month three months
    before each changed month (retention looks 3 months ahead), and the months
    in which a person's attributes changed (their cell moved). -#}
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

final as (

    select period from from_changed_months
    union
    select period from of_changed_attributes

)

select * from final
