{#-
    Incremental builds: what changed since the last successful build, the
    watermark being the newest `loaded_at` that build had seen (kept by the
    transform step in `audit.runs.loaded_through`). A full refresh, a first
    build and a warehouse without flexemp's audit tables have none: everything
    counts as changed then.
-#}

{#- The watermark as text, or none. The var `changes_since` overrides it (unit
    tests, a rebuild by hand from a chosen point). It is read from the warehouse
    when a node runs, not passed as a var: dbt re-parses the whole project when
    its vars change, which cost every daily build ~5 s at national scale. At
    parse time (no database) and in unit tests (fixtures, not the warehouse's
    history) there is none. -#}
{% macro changes_since() -%}
    {%- if var('changes_since', none) is not none -%}
        {{ return(var('changes_since')) }}
    {%- endif -%}
    {%- if not execute or flags.FULL_REFRESH or model.resource_type == 'unit_test' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set runs = adapter.get_relation(database=target.database, schema='audit', identifier='runs') -%}
    {%- if runs is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set watermark = run_query(
        'select ' ~ dbt.cast('max(loaded_through)', api.Column.translate_type('string')) ~ ' from ' ~ runs
    ).columns[0].values()[0] -%}
    {{ return(watermark) }}
{%- endmacro %}

{#- The newest load this build sees: stamped on the rows an incremental model
    rewrites, so later models (in this build, or in the next one after this
    build failed) find them with changed_since_last_build(). -#}
{% macro loaded_through() -%}
    (select max(ledger.loaded_at) from {{ ref('stg_audit__load_ledger') }} as ledger)
{%- endmacro %}

{#- True for rows stamped (loaded_through()) by this build or by a build that
    failed after writing them. -#}
{% macro changed_since_last_build(stamp_column) -%}
    {%- set since = changes_since() -%}
    {%- if since is none -%}
        true
    {%- else -%}
        {{ stamp_column }} > cast({{ dbt.string_literal(since) }} as timestamp with time zone)
    {%- endif -%}
{%- endmacro %}

{#- Every version of the records that the loads since the last build delivered a
    version of, as a query: what an incremental staging model ranks again. All
    their versions, not only the new ones: a late-delivered older version must
    not win. `relation` is a raw, append-only table; `key_columns` its natural
    key. The model declares its dependency on stg_audit__load_ledger. -#}
{% macro versions_of_delivered_records(relation, key_columns) -%}
    select versions.*
    from {{ relation }} as versions
    inner join ({{ delivered_records(relation, key_columns) }}) as delivered
        on {{ join_on_columns('versions', 'delivered', key_columns) }}
{%- endmacro %}

{#- The natural keys (`key_columns`) of the records of `relation` that the loads
    since the last build delivered a version of, as a query. -#}
{% macro delivered_records(relation, key_columns) -%}
    select distinct
        {{ key_columns | join(', ') }}
    from {{ relation }}
    where {{ loaded_since_last_build('load_id') }}
{%- endmacro %}

{#- True for a row of a load that reached the ledger since the last successful
    build (every row without a watermark): in a deduplicated staging table, a
    record whose newest version changed. The model declares its dependency on
    stg_audit__load_ledger. -#}
{% macro loaded_since_last_build(load_id) -%}
    {{ load_id }} in (
        select ledger.load_id from {{ ref('stg_audit__load_ledger') }} as ledger
        where {{ changed_since_last_build('ledger.loaded_at') }}
    )
{%- endmacro %}

{#- Equality of two relations' `columns`, as a join condition. -#}
{% macro join_on_columns(left, right, columns) -%}
    {%- for column in columns -%}
        {{ " and " if not loop.first }}{{ left }}.{{ column }} = {{ right }}.{{ column }}
    {%- endfor -%}
{%- endmacro %}

{#- A condition on a row's person and month: true when the loads since the last
    build changed that person's income in that month (int_changes_since_last_build,
    income_person_month). A build without a watermark changed everything, so every
    row qualifies. Incremental models rewrite these person-months, not whole
    months: a delivery day corrects income in every month, but of few persons. -#}
{% macro income_changed(person_key, period) -%}
    {%- if changes_since() is none -%}
        true
    {%- else -%}
        exists (
            select 1 from {{ ref('int_changes_since_last_build') }} as changes
            where
                changes.change_kind = 'income_person_month'
                and changes.person_key = {{ person_key }}
                and changes.period = {{ period }}
        )
    {%- endif -%}
{%- endmacro %}

{#- The person-months whose attributes this build (or a failed one since the
    last success) rewrote in int_person_attributes_by_period, as a query; with
    where the person lives now and where the worker mart last counted them. -#}
{% macro changed_person_months() -%}
    select
        attributes.person_key,
        attributes.period,
        attributes.moves_cells,
        attributes.residence_region_code,
        attributes.previous_residence_region_code
    from {{ ref('int_person_attributes_by_period') }} as attributes
    where {{ changed_since_last_build('attributes.loaded_through') }}
{%- endmacro %}

{#- Delete from a person-month table (pre-hook) the person-months whose
    attributes this build rewrote, so the model can append them afresh. -#}
{% macro delete_changed_person_months(relation) -%}
    delete from {{ relation }} as kept
    using ({{ changed_person_months() }}) as changed
    where kept.person_key = changed.person_key and kept.period = changed.period
{%- endmacro %}

{#- True when this node runs in a pipeline's incremental `dbt build` of the same
    project as the last successful build: the transform step records each run's
    project fingerprint in audit.runs before it builds and the watermark after it
    succeeded, so the newest fingerprinted run without a watermark is this one.
    Every row that no build wrote since that success was then checked by this
    project's tests, so a test may check only the rows written since (a failed
    build's among them: they are changed since the watermark too). False for a
    full refresh, a first build, a changed project, and a `dbt test` or `dbt build`
    run by hand: those check every row. -#}
{% macro earlier_rows_checked_by_this_project() -%}
    {%- if changes_since() is none or flags.WHICH != 'build' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set runs = adapter.get_relation(database=target.database, schema='audit', identifier='runs') -%}
    {%- set same = run_query(
        'select this_build.dbt_project_fingerprint = last_success.dbt_project_fingerprint'
        ~ ' from (select dbt_project_fingerprint, loaded_through from ' ~ runs
        ~ ' where dbt_project_fingerprint is not null order by started_at desc limit 1) as this_build,'
        ~ ' (select dbt_project_fingerprint from ' ~ runs
        ~ ' where loaded_through is not null order by started_at desc limit 1) as last_success'
        ~ ' where this_build.loaded_through is null'
    ).columns[0].values() -%}
    {{ return(same | length == 1 and same[0] is true) }}
{%- endmacro %}

{#- A condition on the rows of a person-level model (a person_key column, and a
    period column for the second scope): true for the rows a daily build can
    have written since the last successful build, or for every row when a test
    must check them all (earlier_rows_checked_by_this_project()). `scope`:
    `persons`, the rows of the persons whose income or registrations changed
    since (int_changes_since_last_build); `persons_and_months_rebuilt_for_everyone`,
    those and every row of the months int_periods_to_rebuild rebuilds for every
    person; `income_records` (the deduplicated income), the rows of the records
    a load since delivered a version of: only their newest version can have
    changed, and the filter is on the natural key, not on the person key the
    view computes for every row; none, every row. The models are referenced
    even when unused, so that dbt orders the calling test after them (and only
    those the scope reads: a test waits for its models, and a model for the
    tests of its parents). -#}
{% macro rows_written_since_last_build(scope) -%}
    {%- set scopes = [none, 'persons', 'persons_and_months_rebuilt_for_everyone', 'income_records'] -%}
    {%- if scope not in scopes -%}
        {{ exceptions.raise_compiler_error(
            "written_since_last_build must be one of " ~ scopes[1:] | join(', ') ~ ", not " ~ scope
        ) }}
    {%- endif -%}
    {%- if scope is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- if scope == 'income_records' -%}
        {%- set record_key = ['platform_id', 'record_id'] -%}
        {%- set delivered = delivered_records(ref('stg_platforms__income_record_versions'), record_key) -%}
    {%- else -%}
        {%- set changes = ref('int_changes_since_last_build') -%}
    {%- endif -%}
    {%- if scope == 'persons_and_months_rebuilt_for_everyone' -%}
        {%- set rebuilt_months = ref('int_periods_to_rebuild') -%}
    {%- endif -%}
    {%- if not earlier_rows_checked_by_this_project() -%}
        {{ return('true') }}
    {%- endif -%}
    {%- if scope == 'income_records' -%}
        {#- a hash collision only adds rows to the scope -#}
        {{ return(
            key_hash(record_key) ~ ' in (select ' ~ key_hash(record_key) ~ ' from (' ~ delivered ~ ') as delivered)'
        ) }}
    {%- endif -%}
    (
        person_key in (
            select changes.person_key from {{ changes }} as changes
            where changes.change_kind in ('income_person', 'person')
        )
    {%- if scope == 'persons_and_months_rebuilt_for_everyone' %}
            or period in (
                select rebuilt_months.period from {{ rebuilt_months }} as rebuilt_months
                where rebuilt_months.rebuilds_every_person
            )
    {%- endif %}
    )
{%- endmacro %}
