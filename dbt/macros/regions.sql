{#- The regional roll-up every regional table uses (indicators.md): a row counts
    once at each region level that contains its place, the country, its
    macro-region, its province and its prefecture; a place coded at province
    level has no prefecture and counts in none. Emits the rows of `relation`
    (a CTE or table) once per level, with region_level and region_code in front
    of its columns, as a query to select from. The arguments name the columns
    that hold the place's codes. -#}
{% macro rows_at_every_region_level(
    relation, macro_region='macro_region', province='province_code', prefecture='prefecture_code'
) -%}
    {%- set levels = [
        ('country', dbt.string_literal('CN')),
        ('macro_region', macro_region),
        ('province', province),
        ('prefecture', prefecture),
    ] -%}
    {%- for level, code in levels %}
        select
            '{{ level }}' as region_level,
            {{ code }} as region_code,
            {{ relation }}.*
        from {{ relation }}
        where {{ code }} is not null
        {{ "union all" if not loop.last }}
    {%- endfor %}
{%- endmacro %}
