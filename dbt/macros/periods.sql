{#-
    Calendar-month helpers. A period is the text 'YYYY-MM' of an Asia/Shanghai
    calendar month (the session time zone set in profiles.yml). Dispatched so a
    Spark target can add `spark__` versions; everything else in the models uses
    dbt's cross-database macros.
-#}

{% macro period_of(timestamp_expr) -%}
    {{ return(adapter.dispatch('period_of', 'flexemp')(timestamp_expr)) }}
{%- endmacro %}
{% macro default__period_of(timestamp_expr) -%}
    date_format({{ timestamp_expr }}, 'yyyy-MM')
{%- endmacro %}
{% macro duckdb__period_of(timestamp_expr) -%}
    strftime({{ timestamp_expr }}, '%Y-%m')
{%- endmacro %}

{#- First day of a period, as a DATE. -#}
{% macro period_start(period_expr) -%}
    {{ dbt.cast(period_expr ~ " || '-01'", api.Column.translate_type('date')) }}
{%- endmacro %}

{#- Last day of a period, as a DATE. -#}
{% macro period_end(period_expr) -%}
    {{ dbt.cast(
        dbt.dateadd('day', -1, dbt.dateadd('month', 1, period_start(period_expr))),
        api.Column.translate_type('date')
    ) }}
{%- endmacro %}

{#- The period n months after (n < 0: before) a period. -#}
{% macro period_add(period_expr, n) -%}
    {{ period_of(dbt.dateadd('month', n, period_start(period_expr))) }}
{%- endmacro %}

{#- Months from period a to period b (b - a). -#}
{% macro period_diff(a, b) -%}
    {%- set integer_type = api.Column.translate_type('integer') -%}
    (({{ dbt.cast("left(" ~ b ~ ", 4)", integer_type) }} * 12 + {{ dbt.cast("right(" ~ b ~ ", 2)", integer_type) }})
     - ({{ dbt.cast("left(" ~ a ~ ", 4)", integer_type) }} * 12 + {{ dbt.cast("right(" ~ a ~ ", 2)", integer_type) }}))
{%- endmacro %}
