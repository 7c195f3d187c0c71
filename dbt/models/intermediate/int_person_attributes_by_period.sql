{#- Who a person is in a month: the registration with the newest updated_at
    among those registered by the end of the month, across all platforms
    (indicators.md, "The person behind the records"). One row per person-month
    with income; unregistered ones too (is_registered = false), so a person
    who loses or gains a registration is a changed row like any other.
    Incremental, by value: a build recomputes the person-months whose income
    changed (income_changed()) and those of the persons whose registrations
    changed (int_changes_since_last_build) but rewrites only those
    whose values moved, stamped with loaded_through. A status change on an old
    registration makes it the newest without changing who the person is, so it
    rewrites nothing and rebuilds no month downstream. -#}
-- depends_on: {{ ref('int_changes_since_last_build') }}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['person_key', 'period'],
) }}

{#- The diff below reads the kept rows' columns: a table from before a column
    existed cannot be diffed (dbt's own schema check would come too late).
    In a unit test `this` is a fixture, not a table. -#}
{% if is_incremental() and this is not string
    and 'moves_cells' not in adapter.get_columns_in_relation(this) | map(attribute='name') %}
    {{ exceptions.raise_compiler_error(
        this ~ " has no moves_cells column: the source and target schemas on this incremental model are out of sync"
    ) }}
{% endif %}

{% set attribute_columns = [
    'birth_year', 'gender', 'residence_region_code', 'hukou_region_code', 'occupation_code', 'has_other_job',
] %}
{#- What the worker mart groups or counts by: occupation is not among them. #}
{% set cell_columns = attribute_columns | reject('equalto', 'occupation_code') | list %}
{% set cells_differ -%}
    kept.person_key is null
    or newest.is_registered <> kept.is_registered
    {% for column in cell_columns %}
        or newest.{{ column }} is distinct from kept.{{ column }}
    {% endfor %}
{%- endset %}

with

person_periods as (

    select distinct
        platform_months.person_key,
        platform_months.period
    from {{ ref('int_income_person_platform_months') }} as platform_months
    {% if is_incremental() %}
        where
            {{ income_changed('platform_months.person_key', 'platform_months.period') }}
            or platform_months.person_key in (
                select changes.person_key from {{ ref('int_changes_since_last_build') }} as changes
                where changes.change_kind = 'person'
            )
    {% endif %}

),

registrations as (

    select * from {{ ref('stg_platforms__gig_registrations') }}

),

candidates as (

    select
        person_periods.person_key,
        person_periods.period,
        registrations.registration_id is not null as is_registered,
        {% for column in attribute_columns %}
            registrations.{{ column }},
        {% endfor %}
        row_number() over (
            partition by person_periods.person_key, person_periods.period
            order by
                registrations.updated_at desc, registrations.delivery_date desc,
                registrations.platform_id desc, registrations.registration_id desc
        ) as newest_first

    from person_periods
    left join registrations
        on
            person_periods.person_key = registrations.person_key
            and registrations.registered_at < {{ dbt.cast(
                dbt.dateadd('month', 1, period_start('person_periods.period')),
                api.Column.translate_type('timestamp')
            ) }}

),

newest as (

    select
        person_key,
        period,
        is_registered,
        {{ attribute_columns | join(', ') }}

    from candidates
    where newest_first = 1

),

{#- moves_cells: this row moves the person between the worker mart's cells (a
    new person-month, or a value the mart uses changed), or did so in a build
    that failed before the mart was rebuilt.
    previous_residence_region_code: where the worker mart last counted the
    person in this month, so that a month only a few persons moved in rebuilds
    only their regions (int_regions_to_rebuild). Null when that is not known
    for sure: a new person-month, a full build, a person not counted before,
    or a row a failed build rewrote (the mart may hold either of its values);
    such a month is rebuilt whole. #}

changed as (

    select
        newest.*,
        {% if is_incremental() %}
            (
                {{ cells_differ }}
                or (kept.moves_cells and {{ changed_since_last_build('kept.loaded_through') }})
            ) as moves_cells,
            case
                when not (kept.moves_cells and {{ changed_since_last_build('kept.loaded_through') }})
                    then kept.residence_region_code
            end as previous_residence_region_code
        {% else %}
            true as moves_cells,
            {{ dbt.cast('null', api.Column.translate_type('string')) }} as previous_residence_region_code
        {% endif %}

    from newest
    {% if is_incremental() %}
        left join {{ this }} as kept
            on newest.person_key = kept.person_key and newest.period = kept.period
        where
            {{ cells_differ }}
            or newest.occupation_code is distinct from kept.occupation_code
    {% endif %}

),

final as (

    select
        changed.*,
        {{ loaded_through() }} as loaded_through

    from changed

)

select * from final
