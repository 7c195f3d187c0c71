{#- A non-cryptographic hash of several columns (nulls included), for grouping
    before an exact comparison: DuckDB's is 64-bit, Spark's 32-bit (more
    collisions, still only candidates). -#}
{% macro key_hash(columns) -%}
    {{ return(adapter.dispatch('key_hash', 'flexemp')(columns)) }}
{%- endmacro %}
{% macro default__key_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}
