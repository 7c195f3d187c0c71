{#- The months whose indicators must be recomputed after the loads since the
    last build: from three months before the earliest changed month onwards
    (retention looks 3 months ahead; new workers and volatility look back), and
    the months in which a person's attributes changed (their cell moved). -#}
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
