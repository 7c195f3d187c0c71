{#- The platforms that deliver data, as analysts join them to the marts. -#}
{{ config(tags=['reference']) }}  {#- built from seeds only: see dbt_project.yml #}
with

platforms as (

    select * from {{ ref('platforms') }}

),

final as (

    select
        platform_id,
        platform_name,
        platform_type,
        platform_subtype,
        ilo_typology

    from platforms

)

select * from final
