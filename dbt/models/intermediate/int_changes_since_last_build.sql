{#- What the loads since the last successful build changed: the months whose
    income changed (both the month of a new version and the month of the version
    it replaced), which of them were not loaded before (new_period), the persons
    whose income changed (income_person: in either version), those person-months
    (income_person_month) and the persons whose registrations changed (person).
    The watermark is the newest loaded_at the previous successful build had
    seen (macro changes_since()). Without one everything counts as changed:
    every month is listed, but no person, as income_changed() and
    changed_since_last_build() are then true for every person-month (listing
    every person took a distinct over all income rows). -#}
-- depends_on: {{ ref('stg_audit__load_ledger') }}
-- depends_on: {{ ref('stg_platforms__gig_registration_versions') }}
{%- set since = changes_since() %}
with

{% if since is none %}
    {#- A first or full build: everything counts as changed, which needs no join. #}

    changed_periods as (

        select distinct period
        from {{ ref('stg_platforms__income_record_versions') }}

    ),

    new_periods as (

        select period from changed_periods

    ),

{% else %}

    new_loads as (

        select load_id
        from {{ ref('stg_audit__load_ledger') }}
        where
            status = 'loaded'
            and {{ changed_since_last_build('loaded_at') }}

    ),

    changed_records as (

        select distinct
            versions.platform_id,
            versions.record_id
        from {{ ref('stg_platforms__income_record_versions') }} as versions
        inner join new_loads on versions.load_id = new_loads.load_id

    ),

    changed_versions as (

        select
            versions.period,
            {{ compact_person_key('versions.person_key') }} as person_key
        from {{ ref('stg_platforms__income_record_versions') }} as versions
        inner join changed_records
            on
                versions.platform_id = changed_records.platform_id
                and versions.record_id = changed_records.record_id

    ),

    changed_periods as (

        select distinct period from changed_versions

    ),

    {#- Months no earlier load delivered any income of. #}

    new_periods as (

        select changed_periods.period
        from changed_periods
        where changed_periods.period not in (
            select versions.period
            from {{ ref('stg_platforms__income_record_versions') }} as versions
            where versions.load_id not in (select new_loads.load_id from new_loads)
        )

    ),

    income_persons as (

        select distinct person_key from changed_versions

    ),

    income_person_months as (

        select distinct
            period,
            person_key
        from changed_versions

    ),

    changed_persons as (

        select distinct {{ compact_person_key('versions.person_key') }} as person_key
        from {{ ref('stg_platforms__gig_registration_versions') }} as versions
        inner join new_loads on versions.load_id = new_loads.load_id

    ),

{% endif %}

final as (

    select
        'period' as change_kind,
        period,
        {{ null_person_key() }} as person_key
    from changed_periods
    union all
    select
        'new_period' as change_kind,
        period,
        {{ null_person_key() }} as person_key
    from new_periods
    {% if since is not none %}
        union all
        select
            'income_person' as change_kind,
            {{ dbt.cast('null', api.Column.translate_type('string')) }} as period,
            person_key
        from income_persons
        union all
        select
            'income_person_month' as change_kind,
            period,
            person_key
        from income_person_months
        union all
        select
            'person' as change_kind,
            {{ dbt.cast('null', api.Column.translate_type('string')) }} as period,
            person_key
        from changed_persons
    {% endif %}

)

select * from final
