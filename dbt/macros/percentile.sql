{#- Continuous percentile (linear interpolation), the indicators' definition. -#}
{% macro percentile_cont(expr, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'flexemp')(expr, fraction)) }}
{%- endmacro %}
{% macro default__percentile_cont(expr, fraction) -%}
    percentile({{ expr }}, {{ fraction }})
{%- endmacro %}
{% macro duckdb__percentile_cont(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{#- A share: numerator / denominator, null (not 0) when the denominator is 0. -#}
{% macro share(numerator, denominator) -%}
    {{ dbt.cast(numerator, 'double') }} / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- Count of rows where a boolean condition holds (portable count_if). -#}
{% macro count_true(condition) -%}
    sum(case when {{ condition }} then 1 else 0 end)
{%- endmacro %}
