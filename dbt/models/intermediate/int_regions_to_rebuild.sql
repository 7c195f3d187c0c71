{#- The regions whose worker-mart cells an incremental build recomputes in the
    months int_periods_to_rebuild does not rebuild whole (not
    rebuilds_every_cell): there only the persons whose rows
    int_person_month_history recomputed changed, so only the cells of the
    regions they left and joined change, at every level up to the country (the
    marts' roll-up, rows_at_every_region_level). Those persons are the movers
    between cells (their previous and current residence) and the persons whose
    income changed, in the months their histories reach: the month three before
    a changed month (retention) and every month from it on (first active month,
    volatility windows), at the residence they have in that month (income does
    not move anyone). A month with few such persons then costs the country's
    cells and a few regions' instead of every cell.
    One row per month and region. -#}
-- depends_on: {{ ref('int_person_attributes_by_period') }}
with

partial_months as (

    select period
    from {{ ref('int_periods_to_rebuild') }}
    where not rebuilds_every_cell

),

changed_person_months as (

    {{ changed_person_months() }}

),

movers as (

    select changed_person_months.*
    from changed_person_months
    inner join partial_months on changed_person_months.period = partial_months.period
    where changed_person_months.moves_cells

),

income_changes as (

    select
        person_key,
        period
    from {{ ref('int_changes_since_last_build') }}
    where change_kind = 'income_person_month'

),

reached_by_income as (

    select
        attributes.period,
        attributes.residence_region_code
    from income_changes
    inner join {{ ref('int_person_attributes_by_period') }} as attributes
        on
            income_changes.person_key = attributes.person_key
            and (
                income_changes.period <= attributes.period
                or {{ period_add('income_changes.period', -3) }} = attributes.period
            )
    inner join partial_months on attributes.period = partial_months.period

),

moved_residences as (

    select
        period,
        previous_residence_region_code as residence_region_code
    from movers
    union
    select
        period,
        residence_region_code
    from movers
    union
    select
        period,
        residence_region_code
    from reached_by_income

),

residences as (

    select
        moved_residences.period,
        regions.province_code,
        regions.prefecture_code,
        regions.macro_region
    from moved_residences
    inner join {{ ref('regions') }} as regions on moved_residences.residence_region_code = regions.region_code

),

by_level as (

    {{ rows_at_every_region_level('residences') }}

),

final as (

    select distinct
        period,
        region_level,
        region_code
    from by_level

)

select * from final
