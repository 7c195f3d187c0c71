{#- Every region the marts can carry, at every level: the country, the four
    NBS macro-regions and the GB/T 2260 provinces and prefectures (the
    indicator levels), plus the counties (flagged: codes roll up from them, no
    indicator is published at county level). Codes are unique across levels. -#}
{{ config(tags=['reference']) }}  {#- built from seeds only: see dbt_project.yml #}
{%- set macro_regions = [
    ('east', '东部地区', 'East'),
    ('central', '中部地区', 'Central'),
    ('west', '西部地区', 'West'),
    ('northeast', '东北地区', 'Northeast'),
] -%}
with

regions as (

    select * from {{ ref('regions') }}

),

country as (

    select
        'country' as region_level,
        'CN' as region_code,
        '中国' as region_name,
        'China' as region_name_en,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as parent_region_code,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as province_code,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as macro_region,
        false as is_statistical_grouping,
        true as is_indicator_level,
        1 as level_order

),

{# NBS 东西中部和东北地区划分方法; the provinces of each come from the regions seed. #}
macro_region_rows as (

    {% for code, name_zh, name_en in macro_regions %}
        select
            'macro_region' as region_level,
            '{{ code }}' as region_code,
            '{{ name_zh }}' as region_name,
            '{{ name_en }}' as region_name_en,
            'CN' as parent_region_code,
            {{ dbt.cast('null', api.Column.translate_type('string')) }} as province_code,
            '{{ code }}' as macro_region,
            false as is_statistical_grouping,
            true as is_indicator_level,
            2 as level_order
        {{ "union all" if not loop.last }}
    {% endfor %}

),

gbt_2260_rows as (

    select
        region_level,
        region_code,
        region_name,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as region_name_en,
        case region_level
            when 'province' then macro_region
            when 'prefecture' then province_code
            else prefecture_code
        end as parent_region_code,
        province_code,
        macro_region,
        is_statistical_grouping,
        region_level <> 'county' as is_indicator_level,
        case region_level when 'province' then 3 when 'prefecture' then 4 else 5 end as level_order

    from regions

),

final as (

    select * from country
    union all
    select * from macro_region_rows
    union all
    select * from gbt_2260_rows

)

select * from final
