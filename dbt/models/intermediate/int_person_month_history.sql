{#- The panel with what needs a person's other months: first active month
    (new workers), activity three months later (retention), and the coefficient
    of variation of net income over the 6 months ending with this one
    (volatility; inactive months count as 0, also months with no row at all;
    null while fewer than 6 months of history are loaded, so months before the
    data are not taken for inactive ones).
    Incremental: a person's flags depend on that person's rows only, so a build
    recomputes every row of the persons whose income changed, the person-months
    whose attributes changed, and every person only in the months of
    int_periods_to_rebuild that need it (rebuilds_every_person), reading for
    those the months their windows reach (5 back, 3 ahead).
    Carries only the panel columns the worker mart reads: every column more is
    sorted by the windows and written again (the panel's other columns made this
    the longest model of a full build at national scale).
    Person-level: never published. -#}
-- depends_on: {{ ref('int_periods_to_rebuild') }}
-- depends_on: {{ ref('int_person_attributes_by_period') }}
-- depends_on: {{ ref('int_changes_since_last_build') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{% if is_incremental() %}delete from {{ this }} where period in (select period from "
        ~ "{{ ref('int_periods_to_rebuild') }} where rebuilds_every_person){% endif %}",
        "{% if is_incremental() %}{{ delete_changed_person_months(this) }}{% endif %}",
        "{% if is_incremental() %}delete from {{ this }} where person_key in (select person_key from "
        ~ "{{ ref('int_changes_since_last_build') }} where change_kind = 'income_person'){% endif %}",
    ],
) }}

{%- set panel_columns = [
    'person_key', 'period', 'is_registered', 'is_active', 'active_platforms', 'net_income', 'hours_worked',
    'hourly_earnings', 'is_below_min_wage', 'has_social_insurance', 'age_cohort', 'gender',
    'residence_province_code', 'residence_prefecture_code', 'macro_region', 'is_migrant', 'has_other_job',
] %}

with

panel as (

    select * from {{ ref('int_person_months') }}

),

periods as (

    select
        period,
        period_index
    from {{ ref('dim_period') }}

),

{% if is_incremental() %}

    rebuilt_periods as (

        select periods.*
        from periods
        inner join {{ ref('int_periods_to_rebuild') }} as rebuild
            on periods.period = rebuild.period and rebuild.rebuilds_every_person

    ),

    {#- The rebuilt months and the months their windows reach. #}

    window_periods as (

        select distinct periods.period
        from periods
        inner join rebuilt_periods
            on periods.period_index between rebuilt_periods.period_index - 5 and rebuilt_periods.period_index + 3

    ),

    income_persons as (

        select changes.person_key
        from {{ ref('int_changes_since_last_build') }} as changes
        where changes.change_kind = 'income_person'

    ),

    changed_person_months as (

        {{ changed_person_months() }}

    ),

    {#- The persons whose rows are recomputed in any month: income or attributes changed. #}

    recomputed_persons as (

        select changed_person_months.person_key from changed_person_months
        union
        select income_persons.person_key from income_persons

    ),

{% endif %}

{#- The rows whose windows are computed; an incremental build filters them
    before the joins below (filtered after them, the first-active months were
    computed and joined for the whole panel: the query took 3.2 s at national
    scale where it now takes 2.0 s). -#}

scoped_panel as (

    select * from panel
    {% if is_incremental() %}
        where
            period in (select window_periods.period from window_periods)
            or person_key in (select recomputed_persons.person_key from recomputed_persons)
    {% endif %}

),

{#- These two read the model, not the panel CTEs: more references to a CTE
    would make DuckDB materialise it. An incremental build needs the first
    active month of the persons in scope only: every person when some month is
    rebuilt for everyone, else the recomputed persons. #}

first_active_periods as (

    select
        person_key,
        min(period) as first_active_period
    from {{ ref('int_person_months') }}
    where
        is_active
        {% if is_incremental() %}
            and (
                exists (select 1 from window_periods)
                or person_key in (select recomputed_persons.person_key from recomputed_persons)
            )
        {% endif %}
    group by person_key

),

last_income_period as (

    select max(period) as period from {{ ref('int_person_months') }}

),

person_history as (

    select
        {%- for column in panel_columns %}
            panel.{{ column }},
        {%- endfor %}
        periods.period_index,
        first_active_periods.first_active_period,
        {{ count_true('panel.is_active') }} over last_six_months as active_months_in_window,
        {#- exact decimal sums (a float window sum can differ in the last bit between builds) -#}
        sum(panel.net_income) over last_six_months as net_income_window_sum,
        sum(panel.net_income * panel.net_income) over last_six_months as net_income_window_sum_of_squares,
        max(case when panel.is_active then 1 else 0 end) over three_months_later as active_three_months_later

    from scoped_panel as panel
    inner join periods on panel.period = periods.period
    left join first_active_periods on panel.person_key = first_active_periods.person_key
    window
        last_six_months as (
            partition by panel.person_key order by periods.period_index
            range between 5 preceding and current row
        ),
        three_months_later as (
            partition by panel.person_key order by periods.period_index
            range between 3 following and 3 following
        )

),

final as (

    select
        {%- for column in panel_columns %}
            person_history.{{ column }},
        {%- endfor %}
        person_history.first_active_period,
        person_history.active_months_in_window,
        person_history.period = person_history.first_active_period as is_new,
        case
            when {{ period_add('person_history.period', 3) }} <= last_income_period.period
                then coalesce(person_history.active_three_months_later, 0) = 1
        end as is_active_three_months_later,
        case
            when
                person_history.period_index >= 6
                and person_history.active_months_in_window >= 3
                and person_history.net_income_window_sum > 0
                then sqrt(greatest(
                    {{ dbt.cast('person_history.net_income_window_sum_of_squares', 'double') }} / 6
                    - ({{ dbt.cast('person_history.net_income_window_sum', 'double') }} / 6)
                    * ({{ dbt.cast('person_history.net_income_window_sum', 'double') }} / 6),
                    0
                )) / ({{ dbt.cast('person_history.net_income_window_sum', 'double') }} / 6)
        end as income_cv

    from person_history
    cross join last_income_period
    {% if is_incremental() %}
        left join changed_person_months
            on
                person_history.person_key = changed_person_months.person_key
                and person_history.period = changed_person_months.period
        where
            person_history.period in (select rebuilt_periods.period from rebuilt_periods)
            or changed_person_months.person_key is not null
            or person_history.person_key in (select income_persons.person_key from income_persons)
    {% endif %}

)

select * from final
