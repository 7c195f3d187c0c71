{#- No nulls in any of `columns`: the not-null checks of one model in one pass
    over it and one dbt node, where a `not_null` per column reads the table once
    per column and costs a node each (dbt's own work per node, ~40 ms, was most
    of a small incremental build: 136 not_null nodes). Returns one row per column
    that holds nulls, with how many. Conditional checks (a `where`) stay per
    column, with dbt's `not_null`. -#}
{% test not_null_columns(model, columns) %}

with

non_null_counts as (

    select
        count(*) as all_rows,
        {%- for column in columns %}
            count({{ column }}) as non_null_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{% for column in columns %}
    select
        '{{ column }}' as column_name,
        all_rows - non_null_{{ loop.index }} as null_rows
    from non_null_counts
    where non_null_{{ loop.index }} < all_rows
    {{ "union all" if not loop.last }}
{% endfor %}

{% endtest %}
