{#-
    A table built one period at a time, for models whose cells depend on one
    month's rows only and whose aggregates cannot spill to disk (medians and
    percentiles per cell hold every value in memory): one statement per month
    bounds memory by the largest month instead of the whole panel.

    The model filters its input with {{ period_filter() }}; this materialization
    replaces the filter with `period = '<month>'` for each month it builds (as
    dbt-utils' former insert_by_period did). Anywhere else (dbt compile, unit
    tests) the filter is `1 = 1`: every month at once.

    Which months: a full refresh, or a first build, builds every period of the
    model named by the config `all_periods`; an incremental build deletes and
    rebuilds the periods of the model named by `periods_to_rebuild`. Both models
    have a `period` column and must be declared with `-- depends_on:`.
    Everything runs in one transaction: a failed month leaves the table as it was.
-#}

{% macro period_filter() -%}
    (1 = 1 /* period_filter */)
{%- endmacro %}

{% materialization incremental_by_period, adapter='duckdb' %}

    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set full_build = should_full_refresh() or existing_relation is none or existing_relation.is_view -%}
    {%- set periods_model = config.require('all_periods') if full_build else config.require('periods_to_rebuild') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set periods = run_query(
        'select distinct period from ' ~ ref(periods_model) ~ ' where period is not null order by period'
    ).columns[0].values() -%}

    {% if full_build %}
        {% if existing_relation is not none %}
            {% do adapter.drop_relation(existing_relation) %}
        {% endif %}
        {% call statement('main') %}
            {{ create_table_as(False, target_relation, compiled_code.replace(period_filter(), '(1 = 0)')) }}
        {% endcall %}
    {% else %}
        {% call statement('main') %}
            delete from {{ target_relation }}
            where period in (select period from {{ ref(periods_model) }})
        {% endcall %}
    {% endif %}

    {% for period in periods %}
        {% call statement('period_' ~ loop.index) %}
            insert into {{ target_relation }}
            {{ compiled_code.replace(period_filter(), '(period = ' ~ dbt.string_literal(period) ~ ')') }}
        {% endcall %}
    {% endfor %}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
