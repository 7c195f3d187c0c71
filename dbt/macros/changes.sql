{#-
    Incremental builds: what changed since the last successful build. The
    transform step passes the newest `loaded_at` that build had seen as the var
    `changes_since`; without it (a first build, or dbt run by hand) everything
    counts as changed.
-#}

{#- The newest load this build sees: stamped on the rows an incremental model
    rewrites, so later models (in this build, or in the next one after this
    build failed) find them with changed_since_last_build(). -#}
{% macro loaded_through() -%}
    (select max(ledger.loaded_at) from {{ ref('stg_audit__load_ledger') }} as ledger)
{%- endmacro %}

{#- True for rows stamped (loaded_through()) by this build or by a build that
    failed after writing them. -#}
{% macro changed_since_last_build(stamp_column) -%}
    {%- if var('changes_since', none) is none -%}
        true
    {%- else -%}
        {{ stamp_column }} > cast({{ dbt.string_literal(var('changes_since')) }} as timestamp with time zone)
    {%- endif -%}
{%- endmacro %}
