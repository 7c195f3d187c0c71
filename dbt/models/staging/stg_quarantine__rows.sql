{#- The three quarantine tables share their tail (reason and lineage): one model
    stacks those columns, so the data-quality summary reads one relation. -#}
with

{% for source_table in ['job_postings', 'gig_registrations', 'income_records'] %}
    {{ source_table }} as (

        select
            '{{ source_table }}' as source,  -- a keyword, but the documented column name -- noqa: RF04
            platform_id,
            reason_code,
            reason_detail,
            file_path,
            source_row,
            load_id,
            delivery_date
        from {{ source('quarantine', source_table) }}

    ){{ "," if not loop.last }}
{% endfor %}

{% for source_table in ['job_postings', 'gig_registrations', 'income_records'] %}
    select * from {{ source_table }}
    {{ "union all" if not loop.last }}
{% endfor %}
