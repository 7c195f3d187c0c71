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

    Which regions (optional, for models keyed by region_level and region_code
    whose cells depend on their region's rows only): a period listed in the
    model named by `regions_to_rebuild` (period, region_level, region_code)
    has only those regions' rows deleted and rebuilt; the model filters its
    rows with {{ region_filter() }}, replaced for such a period with a test of
    membership in that list (elsewhere `1 = 1`).
    Everything runs in one transaction: a failed month leaves the table as it was.
-#}

{% macro period_filter() -%}
    (1 = 1 /* period_filter */)
{%- endmacro %}

{% macro region_filter() -%}
    (1 = 1 /* region_filter */)
{%- endmacro %}

{#- The regions of `period` listed in `regions_model`, as a condition on a row's
    region_level and region_code (with `qualifier.` when given). -#}
{% macro _listed_region(regions_model, period, qualifier='') -%}
    {{ dbt.concat([qualifier ~ 'region_level', "'/'", qualifier ~ 'region_code']) }} in (
        select {{ dbt.concat(['listed.region_level', "'/'", 'listed.region_code']) }}
        from {{ regions_model }} as listed
        where listed.period = {{ dbt.string_literal(period) }}
    )
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
    {%- set regions_model = none if full_build or config.get('regions_to_rebuild') is none
        else ref(config.get('regions_to_rebuild')) -%}
    {%- if config.get('regions_to_rebuild') is not none and region_filter() not in compiled_code -%}
        {{ exceptions.raise_compiler_error(this ~ ": regions_to_rebuild is set, but the model has no region_filter()") }}
    {%- endif -%}
    {%- set by_region = [] if regions_model is none else run_query(
        'select distinct period from ' ~ regions_model
    ).columns[0].values() | list -%}

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
            {{ 'and period not in (select period from ' ~ regions_model ~ ')' if by_region else '' }}
        {% endcall %}
    {% endif %}

    {% for period in periods %}
        {%- set only_listed_regions = period in by_region -%}
        {% if only_listed_regions %}
            {% call statement('regions_' ~ loop.index) %}
                delete from {{ target_relation }} as kept
                where kept.period = {{ dbt.string_literal(period) }}
                and {{ _listed_region(regions_model, period, 'kept.') }}
            {% endcall %}
        {% endif %}
        {%- set month_sql = compiled_code.replace(period_filter(), '(period = ' ~ dbt.string_literal(period) ~ ')') -%}
        {%- if only_listed_regions -%}
            {%- set month_sql = month_sql.replace(region_filter(), _listed_region(regions_model, period)) -%}
        {%- endif %}
        {% call statement('period_' ~ loop.index) %}
            insert into {{ target_relation }}
            {{ month_sql }}
        {% endcall %}
    {% endfor %}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
