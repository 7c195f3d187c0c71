{#- The regions whose worker-mart cells an incremental build recomputes in the
    months int_periods_to_rebuild does not rebuild whole (not
    rebuilds_every_cell): there only persons moved between cells, so only the
    cells of the regions they left and joined change, at every level up to the
    country (the same roll-up as int_person_months). A month with few movers
    then costs the country's cells and a few regions' instead of every cell.
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

),

residences as (

    select
        moved_residences.period,
        regions.region_level,
        regions.province_code,
        regions.prefecture_code,
        regions.macro_region
    from moved_residences
    inner join {{ ref('regions') }} as regions on moved_residences.residence_region_code = regions.region_code

),

by_level as (

    select
        period,
        'country' as region_level,
        'CN' as region_code
    from residences
    union all
    select
        period,
        'macro_region' as region_level,
        macro_region as region_code
    from residences
    union all
    select
        period,
        'province' as region_level,
        province_code as region_code
    from residences
    union all
    select
        period,
        'prefecture' as region_level,
        prefecture_code as region_code
    from residences
    where region_level <> 'province'

),

final as (

    select distinct
        period,
        region_level,
        region_code
    from by_level
    where region_code is not null

)

select * from final
