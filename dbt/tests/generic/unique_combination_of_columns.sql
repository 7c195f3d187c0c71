{#- The grain test: no two rows share the same values in `combination`
    (dbt_utils has one; the package hub is out of reach, so the project keeps its own).
    Rows are first grouped by a hash of the key, and only those whose hash repeats
    are grouped by the key itself: on the 12-16M-row person-month tables the
    hashes group in about two thirds of the time of the 64-character keys. Exact:
    a hash collision only adds candidates, which the second grouping clears.

    `written_since_last_build` (person-level models, keyed by person_key): which
    rows a daily build can have written, so that it checks only those when the
    rows it did not write were checked by this project before
    (earlier_rows_checked_by_this_project). A row written since the last
    successful build can only repeat the key of a row of the same person, so
    the repeat is among the checked rows. `persons`: the rows of the persons
    whose income or registrations changed since (int_changes_since_last_build);
    `persons_and_months_rebuilt_for_everyone`: those and every row of the months
    int_periods_to_rebuild rebuilds for every person. A daily build at national
    scale then groups tens of thousands of persons' rows instead of all 7-16M,
    on the critical path of the build (each model's tests run before its
    children). -#}
{% test unique_combination_of_columns(model, combination, written_since_last_build=none) %}

{%- set scopes = [none, 'persons', 'persons_and_months_rebuilt_for_everyone'] -%}
{%- if written_since_last_build not in scopes -%}
    {{ exceptions.raise_compiler_error(
        "unique_combination_of_columns: written_since_last_build must be one of " ~ scopes[1:] | join(', ')
    ) }}
{%- endif -%}
{%- if written_since_last_build is not none -%}
    {%- set changes = ref('int_changes_since_last_build') -%}
    {%- set rebuilt_months = ref('int_periods_to_rebuild') -%}
{%- endif %}

{#- The rows to check, as a condition (inlined twice: DuckDB would materialise a
    CTE read twice, all 16M rows of it in a full check). #}
{%- set checked -%}
    {% if written_since_last_build is not none and earlier_rows_checked_by_this_project() %}
        person_key in (
            select changes.person_key from {{ changes }} as changes
            where changes.change_kind in ('income_person', 'person')
        )
        {% if written_since_last_build == 'persons_and_months_rebuilt_for_everyone' %}
            or period in (
                select rebuilt_months.period from {{ rebuilt_months }} as rebuilt_months
                where rebuilt_months.rebuilds_every_person
            )
        {% endif %}
    {% else %}
        true
    {% endif %}
{%- endset %}

with

repeated_hashes as (

    select {{ key_hash(combination) }} as hashed_key
    from {{ model }}
    where {{ checked }}
    group by {{ key_hash(combination) }}
    having count(*) > 1

)

select
    {{ combination | join(', ') }},
    count(*) as rows_with_key
from {{ model }}
where
    ({{ checked }})
    and {{ key_hash(combination) }} in (select repeated_hashes.hashed_key from repeated_hashes)
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
