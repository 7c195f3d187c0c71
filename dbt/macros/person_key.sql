{#- The pseudonymous person key as the person-level models carry it.
    Delivered as 64 hex characters (a SHA-256 digest, data contract); on DuckDB
    its first 128 bits become one UHUGEINT: 16 bytes a row instead of a
    64-character string, which the person-level tables (7-16M rows at national
    scale) wrote, sorted, grouped and joined on in every model. Two persons
    share a compact key with probability about n^2 / 2^129 (1e-27 for a million
    persons, 6e-23 for 200 million). Staging casts the key once; everything
    downstream joins on the compact key. The lists of every delivered version
    (stg_platforms__*_versions), which each daily build scans whole, keep the
    key as delivered: int_changes_since_last_build casts only the keys of the
    versions it lists. Other adapters keep the text (Spark has no 128-bit
    integer). -#}
{% macro compact_person_key(column) -%}
    {{ return(adapter.dispatch('compact_person_key', 'flexemp')(column)) }}
{%- endmacro %}
{% macro default__compact_person_key(column) -%}
    {{ column }}
{%- endmacro %}
{% macro duckdb__compact_person_key(column) -%}
    cast('0x' || left({{ column }}, 32) as uhugeint)
{%- endmacro %}

{#- A compact key as text, for the tables people read (data-quality lists): the
    first 32 hex characters of the delivered key on DuckDB, which find the person
    in a platform's records. -#}
{% macro person_key_text(column) -%}
    {{ return(adapter.dispatch('person_key_text', 'flexemp')(column)) }}
{%- endmacro %}
{% macro default__person_key_text(column) -%}
    {{ column }}
{%- endmacro %}
{% macro duckdb__person_key_text(column) -%}
    lpad(lower(to_hex({{ column }})), 32, '0')
{%- endmacro %}

{#- A null of the compact key's type (a union's branches without persons). -#}
{% macro null_person_key() -%}
    {{ compact_person_key(dbt.cast('null', api.Column.translate_type('string'))) }}
{%- endmacro %}
