{#- No nulls in any of `columns`: the not-null checks of one model in one pass
    over it and one dbt node, where a `not_null` per column reads the table once
    per column and costs a node each (dbt's own work per node, ~40 ms, was most
    of a small incremental build: 136 not_null nodes). Returns one row per column
    that holds nulls, with how many. Conditional checks (a `where`) stay per
    column, with dbt's `not_null`.
    Only the rows holding a null are counted: on good data none, and the filter
    reaches the table scan, where the row groups' statistics answer it. Counting
    every row instead made the check on the deduplicated income view (raw rows
    minus the superseded ones) evaluate the view whole: 1.0-1.2 s at national
    scale, on the daily build's critical path, against 0.03 s. -#}
{% test not_null_columns(model, columns) %}

with

rows_with_a_null as (

    select {{ columns | join(', ') }}
    from {{ model }}
    where
        {%- for column in columns %}
            {{ "or " if not loop.first }}{{ column }} is null
        {%- endfor %}

),

null_counts as (

    select
        {%- for column in columns %}
            count(*) - count({{ column }}) as null_rows_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from rows_with_a_null

)

{% for column in columns %}
    select
        '{{ column }}' as column_name,
        null_counts.null_rows_{{ loop.index }} as null_rows
    from null_counts
    where null_counts.null_rows_{{ loop.index }} > 0
    {{ "union all" if not loop.last }}
{% endfor %}

{% endtest %}
