{#- The occupation codes of the marts: the reference occupations plus `ALL`,
    the total over occupations that every table carries. -#}
{{ config(tags=['reference']) }}  {#- built from seeds only: see dbt_project.yml #}
with

occupations as (

    select * from {{ ref('occupations') }}

),

occupation_rows as (

    select
        occupation_code,
        occupation_group,
        name_zh,
        name_en,
        is_new_platform_occupation,
        cocc_2022_code,
        cocc_2022_name,
        false as is_total

    from occupations

),

total_row as (

    select
        'ALL' as occupation_code,
        'ALL' as occupation_group,
        '全部职业' as name_zh,
        'All occupations' as name_en,
        false as is_new_platform_occupation,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as cocc_2022_code,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as cocc_2022_name,
        true as is_total

),

final as (

    select * from occupation_rows
    union all
    select * from total_row

)

select * from final
