{#- The months whose indicators must be recomputed after the loads since the
    last build: every month from the earliest month whose income changed
    onwards (new workers and volatility look back), the month three months
    before each changed month (retention looks 3 months ahead), and the months
    in which a person's attributes changed so that they moved to another cell
    (an occupation alone does not: the worker mart does not use it). A person's
    history flags change only with that person's own rows (int_person_month_history
    recomputes the persons whose income or attributes changed), except in the
    month three before a newly loaded month, whose retention turns from unknown
    to known for everyone, and everywhere when a month before the loaded ones
    arrives (it shifts every period_index): those are rebuilds_every_person.
    A month that is neither newly loaded nor rebuilt for every person changes
    only for the persons whose rows int_person_month_history recomputed: where
    the worker mart last counted each of them is known (their residence does not
    change with income; a mover's previous one is kept), only the cells of their
    regions change (not rebuilds_every_cell; int_regions_to_rebuild). -#}
-- depends_on: {{ ref('int_person_attributes_by_period') }}
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

new_months as (

    select changes.period
    from changes
    where changes.change_kind = 'new_period'

),

every_person_months as (

    select periods.period
    from {{ ref('dim_period') }} as periods
    where
        periods.period in (select {{ period_add('new_months.period', -3) }} from new_months)
        or (select min(new_months.period) from new_months) < (
            select max(loaded.period) from {{ ref('dim_period') }} as loaded
            where loaded.period not in (select new_months.period from new_months)
        )

),

changed_person_months as (

    {{ changed_person_months() }}

),

{#- A month in which a mover was last counted where is not known is rebuilt whole. #}

of_changed_attributes as (

    select
        changed_person_months.period,
        max(case when changed_person_months.previous_residence_region_code is null then 1 else 0 end)
            as previous_cell_unknown
    from changed_person_months
    where changed_person_months.moves_cells
    group by changed_person_months.period

),

rebuild_reasons as (

    select
        period,
        0 as rebuilds_every_person,
        0 as rebuilds_every_cell
    from from_changed_months
    union all
    {#- a newly loaded month: every cell is new #}
    select
        period,
        0 as rebuilds_every_person,
        1 as rebuilds_every_cell
    from new_months
    union all
    select
        period,
        1 as rebuilds_every_person,
        1 as rebuilds_every_cell
    from every_person_months
    union all
    select
        period,
        0 as rebuilds_every_person,
        previous_cell_unknown as rebuilds_every_cell
    from of_changed_attributes

),

final as (

    select
        period,
        max(rebuilds_every_person) = 1 as rebuilds_every_person,
        max(rebuilds_every_cell) = 1 as rebuilds_every_cell
    from rebuild_reasons
    group by period

)

select * from final
