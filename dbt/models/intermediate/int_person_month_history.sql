{#- The panel with what needs a person's other months: first active month
    (new workers), activity three months later (retention), and the coefficient
    of variation of net income over the 6 months ending with this one
    (volatility; inactive months count as 0, also months with no row at all;
    null while fewer than 6 months of history are loaded, so months before the
    data are not taken for inactive ones).
    Person-level: never published. -#}
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

last_income_period as (

    select max(period) as period from panel

),

person_history as (

    select
        panel.*,
        periods.period_index,
        min(case when panel.is_active then panel.period end) over (partition by panel.person_key)
            as first_active_period,
        {{ count_true('panel.is_active') }} over last_six_months as active_months_in_window,
        {#- exact decimal sums (a float window sum can differ in the last bit between builds) -#}
        sum(panel.net_income) over last_six_months as net_income_window_sum,
        sum(panel.net_income * panel.net_income) over last_six_months as net_income_window_sum_of_squares,
        max(case when panel.is_active then 1 else 0 end) over three_months_later as active_three_months_later

    from panel
    inner join periods on panel.period = periods.period
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
        person_history.*,
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

)

-- final passes the panel's columns through (panel.*), which sqlfluff cannot count -- noqa: disable=AM04
select * from final
